"""C skeletons: a header with the same API as ``bpftool gen skeleton`` (7.1).

``generate(obj, name=None, types=False) -> str`` renders
``templates/skel_c.h.j2`` with the records of :mod:`bpfinspect.skel.c_model`
(built by :mod:`bpfinspect.skel.c_build`, where the ordering and naming rules
are).  ``generate_with_warnings`` also returns what the user should know
(renamed members, variables left out, objects libbpf will refuse).

The object bytes are embedded in base64 (RFC 4648's alphabet, ``=`` padding), one string
literal per row of 4092 characters (1023 groups of four, 3069 object bytes; under the 4095 ISO C
asks every compiler to take, so ``-Wpedantic`` has nothing to say), in a ``char [rows][4093]``
array; ``__elf_bytes()`` decodes the rows once into an 8-byte aligned buffer (an atomic flag
makes the first call do it, in C and C++).  The alphabet holds no quote, backslash or ``?``
(no escapes, no trigraphs): 1.4 bytes of header per object byte, made by ``binascii`` in one
pass, and compilers read string literals at about the speed of the file (the measurements
are in README.md).

The output depends on nothing but the object's bytes and the options: no
paths, dates, or sizes of the generating host.
"""

from __future__ import annotations

import binascii

from bpfinspect.quote.c import trusted
from bpfinspect.skel.c_build import build_model
from bpfinspect.skel.c_template import render

ROW = 4092        # base64 characters per string row: whole groups of four, under ISO C's 4095
LINE = 76         # characters of a source line inside a row
_ROWS_MARK = "\0elf rows\0"


def elf_rows(data: bytes) -> list[str]:
    """``data`` in base64 as the initialiser lines of the header's rows, one string per row (a
    row's lines joined): string literals of at most :data:`ROW` characters, each written over
    lines of :data:`LINE` characters.  The header joins them with new lines (:func:`header`)."""
    # Each row is the base64 of its own 3 * ROW / 4 bytes (whole groups of three: the rows of
    # the whole text, without the whole text in memory beside them).
    step = ROW // 4 * 3
    rows = []
    b2a = binascii.b2a_base64
    for start in range(0, max(len(data), 1), step):
        row = b2a(data[start:start + step], newline=False).decode("ascii")
        lines = [row[i:i + LINE] for i in range(0, len(row), LINE)] or [""]
        if len(lines) == 2:
            # clang's -Wstring-concatenation takes an element of exactly two literals on two
            # lines, among elements that are not, for a missing comma: three are never suspicious
            lines.append("")
        rows.append('\t\t"' + '"\n\t\t"'.join(lines) + '",')
    return rows


def header(model, rows: list[str]) -> str:
    """The C skeleton's text: the template rendered for ``model``, with ``rows`` (the object's
    bytes, :func:`elf_rows`) put in where the template wrote a mark, in the one join that makes
    the header (a template copies every text it writes with str(), and the rows, most of the
    header, would be held three times over).  The mark holds a NUL, which no quoted text has."""
    text = render("skel_c.h.j2", s=model, elf_rows=len(rows), elf_row=ROW, elf_text=trusted(_ROWS_MARK))
    before, mark, after = text.partition(_ROWS_MARK)
    if not mark or _ROWS_MARK in after:
        raise AssertionError("the C skeleton template writes the object's rows once")
    parts = [before]
    for row in rows:
        parts.append(row)
        parts.append("\n")
    parts[-1] = after          # (the rows' text is joined by new lines: none after the last)
    return "".join(parts)


def generate_with_warnings(obj, name: str | None = None, types: bool = False, *, source=None,
                           type_specs=(), data: bytes | None = None) -> tuple[str, list[str]]:
    """The header and its warnings; ``data``: the bytes to embed instead of the object's own
    (the object without its DWARF, for ``--strip-debug``)."""
    from bpfinspect.skel.bound import check_output
    model = build_model(obj, name=name, types=types, source=source, type_specs=type_specs)
    if data is not None:
        model.data = data
    text = header(model, elf_rows(model.data))
    check_output(text, obj.data, "C skeleton")
    return text, model.warnings


def generate(obj, name: str | None = None, types: bool = False, *, source=None, type_specs=()) -> str:
    """The C skeleton header of ``obj`` (a :class:`~bpfinspect.obj.BpfObject`); ``type_specs`` are types to
    define too (from ``source``, a :class:`~bpfinspect.typesrc.TypeSource`: BTF, DWARF, headers)."""
    return generate_with_warnings(obj, name=name, types=types, source=source, type_specs=type_specs)[0]
