"""Python text made from untrusted names: identifiers, literals, docstrings, comments.

Everything this module returns is printable ASCII without line breaks (except
where a caller joins lines itself), so a generated module is ASCII whatever the
object holds: no coding cookie, bidirectional control or look-alike character
can change what it means.

Literals
========
:func:`literal` writes strings with :func:`ascii` (``repr`` with every
non-ASCII character escaped), bytes, integers, booleans, None, and tuples,
lists and dicts of them.  Generated code never interpolates text between quotes
itself.

Identifiers
===========
:func:`ident` turns any text into an identifier, by these rules in order:

1. every character outside ASCII letters, digits and ``_`` becomes ``_``;
2. an empty result becomes ``_``; a leading digit gets ``_`` in front;
3. while the result is reserved, ``_`` is appended.

Reserved are: keywords, names with Python's special ``__x__`` shape, and whatever
the scope adds (for a module: the builtins, the soft keywords ``match``, ``case``,
``_`` and ``type`` -- legal names, but confusing ones for a class -- and the
module's own names; see :class:`Scope`).  A field keeps a soft keyword's or a
builtin's name (``event.type``, ``event.id``): Python reads an attribute of any
name but a keyword.  :class:`Scope` makes identifiers unique within a scope with a
suffix (``_2``, ``_3``..., or another the caller chooses).

Docstrings and comments
=======================
:func:`doc_text` shows text inside a ``\"\"\"`` docstring and :func:`comment_text` in a
``#`` comment: characters outside printable ASCII appear as escapes
(``\\n``, ``\\x1b``, ``\\u00e9``) that the docstring *shows* (the backslash is
doubled in the source), a backslash is doubled, and in docstrings ``"`` is
``\\"``: the text can neither end the docstring nor start a new line, and no
``\\N{...}``, ``\\x`` or ``\\u`` in a name is ever read as an escape.
"""

from __future__ import annotations

import builtins
import keyword
import re

from bpfinspect.quote import shown

_NOT_IDENT = re.compile(r"[^A-Za-z0-9_]")
_QUOTE_RUN = re.compile(r'"(?="|\Z)')
_DUNDER = re.compile(r"__[A-Za-z0-9](?:[A-Za-z0-9_]*[A-Za-z0-9])?__\Z")

SOFT_KEYWORDS = frozenset(keyword.softkwlist) | {"_", "case", "match", "type"}
BUILTINS = frozenset(dir(builtins))


class Code(str):
    """Python text that is safe to write into generated code as it is."""

    __slots__ = ()


def trusted(text: str) -> Code:
    """Mark the generator's own text (fixed words, numbers, base64 lines) as code."""
    return Code(text)


# -- literals -----------------------------------------------------------------------------------

def literal(value) -> Code:
    """A Python literal for ``value``: str, bytes, int, bool, None, and tuples, lists and
    dicts of those; ASCII only."""
    return Code(_literal(value, 0))


def _literal(v, depth: int) -> str:
    if depth > 32:
        raise ValueError("literal nests too deeply")
    if v is None or isinstance(v, bool):
        return repr(v)
    if isinstance(v, int):
        return repr(int(v))
    if isinstance(v, str):
        return ascii(str(v))
    if isinstance(v, (bytes, bytearray)):
        return ascii(bytes(v))
    if isinstance(v, tuple):
        items = [_literal(x, depth + 1) for x in v]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if isinstance(v, list):
        return "[" + ", ".join(_literal(x, depth + 1) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_literal(k, depth + 1)}: {_literal(x, depth + 1)}" for k, x in v.items()) + "}"
    raise TypeError(f"no Python literal for {type(v).__name__}")


# -- identifiers --------------------------------------------------------------------------------

def is_special(name: str) -> bool:
    """A name of Python's ``__x__`` shape (special to the interpreter somewhere)."""
    return bool(_DUNDER.match(name))


def is_reserved(name: str, extra=()) -> bool:
    return keyword.iskeyword(name) or is_special(name) or name in extra


def sanitize(raw: str) -> str:
    """Rules 1 and 2 of the module text: the characters only."""
    s = _NOT_IDENT.sub("_", raw) or "_"
    if s[0].isdigit():
        s = "_" + s
    return s


def ident(raw: str, extra=()) -> Code:
    """An identifier for ``raw`` (rules of the module text); ``extra``: more names to avoid."""
    s = sanitize(raw)
    while is_reserved(s, extra):
        s += "_"
    return Code(s)


class Scope:
    """Identifiers unique within one scope.

    ``reserved``: names the scope must not use (they get ``_`` appended, as keywords
    do); ``builtins``: the builtins and soft keywords count as reserved (a module's top
    level, where a class called ``len`` would hide the builtin from the module's own code);
    ``suffix``: how a name taken already by an earlier one is told apart (``"_{n}"``
    gives ``x_2``, ``x_3``...).
    """

    def __init__(self, reserved=(), *, builtins: bool = False, suffix: str = "_{n}") -> None:
        self.reserved: set[str] = set(reserved)
        if builtins:
            self.reserved |= BUILTINS | SOFT_KEYWORDS
        self.taken: set[str] = set()
        self.suffix = suffix
        self._next: dict[str, int] = {}

    def take(self, raw: str) -> Code:
        base = ident(raw, self.reserved)
        name = base
        if name in self.taken or is_reserved(name, self.reserved):
            # numbered from where the last repeat of ``base`` stopped (the scope only grows, so
            # no earlier number is free): N repeats cost N steps, not N**2 / 2
            n = self._next.get(base, 2)
            name = Code(base + self.suffix.format(n=n))
            while name in self.taken or is_reserved(name, self.reserved):
                n += 1
                name = Code(base + self.suffix.format(n=n))
            self._next[base] = n + 1
        self.taken.add(name)
        return name

    def __contains__(self, name) -> bool:
        return name in self.taken or name in self.reserved


# -- docstrings and comments --------------------------------------------------------------------

def doc_text(text: str) -> Code:
    """``text`` made safe to stand inside a ``\"\"\"`` docstring, which then reads as
    :func:`bpfinspect.quote.shown` shows it (one line, escapes visible): backslashes are
    doubled, and a ``"`` is escaped when another follows it or it ends the text, so no
    two quotes ever stand together."""
    body = shown(text).replace("\\", "\\\\")
    return Code(_QUOTE_RUN.sub('\\\\"', body))


def comment_text(text: str) -> Code:
    """``text`` made safe to stand in a ``#`` comment (one line, as :func:`bpfinspect.quote.shown`)."""
    return Code(shown(text))
