"""C skeletons: a header with the same API as ``bpftool gen skeleton`` (7.1).

``generate(obj, name=None, types=False) -> str`` renders
``templates/skel_c.h.j2`` with the records of :mod:`bpfinspect.skel.c_model`
(built by :mod:`bpfinspect.skel.c_build`, where the ordering and naming rules
are).  ``generate_with_warnings`` also returns what the user should know
(renamed members, variables left out, objects libbpf will refuse).

The object bytes are embedded as string literals, one per row of 4095 bytes (the longest
literal ISO C asks every compiler to take, so ``-Wpedantic`` has nothing to say), in a
``char [rows][4096]`` array; ``__elf_bytes()`` joins the rows once into an 8-byte aligned
buffer (an atomic flag makes the first call do it, in C and C++).  Printable bytes stand for
themselves, the others are short octal escapes: about half the size of bpftool's ``\\xNN``
text, and compilers read string literals several times faster than initialiser lists (the
measurements are in README.md).

The output depends on nothing but the object's bytes and the options: no
paths, dates, or sizes of the generating host.
"""

from __future__ import annotations

import re
import sys

from bpfinspect.quote.c import Code, trusted
from bpfinspect.skel.c_build import build_model
from bpfinspect.skel.c_template import render

ROW = 4095        # bytes per string row: ISO C's minimum literal length limit
LINE = 76         # characters of a source line inside a row


# Each byte's text in a string literal: printable ASCII as itself (but the quote, the backslash
# and ``?``, which could start a trigraph), the rest as octal, as short as it can be (``SHORT``)
# or in three digits (``LONG``), which a byte needs when an octal digit follows it.
_PLAIN = {b for b in range(0x20, 0x7F) if b not in (0x22, 0x5C, 0x3F)}
SHORT = [chr(b) if b in _PLAIN else f"\\{b:o}" for b in range(256)]
LONG = [chr(b) if b in _PLAIN else f"\\{b:03o}" for b in range(256)]
# Each byte's class, to find with bytes.find where LONG is needed: "a" for a byte whose short
# escape has fewer than three digits, "d" for an octal digit; a byte "a" before a byte "d" needs
# LONG (C reads up to three digits).
_CLASSES = bytes(0x61 if b < 0o100 and b not in _PLAIN else 0x64 if 0x30 <= b <= 0x37 else 0x78
                 for b in range(256))
# Two bytes at a time (the text of every 16-bit value as this machine stores it): half the
# Python-level steps of one byte at a time.  Made on first use (about 10 ms).
_pairs: list[str] = []


def _pair_table() -> list[str]:
    if not _pairs:
        if sys.byteorder == "little":
            _pairs.extend(first + second for second in SHORT for first in SHORT)
        else:
            _pairs.extend(first + second for first in SHORT for second in SHORT)
    return _pairs


def _escaped(chunk: bytes) -> str:
    """``chunk`` as the text inside one string literal: every byte as :data:`SHORT` says, but
    :data:`LONG` where an octal digit follows (C reads up to three digits)."""
    out, pairs = [], _pair_table()
    add = out.append
    view = memoryview(chunk)
    classes = chunk.translate(_CLASSES)
    start = 0
    end = len(chunk)
    while start < end:
        i = classes.find(b"ad", start)
        stop = end if i < 0 else i
        # the run of bytes [start, stop) in pairs, an odd last byte alone
        even = start + ((stop - start) & ~1)
        if even > start:
            add("".join(map(pairs.__getitem__, view[start:even].cast("H"))))
        if even != stop:
            add(SHORT[chunk[even]])
        if i < 0:
            break
        add(LONG[chunk[i]])
        start = i + 1
    return "".join(out)


# A line of at most LINE characters that does not end inside an escape: not right after a
# backslash, and not between a backslash's first or second octal digit and a further one.
_LINE = re.compile(r"(?s).{1,%d}(?<!\\)(?!(?<=\\.)[0-7])(?!(?<=\\[0-7]{2})[0-7])" % LINE)


def _lines(text: str) -> list[str]:
    """``text`` cut into lines of at most :data:`LINE` characters, each as long as it can be
    without cutting an escape (a backslash and the octal digits after it, up to three)."""
    return _LINE.findall(text) or [""]


def elf_rows(data: bytes) -> tuple[int, int, Code]:
    """(row count, bytes in the last row, the rows as initialiser lines) of ``data`` as string
    literals of at most :data:`ROW` bytes, each written over lines of :data:`LINE` characters."""
    rows = []
    for start in range(0, max(len(data), 1), ROW):
        lines = _lines(_escaped(data[start:start + ROW]))
        if len(lines) == 2:
            # clang's -Wstring-concatenation takes an element of exactly two literals on two
            # lines, among elements that are not, for a missing comma: three are never suspicious
            lines.append("")
        rows.append('\t\t"' + '"\n\t\t"'.join(lines) + '",')
    last = len(data) - (len(rows) - 1) * ROW
    return len(rows), last, trusted("\n".join(rows))


def generate_with_warnings(obj, name: str | None = None, types: bool = False, *, source=None,
                           type_specs=(), data: bytes | None = None) -> tuple[str, list[str]]:
    """The header and its warnings; ``data``: the bytes to embed instead of the object's own
    (the object without its DWARF, for ``--strip-debug``)."""
    from bpfinspect.skel.bound import check_output
    model = build_model(obj, name=name, types=types, source=source, type_specs=type_specs)
    if data is not None:
        model.data = data
    n_rows, last, text_rows = elf_rows(model.data)
    text = render("skel_c.h.j2", s=model, elf_rows=n_rows, elf_row=ROW, elf_last=last, elf_text=text_rows)
    check_output(text, obj.data, "C skeleton")
    return text, model.warnings


def generate(obj, name: str | None = None, types: bool = False, *, source=None, type_specs=()) -> str:
    """The C skeleton header of ``obj`` (a :class:`~bpfinspect.obj.BpfObject`); ``type_specs`` are types to
    define too (from ``source``, a :class:`~bpfinspect.typesrc.TypeSource`: BTF, DWARF, headers)."""
    return generate_with_warnings(obj, name=name, types=types, source=source, type_specs=type_specs)[0]
