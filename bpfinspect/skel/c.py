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

from bpfinspect.quote.c import Code, trusted
from bpfinspect.skel.c_build import build_model
from bpfinspect.skel.c_template import render

ROW = 4095        # bytes per string row: ISO C's minimum literal length limit
LINE = 76         # characters of a source line inside a row


def _escaped(chunk: bytes) -> list[str]:
    """Each byte as the shortest C text for it in a string literal: printable ASCII as itself
    (but the quote, the backslash and ``?``, which could start a trigraph), the rest as octal,
    three digits only when an octal digit follows."""
    out = []
    n = len(chunk)
    for i, b in enumerate(chunk):
        if 0x20 <= b < 0x7F and b not in (0x22, 0x5C, 0x3F):
            out.append(chr(b))
        elif i + 1 < n and 0x30 <= chunk[i + 1] <= 0x37:
            out.append(f"\\{b:03o}")
        else:
            out.append(f"\\{b:o}")
    return out


def elf_rows(data: bytes) -> tuple[int, int, Code]:
    """(row count, bytes in the last row, the rows as initialiser lines) of ``data`` as string
    literals of at most :data:`ROW` bytes, each written over lines of :data:`LINE` characters."""
    rows = []
    for start in range(0, max(len(data), 1), ROW):
        lines, cur = [], ""
        for piece in _escaped(data[start:start + ROW]):
            if len(cur) + len(piece) > LINE:
                lines.append(cur)
                cur = ""
            cur += piece
        lines.append(cur)
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
