"""`bpfinspect asm`: for every code section of every fixture (and Debian-shipped object),
asm(disasm --section S --plain) equals the section's bytes; plus the command's options and errors."""

from __future__ import annotations

import pytest

from bpfinspect.cli.main import main
from conftest import FIXTURE_OBJECTS, bpfinspect
from isa_util import DEBIAN_OBJECTS, code_sections


def _sections(paths):
    out = []
    for p in paths:
        for name, _, data, little in code_sections(str(p)):
            out.append(pytest.param(str(p), name, data, little, id=f"{str(p).split('/')[-1]}:{name}"))
    return out


@pytest.mark.parametrize("path, section, data, little", _sections(FIXTURE_OBJECTS))
def test_fixture_sections_round_trip(path, section, data, little, tmp_path, capsys):
    assert main(["disasm", path, "--section", section, "--plain"]) == 0
    text = capsys.readouterr().out
    src = tmp_path / "s.s"
    src.write_text(text)
    out = tmp_path / "s.bin"
    args = ["asm", str(src), "-o", str(out)] + ([] if little else ["--endian", "big"])
    assert main(args) == 0
    assert out.read_bytes() == data


def test_debian_objects_round_trip(tmp_path, capsys):
    from bpfinspect.isa import render_text, unpack_slots
    from bpfinspect.isa.asm import assemble

    count = 0
    for path in DEBIAN_OBJECTS:
        for name, _, data, little in code_sections(path):
            text = "\n".join(render_text(unpack_slots(data, little), plain=True))
            assert assemble(text, little=little) == data, f"{path}:{name}"
            count += 1
    assert count > 50


def test_endianness_changes_only_the_encoding(tmp_path):
    src = tmp_path / "p.s"
    src.write_text("r1 = *(u32 *)(r2 - 0x8)\nw3 s/= w4\nr0 = 0x123456789 ll\ncall pc+0x1\nexit\n")
    le, be = tmp_path / "le", tmp_path / "be"
    assert main(["asm", str(src), "-o", str(le)]) == 0
    assert main(["asm", str(src), "-o", str(be), "--endian", "big"]) == 0
    a, b = le.read_bytes(), be.read_bytes()
    assert a[:8] == bytes([0x61, 0x21, 0xF8, 0xFF, 0, 0, 0, 0])
    assert b[:8] == bytes([0x61, 0x12, 0xFF, 0xF8, 0, 0, 0, 0])
    assert len(a) == len(b) == 48


def test_comments_blank_lines_and_labels_are_accepted(tmp_path):
    src = tmp_path / "p.s"
    src.write_text("# a comment\n\n  r0 = 0x0   ; trailing\nif r1 == 0x0 goto +0x1 <LBB0_2>\n\nexit\n")
    out = tmp_path / "o"
    assert main(["asm", str(src), "-o", str(out)]) == 0
    assert len(out.read_bytes()) == 24


@pytest.mark.parametrize("text, message", [
    ("r1 = r\n", "line 1"),
    ("exit\nr1 += w2\n", "line 2"),
    ("r11 = 0x1\n", "line 1"),
    ("w1 = 0x1 ll\n", "64-bit"),
    ("*(u32 *)(r1 + 0x0) = 0x100000000\n", "32 bits"),
    ("lock *(u16 *)(r1 + 0x0) += r2\n", "u32 or u64"),
    ("if r1 == 0x0 goto +0x10000\n", "16 bits"),
])
def test_errors_are_one_line_with_position(text, message, tmp_path):
    """The first line is the whole error; then the line quoted, a caret under the mistake."""
    src = tmp_path / "bad.s"
    src.write_text(text)
    p = bpfinspect("asm", str(src), "-o", str(tmp_path / "o"))
    assert p.returncode == 2, p.stderr
    lines = p.stderr.splitlines()
    assert "Traceback" not in p.stderr and message in lines[0] and lines[0].startswith("bpfinspect: ")
    line_no = int(lines[0].split("line ", 1)[1].split(":")[0].split()[0])
    assert len(lines) == 3 and lines[1] == "  " + text.splitlines()[line_no - 1], lines
    assert lines[2].strip() == "^"
    if " column " in lines[0]:
        column = int(lines[0].split(" column ", 1)[1].split(":")[0])
        assert lines[2].index("^") == 2 + column - 1


def test_missing_input_file(tmp_path):
    p = bpfinspect("asm", str(tmp_path / "none.s"), "-o", str(tmp_path / "o"))
    assert p.returncode == 2 and "no such file" in p.stderr
