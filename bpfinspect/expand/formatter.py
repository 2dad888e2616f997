"""Lay out an expansion as C: statements on their own lines, blocks indented.

The input is the token stream a macro expanded to, which cpp would print as
one long line.  The layout rules are few and purely token based:

* ``;`` at statement level (outside parentheses, or at the top of the
  expansion) ends a line; so does a block ``{``, and a block's ``}`` stands on
  its own line.  A ``{`` is a block when it follows ``)``, ``(`` (a statement
  expression), ``;``, ``{``, ``}``, ``else`` or ``do``; after ``struct``/``union``
  (and their tag) it opens a member list, laid out the same way; any other
  ``{`` is an initializer and stays inline.
* A function body at file level gets its ``{`` on a line of its own.
* ``_Pragma("...")`` at statement level stands on its own line.
* The statement after ``if (...)``, ``for (...)``, ``while (...)`` or ``else``
  without braces goes on the next line, one level deeper.
* A list of arguments going past column 100 continues on the next line,
  one step deeper, after a comma.
* Between tokens: no space before ``, ; ) ]`` or after ``( [``, none around
  ``.``/``->``, none between a name and its ``(`` (except after ``if``/``for``...),
  a space after ``,``; elsewhere the white space the macro's author wrote
  (recorded on each token), and always a space where two tokens would
  otherwise fuse into one.
"""

from __future__ import annotations

from bpfinspect.expand.lexer import IDENT, STRING, Tok, would_merge

WRAP_COLUMN = 100

_CONTROL = frozenset({"if", "while", "for", "switch", "return", "case", "do", "else", "goto"})
# Keywords after which "(" is not a call: the author's spacing decides
# ("int (*name)[val]" keeps its space).
_TYPE_WORDS = frozenset({
    "int", "char", "short", "long", "signed", "unsigned", "void", "float", "double", "_Bool",
    "bool", "const", "volatile", "restrict", "static", "extern", "inline", "register", "auto",
    "struct", "union", "enum", "__inline", "__inline__", "__restrict", "__volatile__", "__const",
})
_BLOCK_AFTER = frozenset({")", "(", ";", "{", "}", "else", "do", ":"})


def detect_indent_unit(text: str) -> str:
    """The file's indentation step: a tab, or the smallest run of spaces used."""
    smallest = 0
    for line in text.splitlines():
        if line.startswith("\t"):
            return "\t"
        stripped = line.lstrip(" ")
        n = len(line) - len(stripped)
        if n and stripped and not stripped.startswith("*"):
            if smallest == 0 or n < smallest:
                smallest = n
    if smallest in (2, 3, 4, 8):
        return " " * smallest
    return "\t"


def _space(prev: Tok | None, t: Tok) -> bool:
    if prev is None:
        return False
    p = prev.text
    x = t.text
    if x in (",", ";", ")", "]"):
        return False
    if p in (",", ";"):
        return True
    if x == "." and p == "{":  # designated initializer
        return t.ws
    if p in ("(", "[", ".", "->", "~", "!") or x in (".", "->"):
        return would_merge(p, x)
    if x == "(":
        if prev.kind == IDENT:
            if p in _TYPE_WORDS:
                return t.ws
            return p in _CONTROL
    elif x == "[":
        if prev.kind == IDENT or p in (")", "]"):
            return False
    return t.ws or would_merge(p, x)


def _chunk_longer_than(toks: list[Tok], start: int, room: int) -> bool:
    """Whether the next argument (up to its ``,`` or the closing bracket) takes
    more than ``room`` columns."""
    depth = 0
    length = 0
    prev = toks[start - 1] if start > 0 else None
    for k in range(start, len(toks)):
        t = toks[k]
        x = t.text
        length += _space(prev, t)
        prev = t
        if x in ("(", "[", "{"):
            depth += 1
        elif x in (")", "]", "}"):
            if depth == 0:
                return False
            depth -= 1
        elif x == "," and depth == 0:
            return False
        elif x == ";" and depth == 0:
            return False
        length += len(x)
        if length > room:
            return True
    return False


class _Layout:
    def __init__(self, indent: str, unit: str, line_start: bool, first_column: int = 0) -> None:
        self.first_column = first_column
        self.indent = indent
        self.unit = unit
        self.lines: list[str] = []
        self.cur: list[str] = []
        self.line_start = line_start
        self.level = 0
        self.extra = 0
        self.saved_extra: list[int] = []
        self.wrap = False   # continue the statement on the next line, one step deeper
        self.need_nl = False

    def fresh(self) -> bool:
        """Nothing written on the current line yet (and it is a line of its own)."""
        if self.cur:
            return False
        return bool(self.lines) or self.line_start

    def newline(self) -> None:
        self.lines.append("".join(self.cur))
        self.cur = []

    def width(self) -> int:
        return len("".join(self.cur).expandtabs(8)) + self.first_column * (not self.lines)

    def emit(self, text: str, space: bool) -> None:
        cont = 0
        if self.wrap and not self.need_nl and self.cur:
            self.newline()
            cont = 1
        self.wrap = False
        if self.need_nl:
            if self.cur or not self.fresh():
                self.newline()
            self.need_nl = False
        if not self.cur:
            if self.lines:
                self.cur.append(self.indent + self.unit * (self.level + self.extra + cont))
            self.cur.append(text)
            return
        if space:
            self.cur.append(" ")
        self.cur.append(text)

    def open_block(self) -> None:
        """A block's lines are one step deeper than the line that opened it."""
        self.saved_extra.append(self.extra)
        self.level += self.extra + 1
        self.extra = 0

    def close_block(self) -> None:
        extra = self.saved_extra.pop() if self.saved_extra else 0
        self.level = max(0, self.level - extra - 1)
        self.extra = extra

    def text(self) -> str:
        return "\n".join(self.lines + ["".join(self.cur)])


def format_expansion(toks: list[Tok], *, indent: str = "", unit: str = "\t", line_start: bool = True,
                     top_level: bool = True, first_column: int = 0) -> tuple[str, bool]:
    """Lay out ``toks``; returns the text (continuation lines start with
    ``indent``) and whether it ends where a line break is due."""
    out = _Layout(indent, unit, line_start, first_column)
    stack: list[str] = []
    prev: Tok | None = None
    prev2: Tok | None = None
    n = len(toks)
    i = 0
    pragma_lines = False  # _Pragma at the top of the expansion go on lines of their own

    def stmt_level() -> bool:
        return not stack or stack[-1] in ("block", "struct")

    while i < n:
        t = toks[i]
        x = t.text
        nxt = toks[i + 1] if i + 1 < n else None
        if (x == "_Pragma" and i + 3 < n and toks[i + 1].text == "(" and toks[i + 2].kind == STRING
                and toks[i + 3].text == ")"):
            own = stmt_level() and (bool(stack) or out.fresh() or out.need_nl or pragma_lines
                                    or (prev is not None and prev.text in (";", "{", "}")))
            if own and not stack:
                pragma_lines = True
            if own and out.cur:
                out.need_nl = True
            out.emit(f"_Pragma({toks[i + 2].text})", _space(prev, t) or (prev is not None and prev.text == ")"))
            if own:
                out.need_nl = True
            prev2, prev = prev, toks[i + 3]
            i += 4
            continue
        if x == "{":
            p = prev.text if prev is not None else None
            if p is None or p in _BLOCK_AFTER:
                kind = "block"
            elif p in ("struct", "union") or (prev is not None and prev.kind == IDENT and prev2 is not None
                                                and prev2.text in ("struct", "union")):
                kind = "struct"
            else:
                kind = "init"
            if kind == "init":
                out.emit("{", _space(prev, t))
                stack.append("init")
            else:
                if kind == "block" and p == ")" and not stack and top_level:
                    out.need_nl = True
                out.emit("{", p is not None and p != "(")
                stack.append(kind)
                out.open_block()
                out.need_nl = True
        elif x == "}":
            kind = stack.pop() if stack else "block"
            if kind == "init":
                out.emit("}", _space(prev, t) or (prev is not None and prev.text != "{" and t.ws))
            else:
                out.close_block()
                if out.cur:
                    out.need_nl = True
                out.emit("}", False)
                follow = nxt.text if nxt is not None else None
                glued = follow in (";", ",", ")", "]") or (kind == "block" and follow in ("else", "while")) \
                    or (kind == "struct" and follow is not None)
                if not glued:
                    out.need_nl = True
        elif x == "(":
            kind = "cond" if prev is not None and prev.text in ("if", "while", "for", "switch") else "paren"
            out.emit("(", _space(prev, t))
            stack.append(kind)
        elif x == ")":
            kind = stack.pop() if stack and stack[-1] in ("paren", "cond") else "paren"
            out.emit(")", False)
            if kind == "cond" and stmt_level() and nxt is not None and nxt.text not in ("{", ";"):
                out.extra += 1
                out.need_nl = True
        elif x == "[":
            out.emit("[", _space(prev, t))
            stack.append("bracket")
        elif x == "]":
            if stack and stack[-1] == "bracket":
                stack.pop()
            out.emit("]", False)
        elif x == ",":
            out.emit(",", False)
            if stack and stack[-1] in ("paren", "cond", "bracket") and (out.lines or line_start):
                room = WRAP_COLUMN - out.width()
                if room < 0 or _chunk_longer_than(toks, i + 1, room):
                    out.wrap = True
        elif x == ";":
            out.emit(";", False)
            if stmt_level():
                out.extra = 0
                out.need_nl = True
        elif x == "else":
            out.emit("else", True)
            if nxt is not None and nxt.text not in ("{", "if"):
                out.extra += 1
                out.need_nl = True
        else:
            out.emit(x, _space(prev, t))
        prev2, prev = prev, t
        i += 1
    return out.text(), out.need_nl
