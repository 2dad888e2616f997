"""bpfinspect.flow: the blocks of a function and the instructions the verifier can reach.

Small programs written in assembly (the project's assembler, checked against llvm
elsewhere); the reachability of the poisoned call (`call 195896080`) is what the kernel's
verifier decides, checked here for the cases the CO-RE fixture does not cover.
"""

from __future__ import annotations

import pytest

from bpfinspect.flow.cfg import Code, call_graph, function_blocks
from bpfinspect.flow.consts import reachable
from bpfinspect.isa.asm import assemble
from bpfinspect.isa.decode import unpack_slots

POISON = "call 195896080"


def code(src: str, **more: str) -> Code:
    sections = {"prog": unpack_slots(assemble(src))}
    for name, t in more.items():
        sections[name] = unpack_slots(assemble(t))
    return Code(sections)


def reached(c: Code, entry=("prog", 0)) -> set[int]:
    return {i for s, i in reachable(c, entry).slots if s == "prog"}


def poison_at(text: str) -> int:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    slot = 0
    for ln in lines:
        if ln == POISON:
            return slot
        slot += 2 if "ll" in ln.split() else 1
    raise AssertionError("no poison")


@pytest.mark.parametrize("text, guarded", [
    # the field_exists result 0 tested directly
    ("r1 = 0\nif r1 == 0 goto +1\n" + POISON + "\nr0 = 0\nexit", True),
    ("r1 = 1\nif r1 == 0 goto +1\n" + POISON + "\nr0 = 0\nexit", False),
    # through a copy, arithmetic and a 32-bit compare
    ("r1 = 0\nr2 = r1\nr2 += 5\nif w2 != 5 goto +1\nr0 = 0\nexit\n" + POISON + "\nexit", True),
    # through a stack slot
    ("r1 = 0\n*(u64 *)(r10 - 8) = r1\nr3 = *(u64 *)(r10 - 8)\nif r3 != 0 goto +1\nexit\n" + POISON + "\nexit",
     True),
    # an unknown value: both ways are possible
    ("r1 = *(u64 *)(r1 + 0)\nif r1 == 0 goto +1\n" + POISON + "\nr0 = 0\nexit", False),
    # learnt from the branch: r1 == 3 on the taken side
    ("r1 = *(u64 *)(r1 + 0)\nif r1 == 3 goto +2\nr0 = 0\nexit\nif r1 == 3 goto +1\n" + POISON + "\nexit", True),
    # a 64-bit constant
    ("r1 = 0x100000000 ll\nif r1 > 0xffff goto +1\n" + POISON + "\nexit", True),
    # merged paths that agree keep the value
    ("r2 = *(u64 *)(r1 + 0)\nr1 = 0\nif r2 == 0 goto +1\nr1 = 0\nif r1 != 0 goto +1\nexit\n" + POISON + "\nexit",
     True),
    # merged paths that disagree lose it
    ("r2 = *(u64 *)(r1 + 0)\nr1 = 0\nif r2 == 0 goto +1\nr1 = 1\nif r1 != 0 goto +1\nexit\n" + POISON + "\nexit",
     False),
])
def test_constant_branches(text, guarded):
    c = code(text)
    assert (poison_at(text) not in reached(c)) == guarded


def test_loop_terminates_and_reaches():
    text = "r1 = 0\nr1 += 1\nif r1 < 10 goto -2\n" + POISON + "\nexit"
    assert poison_at(text) in reached(code(text))


def test_calls_pass_constants_to_static_not_to_global_functions():
    caller = "r1 = 0\ncall 2\nr0 = 0\nexit\n"  # made a bpf-to-bpf call to slot 4 below
    callee = "if r1 == 0 goto +1\n" + POISON + "\nexit\n"
    c = code(caller + callee)
    op, regs, off, imm = c.sections["prog"][1]
    c.sections["prog"][1] = (op, regs | (1 << 4), off, imm)
    assert 5 not in reached(c)
    c.global_functions.add(("prog", 4))
    assert 5 in reached(c)


def test_callback_is_reached_with_unknown_arguments():
    # ld_imm64 src=4 (a function's address) pointing at slot 5: analysed with unknown r1
    text = "r2 = 0\nr1 = 0 ll\nr0 = 0\nexit\nif r1 == 0 goto +1\n" + POISON + "\nexit"
    c = code(text)
    op, regs, off, imm = c.sections["prog"][1]
    c.sections["prog"][1] = (op, regs | (4 << 4), off, 3)   # slot 1 + 1 + 3 = slot 5
    assert 6 in reached(c)


def test_cross_section_calls_follow_links():
    c = code("r1 = 1\ncall -1\nexit", text="if r1 == 0 goto +1\n" + POISON + "\nexit")
    op, regs, off, imm = c.sections["prog"][1]
    c.sections["prog"][1] = (op, regs | (1 << 4), off, imm)
    c.links[("prog", 1)] = ("text", 0)
    r = reachable(c, ("prog", 0))
    assert ("text", 1) in r.slots
    assert call_graph(c, ("prog", 0)) == {("prog", 0): [("text", 0)], ("text", 0): []}


def test_blocks():
    c = code("r1 = 0\nif r1 == 0 goto +2\nr1 = 1\nr1 = 2\nexit")
    blocks = function_blocks(c, ("prog", 0))
    assert sorted((b.start, b.end, sorted(b.succs)) for b in blocks.values()) == [
        (0, 2, [2, 4]), (2, 4, [4]), (4, 5, [])]


def test_hostile_jumps_stay_bounded():
    # a jump out of the section, a jump to itself, registers past r10
    c = code("if r1 == 0 goto +100\ngoto -1\nexit")
    assert reached(c) == {0, 1}
    assert function_blocks(c, ("prog", 0))[0].bad
    slots = c.sections["prog"]
    slots[2] = (0xbf, 0xfe, 0, 0)  # mov r14, r15
    reachable(c, ("prog", 0))
