"""A light scan of a function's code for the calls it makes (no full decoding)."""

from __future__ import annotations

import struct

OP_CALL = 0x85
OP_LD_IMM64 = 0x18


def scan_code(code: bytes, little: bool) -> tuple[list[str], list[int], list[int]]:
    """(helper names in first-call order, pc-relative call targets as insn indexes from the
    start of ``code``, kfunc BTF ids) of the calls in ``code``."""
    from bpfinspect.isa.helper_table import HELPER_NAMES

    def helper_name(n: int) -> str:
        return HELPER_NAMES[n] if 0 < n < len(HELPER_NAMES) else f"helper#{n}"

    fmt = struct.Struct("<BBhi" if little else ">BBhi")
    helpers: list[str] = []
    local: list[int] = []
    kfuncs: list[int] = []
    n = len(code) // 8
    i = 0
    while i < n:
        op, regs, _off, imm = fmt.unpack_from(code, i * 8)
        if op == OP_CALL:
            src = (regs >> 4) if little else (regs & 0xF)
            if src == 0:
                name = helper_name(imm)
                if name not in helpers:
                    helpers.append(name)
            elif src == 1:
                local.append(i + imm + 1)
            elif src == 2:
                kfuncs.append(imm)
        elif op == OP_LD_IMM64:
            i += 1
        i += 1
    return helpers, local, kfuncs
