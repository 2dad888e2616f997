"""Property tests: decode -> text -> assemble -> encode is the identity."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bpfinspect.isa import format_slot, render, unpack_slots
from bpfinspect.isa.asm import assemble
from bpfinspect.isa.printer import TEXT_FORMATTERS, _invalid, plain_texts, render_text
from isa_util import enc

KNOWN_OPCODES = [op for op in range(256) if TEXT_FORMATTERS[op] is not _invalid]

# Fields drawn so that most combinations are valid instructions: registers r0..r10 (sometimes
# beyond), off/imm from small, special and extreme values.
regs = st.integers(0, 10) | st.integers(0, 15)
offs = st.sampled_from([0, 0, 0, 1, 8, 16, 32, -1]) | st.integers(-0x8000, 0x7FFF)
imms = (st.sampled_from([0, 0, 1, 16, 32, 64, 0x40, 0x41, 0x50, 0x51, 0xA0, 0xA1, 0xE1, 0xF1, 0x100, 0x110, -1])
        | st.integers(-0x80000000, 0x7FFFFFFF))
insn = st.tuples(st.sampled_from(KNOWN_OPCODES), regs, regs, offs, imms)


@settings(max_examples=300, deadline=None)
@given(st.lists(insn, min_size=1, max_size=30), st.booleans())
def test_valid_instructions_round_trip(fields, big):
    # each instruction followed by an empty slot so that ld_imm64 pairs are complete
    code = b"".join(enc(*f, big=big) + bytes(8) for f in fields)
    slots = unpack_slots(code, not big)
    lines = render(slots, plain=True)
    text = "\n".join(line[2] for line in lines)
    assert assemble(text, little=not big) == code
    assert plain_texts(slots, render(slots)) == [line[2] for line in lines]
    # every valid single-slot instruction alone assembles to itself from its llvm text too,
    # except where the plain spelling differs on purpose
    for i, size, plain, warning in lines:
        if warning is None and size == 1:
            llvm_text = format_slot(slots[i], i)
            if llvm_text == plain:
                assert assemble(llvm_text, little=not big) == code[i * 8:i * 8 + 8]


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=160).map(lambda b: b[:len(b) // 8 * 8]), st.booleans())
def test_any_bytes_round_trip(code, big):
    """Arbitrary bytes: whatever is not an instruction is raw data, and nothing is lost."""
    text = "\n".join(render_text(unpack_slots(code, not big), plain=True))
    assert assemble(text, little=not big) == code
