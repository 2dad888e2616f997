"""Quoting for generated code: the only way text from an object or a file name reaches it.

BPF objects come from strangers; their names (file name, sections, maps,
programs, variables, BTF types, members, enumerators, the license) end up in
generated C headers and Python modules.  Each output language has one module
here that turns such text into something that can only mean what it says:

* :mod:`bpfinspect.quote.c` -- C and C++: identifiers, comments, string literals;
* :mod:`bpfinspect.quote.python` -- Python: identifiers, literals, docstrings,
  comments.

Each module has a marker type (``c.Code``, ``python.Code``), a ``str`` that
only the module's functions (and :func:`trusted` for the generator's own fixed
text) produce.  The generators' template environments refuse to write anything
else, so raw object text cannot reach a template by accident.

:func:`shown` is the one way to show such text in a message (a warning, an
error): one line of printable ASCII, escapes visible.

This package imports nothing from the rest of bpfinspect: the skeleton
generators and the macro expander both build on it.
"""

from __future__ import annotations


def shown(text: str) -> str:
    """``text`` as it reads in messages and comments: printable ASCII as it is, a backslash
    doubled, anything else as its Python escape (``\\n``, ``\\x1b``, ``\\u00e9``)."""
    if text.isascii() and text.isprintable() and "\\" not in text:   # nothing to escape
        return text
    out = []
    for ch in text:
        o = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif 0x20 <= o < 0x7F:
            out.append(ch)
        else:
            e = {"\n": "n", "\t": "t", "\r": "r"}.get(ch)
            if e is None:
                e = f"x{o:02x}" if o < 0x100 else (f"u{o:04x}" if o < 0x10000 else f"U{o:08x}")
            out.append("\\" + e)
    return "".join(out)
