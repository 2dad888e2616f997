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
  extension g++ and clang++ share, keeps it at 0);
* host-safe layouts (when the skeleton defines types): BPF's layout on every
  host, 32-bit ones included.  An 8-byte ``long`` is written ``long long``
  (the identifier hook's ``arithmetic``; an 8-byte ``long double`` is already
  written ``double``, the C spelling of its size); a member of an 8-aligned
  record whose type is an 8-byte scalar (or an array of them), at an 8-byte
  boundary or a bitfield, is written with a typedef of its type aligned to 8
  (``__bpf_a8_long_long``: i386 aligns ``long long`` and ``double`` to 4 in
  records), and the padding bitfields of type ``long`` use
  ``__bpf_a8_pad``, a ``long long`` aligned to 8 (:class:`SkelRenderer`'s
  ``member_decl`` and ``filler_type``).  Each such typedef is written once,
  before the first definition that uses it.

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
from bpfinspect.btf.kinds import (ARRAY, BIT_OFFSET_MASK, BITFIELD_SHIFT, CONST, ENUM, ENUM64, FLOAT, INT, KFLAG_SHIFT,
                                  RESTRICT, STRUCT, TYPE_TAG, TYPEDEF,
                                  UNION, VLEN_MASK, VOLATILE, Kind)
from bpfinspect.btf.layout import E2BIG
from bpfinspect.errors import MalformedInput
from bpfinspect.quote import shown

# What the skeleton's declarations look like: bpftool's spelling, without type tags, without the
# qualifiers of a return type and without a qualifier repeated in one run (found by fuzz_skel:
# gcc -Wextra refused ``typedef const struct p (*f)(int);`` and ``const char *const restrict
# const p;``).
STYLE = DeclStyle(type_tags=False, host=True)
_INT64_MIN = -(1 << 63)
_MODES = {1: "__QI__", 2: "__HI__", 8: "__DI__"}

HOST_SAFE_NOTE = ("Host-safe layouts: BPF's 8-byte long double is written double, its 8-byte long long long, "
                  "and record members and padding of 8-byte scalars use __bpf_a8_* typedefs aligned to 8 as in BPF "
                  "(32-bit x86 aligns them to 4), so that hosts give each member BPF's size and offset.")
ALIGNED_PREFIX = "__bpf_a8_"
_PAD = ALIGNED_PREFIX + "pad"
_TO_BASE = frozenset({TYPEDEF, CONST, VOLATILE, RESTRICT, TYPE_TAG})


class SkelNames(Names):
    """The identifier hook of a skeleton: the names :class:`~bpfinspect.skel.c_names.BtfNames`
    decided (see the module docstring)."""

    def __init__(self, table, names, arithmetic=None) -> None:
        super().__init__(table)
        self.decided = names.names
        self.items = names.items
        self.btf_names = names
        self.forward_definitions = names.forward_definitions
        self.renamed = arithmetic or {}
        self._printed: dict[int, int] = {}

    def tag(self, tid: int) -> str:
        return self.decided.get(tid, "")

    ident = tag

    def arithmetic(self, tid: int) -> str:
        r = self.renamed.get(tid)
        return r if r is not None else self.decided.get(tid, "")

    def member(self, record: int, index: int, name: str) -> str:
        return self.btf_names.member(record, index)

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
    {enumerator index: value}); ``cxx``: the C++ text; ``host_safe``: host-safe layouts
    (aligned typedefs for 8-byte scalar members and ``long`` padding)."""

    def __init__(self, table, *, skip=frozenset(), modes=None, cxx: bool = False, host_safe: bool = False,
                 **kw) -> None:
        super().__init__(table, **kw)
        self.skip = skip
        self.modes = modes or {}
        self.cxx = cxx
        self._early: set[int] = set()   # C++: enums defined where a declaration of theirs stood
        if cxx:
            self.empty_member = "char __empty[0]"
        self.host_safe = host_safe
        self._wrapped: dict[int, frozenset] = {}   # record -> indexes of the members written aligned
        self.aligned: dict[str, str] = {}   # C text of a member's type -> its aligned typedef
        self._taken = set(self.names.decided.values()) if host_safe else set()
        self._pending: list[str] = []   # aligned typedefs the item being written needs first

    def item(self, item: int) -> str:
        if item > 0 and item in self.skip:
            k = self.kinds[item]
            if k == TYPEDEF or k == STRUCT or k == UNION or self.w[self.pos[item] + 1] & VLEN_MASK:
                return ""   # a definition the includes have (forward declarations stay)
        if self.cxx and item > 0 and (self.kinds[item] == ENUM or self.kinds[item] == ENUM64):
            if not self.w[self.pos[item] + 1] & VLEN_MASK:
                # C++ has no incomplete enum without a type: one only declared is declared with
                # its type first (Types); one defined too is defined here, where it is first needed.
                d = self.names.forward_definitions.get(item)
                if d is None or d in self._early:
                    return ""
                self._early.add(d)
                item = d
            elif item in self._early:
                return ""   # (written where its declaration stood)
            else:
                self._early.add(item)   # (written here: a later declaration writes nothing)
        mode = self.modes.get(item) if item > 0 else None
        if mode is not None:
            return f"{self.enum(item, 0)} __attribute__((mode({mode[0]})));\n\n"
        text = super().item(item)
        return self.take_typedefs() + text if self._pending else text

    # -- host-safe layouts ---------------------------------------------------------------------

    def member_decl(self, record: int, index: int, mt: int, name: str, lvl: int, strip: bool) -> str:
        if self.host_safe and index in self._aligned_members(record) and self.decl.plain(mt):
            text = self.decl.text(mt, strip)
            alias = self.aligned.get(text)
            if alias is None:
                alias = self._aligned_typedef(mt, text, strip)
            return alias + " " + name if name else alias
        return super().member_decl(record, index, mt, name, lvl, strip)

    def filler_type(self, pad_type: str) -> str:
        if not self.host_safe or pad_type != "long":
            return pad_type
        if _PAD not in self._taken:
            self._taken.add(_PAD)
            self._add_typedef(f"typedef long long {_PAD} __attribute__((aligned(8)));\n\n")
        return _PAD

    def _aligned_typedef(self, mt: int, text: str, strip: bool) -> str:
        """A new typedef of type ``mt`` (C text ``text``) aligned to 8, named after its text (written
        before the item being rendered)."""
        words = "".join([c if c.isalnum() or c == "_" else " " for c in text]).split()
        alias = ALIGNED_PREFIX + "_".join(words).strip("_")
        while alias in self._taken:
            alias += "_"
        self._taken.add(alias)
        self.aligned[text] = alias
        self._add_typedef(f"typedef {self.decl.decl(mt, alias, 0, strip)} __attribute__((aligned(8)));\n\n")
        return alias

    def take_typedefs(self) -> str:
        """The aligned typedefs made since the last item (for declarations written outside one)."""
        text = "".join(self._pending)
        self._pending.clear()
        return text

    def wrote_aligned(self) -> bool:
        """Whether an aligned typedef was made."""
        return bool(self.aligned) or _PAD in self._taken

    def _add_typedef(self, text: str) -> None:
        self.budget.spend(len(text))
        self._pending.append(text)

    def _aligned_members(self, record: int) -> frozenset:
        """The members of ``record`` written with an aligned typedef: in a record BPF aligns to 8,
        those of an 8-byte scalar type (or an array of them) at an 8-byte boundary, and bitfields
        of such a type."""
        r = self._wrapped.get(record)
        if r is not None:
            return r
        try:
            eight = self.layout.alignof(record) == 8
        except MalformedInput:   # a record the layout cannot place: left as it is
            eight = False
        picks = []
        if eight:
            w, p = self.w, self.pos[record]
            kflag = w[p + 1] >> KFLAG_SHIFT
            q = p + 3
            for i in range(w[p + 1] & VLEN_MASK):
                mt, off = w[q + 1], w[q + 2]
                bits = off >> BITFIELD_SHIFT if kflag else 0
                if (bits or (off & BIT_OFFSET_MASK if kflag else off) % 64 == 0) and self._eight_byte_scalar(mt):
                    picks.append(i)
                q += 3
        r = self._wrapped[record] = frozenset(picks)
        return r

    def _eight_byte_scalar(self, tid: int) -> bool:
        """An integer, enum or float of 8 bytes (through typedefs, qualifiers and arrays)."""
        w, pos, kinds, n = self.w, self.pos, self.kinds, self.n
        for _ in range(64):
            if not 0 < tid < n:
                return False
            k = kinds[tid]
            if k in _TO_BASE:
                tid = w[pos[tid] + 2]
            elif k == ARRAY:
                tid = w[pos[tid] + 3]
            else:
                return (k == INT or k == FLOAT or k == ENUM or k == ENUM64) and w[pos[tid] + 2] == 8
        return False

    def enum(self, tid: int, lvl: int) -> str:
        text = super().enum(tid, lvl)
        if not self.w[self.pos[tid]]:
            mode = self.modes.get(tid)
            if mode is not None:
                # (an anonymous enum written inline: its size, after the closing brace)
                return f"{text} __attribute__((mode({mode[0]})))"
        return text

    def enum_values(self, tid: int, values: list) -> list:
        mode = self.modes.get(tid)
        if mode is not None and mode[1]:
            values = [mode[1].get(i, v) for i, v in enumerate(values)]
        if self.kinds[tid] == ENUM64:
            return [v if v != f"{_INT64_MIN}LL" else "(-9223372036854775807LL - 1)" for v in values]
        return values


class Types:
    """Declarations (``decl``) and definitions (``definitions``) of one object's BTF types.

    ``host_safe_types``: host-safe layouts (see the module docstring); :attr:`host_safe` tells
    whether the text written so far needed any."""

    def __init__(self, btf, cxx: bool = False, avoid=(), host_safe_types: bool = False) -> None:
        from functools import partial

        from bpfinspect.btf.writer import flattened
        from bpfinspect.skel.c_names import BtfNames

        btf = flattened(btf)
        self.btf = btf
        self.names = BtfNames(btf, cxx=cxx, avoid=avoid)
        self.cxx = cxx
        table = btf.table
        skip = frozenset(self.names.provided)
        self.renamed = host_safe_names(table, self.names.names) if host_safe_types else {}
        renderer = partial(SkelRenderer, skip=skip, modes=sized_enums(btf, skip), cxx=cxx,
                           host_safe=host_safe_types)
        self.cd = CDeclarations(btf, names=SkelNames(table, self.names, self.renamed), style=STYLE,
                                renderer=renderer)
        self._opaque_done = False

    @property
    def host_safe(self) -> bool:
        """Whether a host-safe spelling or aligned typedef was written."""
        return bool(self.renamed) or self.cd.render.wrote_aligned()

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
        text = self._opaque_enums() + text
        return text[:-1] if text else ""

    def _opaque_enums(self) -> str:
        """In C++, before the first definitions: ``enum NAME : int;`` for each enum the BTF only
        declares (C++ has no incomplete enum without an underlying type; its size is never used)."""
        if not self.cxx or self._opaque_done or not self.names.opaque_enums:
            return ""
        self._opaque_done = True
        text = "".join([f"enum {self.names.names[t]} : int;\n\n" for t in self.names.opaque_enums])
        self.cd.render.budget.spend(len(text))
        return text

    def pending(self) -> str:
        """The aligned typedefs that declarations written since the last definitions use (members
        of anonymous records written inline), as :meth:`definitions` writes text; then forgotten."""
        return self.cd.render.take_typedefs()[:-1]


def check_records(btf) -> None:
    """Refuse (MalformedInput) a struct or union whose BTF layout no C declaration has: members
    that overlap (an ``int`` made 16 bytes wide with its neighbours 4 bytes apart, a bit-field
    placed before the end of the one listed before it), a plain
    member that starts inside a byte, a member that ends past its record, or one whose type is
    4 GiB or more (which libbpf refuses, and 32 bits wrap).  The skeleton's
    layout assertions would not compile; the kernel checks only that offsets do not go back."""
    layout = btf.layout
    table = btf.table
    kinds, w, pos = table.kind, table.w, table.pos
    for tid in btf.ids():
        k = kinds[tid]
        if k != STRUCT and k != UNION:
            continue
        what = "struct" if k == STRUCT else "union"
        size_bits = w[pos[tid] + 2] * 8
        end = 0
        unnamed_bitfields = False
        for i, (no, mt, off, bitfield, member_end) in enumerate(layout.members(tid)):
            why = None
            if bitfield and btf.kind(btf.resolve(mt)) not in _BITFIELD_KINDS:
                # (found by fuzz_skel: gcc refused ``union u typed: 6;``; the kernel refuses it too)
                why = f"member {i} is a bit-field of a type that is no integer or enum"
            elif layout.sizeof(mt) == E2BIG:
                # (found by fuzz_skel: an array of 536,870,915 pointers, 2**32 + 24 bytes, which a
                # 32-bit size wraps to 24: C made the record 4 GiB bigger; libbpf refuses it too)
                why = f"member {i} has a type of 4 GiB or more"
            elif k == STRUCT and not bitfield and off % 8:
                why = f"member {i} starts at bit {off}, inside a byte"
            elif k == STRUCT and off < end:
                at = f"bit {off}" if bitfield else f"byte {off // 8}"
                why = f"member {i} at {at} overlaps the member before it (which ends at bit {end})"
            elif member_end > size_bits:
                why = f"member {i} ends at bit {member_end}, past the {size_bits // 8} bytes of the {what}"
            if why is not None:
                raise MalformedInput(f"BTF {what} [{tid}] '{shown(btf.name(tid))}': {why}: no C declaration has this "
                                     "layout, so no skeleton can", path=btf.path, section=".BTF")
            end = max(end, member_end)
            if bitfield and not unnamed_bitfields and not btf.string(no):
                unnamed_bitfields = True
        c_size = _c_size(btf, tid, end) if unnamed_bitfields else None
        if c_size is not None and c_size != size_bits:
            raise MalformedInput(f"BTF {what} [{tid}] '{shown(btf.name(tid))}': C gives it {c_size // 8} bytes, not "
                                 f"its {size_bits // 8} (unnamed bit-fields do not count towards a record's "
                                 "alignment): no C declaration has this layout, so no skeleton can",
                                 path=btf.path, section=".BTF")


def _c_size(btf, tid: int, end: int) -> int | None:
    """The size in bits C gives record ``tid`` as it is written (its members end at bit ``end``),
    when that can differ from its BTF size, else None.  The written layout aligns the record as
    libbpf does, by every member; C leaves its unnamed bit-fields out of the record's alignment
    (found by fuzz_skel: a struct whose 8-byte bit-fields were all unnamed came out 20 bytes, not
    24).  Fillers written after the last member move the end as C places them."""
    layout = btf.layout
    packed, pads = layout.plan(tid)
    align = layout.alignof(tid)
    if packed or align <= 1:
        return None
    c_align = 1
    for no, mt, _off, bitfield, _end in layout.members(tid):
        if not bitfield or btf.string(no):  # (a member named "" is unnamed for the skeleton too)
            c_align = max(c_align, layout.alignof(mt))
    if c_align >= align:
        return None
    vlen = layout.w[layout.pos[tid] + 1] & VLEN_MASK
    for pad_type, bits, count in (pads or {}).get(vlen, ()):
        if bits:
            end += bits * count
        else:  # zero-width: to the next boundary of its type
            unit = _FILLER_BITS.get(pad_type, layout.long_bits)
            end = -(-end // unit) * unit
    unit = c_align * 8
    return -(-end // unit) * unit


_FILLER_BITS = {"int": 32, "short": 16, "char": 8}


_BITFIELD_KINDS = frozenset({INT, ENUM, ENUM64})


def check_declarators(btf) -> None:
    """Refuse (MalformedInput) a type no C declarator can write: a function returning an array
    or a function, an array of functions (found by fuzz_skel: gcc refused the skeleton's
    ``typedef void (*((*f)(int, sig_t))[2])(void)``).  The BTF printer writes them as bpftool does."""
    from bpfinspect.btf.kinds import Kind

    kind, resolve = btf.kind, btf.resolve
    for tid in btf.ids_of_kind(Kind.FUNC_PROTO, Kind.ARRAY):
        k = kind(tid)
        if k == Kind.FUNC_PROTO:
            inner = kind(resolve(btf.ref(tid)))
            if inner != Kind.ARRAY and inner != Kind.FUNC_PROTO:
                continue
            what = "a function returning " + ("an array" if inner == Kind.ARRAY else "a function")
        elif k == Kind.ARRAY:
            words, pos = btf.words(tid)
            if kind(resolve(words[pos + 3])) != Kind.FUNC_PROTO:   # the element type
                continue
            what = "an array of functions"
        else:
            continue
        raise MalformedInput(f"BTF type [{tid}] is {what}: no C declaration has this type, so no skeleton can",
                             path=btf.path, section=".BTF")
    _check_type_references(btf)


# Kinds the printer writes as no type at all where a type is needed (a pointer to a data section
# was written as a pointer to nothing, ``int (*open)(, const char *)``: found by fuzz_skel).  A
# variable, function or declaration tag there is written as the type it refers to, which compiles.
_NOT_TYPES = {Kind.DATASEC: "a data section"}
_NOT_TYPE_FLAGS = bytes(1 if k in _NOT_TYPES else 0 for k in range(256))


def _check_type_references(btf) -> None:
    """Refuse (MalformedInput) a type that refers to a data section where C needs a type: a
    pointer, typedef or qualifier's target, an array's elements, a member's type, a function's
    return or parameter type (the kernel refuses such BTF; the printer writes it as nothing)."""
    table = btf.table
    w, pos = table.w, table.pos
    flags = table.kind.translate(_NOT_TYPE_FLAGS)
    n = len(flags)

    def refuse(tid: int, target: int, where: str):
        raise MalformedInput(f"BTF type [{tid}] refers to [{target}], {_NOT_TYPES[Kind(table.kind[target])]}, "
                             f"{where}: C needs a type there, so no skeleton can",
                             path=btf.path, section=".BTF")

    def bad(targets) -> bool:
        return any(flags[t] for t in targets if t < n)

    # (a global whose type is a data section is left out of the skeleton, with a warning)
    single = btf.ids_of_kind(Kind.PTR, Kind.TYPEDEF, Kind.CONST, Kind.VOLATILE, Kind.RESTRICT, Kind.TYPE_TAG,
                             Kind.FUNC_PROTO)
    if bad([w[pos[t] + 2] for t in single]):
        for t in single:
            target = w[pos[t] + 2]
            if target < n and flags[target]:
                refuse(t, target, "as its return type" if table.kind[t] == Kind.FUNC_PROTO else "as its type")
    arrays = btf.ids_of_kind(Kind.ARRAY)
    if bad([w[pos[t] + 3] for t in arrays]):
        for t in arrays:
            if w[pos[t] + 3] < n and flags[w[pos[t] + 3]]:
                refuse(t, w[pos[t] + 3], "as its element type")
    for kinds, step, what in (((Kind.STRUCT, Kind.UNION), 3, "as a member's type"),
                              ((Kind.FUNC_PROTO,), 2, "as a parameter's type")):
        for t in btf.ids_of_kind(*kinds):
            p = pos[t]
            targets = w[p + 4:p + 3 + step * (w[p + 1] & VLEN_MASK):step]
            if targets and bad(targets):
                refuse(t, next(x for x in targets if x < n and flags[x]), what)


# The sizes C has a type of, by BTF kind (an enum: C's 4, or a machine mode of _MODES).
_ENUM_SIZES = frozenset(_MODES) | {4}
_C_SIZES = {INT: frozenset({1, 2, 4, 8, 16}), FLOAT: frozenset({4, 8, 16}), ENUM: _ENUM_SIZES, ENUM64: _ENUM_SIZES}
_KIND_WORDS = {INT: "integer", FLOAT: "floating-point type", ENUM: "enum", ENUM64: "enum"}


def check_sizes(btf) -> None:
    """Refuse (MalformedInput) an integer, floating-point type or enum of a size no C type has
    (found by fuzz_skel: an ``int`` of 3 bytes was written ``unsigned char`` and the skeleton's
    size assertion failed).  The kernel refuses such enums, and integers other than 1, 2, 4, 8
    and 16 bytes are no type a compiler writes; a 2- or 12-byte float has no C spelling of
    that size on every host."""
    table = btf.table
    kinds, w, pos = table.kind, table.w, table.pos
    for tid in btf.ids():
        k = kinds[tid]
        sizes = _C_SIZES.get(k)
        if sizes is None:
            continue
        if k != INT and k != FLOAT and not w[pos[tid] + 1] & VLEN_MASK:
            if w[pos[tid]]:
                continue   # (a named enum without enumerators is a forward declaration: clang gives it size 0)
            raise MalformedInput(f"BTF enum [{tid}] has neither a name nor enumerators: no C declaration has this "
                                 "type, so no skeleton can", path=btf.path, section=".BTF")
        if w[pos[tid] + 2] not in sizes:
            raise MalformedInput(f"BTF {_KIND_WORDS[k]} [{tid}] '{shown(btf.name(tid))}' has {w[pos[tid] + 2]} "
                                 "bytes: no C type has that size, so no skeleton can", path=btf.path, section=".BTF")


def host_safe_names(table, decided: dict) -> dict[int, str]:
    """Integer id -> ``long long`` or ``unsigned long long`` for the 8-byte integers whose C
    spelling has one ``long`` (4 bytes on 32-bit hosts)."""
    out = {}
    kinds, w, pos = table.kind, table.w, table.pos
    for tid, name in decided.items():
        if kinds[tid] == INT and w[pos[tid] + 2] == 8:
            words = name.split()
            if words.count("long") == 1:
                out[tid] = "unsigned long long" if "unsigned" in words else "long long"
    return out


def sized_enums(btf, skip=frozenset()) -> dict[int, tuple[str, dict]]:
    """Enum id -> (machine mode, {enumerator index: value to write}) for the enums C would not
    give their BTF size by itself (anonymous ones too: written inline, they carry the mode
    after their closing brace)."""
    out = {}
    table = btf.table
    kinds, w, pos = table.kind, table.w, table.pos
    for tid in btf.ids():
        k = kinds[tid]
        if (k != ENUM and k != ENUM64) or tid in skip or not w[pos[tid] + 1] & VLEN_MASK:
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
