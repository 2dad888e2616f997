"""The bound on a generated skeleton's size.

A skeleton holds the object (as hex words in C, base64 in Python), a fixed
amount of code, and a few lines per name, type and member the object
declares: all of it grows with the object's bytes.  Only BTF can make C text
grow faster: a member far past the previous one becomes padding lines (one per
8 bytes), and an anonymous struct or union is written out in full wherever it
is used, so one used twice by a type used twice... is written 2^depth times.
A skeleton may therefore be at most ``FACTOR`` times the object's size plus
``BASE`` bytes; beyond that, generation stops with one line (exit 2) instead
of writing what could be gigabytes.

The check comes before the work: :class:`Budget` is charged a lower bound of
the text each declaration and the type definitions will take, worked out from
BTF in one linear pass (:func:`decl_weight`, :func:`definitions_weight`), so
a header that would be too big is refused before any of it is printed.  The
finished text is checked again against the same bound.
"""

from __future__ import annotations

from bpfinspect.btf import Kind
from bpfinspect.errors import MalformedInput

FACTOR = 32
BASE = 4 << 20

# Lower bounds, in characters, of what the C printer writes.
_LINE = 2           # ";\n" ending each member or enumerator
_RECORD = 10        # "struct {" ... "}" around an inline record
_PAD_LINE = 8       # "int: 32;" and longer
_PAD_BITS = 64      # the most one padding line covers

_THROUGH = (Kind.PTR, Kind.CONST, Kind.VOLATILE, Kind.RESTRICT, Kind.TYPE_TAG, Kind.ARRAY)


def limit(data: bytes) -> int:
    """The most a skeleton of an object of these bytes may hold, in characters."""
    return FACTOR * len(data) + BASE


def check_output(text: str, data: bytes, what: str) -> None:
    """Refuse ``text`` when it is over the bound for ``data``."""
    if len(text) > limit(data):
        raise too_big(what, len(text), data)


def too_big(what: str, size: int, data: bytes) -> MalformedInput:
    return MalformedInput(f"the {what} would be {size} bytes or more, over the bound of {limit(data)} for a "
                          f"{len(data)}-byte object ({FACTOR} x its size + {BASE >> 20} MiB): its BTF describes "
                          "types whose C text grows out of proportion (huge padding or anonymous types repeated "
                          "inside each other)")


class Budget:
    """What is left of the bound while a skeleton is built."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.what = what
        self.used = 0

    def charge(self, n: int) -> None:
        self.used += n
        if self.used > limit(self.data):
            raise too_big(self.what, self.used, self.data)


def _record_padding(btf, t) -> int:
    """Padding lines a struct's definition needs at least (members covering fewer bits than
    its size leave gaps the printer fills one line per 64 bits at most)."""
    if t.kind != Kind.STRUCT:
        return 0
    covered = 0
    for m in t.members:
        if m.bitfield_size:
            covered += m.bitfield_size
        else:
            try:
                covered += max(btf.sizeof(m.type), 0) * 8
            except MalformedInput:
                pass
    gap = t.size * 8 - covered
    return max(0, gap // _PAD_BITS - (len(t.members) + 1))


def decl_weight(btf, tid: int, memo: dict, name=None) -> int:
    """A lower bound of the characters a declaration of type ``tid`` takes (anonymous records
    and enums written out in full, as the printer does).  ``name(type_id)``: the name a
    type is written with (default: its BTF name); members and enumerators count with their
    BTF names, which quoting never shortens."""
    name = name or btf.name
    stack = [(tid, False)]
    active: set[int] = set()
    while stack:
        t, ready = stack.pop()
        if t in memo:
            continue
        if not t or not btf.valid(t):
            memo[t] = 1
            continue
        k = btf.kind(t)
        anon = not btf.name(t)
        deps: list[int] = []
        if k in _THROUGH:
            deps = [btf.type(t).array.type if k == Kind.ARRAY else btf.ref(t)]
        elif k == Kind.FUNC_PROTO:
            ty = btf.type(t)
            deps = [ty.type] + [p.type for p in ty.params]
        elif k in (Kind.STRUCT, Kind.UNION) and anon:
            deps = [m.type for m in btf.type(t).members]
        if not ready:
            if t in active:
                continue  # a cycle: the printer refuses it; what is counted stays a lower bound
            active.add(t)
            stack.append((t, True))
            stack.extend((d, False) for d in deps if d not in memo and d not in active)
            continue
        active.discard(t)
        if k in _THROUGH or k == Kind.FUNC_PROTO:
            w = 1 + sum(memo.get(d, 1) for d in deps)
        elif k in (Kind.STRUCT, Kind.UNION) and anon:
            ty = btf.type(t)
            w = _RECORD + sum(memo.get(m.type, 1) + len(m.name) + _LINE for m in ty.members)
            w += _record_padding(btf, ty) * _PAD_LINE
        elif k in (Kind.ENUM, Kind.ENUM64) and anon:
            w = _RECORD + sum(len(v.name) + _LINE for v in btf.type(t).values)
        else:
            w = len(name(t)) + 1
        memo[t] = w
    return memo[tid]


def reachable(btf, type_ids, *, pointers: bool = True):
    """Every valid type id ``type_ids`` lead to (themselves included), once each: through
    members, array elements, typedefs, qualifiers, variables, and with ``pointers`` also
    through pointers and function prototypes."""
    seen: set[int] = set()
    stack = list(type_ids)
    refs = {Kind.TYPEDEF, Kind.CONST, Kind.VOLATILE, Kind.RESTRICT, Kind.TYPE_TAG, Kind.VAR}
    if pointers:
        refs.add(Kind.PTR)
    while stack:
        t = stack.pop()
        if not t or t in seen or not btf.valid(t):
            continue
        seen.add(t)
        yield t
        k = btf.kind(t)
        if k in (Kind.STRUCT, Kind.UNION):
            stack.extend(m.type for m in btf.type(t).members)
        elif k == Kind.ARRAY:
            stack.append(btf.type(t).array.type)
        elif k == Kind.FUNC_PROTO and pointers:
            ty = btf.type(t)
            stack.append(ty.type)
            stack.extend(p.type for p in ty.params)
        elif k in refs:
            stack.append(btf.ref(t))


def definitions_weight(btf, type_ids, memo: dict, name=None) -> int:
    """A lower bound of the characters the definitions of the types ``type_ids`` need take:
    every named struct, union, enum and typedef they reach without a pointer, once each
    (``name`` as for :func:`decl_weight`)."""
    name = name or btf.name
    total = 0
    for t in reachable(btf, type_ids, pointers=False):
        k = btf.kind(t)
        if not btf.name(t):
            continue
        if k in (Kind.STRUCT, Kind.UNION):
            ty = btf.type(t)
            total += _RECORD + len(name(t)) + _record_padding(btf, ty) * _PAD_LINE
            total += sum(decl_weight(btf, m.type, memo, name) + len(m.name) + _LINE for m in ty.members)
        elif k in (Kind.ENUM, Kind.ENUM64):
            total += _RECORD + sum(len(v.name) + _LINE for v in btf.type(t).values)
        elif k == Kind.TYPEDEF:
            total += decl_weight(btf, btf.ref(t), memo, name) + len(name(t))
    return total
