"""C declarations and definitions of BTF types, as a user-space header needs them.

The text comes from the one BTF-to-C engine (:mod:`bpfinspect.btf.decl` for
declarations, :mod:`bpfinspect.btf.c_render` for definitions, in the order
:mod:`bpfinspect.btf.order` gives), run with the skeleton's options; nothing
is edited after it is written.  On top of what ``btf --format c`` writes, a
header compiled by gcc/g++ for the host needs:

* names that compile and mean nothing else: the identifier hook
  (:class:`SkelNames`) gives every tag, typedef, member and enumerator the
  name :mod:`bpfinspect.skel.c_names` decided through the C quoting layer
  (:mod:`bpfinspect.quote.c`), once per language (a C and a C++ text);
  integer and floating-point types are written in a C spelling of their size,
  parameter names are left out, an unnamed member C would drop is named;
* type tags left out (only clang targeting BPF knows
  ``btf_type_tag``; gcc warns about unknown attributes): the declarator's
  ``type_tags=False``;
* no second definition of what the includes define (``__u32``,
  ``struct bpf_spin_lock``, ``bool``...): :class:`SkelRenderer` leaves those
  items out;
* enums whose BTF size is not what C would choose for their values (packed
  enums; 64-bit enums from compilers without ENUM64) get
  ``__attribute__((mode(...)))``, and the values old compilers recorded
  unsigned are written signed; ``INT64_MIN`` is written
  ``(-9223372036854775807LL - 1)`` (ISO C has no negative literals, and
  ``9223372036854775808LL`` is out of range);
* in C++, a record with no members and no size gets ``char __empty[0]`` (an
  empty struct has size 0 in GNU C but 1 in C++; a zero-length array, a GNU
  extension g++ and clang++ share, keeps it at 0).

The definitions are wrapped by the template so that ``-Wpedantic`` accepts
what BTF legitimately describes but ISO C does not (64-bit enumerators,
bit-fields of types other than ``int``, ``__attribute__((packed))``).

An enum written out in full more than once (an anonymous enum used in two
places) defines its enumerators again each time: the second printing writes
them with ``___2``, the third ``___3``... (:mod:`bpfinspect.skel.c_names`
keeps those names free).  Definitions are printed before the declarations of
the skeleton's variables, each once, so the first printing is the first in
the header.
"""

from __future__ import annotations

from bpfinspect.btf.c_dump import CDeclarations
from bpfinspect.btf.c_render import CRenderer
from bpfinspect.btf.decl import DeclStyle, Names
from bpfinspect.btf.kinds import ENUM, ENUM64, STRUCT, TYPEDEF, UNION, VLEN_MASK

# What the skeleton's declarations look like: bpftool's spelling, without type tags.
STYLE = DeclStyle(type_tags=False)
_INT64_MIN = -(1 << 63)
_MODES = {1: "__QI__", 2: "__HI__", 8: "__DI__"}


class SkelNames(Names):
    """The identifier hook of a skeleton: the names :class:`~bpfinspect.skel.c_names.BtfNames`
    decided (see the module docstring)."""

    def __init__(self, table, names) -> None:
        super().__init__(table)
        self.decided = names.names
        self.items = names.items
        self._printed: dict[int, int] = {}

    def tag(self, tid: int) -> str:
        return self.decided.get(tid, "")

    ident = tag
    arithmetic = tag

    def member(self, record: int, index: int, name: str) -> str:
        return self.items.get((record, index), "")

    def param(self, proto: int, index: int, name: str) -> str:
        return ""

    def enumerators(self, tid: int, names: list) -> list:
        n = self._printed.get(tid, 0) + 1
        self._printed[tid] = n
        out = [self.items.get((tid, i), "") for i in range(len(names))]
        return out if n == 1 else [f"{name}___{n}" for name in out]


class SkelRenderer(CRenderer):
    """The definitions renderer with what a host header needs (see the module docstring).
    ``skip``: ids of the types the includes define; ``modes``: enum id -> (machine mode,
    {enumerator index: value}); ``cxx``: the C++ text."""

    def __init__(self, table, *, skip=frozenset(), modes=None, cxx: bool = False, **kw) -> None:
        super().__init__(table, **kw)
        self.skip = skip
        self.modes = modes or {}
        if cxx:
            self.empty_member = "char __empty[0]"

    def item(self, item: int) -> str:
        if item > 0 and item in self.skip:
            k = self.kinds[item]
            if k == TYPEDEF or k == STRUCT or k == UNION or self.w[self.pos[item] + 1] & VLEN_MASK:
                return ""   # a definition the includes have (forward declarations stay)
        mode = self.modes.get(item) if item > 0 else None
        if mode is not None:
            return f"{self.enum(item, 0)} __attribute__((mode({mode[0]})));\n\n"
        return super().item(item)

    def enum_values(self, tid: int, values: list) -> list:
        mode = self.modes.get(tid)
        if mode is not None and mode[1]:
            values = [mode[1].get(i, v) for i, v in enumerate(values)]
        if self.kinds[tid] == ENUM64:
            return [v if v != f"{_INT64_MIN}LL" else "(-9223372036854775807LL - 1)" for v in values]
        return values


class Types:
    """Declarations (``decl``) and definitions (``definitions``) of one object's BTF types."""

    def __init__(self, btf, cxx: bool = False, avoid=()) -> None:
        from functools import partial

        from bpfinspect.skel.c_names import BtfNames

        self.btf = btf
        self.names = BtfNames(btf, cxx=cxx, avoid=avoid)
        self.cxx = cxx
        table = btf.table
        skip = frozenset(self.names.provided)
        renderer = partial(SkelRenderer, skip=skip, modes=sized_enums(btf, skip), cxx=cxx)
        self.cd = CDeclarations(btf, names=SkelNames(table, self.names), style=STYLE, renderer=renderer)

    def name(self, type_id: int) -> str:
        """The name type ``type_id`` has in this text (tags, typedefs, arithmetic types)."""
        return self.names.names.get(type_id, "")

    def decl(self, type_id: int, name: str, indent: int = 2, strip_mods: bool = True) -> str:
        return self.cd.decl(type_id, name, indent, strip_mods=strip_mods)

    def sizeof(self, type_id: int) -> int:
        return self.cd.sizeof(type_id)

    def alignof(self, type_id: int) -> int:
        return self.cd.alignof(type_id)

    def definitions(self, type_ids) -> str:
        """C text defining every type ``type_ids`` need, ready for a host header: one blank
        line between definitions, one new line at the end."""
        ids = [t for t in dict.fromkeys(type_ids) if t]
        text = self.cd.dependencies(ids) if ids else ""
        return text[:-1] if text else ""


def sized_enums(btf, skip=frozenset()) -> dict[int, tuple[str, dict]]:
    """Enum id -> (machine mode, {enumerator index: value to write}) for the named enums C
    would not give their BTF size by itself."""
    out = {}
    table = btf.table
    kinds, w, pos = table.kind, table.w, table.pos
    for tid in btf.ids():
        k = kinds[tid]
        if (k != ENUM and k != ENUM64) or tid in skip or not w[pos[tid]] or not w[pos[tid] + 1] & VLEN_MASK:
            continue
        size = w[pos[tid] + 2]
        if size not in _MODES:
            continue
        values = [v.value for v in btf.type(tid).values]
        if size == 8:
            if all(-(1 << 31) <= v < (1 << 32) for v in values):
                out[tid] = (_MODES[8], {})
            continue   # (otherwise C already needs 8 bytes for these values)
        lo, hi = -(1 << (8 * size - 1)), 1 << (8 * size)
        fixes = {}
        for i, v in enumerate(values):
            if lo <= v < hi:
                continue
            if (1 << 31) <= v < (1 << 32) and lo <= v - (1 << 32):
                # Old compilers do not record signedness: a negative value reads as a large
                # 32-bit unsigned one.
                fixes[i] = v - (1 << 32)
            else:
                break
        else:
            # (the values of an ENUM64 are written as BTF holds them)
            out[tid] = (_MODES[size], fixes if k == ENUM else {})
    return out
