"""Do two BTF types lay out the same bytes?  The one comparison the type source uses.

Two descriptions of a type agree when a value written by one reads back the same
through the other: the same kind of record (struct or union), the same size, the
same members in the same order at the same bit offsets with the same bitfield
widths, and members of records by value that agree in turn; arrays agree in their
length and element; scalars, enums and pointers in their size.  Names of member
types (``u32`` or ``unsigned int``), signedness and what a pointer points to do
not change the bytes and are not compared.

The walk is bounded: a pair already being compared is assumed to agree (records
contain themselves only through pointers, which are not followed), and the work
is capped by :data:`MAX_STEPS`.
"""

from __future__ import annotations

from bpfinspect.btf import Btf, Kind
from bpfinspect.errors import MalformedInput

MAX_STEPS = 200_000
_RECORDS = (Kind.STRUCT, Kind.UNION)


def layout_difference(a: Btf, ai: int, b: Btf, bi: int) -> str | None:
    """None when type ``ai`` of ``a`` and ``bi`` of ``b`` lay out the same bytes, else the first
    difference in words (``"size 168 and 176"``, ``"member comm: offset 24 and 28"``)."""
    budget = [MAX_STEPS]
    try:
        return _diff(a, ai, b, bi, set(), budget, "")
    except MalformedInput as exc:
        return f"cannot be compared ({exc.what})"


def _diff(a: Btf, ai: int, b: Btf, bi: int, busy: set, budget: list, where: str) -> str | None:
    budget[0] -= 1
    if budget[0] < 0:
        return "too large to compare"
    ai, bi = a.resolve(ai), b.resolve(bi)
    if (ai, bi) in busy:
        return None
    ka, kb = a.kind(ai), b.kind(bi)
    what = f"{where}: " if where else ""
    if ka in _RECORDS or kb in _RECORDS:
        if ka != kb:
            return f"{what}{_kind_word(ka)} and {_kind_word(kb)}"
        sa, sb = a.size(ai), b.size(bi)
        if sa != sb:
            return f"{what}size {sa} and {sb}"
        ta, tb = a.type(ai), b.type(bi)
        if len(ta.members) != len(tb.members):
            return f"{what}{len(ta.members)} members and {len(tb.members)}"
        busy = busy | {(ai, bi)}
        for ma, mb in zip(ta.members, tb.members):
            label = f"{where}.{ma.name}" if where else f"member {ma.name or '(anonymous)'}"
            if ma.name != mb.name:
                return f"{label}: named {ma.name or '(anonymous)'} and {mb.name or '(anonymous)'}"
            if ma.bit_offset != mb.bit_offset:
                return f"{label}: offset {_bits(ma.bit_offset)} and {_bits(mb.bit_offset)}"
            fa, fb = _bitfield(a, ma), _bitfield(b, mb)
            if fa != fb:
                return f"{label}: bitfield width {fa or 'none'} and {fb or 'none'}"
            if not fa:
                d = _diff(a, ma.type, b, mb.type, busy, budget, label)
                if d:
                    return d
        return None
    if ka == Kind.ARRAY or kb == Kind.ARRAY:
        if ka != kb:
            return f"{what}{_kind_word(ka)} and {_kind_word(kb)}"
        xa, xb = a.type(ai).array, b.type(bi).array
        if xa.nelems != xb.nelems:
            return f"{what}{xa.nelems} elements and {xb.nelems}"
        return _diff(a, xa.type, b, xb.type, busy, budget, f"{where}[]" if where else "element")
    sa, sb = _size(a, ai), _size(b, bi)
    if sa != sb:
        return f"{what}size {sa} and {sb}"
    return None


def _size(btf: Btf, tid: int) -> int | None:
    try:
        return btf.sizeof(tid)
    except MalformedInput:
        return None


def _bitfield(btf: Btf, m) -> int:
    """A member's bitfield width: BTF's ``bitfield_size``, or an INT's own bit count when it is narrower."""
    if m.bitfield_size:
        return m.bitfield_size
    t = btf.resolve(m.type)
    if btf.kind(t) == Kind.INT:
        it = btf.type(t)
        if it.int_offset or it.int_bits < it.size * 8:
            return it.int_bits
    return 0


def _bits(n: int) -> str:
    return str(n // 8) if n % 8 == 0 else f"{n // 8}.{n % 8}"


def _kind_word(k: Kind) -> str:
    return {Kind.STRUCT: "a struct", Kind.UNION: "a union", Kind.ARRAY: "an array"}.get(k, f"a {k.name.lower()}")
