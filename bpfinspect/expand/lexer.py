"""C preprocessing tokens.

The expander works on preprocessing tokens, not characters: identifiers,
pp-numbers, character constants, string literals and punctuators.  Each token
remembers whether white space (or a comment, or a line splice) came before it,
because the preprocessor needs that for ``#`` (stringizing puts one space where
the argument had any) and because the formatter uses it as a spacing hint.

Text is handled as ``str`` decoded from bytes with latin-1, so one character is
one byte: offsets and columns are byte offsets and byte columns, like clang's,
and the original bytes come back unchanged with ``.encode("latin-1")``.
"""

from __future__ import annotations

import re

IDENT = "ident"
NUMBER = "number"
CHAR = "char"
STRING = "string"
PUNCT = "punct"
OTHER = "other"
PLACEMARKER = "placemarker"

EMPTY_HS: frozenset[str] = frozenset()


class Tok:
    """One preprocessing token.

    ``ws``: white space came before it.  ``hs``: the hide set (names of macros
    that must not expand this token again).  ``pos`` is the index of the token in
    the main file's token list when it was read from there, else -1.
    ``bol``: first token on its line (only meaningful for main-file tokens).
    """

    __slots__ = ("text", "kind", "ws", "hs", "pos", "start", "end", "line", "bol", "directive")

    def __init__(self, text: str, kind: str, ws: bool = False, hs: frozenset[str] = EMPTY_HS,
                 pos: int = -1, start: int = -1, end: int = -1, line: int = 0,
                 bol: bool = False, directive: bool = False) -> None:
        self.text = text
        self.kind = kind
        self.ws = ws
        self.hs = hs
        self.pos = pos
        self.start = start
        self.end = end
        self.line = line
        self.bol = bol
        self.directive = directive

    def copy(self, ws: bool | None = None, hs: frozenset[str] | None = None) -> "Tok":
        return Tok(self.text, self.kind, self.ws if ws is None else ws,
                   self.hs if hs is None else hs, self.pos)

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Tok({self.text!r}, {self.kind})"


# Longest first, so the first match is the longest punctuator.
PUNCTUATORS = sorted([
    "%:%:", "...", "<<=", ">>=",
    "->", "++", "--", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "*=", "/=", "%=",
    "+=", "-=", "&=", "^=", "|=", "##", "<:", ":>", "<%", "%>", "%:", "::",
    "[", "]", "(", ")", "{", "}", ".", "&", "*", "+", "-", "~", "!", "/", "%", "<", ">",
    "^", "|", "?", ":", ";", "=", ",", "#",
], key=len, reverse=True)

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>(?:[ \t\f\v\r]|\\\r?\n)+)
  | (?P<nl>\n)
  | (?P<lcomment>//(?:[^\n\\]|\\\r?\n|\\(?!\r?\n))*)
  | (?P<bcomment>/\*(?:[^*]|\*(?!/))*(?:\*/|\Z))
  | (?P<string>(?:u8|[uUL])?"(?:[^"\\\n]|\\(?:\r?\n|.))*"?)
  | (?P<char>(?:u8|[uUL])?'(?:[^'\\\n]|\\(?:\r?\n|.))*'?)
  | (?P<number>\.?[0-9](?:[eEpP][+-]|[0-9A-Za-z_.\x80-\xff]|'[0-9A-Za-z_])*)
  | (?P<ident>[A-Za-z_$\x80-\xff](?:[A-Za-z0-9_$\x80-\xff]|\\\r?\n)*)
  | (?P<punct>""" + "|".join(re.escape(p) for p in PUNCTUATORS) + r""")
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)

_SPLICE_RE = re.compile(r"\\\r?\n")


def lex(text: str, *, start: int = 0, end: int | None = None, first_line: int = 1,
        keep_positions: bool = False) -> list[Tok]:
    """Split ``text[start:end]`` into preprocessing tokens.

    With ``keep_positions`` each token records its offsets, line, whether it is
    the first on its line and whether it belongs to a preprocessing directive
    (a line whose first token is ``#``).
    """
    if end is None:
        end = len(text)
    out: list[Tok] = []
    ws = False
    bol = True
    line = first_line
    in_directive = False
    pos = start
    match = _TOKEN_RE.match
    while pos < end:
        m = match(text, pos, end)
        if m is None:  # cannot happen: the last alternative matches any character
            break
        kind = m.lastgroup
        piece = m.group()
        pos = m.end()
        if kind == "ws" or kind == "lcomment" or kind == "bcomment":
            ws = True
            newlines = piece.count("\n")
            if newlines:
                line += newlines
                if kind == "bcomment":
                    bol = True
                    in_directive = False
            continue
        if kind == "nl":
            line += 1
            ws = True
            bol = True
            in_directive = False
            continue
        if "\\" in piece and kind in ("ident", "number"):
            piece = _SPLICE_RE.sub("", piece)
        tok = Tok(piece, kind if kind != "punct" else PUNCT, ws)
        if keep_positions:
            tok.start = m.start()
            tok.end = pos
            tok.line = line
            tok.bol = bol
            if bol and piece in ("#", "%:"):
                in_directive = True
            tok.directive = in_directive
            tok.pos = len(out)
            newlines = piece.count("\n")
            if newlines:  # spliced string literal
                line += newlines
        out.append(tok)
        ws = False
        bol = False
    return out


def relex_one(text: str) -> Tok | None:
    """The single token ``text`` spells, or None when it is not exactly one token."""
    toks = lex(text)
    if len(toks) == 1 and not toks[0].ws:
        return toks[0]
    return None


_PUNCT_SET = frozenset(PUNCTUATORS)


def would_merge(left: str, right: str) -> bool:
    """True when writing ``left`` and ``right`` without a space in between would
    not give back the same two tokens."""
    if not left or not right:
        return False
    a = left[-1]
    b = right[0]
    number = left[0].isdigit() or (left[0] == "." and len(left) > 1 and left[1].isdigit())
    if (a.isalnum() or a in "_$" or ord(a) >= 0x80) and (b.isalnum() or b in "_$" or ord(b) >= 0x80):
        return True
    if number and (b == "." or (a in "eEpP" and b in "+-")):
        return True
    if a == "." and b.isdigit():
        return True
    if a == "/" and b in "/*":
        return True
    if a == "\\" or b == "\\":
        return True
    # Quotes: u8"..." or L'x' would become one literal.
    if b in "\"'" and left in ("u", "U", "L", "u8"):
        return True
    if left in _PUNCT_SET:
        for n in (1, 2, 3):
            if n <= len(right) and (left + right[:n]) in _PUNCT_SET:
                return True
    return False


def spell(toks: list[Tok]) -> str:
    """Tokens as one line of text: a space where white space was, and wherever
    two tokens would otherwise run together."""
    parts: list[str] = []
    prev = ""
    for t in toks:
        if t.kind == PLACEMARKER:
            continue
        if parts and (t.ws or would_merge(prev, t.text)):
            parts.append(" ")
        parts.append(t.text)
        prev = t.text
    return "".join(parts)
