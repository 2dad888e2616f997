"""Raw section bytes to instruction slots, and what an instruction is.

A code section is cut into 8-byte slots with one ``struct.iter_unpack`` call.
Every slot becomes a tuple ``(opcode, regs, off, imm)`` where ``regs`` is
normalised to the little-endian layout (dst in the low nibble, src in the high
nibble) whatever the object's byte order: for a big-endian object the register
bytes are nibble-swapped in bulk before unpacking, so nothing downstream ever
looks at the byte order again.

The predicates below answer the questions asked of decoded code everywhere
(the object model, the disassembler's notes): helper, bpf-to-bpf and kfunc
calls, function addresses loaded by ld_imm64, branch targets, exits.  They
look at one slot (or a slot and the next, for ld_imm64) and never at bytes.
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


# What an opcode is, for the questions below: one entry per opcode.
OTHER, CALL, WIDE, BRANCH, EXIT, IND_LOAD = range(6)
OP_CALL = oc.JMP | oc.JMP_CALL | oc.K
OP_EXIT = oc.JMP | oc.JMP_EXIT | oc.K
OP_GOTOL = oc.JMP32 | oc.JMP_JA | oc.K
_IND_LOADS = frozenset(oc.LD | oc.MODE_IND | s for s in (oc.SIZE_W, oc.SIZE_H, oc.SIZE_B))


def _role(op: int) -> int:
    if op == OP_CALL:
        return CALL
    if op == OP_EXIT:
        return EXIT
    if op == oc.LD_IMM64:
        return WIDE
    if op in _IND_LOADS:
        return IND_LOAD
    if (op & 0x07) in (oc.JMP, oc.JMP32) and (op & 0xF0) not in (oc.JMP_CALL, oc.JMP_EXIT):
        return BRANCH
    return OTHER


ROLE = tuple(_role(op) for op in range(256))


def helper_id(slot: Slot) -> int | None:
    """The helper a call slot names (None for anything but a helper call)."""
    return slot[3] if slot[0] == OP_CALL and slot[1] >> 4 == oc.CALL_HELPER else None


def kfunc_id(slot: Slot) -> int | None:
    """The BTF id a kfunc call slot names (None for anything but a kfunc call)."""
    return slot[3] if slot[0] == OP_CALL and slot[1] >> 4 == oc.CALL_KFUNC else None


def local_call_target(index: int, slot: Slot) -> int | None:
    """The slot a bpf-to-bpf call at ``index`` goes to (None for other slots)."""
    return index + 1 + slot[3] if slot[0] == OP_CALL and slot[1] >> 4 == oc.CALL_LOCAL else None


def jump_target(index: int, slot: Slot) -> int | None:
    """The slot a branch at ``index`` goes to: goto, gotol (offset in imm), may_goto and the
    conditional jumps; None for calls, exits and everything else."""
    op = slot[0]
    if ROLE[op] != BRANCH:
        return None
    return index + 1 + (slot[3] if op == OP_GOTOL else slot[2])


def is_exit(slot: Slot) -> bool:
    return slot[0] == OP_EXIT


def func_address_target(slots: "list[Slot] | tuple", index: int) -> int | None:
    """The slot an ld_imm64 of a function's address (src_reg PSEUDO_FUNC) designates."""
    slot = slots[index]
    if slot[0] != oc.LD_IMM64 or slot[1] >> 4 != oc.PSEUDO_FUNC or not wide_pair(slots, index):
        return None
    return index + 1 + slot[3]


def scan_calls(slots: "list[Slot] | tuple", start: int, stop: int) -> tuple[list[int], list[int]]:
    """(helper ids in first-call order, bpf-to-bpf call targets) of ``slots[start:stop]``.

    Instructions are walked in order, so the second slot of an ld_imm64 is never
    taken for an instruction of its own."""
    helpers: dict[int, None] = {}
    local: list[int] = []
    i = start
    while i < stop:
        op, regs, _off, imm = slots[i]
        if op == OP_CALL:
            src = regs >> 4
            if src == oc.CALL_HELPER:
                helpers[imm] = None
            elif src == oc.CALL_LOCAL:
                local.append(i + 1 + imm)
        elif op == oc.LD_IMM64:
            i += 1
        i += 1
    return list(helpers), local


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
        return self.opcode == OP_CALL

    @property
    def is_jump(self) -> bool:
        """Branches with a pc-relative target (goto, gotol, may_goto, conditionals)."""
        return ROLE[self.opcode] == BRANCH

    def jump_target(self) -> int | None:
        """Slot index a branch or a bpf-to-bpf call goes to (None for others)."""
        slot = (self.opcode, (self.src << 4) | self.dst, self.off, self.imm)
        if self.is_call:
            return local_call_target(self.index, slot)
        return jump_target(self.index, slot)


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
