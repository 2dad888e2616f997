"""Raw section bytes to instruction slots.

A code section is cut into 8-byte slots with one ``struct.iter_unpack`` call.
Every slot becomes a tuple ``(opcode, regs, off, imm)`` where ``regs`` is
normalised to the little-endian layout (dst in the low nibble, src in the high
nibble) whatever the object's byte order: for a big-endian object the register
bytes are nibble-swapped in bulk before unpacking, so nothing downstream ever
looks at the byte order again.
"""

from __future__ import annotations

import struct
from collections import namedtuple

from bpfinspect.errors import MalformedInput
from bpfinspect.isa import opcodes as oc

SLOT = 8
_LE = struct.Struct("<BBhi")
_BE = struct.Struct(">BBhi")
_SWAP_NIBBLES = bytes(((b & 0x0F) << 4) | (b >> 4) for b in range(256))

Slot = tuple[int, int, int, int]


def unpack_slots(code: bytes, little: bool = True, *, section: str | None = None,
                 path: str | None = None) -> list[Slot]:
    """Cut ``code`` into ``(opcode, regs, off, imm)`` tuples (regs: dst low nibble)."""
    if len(code) % SLOT:
        raise MalformedInput(
            f"code size {len(code)} is not a multiple of {SLOT} bytes "
            f"({len(code) % SLOT} trailing bytes)",
            path=path, section=section, offset=len(code) - len(code) % SLOT)
    if little:
        return list(_LE.iter_unpack(code))
    swapped = bytearray(code)
    swapped[1::SLOT] = bytes(swapped[1::SLOT]).translate(_SWAP_NIBBLES)
    return list(_BE.iter_unpack(swapped))


class Insn(namedtuple("Insn", "index opcode dst src off imm next_imm size", defaults=(0, 1))):
    """One decoded instruction, fields as the kernel names them.

    ``index`` is the slot index in the section, ``size`` the slots taken (2 for
    ld_imm64), ``next_imm`` the second slot's imm of an ld_imm64 and ``imm64``
    its full 64-bit value (``imm`` holds the low half as a signed number).
    """

    __slots__ = ()

    @property
    def cls(self) -> int:
        return self.opcode & 0x07

    @property
    def imm64(self) -> int:
        return ((self.next_imm & 0xFFFFFFFF) << 32) | (self.imm & 0xFFFFFFFF)

    @property
    def is_ld_imm64(self) -> bool:
        return self.opcode == oc.LD_IMM64 and self.size == 2

    @property
    def is_call(self) -> bool:
        return self.opcode == (oc.JMP | oc.JMP_CALL | oc.K)

    @property
    def is_jump(self) -> bool:
        """Branches with a pc-relative target (goto, gotol, may_goto, conditionals)."""
        cls = self.opcode & 0x07
        if cls not in (oc.JMP, oc.JMP32):
            return False
        code = self.opcode & 0xF0
        if code in (oc.JMP_CALL, oc.JMP_EXIT):
            return False
        return True

    def jump_target(self) -> int | None:
        """Slot index a branch or a bpf-to-bpf call goes to (None for others)."""
        if self.is_call:
            return self.index + 1 + self.imm if self.src == oc.CALL_LOCAL else None
        if not self.is_jump:
            return None
        if self.opcode == (oc.JMP32 | oc.JMP_JA | oc.K):
            return self.index + 1 + self.imm
        return self.index + 1 + self.off


def wide_pair(slots: list[Slot], index: int) -> bool:
    """True when slot ``index`` starts a well-formed two-slot ld_imm64.

    Well formed: off is 0, dst a real register, src a known pseudo source
    (0..6), and a second slot exists whose opcode, registers and off are 0.
    Anything else is shown slot by slot as raw data.
    """
    first = slots[index]
    if (first[0] != oc.LD_IMM64 or first[2] or index + 1 >= len(slots)
            or (first[1] & 0x0F) > oc.MAX_REG or (first[1] >> 4) > oc.PSEUDO_MAP_IDX_VALUE):
        return False
    second = slots[index + 1]
    return not (second[0] or second[1] or second[2])


def insn_at(slots: list[Slot], index: int) -> Insn:
    """The instruction starting at slot ``index`` (two slots for a complete ld_imm64)."""
    op, regs, off, imm = slots[index]
    if op == oc.LD_IMM64 and wide_pair(slots, index):
        return Insn(index, op, regs & 0x0F, regs >> 4, off, imm, slots[index + 1][3], 2)
    return Insn(index, op, regs & 0x0F, regs >> 4, off, imm)


def iter_insns(slots: list[Slot]):
    """Every instruction in order (an ld_imm64 takes its two slots)."""
    i, n = 0, len(slots)
    while i < n:
        insn = insn_at(slots, i)
        yield insn
        i += insn.size
