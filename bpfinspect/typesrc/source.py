"""One type source for every consumer: the object's BTF, then its DWARF.

``TypeSource(obj)`` answers "what is ``struct event``?" for the
skeletons, ``maps``, ``globals`` and ``run``.  The answer is a :class:`TypeRef`: an
id in :attr:`TypeSource.btf`, one BTF type table holding everything handed out, so
the declarator and layout engine, the C printer and the ctypes layouts read types
from DWARF exactly as they read the object's own BTF.

How that table is made:

* it is the object's BTF, or a *split* table on top of it (ids and strings continue
  the object's, as a kernel module's BTF continues vmlinux's) when types come from
  elsewhere;
* a type from DWARF is copied in with what it refers to.  A named type
  the object's BTF already has with the same layout is not copied: the copy refers
  to the object's own.  A struct or union reached only through a pointer becomes a
  forward declaration (its layout does not matter there), as clang does when it
  writes BTF;
* ids handed out stay valid: the table only grows.

Order and agreement: a name is looked up in BTF first, then DWARF, and the first
source that defines it gives the answer.  Every other
source that defines it too must agree on the layout (:mod:`.compare`); when none of
its definitions does, that is an error naming the type and both sources (exit 2).
A type found nowhere is an error saying where it was looked for.
"""

from __future__ import annotations

from collections import namedtuple
from functools import cached_property

from bpfinspect.btf import Btf, Kind
from bpfinspect.btf.writer import BtfBuilder
from bpfinspect.errors import UsageError
from bpfinspect.typesrc.compare import layout_difference

_KEYWORD_KINDS = {"struct": (Kind.STRUCT,), "union": (Kind.UNION,), "enum": (Kind.ENUM, Kind.ENUM64)}
# A bare name means what it means in C: a typedef (or a base type), then a tag.
_BARE_KINDS = (Kind.TYPEDEF, Kind.INT, Kind.FLOAT, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64)
_NAMED = frozenset(_BARE_KINDS)
_RECORDS = (Kind.STRUCT, Kind.UNION)
_TRANSPARENT = frozenset({Kind.TYPEDEF, Kind.CONST, Kind.VOLATILE, Kind.RESTRICT, Kind.TYPE_TAG})


class TypeRef(namedtuple("TypeRef", "id name source where label", defaults=(None,))):
    """A type the source found: its id in :attr:`TypeSource.btf` and where it came from.

    ``name`` is its C spelling (``struct event``, ``pid_t``); ``source`` is "btf", "dwarf" or
    "header"; ``where`` is ``bootstrap.h:9`` when the source says; ``label`` is how the source
    is named in messages (--header's files).  (A named tuple: importing dataclasses would cost
    every command that generates a skeleton several milliseconds of start-up.)"""

    __slots__ = ()

    def describe(self) -> str:
        label = self.label or {"btf": "the object's BTF", "dwarf": "the object's DWARF"}.get(self.source, self.source)
        return f"{label} ({self.where})" if self.where else label


def parse_spec(spec: str) -> tuple[str | None, str]:
    """``"struct event"`` -> ``("struct", "event")``; ``"pid_t"`` -> ``(None, "pid_t")``."""
    words = spec.split()
    if len(words) == 2 and words[0] in _KEYWORD_KINDS and words[1].isidentifier():
        return words[0], words[1]
    if len(words) == 1 and words[0].isidentifier() and words[0] not in _KEYWORD_KINDS:
        return None, words[0]
    raise UsageError(f"{spec!r} is not a type name (write NAME, struct NAME, union NAME or enum NAME)")


class _Origin:
    """One place types come from, as BTF: the object's BTF or its DWARF."""

    key = ""
    label = ""

    def available(self) -> bool:
        return True

    @property
    def btf(self) -> Btf:
        raise NotImplementedError

    def find(self, keyword: str | None, name: str) -> list[int]:
        raise NotImplementedError

    def where(self, tid: int) -> str | None:
        return None

    def absent(self) -> str:
        return f"{self.label} (none)"


class _BtfOrigin(_Origin):
    key = "btf"
    label = "the object's BTF"

    def __init__(self, btf: Btf | None) -> None:
        self._btf = btf

    def available(self) -> bool:
        return self._btf is not None

    @property
    def btf(self) -> Btf:
        return self._btf

    def find(self, keyword, name):
        if self._btf is None:
            return []
        kinds = _KEYWORD_KINDS[keyword] if keyword else _BARE_KINDS
        return [tid for k in kinds for tid in self._btf.find(name, k)]


class _DwarfOrigin(_Origin):
    key = "dwarf"
    label = "the object's DWARF"

    def __init__(self, obj) -> None:
        self.obj = obj

    @cached_property
    def types(self):
        from bpfinspect.dwarf import read_dwarf
        from bpfinspect.dwarf.types import DwarfTypes

        dwarf = read_dwarf(self.obj.elf)
        return DwarfTypes(dwarf) if dwarf is not None else None

    def available(self) -> bool:
        return self.types is not None

    @property
    def btf(self) -> Btf:
        return self.types.btf()

    def find(self, keyword, name):
        if self.types is None:
            return []
        from bpfinspect.dwarf import constants as dw
        dies = [d for d in self.types.find(name, keyword) if not d.get(dw.AT_declaration)]
        return [self.types.type_id(d) for d in dies]

    def where(self, tid):
        o = self.types.origin(tid) if self.types is not None else None
        return o.where() if o is not None else None

    def absent(self) -> str:
        return f"{self.label} (none: no .debug_info, the object was built without -g or stripped)"


class _HeaderOrigin(_Origin):
    key = "header"

    def __init__(self, options) -> None:
        self.options = options
        self.label = options.label()

    @cached_property
    def _parsed(self):
        from bpfinspect.typesrc.headers import parse_headers
        return parse_headers(self.options)

    @property
    def btf(self) -> Btf:
        return self._parsed[0]

    def find(self, keyword, name):
        kinds = _KEYWORD_KINDS[keyword] if keyword else _BARE_KINDS
        return [tid for k in kinds for tid in self.btf.find(name, k)]

    def where(self, tid):
        return self._parsed[1].get(tid)

    def calls(self) -> list[dict]:
        """What the sources' functions send to ring buffers and perf event arrays (map, helper, type id)."""
        return self._parsed[2]


class TypeSource:
    """Types for one object: its BTF, then its DWARF, then the headers of ``--header``.

    ``overrides`` maps a ring buffer or perf event array map to the record type to use
    for it (``--type MAP=TYPE``); ``headers`` is a :class:`~bpfinspect.typesrc.headers.HeaderOptions`
    (the files are parsed when a type is first looked up).
    """

    def __init__(self, obj, *, overrides=None, headers=None) -> None:
        self.obj = obj
        self.path = obj.path
        self.overrides = dict(overrides or {})
        self._btf_origin = _BtfOrigin(obj.btf)
        self._dwarf_origin = _DwarfOrigin(obj)
        self._header_origin = _HeaderOrigin(headers) if headers else None
        self._out: BtfBuilder | None = None
        self._copied: dict[tuple[str, int], int] = {}    # (origin, its id) -> id here, copied in full
        self._forward: dict[tuple[str, int], int] = {}   # (origin, its id) -> id of its forward declaration
        self._names: dict[tuple[int, str], list[int]] | None = None
        self._table: Btf | None = None

    # -- the origins ------------------------------------------------------------------------------

    def _origins(self) -> list[_Origin]:
        extra = [self._header_origin] if self._header_origin is not None else []
        return [self._btf_origin, self._dwarf_origin, *extra]

    @property
    def dwarf_types(self):
        """The object's DWARF as :class:`~bpfinspect.dwarf.types.DwarfTypes` (None without DWARF)."""
        return self._dwarf_origin.types

    @property
    def has_dwarf(self) -> bool:
        return self._dwarf_origin.available()

    @cached_property
    def dwarf_functions(self) -> dict:
        """(ELF section index, offset) -> subprogram DIE (empty without DWARF)."""
        from bpfinspect.dwarf.scopes import functions
        return functions(self.dwarf_types.dwarf) if self.dwarf_types is not None else {}

    def record_types(self) -> dict:
        """Map name -> :class:`~bpfinspect.typesrc.records.RecordType` for every ring buffer and
        perf event array (worked out once)."""
        found = self.__dict__.get("_records")
        if found is None:
            from bpfinspect.typesrc.records import record_types
            found = self.__dict__["_records"] = record_types(self)
        return found

    # -- the table --------------------------------------------------------------------------------

    @property
    def btf(self) -> Btf:
        """Every type handed out so far, in one table (the object's BTF when all came from it)."""
        if self._out is None or not self._out.types:
            if self.obj.btf is not None:
                return self.obj.btf
            if self._table is None:
                self._table = BtfBuilder().btf(path=self.path, section=None)
            return self._table
        if self._table is None or self._table.count != self._out.count:
            self._table = self._out.btf(path=self.path, section=None)
        return self._table

    def name_of(self, type_id: int) -> str:
        """The C spelling of a type of :attr:`btf`."""
        return self.btf.type_name(type_id)

    # -- lookups ----------------------------------------------------------------------------------

    def find(self, spec: str, *, option: str | None = None) -> TypeRef:
        """The type ``spec`` names (``struct event``, ``union u``, ``enum e``, ``pid_t``); ``option``
        (``"--type"``) starts the message of an error."""
        if option is not None:
            try:
                return self.find(spec)
            except UsageError as exc:
                raise UsageError(f"{option} {exc.message}", path=exc.path) from None
        keyword, name = parse_spec(spec)
        hits: list[tuple[_Origin, list[int]]] = []
        looked: list[str] = []
        for origin in self._origins():
            if not origin.available():
                looked.append(origin.absent())
                continue
            ids = origin.find(keyword, name)
            looked.append(origin.label)
            if ids:
                hits.append((origin, ids))
        if not hits:
            hint = "" if self._header_origin is not None else "; give the header that defines it with --header FILE"
            raise UsageError(f"{spec}: no such type in {_join(looked)}{hint}", path=self.path)
        origin, ids = hits[0]
        chosen = ids[0]
        for other, other_ids in hits[1:]:
            diffs = [layout_difference(origin.btf, chosen, other.btf, o) for o in other_ids]
            if all(diffs):
                first = self._ref(origin, chosen, spec)
                theirs = other.where(other_ids[0])
                their_label = f"{other.label} ({theirs})" if theirs else other.label
                raise UsageError(f"{spec}: {first.describe()} and {their_label} disagree: {diffs[0]}",
                                 path=self.path)
        return self._ref(origin, chosen, spec)

    def lookup(self, spec: str) -> TypeRef | None:
        """Like :meth:`find`, None when no source defines it (disagreements still raise)."""
        try:
            keyword, name = parse_spec(spec)
        except UsageError:
            return None
        if not any(o.available() and o.find(keyword, name) for o in self._origins()):
            return None
        return self.find(spec)

    def _ref(self, origin: _Origin, tid: int, spec: str) -> TypeRef:
        new = self.import_type(origin, tid)
        label = origin.label if origin.key == "header" else None
        # named as in the origin (the copy has the same name): asking the table would rebuild it
        return TypeRef(new, origin.btf.type_name(tid), origin.key, origin.where(tid), label)

    def header_records(self, map_name: str) -> list[TypeRef]:
        """The types the ``--header`` sources send to map ``map_name`` at each helper call (empty without
        ``--header``)."""
        h = self._header_origin
        if h is None:
            return []
        out = []
        for call in h.calls():
            if call["map"] == map_name:
                new = self.import_type(h, call["type"])
                out.append(TypeRef(new, h.btf.type_name(call["type"]), h.key, call.get("where"), h.label))
        return out

    def from_dwarf(self, die) -> TypeRef:
        """A type DIE of the object's DWARF, as a :class:`TypeRef` (conflicts are not checked)."""
        dt = self.dwarf_types
        tid = dt.type_id(die)
        new = self.import_type(self._dwarf_origin, tid)
        o = dt.origin(tid)
        return TypeRef(new, dt.btf().type_name(tid), "dwarf", o.where() if o else None)

    def map_types(self, name: str) -> tuple[TypeRef | None, TypeRef | None]:
        """Key and value types of a map that has none in BTF (a legacy ``maps`` definition): libbpf's
        convention, ``struct ____btf_map_<name> { K key; V value; }`` (``BPF_ANNOTATE_KV_PAIR``), from
        any source."""
        ref = self.lookup(f"struct ____btf_map_{name}") if name.isidentifier() else None
        if ref is None:
            return None, None
        btf = self.btf
        out: dict[str, TypeRef] = {}
        for m in btf.type(btf.resolve(ref.id)).members:
            if m.name in ("key", "value") and m.name not in out:
                out[m.name] = TypeRef(m.type, btf.type_name(m.type), ref.source, ref.where)
        return out.get("key"), out.get("value")

    def variable_type(self, name: str) -> TypeRef | None:
        """The type the object's DWARF, else the headers, give a variable defined at file scope (None when
        none does)."""
        dt = self.dwarf_types
        if dt is None:
            h = self._header_origin
            if h is None:
                return None
            for var in h.btf.find(name, Kind.VAR):
                new = self.import_type(h, h.btf.ref(var))
                return TypeRef(new, h.btf.type_name(h.btf.ref(var)), h.key, h.where(var), h.label)
            return None
        found = self.__dict__.get("_dwarf_vars")
        if found is None:
            found = self.__dict__["_dwarf_vars"] = dt.variables()
        die = found.get(name)
        if die is None:
            return None
        from bpfinspect.dwarf import constants as dw
        t = die.ref(dw.AT_type)
        if t is None:
            return None
        return self.from_dwarf(t)

    # -- copying types in -------------------------------------------------------------------------

    def _base_index(self) -> dict[tuple[int, str], list[int]]:
        if self._names is None:
            names: dict[tuple[int, str], list[int]] = {}
            base = self.obj.btf
            if base is not None:
                for tid in base.ids():
                    k = base.kind(tid)
                    if k in _NAMED or k == Kind.FWD:
                        n = base.name(tid)
                        if n:
                            names.setdefault((int(k), n), []).append(tid)
            self._names = names
        return self._names

    def _same_in_base(self, src: Btf, tid: int) -> int | None:
        """A type of the object's BTF with the name, kind and layout of ``src``'s ``tid``."""
        k = src.kind(tid)
        name = src.name(tid)
        if k not in _NAMED or not name:
            return None
        for bid in self._base_index().get((int(k), name), ()):
            if k in (Kind.INT, Kind.FLOAT):
                if self.obj.btf.size(bid) == src.size(tid):
                    return bid
            elif layout_difference(self.obj.btf, bid, src, tid) is None:
                return bid
        return None

    def _known(self, origin: _Origin, t: int, forward: bool) -> int | None:
        """An id that already stands for ``origin``'s type ``t``: its earlier copy, or the object's own
        type (for a forward declaration, any record of that name will do)."""
        key = (origin.key, t)
        if forward:
            done = self._copied.get(key) or self._forward.get(key)
            if done is None:
                src = origin.btf
                named = self._base_index().get((int(src.kind(t)), src.name(t))) or \
                    self._base_index().get((int(Kind.FWD), src.name(t)))
                done = named[0] if named else None
            return done
        done = self._copied.get(key)
        return done if done is not None else self._same_in_base(origin.btf, t)

    def import_type(self, origin: _Origin, tid: int) -> int:
        """The id in :attr:`btf` of ``origin``'s type ``tid`` (copying it and what it needs)."""
        if origin.key == "btf" or tid == 0:
            return tid
        done = self._copied.get((origin.key, tid))
        if done is not None:
            return done
        if self._out is None:
            self._out = BtfBuilder(base=self.obj.btf)
        out = self._out
        src = origin.btf
        mapping: dict[int, int] = {0: 0}
        forwards: dict[int, int] = {}
        plan: list[tuple[int, bool]] = []   # (source id, forward only) in the order of new ids
        next_id = out.count + 1
        stack: list[tuple[int, bool]] = [(tid, True)]
        steps = 0
        while stack:
            steps += 1
            if steps > 1_000_000:
                raise UsageError(f"type [{tid}] of {origin.label} reaches too many types to copy", path=self.path)
            t, by_value = stack.pop()
            if t == 0:
                continue
            k = src.kind(t)
            forward = not by_value and k in _RECORDS and bool(src.name(t))
            table = forwards if forward else mapping
            if t in table:
                continue
            done = self._known(origin, t, forward)
            if done is None:
                done = next_id
                next_id += 1
                plan.append((t, forward))
                if not forward:
                    for ref, value in reversed(_references(src, t)):
                        stack.append((ref, value and by_value if k in _TRANSPARENT else value))
            table[t] = done
        first = out.count + 1
        for t, forward_only in plan:
            if forward_only:
                out.add_fwd(src.name(t), src.kind(t) == Kind.UNION)
                self._forward[(origin.key, t)] = out.count
            else:
                out.add_type(src, t)
                self._copied[(origin.key, t)] = out.count

        def remap(old: int) -> int:
            if old in mapping:
                return mapping[old]
            if old in forwards:
                return forwards[old]
            found = self._copied.get((origin.key, old)) or self._forward.get((origin.key, old))
            return found if found is not None else 0

        out.remap_ids(remap, first)
        return mapping.get(tid) or forwards.get(tid) or 0


def _references(btf: Btf, tid: int) -> list[tuple[int, bool]]:
    """(type id, reached by value) of what a type's record refers to."""
    k = btf.kind(tid)
    if k in (Kind.STRUCT, Kind.UNION):
        return [(m.type, True) for m in btf.type(tid).members]
    if k == Kind.ARRAY:
        a = btf.type(tid).array
        return [(a.type, True), (a.index_type, True)]
    if k == Kind.PTR:
        return [(btf.ref(tid), False)]
    if k in _TRANSPARENT:
        return [(btf.ref(tid), True)]
    if k == Kind.FUNC_PROTO:
        t = btf.type(tid)
        return [(t.type, False)] + [(p.type, False) for p in t.params]
    if k in (Kind.FUNC, Kind.VAR, Kind.DECL_TAG):
        return [(btf.ref(tid), True)]
    return []


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
