"""Instruction fields to bytes, in either byte order."""

from __future__ import annotations

import struct
from typing import Iterable

from bpfinspect.errors import UsageError

_LE = struct.Struct("<BBhi")
_BE = struct.Struct(">BBhi")

# (opcode, dst, src, off, imm) of one 8-byte slot
Fields = tuple[int, int, int, int, int]


def check_fields(op: int, dst: int, src: int, off: int, imm: int) -> tuple[int, int, int, int, int]:
    """Range-check one slot's fields; imm may be given unsigned (0..2**32-1)."""
    if not 0 <= op <= 0xFF:
        raise UsageError(f"opcode {op:#x} does not fit in 8 bits")
    if not 0 <= dst <= 15 or not 0 <= src <= 15:
        raise UsageError(f"register numbers {dst}/{src} do not fit in 4 bits")
    if not -0x8000 <= off <= 0x7FFF:
        if 0x8000 <= off <= 0xFFFF:
            off -= 0x10000
        else:
            raise UsageError(f"offset {off:#x} does not fit in 16 bits")
    if not -0x80000000 <= imm <= 0x7FFFFFFF:
        if 0x80000000 <= imm <= 0xFFFFFFFF:
            imm -= 1 << 32
        else:
            raise UsageError(f"immediate {imm:#x} does not fit in 32 bits")
    return op, dst, src, off, imm


def encode(fields: Iterable[Fields], little: bool = True) -> bytes:
    """Bytes of a sequence of slots (fields already range-checked by the caller or not)."""
    pack = _LE.pack if little else _BE.pack
    out = bytearray()
    for op, dst, src, off, imm in fields:
        op, dst, src, off, imm = check_fields(op, dst, src, off, imm)
        out += pack(op, (src << 4) | dst if little else (dst << 4) | src, off, imm)
    return bytes(out)
