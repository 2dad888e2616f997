"""Instruction text against llvm-objdump-19, instruction by instruction, on every fixture and
every Debian-shipped BPF object.

Where default llvm-objdump-19 cannot decode an instruction (32-bit atomics other than a
plain add: it prints `<unknown>`, or a plain `lock ... +=` for a fetching add) the reference
is llvm-objdump-19 --mattr=+alu32, whose spelling we use for those (see isa/printer.py).
"""

from __future__ import annotations

import pytest

from isa_util import LLVM_OBJDUMP, all_objects, code_sections, llvm_disasm, our_disasm

pytestmark = pytest.mark.skipif(LLVM_OBJDUMP is None, reason="llvm-objdump-19 is not installed")

OBJECTS = all_objects()


def _w_atomic_non_add(path: str, section: str, index: int, cache: dict) -> bool:
    """True when the slot is {ATOMIC, W, STX} with an imm other than a plain add."""
    if (path, section) not in cache:
        for name, _, data, little in code_sections(path):
            cache[(path, name)] = (data, little)
    data, little = cache[(path, section)]
    op = data[index * 8]
    imm = int.from_bytes(data[index * 8 + 4:index * 8 + 8], "little" if little else "big", signed=True)
    return op == 0xC3 and imm != 0


def test_objects_exist():
    assert any("fixtures" in p for p in OBJECTS), "no fixtures/*.bpf.o found"
    assert len(OBJECTS) > 30


@pytest.mark.parametrize("path", OBJECTS, ids=lambda p: p.split("/")[-1])
def test_text_matches_llvm_objdump_19(path):
    ref = llvm_disasm(path)
    ours = our_disasm(path)
    assert set(ours) == set(ref), "code sections differ"
    alu32 = None
    cache: dict = {}
    for section, lines in ref.items():
        mine = ours[section]
        assert [i for i, _, _ in mine] == [i for i, _ in lines], f"{section}: instruction indexes differ"
        for (i, text), (_, our_text, warning) in zip(lines, mine):
            if text == "<unknown>" or _w_atomic_non_add(path, section, i, cache):
                if alu32 is None:
                    alu32 = {s: dict(v) for s, v in llvm_disasm(path, "--mattr=+alu32").items()}
                assert our_text == alu32[section][i], f"{section}:{i}"
                assert warning is None
            else:
                assert our_text == text, f"{section}:{i}"
                assert warning is None, f"{section}:{i}: valid instruction shown as raw data"
