"""A light scan of a function's code for the calls it makes (no full decoding)."""

from __future__ import annotations

import struct

from bpfinspect.isa import opcodes as oc
from bpfinspect.isa.helpers import helper_name

_CALL = oc.JMP | oc.JMP_CALL | oc.K


def scan_code(code: bytes, little: bool) -> tuple[list[str], list[int]]:
    """(helper names in first-call order, pc-relative call targets as insn indexes from the
    start of ``code``) of the calls in ``code``."""
    fmt = struct.Struct("<BBhi" if little else ">BBhi")
    helpers: list[str] = []
    local: list[int] = []
    n = len(code) // 8
    i = 0
    while i < n:
        op, regs, _off, imm = fmt.unpack_from(code, i * 8)
        if op == _CALL:
            src = (regs >> 4) if little else (regs & 0xF)
            if src == oc.CALL_HELPER:
                name = helper_name(imm) or f"helper#{imm}"
                if name not in helpers:
                    helpers.append(name)
            elif src == oc.CALL_LOCAL:
                local.append(i + imm + 1)
        elif op == oc.LD_IMM64:
            i += 1
        i += 1
    return helpers, local
