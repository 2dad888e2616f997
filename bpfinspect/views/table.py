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
            widths = [len(c) for c in b.columns]
            for row in b.rows:
                for j, cell in enumerate(row):
                    widths[j] = max(widths[j], len(cell))
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


def _render_rich(blocks: list[Block], stream) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table as RTable

    console = Console(file=stream, highlight=False)
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
        else:
            t = RTable(box=box.SIMPLE_HEAD, title=b.title, title_justify="left", title_style="bold",
                       header_style="bold")
            for c in b.columns:
                t.add_column(c, justify="right" if c in b.right else "left", style=b.styles.get(c),
                             overflow="fold")
            for row in b.rows:
                t.add_row(*row)
            console.print(t)
