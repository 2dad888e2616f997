"""C skeletons: a header with the same API as ``bpftool gen skeleton`` (7.1).

``generate(obj, name=None, types=False) -> str`` renders
``templates/skel_c.h.j2`` with the records of :mod:`bpfinspect.skel.c_model`
(built by :mod:`bpfinspect.skel.c_build`, where the ordering and naming rules
are).  ``generate_with_warnings`` also returns what the user should know
(renamed members, variables left out, objects libbpf will refuse).

The object bytes are embedded as a ``static const unsigned long long`` array
(8-byte aligned by its type, and by ``__attribute__((__aligned__(8)))`` on
targets where ``long long`` alignment is smaller), written twice, once per byte
order, with ``__BYTE_ORDER__`` choosing: no string literal (so no
-Woverlength-strings), and eight times fewer initialisers than a byte array,
which compilers read several times faster.  The last word is zero-padded;
``__elf_bytes()`` reports the exact size.

The output depends on nothing but the object's bytes and the options: no
paths, dates, or sizes of the generating host.
"""

from __future__ import annotations

from bpfinspect.quote.c import trusted
from bpfinspect.skel.c_build import build_model
from bpfinspect.skel.c_template import render

WORDS_PER_LINE = 4


def _lines(hex_groups: str) -> str:
    """``aabb...,ccdd...`` (16 hex digits per group) -> tab-indented ``0x...,`` lines."""
    text = "0x" + hex_groups.replace(",", ",0x") + ","
    width = WORDS_PER_LINE * 19  # "0x" + 16 digits + ","
    return "\t\t" + "\n\t\t".join([text[i:i + width] for i in range(0, len(text), width)])


def elf_words(data: bytes) -> tuple[int, str, str]:
    """(word count, little-endian rows, big-endian rows) of ``data`` as 64-bit words."""
    from array import array

    pad = -len(data) % 8 if data else 8  # C has no zero-length arrays
    padded = data + b"\0" * pad
    be = padded.hex(",", 8)
    words = array("Q")
    words.frombytes(padded)
    words.byteswap()  # each word's bytes reversed: the value's digits for a little-endian host
    le = words.tobytes().hex(",", 8)
    return len(padded) // 8, trusted(_lines(le)), trusted(_lines(be))


def generate_with_warnings(obj, name: str | None = None, types: bool = False, *, source=None,
                           type_specs=()) -> tuple[str, list[str]]:
    from bpfinspect.skel.bound import check_output
    model = build_model(obj, name=name, types=types, source=source, type_specs=type_specs)
    n_words, le_rows, be_rows = elf_words(model.data)
    text = render("skel_c.h.j2", s=model, elf_words=n_words, le_rows=le_rows, be_rows=be_rows)
    check_output(text, obj.data, "C skeleton")
    return text, model.warnings


def generate(obj, name: str | None = None, types: bool = False, *, source=None, type_specs=()) -> str:
    """The C skeleton header of ``obj`` (a :class:`~bpfinspect.obj.BpfObject`); ``type_specs`` are types to
    define too (from ``source``, a :class:`~bpfinspect.typesrc.TypeSource`: BTF, DWARF, headers)."""
    return generate_with_warnings(obj, name=name, types=types, source=source, type_specs=type_specs)[0]
