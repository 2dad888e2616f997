"""A tiny document model for human views: tables, key/value blocks and text.

Views build a list of blocks; :func:`render` prints them with rich on a
terminal (colours, boxes) and as plain aligned text when piped, so scripts and
diffs see stable, uncoloured output and piped runs never pay for importing rich.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    title: str | None = None
    right: frozenset[str] = frozenset()  # columns to right-align
    styles: dict[str, str] = field(default_factory=dict)  # column -> rich style
    nowrap: frozenset[str] = frozenset()  # columns never wrapped on a terminal (besides the first)
    # far too wide for the terminal: one record per row, a field per line (False: wrap the cells,
    # for tables read row after row, such as a timeline)
    records_when_wide: bool = True


@dataclass
class Fields:
    """Key/value pairs (a one-screen summary)."""
    items: list[tuple[str, str]]
    title: str | None = None


@dataclass
class Text:
    text: str
    style: str | None = None


Block = Table | Fields | Text


def use_rich(stream=None) -> bool:
    stream = stream or sys.stdout
    if os.environ.get("BPFINSPECT_PLAIN"):
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def render(blocks: list[Block], stream=None) -> None:
    stream = stream or sys.stdout
    if use_rich(stream):
        _render_rich(blocks, stream)
    else:
        stream.write(render_plain(blocks))


def render_plain(blocks: list[Block]) -> str:
    out: list[str] = []
    for i, b in enumerate(blocks):
        if i:
            out.append("")
        if isinstance(b, Text):
            out.append(b.text.rstrip("\n"))
        elif isinstance(b, Fields):
            if b.title:
                out.append(b.title)
            width = max((len(k) for k, _ in b.items), default=0)
            for k, v in b.items:
                out.append(f"{k + ':':<{width + 1}} {v}".rstrip())
        else:
            if b.title:
                out.append(b.title)
            widths = _widths(b)
            def line(cells):
                parts = []
                for j, cell in enumerate(cells):
                    if b.columns[j] in b.right:
                        parts.append(cell.rjust(widths[j]))
                    else:
                        parts.append(cell.ljust(widths[j]))
                return "  ".join(parts).rstrip()
            out.append(line(b.columns))
            for row in b.rows:
                out.append(line(row))
    return "\n".join(out) + "\n"


def _render_rich(blocks: list[Block], stream, width: int | None = None) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table as RTable

    console = Console(file=stream, highlight=False, width=width, force_terminal=True)
    for i, b in enumerate(blocks):
        if i:
            console.print()
        if isinstance(b, Text):
            console.print(b.text.rstrip("\n"), style=b.style, markup=False, soft_wrap=True)
        elif isinstance(b, Fields):
            t = RTable(box=None, show_header=False, title=b.title, title_justify="left", title_style="bold")
            t.add_column(style="bold cyan", no_wrap=True)
            t.add_column(overflow="fold")
            for k, v in b.items:
                t.add_row(k, v)
            console.print(t)
        elif b.records_when_wide and _natural_width(b) > 1.25 * console.width:  # wrapping would shred every cell
            _render_records(console, b)
        else:
            t = RTable(box=box.SIMPLE_HEAD, title=b.title, title_justify="left", title_style="bold",
                       header_style="bold")
            for i, c in enumerate(b.columns):
                # the first column names the row: never wrapped; the others wrap between words
                # (lists are ", "-separated) and fold only words longer than their column
                t.add_column(c, justify="right" if c in b.right else "left", style=b.styles.get(c),
                             no_wrap=i == 0 or c in b.nowrap, overflow="fold")
            for row in b.rows:
                t.add_row(*row)
            console.print(t)


def _widths(b: Table) -> list[int]:
    """Each column's widest text, header included."""
    widths = [len(c) for c in b.columns]
    for row in b.rows:
        for j, cell in enumerate(row):
            widths[j] = max(widths[j], len(cell))
    return widths


def _natural_width(b: Table) -> int:
    """Width of the table with no cell wrapped (rich's SIMPLE_HEAD: 3 columns of padding each)."""
    widths = _widths(b)
    return sum(widths) + 3 * len(widths) + 1


def _render_records(console, b: Table) -> None:
    """A table too wide for the terminal: one record per row, a field per line, headed by the
    row's name (the first never-wrapped column, or the first column)."""
    if b.title:
        console.print(b.title, style="bold", markup=False)
    key = next((j for j, c in enumerate(b.columns) if c in b.nowrap), 0)
    others = [j for j in range(len(b.columns)) if j != key]
    width = max((len(b.columns[j]) for j in others), default=0)
    for row in b.rows:
        console.print(row[key], style="bold " + (b.styles.get(b.columns[key]) or ""), markup=False,
                      highlight=False)
        for j in others:
            if row[j]:
                col = b.columns[j]
                console.print(f"  {col + ':':<{width + 1}} ", end="", style="cyan", markup=False, highlight=False)
                console.print(row[j], style=b.styles.get(col), markup=False, highlight=False)
