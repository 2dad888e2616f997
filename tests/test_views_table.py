"""The terminal rendering of tables: nothing is lost, wide tables turn into records."""

from __future__ import annotations

import io
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpfinspect.obj import open_object
from bpfinspect.views import globals as gviews, maps, progs, sections
from bpfinspect.views.table import _render_rich
from conftest import FIXTURES

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.mark.parametrize("width", [80, 120, 250])
@pytest.mark.parametrize("view", [sections, progs, maps, gviews], ids=lambda v: v.__name__.rsplit(".", 1)[-1])
def test_every_cell_reaches_the_terminal(view, width):
    obj = open_object(FIXTURES / "calls.bpf.o")
    blocks = view.blocks(obj)
    out = io.StringIO()
    _render_rich(blocks, out, width=width)
    text = ANSI.sub("", out.getvalue())
    assert "\x1b" not in text
    shown = set(text.split())
    for b in blocks:
        for row in getattr(b, "rows", []):
            for cell in row:  # cells wrap only between words: every word arrives whole
                for word in cell.split():
                    assert word in shown, (cell, word, width)
    for line in text.splitlines():
        assert len(line) <= width


def test_control_characters_from_files_never_reach_the_terminal():
    """A name with ESC or a newline (a hostile section or program name) is shown escaped, in the
    plain layout and in rich's, in tables, key/value blocks and titles."""
    import io

    from bpfinspect.views.table import Fields, Table, _render_rich, render_plain, terminal_safe

    hostile = "evil\x1b[2J\nforged row\x9b"
    blocks = [Table(["Name"], [[hostile]], title=hostile), Fields([("Section", hostile)], title="t")]
    plain = render_plain(blocks)
    assert "\x1b" not in plain and "\x9b" not in plain and "forged row" in plain
    assert all(not line.startswith("forged") for line in plain.splitlines())
    out = io.StringIO()
    _render_rich(terminal_safe(blocks), out, width=100, color=False)
    assert "\x1b" not in out.getvalue() and "\\x1b[2J\\x0aforged" in out.getvalue()


def test_disasm_listing_escapes_control_characters_of_names(tmp_path):
    """A program section named with an ESC sequence and a newline: the human disassembly (plain
    and coloured) shows them escaped, never raw."""
    import subprocess
    import sys

    from conftest import FIXTURES
    from hostile_util import patch_section_names

    data = patch_section_names((FIXTURES / "kprobe.bpf.o").read_bytes(),
                               {b"kprobe/do_unlinkat": b"kprobe/\x1b[2Jx\nforged"})
    path = tmp_path / "evil.bpf.o"
    path.write_bytes(data)
    for color in ("never", "always"):
        p = subprocess.run([sys.executable, "-m", "bpfinspect", "disasm", "--color", color, str(path)],
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        assert "\x1b[2J" not in p.stdout and "\nforged" not in p.stdout, p.stdout[:500]
        assert "\\x1b[2Jx\\x0aforged" in p.stdout


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(["a", " ", "\t", "\n", "\r", "\x00", "\x1b", "\x7f", "\x85", "\x9f",
                                                  "\xa0", "\u00e9", "\u200b", "\u2028", ";"]), max_size=6),
                max_size=5))
def test_lines_safe_escapes_as_line_safe_does_line_by_line(lines):
    from bpfinspect.views.table import line_safe, lines_safe

    assert lines_safe(lines) == "\n".join(map(line_safe, lines))
