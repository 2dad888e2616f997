"""A tiny document model for human views: tables, key/value blocks and text.

Views build a list of blocks; :func:`render` prints them with rich on a
terminal (colours, boxes) and as plain aligned text when piped, so scripts and
diffs see stable, uncoloured output and piped runs never pay for importing rich.
"""

from __future__ import annotations

import sys


class _Block:
    """Equality and repr by the slots (plain classes: every command shows blocks, and a
    dataclass costs milliseconds of each start to define)."""
    __slots__ = ()

    def _values(self) -> tuple:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other):
        return type(other) is type(self) and self._values() == other._values()

    def __repr__(self) -> str:
        args = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({args})"

    def _with(self, **changes):
        """A copy with some attributes changed."""
        new = object.__new__(type(self))
        for name in self.__slots__:
            setattr(new, name, changes[name] if name in changes else getattr(self, name))
        return new


class Table(_Block):
    """Rows under column headers.  ``right``: columns to right-align; ``styles``: column -> rich
    style; ``nowrap``: columns never wrapped on a terminal (besides the first);
    ``records_when_wide``: far too wide for the terminal, one record per row and a field per
    line (False: wrap the cells, for tables read row after row, such as a timeline)."""
    __slots__ = ("columns", "rows", "title", "right", "styles", "nowrap", "records_when_wide")
    __hash__ = None

    def __init__(self, columns: list[str], rows: list[list[str]] | None = None, title: str | None = None,
                 right: frozenset[str] = frozenset(), styles: dict[str, str] | None = None,
                 nowrap: frozenset[str] = frozenset(), records_when_wide: bool = True) -> None:
        self.columns = columns
        self.rows = [] if rows is None else rows
        self.title = title
        self.right = right
        self.styles = {} if styles is None else styles
        self.nowrap = nowrap
        self.records_when_wide = records_when_wide


class Fields(_Block):
    """Key/value pairs (a one-screen summary)."""
    __slots__ = ("items", "title")
    __hash__ = None

    def __init__(self, items: list[tuple[str, str]], title: str | None = None) -> None:
        self.items = items
        self.title = title


class Text(_Block):
    __slots__ = ("text", "style")
    __hash__ = None

    def __init__(self, text: str, style: str | None = None) -> None:
        self.text = text
        self.style = style


Block = Table | Fields | Text

# Control characters in text that came from a file (an ESC in a section name, a newline in a
# program name) would drive the terminal or forge rows: every cell, value and title is shown
# with them as \xNN (Text blocks keep their own line breaks and tabs).
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}
_TEXT_CONTROLS = {c: v for c, v in _CONTROLS.items() if c not in (0x09, 0x0A)}
_LINE_CONTROLS = {c: v for c, v in _CONTROLS.items() if c != 0x09}


def line_safe(line: str) -> str:
    """One line of a listing written straight to the terminal (``disasm``), its control
    characters escaped as the tables' are; its tabs kept (the listing's columns)."""
    return line.translate(_LINE_CONTROLS)


def lines_safe(lines: list[str]) -> str:
    """``lines`` joined into one text, each made safe as :func:`line_safe` makes it.  Escaping
    line by line is most of the cost of a long listing; when the whole text is printable but
    for its tabs and the line breaks that join it (the usual case), there is nothing to escape."""
    text = "\n".join(lines)
    if text.count("\n") == len(lines) - 1:
        if text.isascii():   # what is left once the printable bytes, tabs and line breaks go
            if not text.encode("ascii").translate(None, _ASCII_KEPT):
                return text
        elif text.replace("\t", "").replace("\n", "").isprintable():
            return text
    return "\n".join(map(line_safe, lines))


_ASCII_KEPT = bytes(range(0x20, 0x7F)) + b"\t\n"


def _safe(text, table=_CONTROLS):
    return text.translate(table) if isinstance(text, str) else text


def _has_controls(texts) -> bool:
    """Whether any of ``texts`` holds a character that ``_CONTROLS`` escapes (one scan of them all)."""
    text = "".join(texts)
    if text.isprintable():  # the usual answer, without re (control characters are never printable)
        return False
    import re

    return re.search("[\x00-\x1f\x7f-\x9f]", text) is not None


def terminal_safe(blocks: list[Block]) -> list[Block]:
    """``blocks`` with the control characters of their text escaped (see ``_CONTROLS``)."""
    out: list[Block] = []
    for b in blocks:
        if isinstance(b, Table):
            if _has_controls([b.title or "", *b.columns, *[c for row in b.rows for c in row if isinstance(c, str)]]):
                b = b._with(title=_safe(b.title), rows=[[_safe(c) for c in row] for row in b.rows])
        elif isinstance(b, Fields):
            b = b._with(title=_safe(b.title), items=[(_safe(k), _safe(v)) for k, v in b.items])
        elif isinstance(b, Text):
            b = b._with(text=_safe(b.text, _TEXT_CONTROLS))
        out.append(b)
    return out


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """``"1 program"``, ``"2 programs"``, ``"no programs"``."""
    if n == 1:
        return f"1 {noun}"
    return f"{'no' if n == 0 else n} {nouns or noun + 's'}"


def use_rich(stream=None) -> bool:
    """The terminal layout for ``stream`` (see :mod:`bpfinspect.views.term`)?"""
    from bpfinspect.views import term

    return term.terminal_layout(stream or sys.stdout)


def render(blocks: list[Block], stream=None) -> None:
    stream = stream or sys.stdout
    if use_rich(stream):
        _render_rich(terminal_safe(blocks), stream)
    else:
        stream.write(render_plain(blocks))


def render_plain(blocks: list[Block]) -> str:
    blocks = terminal_safe(blocks)
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
        elif not b.rows:  # nothing to list: the title says so in a sentence ("x.o: no maps")
            if b.title:
                out.append(b.title)
        else:
            if b.title:
                out.append(b.title)
            out.extend(_plain_lines(b))
    return "\n".join(out) + "\n"


def _plain_lines(b: Table) -> list[str]:
    """The header and rows of a table as aligned lines (two spaces between columns, numbers to
    the right, no trailing blanks): one format string for the whole table."""
    widths = _widths(b)
    n = len(b.columns)
    fmt = "  ".join(f"%{'' if c in b.right else '-'}{w}s" for c, w in zip(b.columns, widths))
    if all(len(row) == n for row in b.rows):
        return [(fmt % tuple(row)).rstrip() for row in (b.columns, *b.rows)]
    lines = []
    for row in (b.columns, *b.rows):   # a short row: its cells only
        lines.append("  ".join((cell.rjust if b.columns[j] in b.right else cell.ljust)(widths[j])
                               for j, cell in enumerate(row)).rstrip())
    return lines


def _render_rich(blocks: list[Block], stream, width: int | None = None, color: bool | None = None) -> None:
    from rich import box
    from rich.table import Table as RTable

    from bpfinspect.views import term

    if color is None:
        color = term.use_color(stream)
    console = term.console_class()(file=stream, highlight=False, width=width or term.width(stream), force_terminal=color,
                      no_color=False, color_system=("auto" if term.isatty(stream) else "standard") if color else None)
    for i, b in enumerate(blocks):
        if i:
            console.print()
        if isinstance(b, Text):
            # wrapped between words at the terminal's width; only a word longer than a line is cut
            console.print(b.text.rstrip("\n"), style=b.style, markup=False, overflow="fold")
        elif isinstance(b, Fields):
            t = RTable(box=None, show_header=False, title=b.title, title_justify="left", title_style="bold")
            t.add_column(style="bold cyan", no_wrap=True)
            t.add_column(overflow="fold")
            for k, v in b.items:
                t.add_row(k, v)
            console.print(t)
        elif not b.rows:  # nothing to list: the title says so in a sentence ("x.o: no maps")
            if b.title:
                console.print(b.title, style="bold", markup=False, overflow="fold")
        else:
            widths = _fit_widths(b, console.width)
            if widths is None and b.records_when_wide:  # the columns would have to cut words
                _render_records(console, b)
                continue
            t = RTable(box=box.SIMPLE_HEAD, title=b.title, title_justify="left", title_style="bold",
                       header_style="bold")
            for i, c in enumerate(b.columns):
                # the first column names the row: never wrapped; the others wrap between words
                # (lists are ", "-separated), at widths that keep every word whole
                t.add_column(c, justify="right" if c in b.right else "left", style=b.styles.get(c),
                             no_wrap=i == 0 or c in b.nowrap, overflow="fold",
                             width=widths[i] if widths else None)
            for row in b.rows:
                t.add_row(*row)
            console.print(t)


def _widths(b: Table) -> list[int]:
    """Each column's widest text, header included."""
    widths = [len(c) for c in b.columns]
    n = len(widths)
    if all(len(row) == n for row in b.rows):
        return [max(map(len, column)) for column in zip(b.columns, *b.rows)]
    for row in b.rows:
        for j, cell in enumerate(row):
            widths[j] = max(widths[j], len(cell))
    return widths


def _fit_widths(b: Table, width: int) -> list[int] | None:
    """Column widths for the table in ``width`` terminal columns with no word cut: each column at
    least its longest word (the first and never-wrapped columns whole), the room left shared in
    proportion to what each column would need to show its cells on one line.  None when even the
    narrowest such layout is too wide.  (rich's own fitting may fold words where a layout without
    folds exists.)"""
    n = len(b.columns)
    room = width - (3 * n + 1)  # SIMPLE_HEAD: a padding column either side, a separator, two edges
    least, most = [], []
    for j, c in enumerate(b.columns):
        whole = j == 0 or c in b.nowrap
        cells = [c] + [row[j] for row in b.rows]
        most.append(max(len(x) for x in cells))
        least.append(most[-1] if whole else max((len(w) for x in cells for w in x.split()), default=1))
    extra = room - sum(least)
    if extra < 0:
        return None
    want = [m - lo for m, lo in zip(most, least)]
    if sum(want) <= extra:
        return most
    share = [extra * w // sum(want) for w in want]
    left = extra - sum(share)
    for j in sorted(range(n), key=lambda j: want[j] - share[j], reverse=True)[:left]:
        share[j] += 1
    return [lo + sh for lo, sh in zip(least, share)]


def _render_records(console, b: Table) -> None:
    """A table too wide for the terminal: one record per row, a field per line, headed by the
    row's name (the first never-wrapped column, or the first column).  Each value wraps between
    words inside its own column, beside its label, so no line is wider than the terminal."""
    from rich.table import Table as RTable

    if b.title:
        console.print(b.title, style="bold", markup=False)
    key = next((j for j, c in enumerate(b.columns) if c in b.nowrap), 0)
    others = [j for j in range(len(b.columns)) if j != key]
    width = max((len(b.columns[j]) for j in others), default=0)
    for row in b.rows:
        console.print(row[key], style="bold " + (b.styles.get(b.columns[key]) or ""), markup=False,
                      highlight=False, overflow="fold")
        grid = RTable.grid(padding=(0, 1, 0, 0), pad_edge=False)
        grid.add_column(no_wrap=True, width=1)
        grid.add_column(style="cyan", no_wrap=True, width=width + 1)
        grid.add_column(overflow="fold")
        for j in others:
            if row[j]:
                col = b.columns[j]
                grid.add_row("", col + ":", _styled(row[j], b.styles.get(col)))
        console.print(grid)


def _styled(text: str, style: str | None):
    from rich.text import Text as RText

    return RText(text, style=style or "")
