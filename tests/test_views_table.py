"""The terminal rendering of tables: nothing is lost, wide tables turn into records."""

from __future__ import annotations

import io
import re

import pytest

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
