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


# ---------------------------------------------------------------------------- helper arguments


def test_helper_calls_see_maps_and_sizes_through_registers_stack_and_calls():
    from bpfinspect.flow.cfg import MapRef
    from bpfinspect.flow.consts import FP, helper_calls

    # r1 = map rb (the ld_imm64 at slot 0), spilled and reloaded; r2 = a size built from two constants;
    # a second reservation in a subprogram that gets the map in r1 and the size in r2
    src = """
r1 = 0 ll
*(u64 *)(r10 - 16) = r1
r2 = 40
r2 += 128
r1 = *(u64 *)(r10 - 16)
r3 = 0
call 131
r1 = *(u64 *)(r10 - 16)
r2 = 16
call pc+2
r0 = 0
exit
r3 = 0
call 131
exit
"""
    c = code(src)
    c.values[("prog", 0)] = MapRef("rb")
    # a perf output with the data on the stack
    out = code("r6 = r1\nr4 = r10\nr4 += -56\nr2 = 0 ll\nr3 = 0xffffffff ll\nr5 = 56\nr1 = r6\ncall 25\nexit")
    out.values[("prog", 3)] = MapRef("events")
    found = helper_calls(c, ("prog", 0), {131})
    assert not found.approximate
    got = {where[1]: (helper, sorted(set(a[:2] for a in args), key=str)) for where, (helper, args) in
           found.sites.items()}
    assert got == {7: (131, [(MapRef("rb"), 168)]), 14: (131, [(MapRef("rb"), 16)])}
    (where, (helper, args)), = helper_calls(out, ("prog", 0), {25}).sites.items()
    assert helper == 25 and args == [(None, MapRef("events"), 0xFFFFFFFF, (FP, -56), 56)]
    # helpers not asked for are not reported; an unknown size stays unknown
    assert helper_calls(out, ("prog", 0), {131}).sites == {}
    unknown = code("r1 = 0 ll\nr2 = *(u64 *)(r1 + 0)\ncall 131\nexit")
    unknown.values[("prog", 0)] = MapRef("rb")
    (_, (_, args)), = helper_calls(unknown, ("prog", 0), {131}).sites.items()
    assert args == [(MapRef("rb"), None, None, None, None)]
