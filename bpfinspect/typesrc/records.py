"""The record types of ring buffers and perf event arrays, inferred from the object.

A program sends a record with one of these helpers:

==============================  ======  =====  ============================
helper                          map     size   data
==============================  ======  =====  ============================
``bpf_ringbuf_reserve``         r1      r2     (the returned pointer)
``bpf_ringbuf_reserve_dynptr``  r1      r2     (a dynptr)
``bpf_ringbuf_output``          r1      r3     r2
``bpf_perf_event_output``       r2      r5     r4
``bpf_skb_output``              r2      r5     r4
``bpf_xdp_output``              r2      r5     r4
==============================  ======  =====  ============================

The calls the verifier can reach, with the values their argument registers hold,
come from the constant propagation of :mod:`bpfinspect.flow.consts` (an ``ld_imm64``
of a map is a known value there).  Each call with a known map and a constant size
is then matched with the types of the locals in scope at that instruction in the
object's DWARF (:mod:`bpfinspect.dwarf.scopes`): structs and unions of exactly that
size, the targets of pointers first for a reservation (``struct event *e =
bpf_ringbuf_reserve(...)``), stack variables first for an output (``struct event e;
bpf_perf_event_output(..., &e, sizeof(e))``), the innermost scope first; scalars
(``__u64 *slot``) only when no record fits.  The map's record type is the one every
call agrees on; several sizes or types, or none of that size, leave it unknown,
with a note that says why.  ``--type MAP=TYPE`` overrides all of it.
"""

from __future__ import annotations

from collections import namedtuple

from bpfinspect.errors import UsageError
from bpfinspect.typesrc.source import TypeRef, TypeSource

RECORD_MAP_TYPES = frozenset({"ringbuf", "perf_event_array"})

# helper id -> (name, argument index of the map, of the size, of the data or None)
HELPERS = {
    131: ("bpf_ringbuf_reserve", 0, 1, None),
    198: ("bpf_ringbuf_reserve_dynptr", 0, 1, None),
    130: ("bpf_ringbuf_output", 0, 2, 1),
    25: ("bpf_perf_event_output", 1, 4, 3),
    111: ("bpf_skb_output", 1, 4, 3),
    121: ("bpf_xdp_output", 1, 4, 3),
}
MAX_RECORD = 1 << 32


# (Named tuples: importing dataclasses would cost every command that generates a skeleton
# several milliseconds of start-up.)

class RecordSite(namedtuple("RecordSite", "program function section insn helper size type")):
    """One call that sends records to a map: ``program`` (the program whose analysis reached
    the call), ``function`` (the function the call is in: the program or one of its
    subprograms), ``section``, ``insn`` (slot index in the section), ``helper``, ``size`` (the
    constant size given; None when not constant), ``type`` (the local's type matched at this
    call, or None)."""

    __slots__ = ()


class RecordType(namedtuple("RecordType", "map type size how sites note")):
    """What one ring buffer or perf event array map carries: ``map``; ``type`` (a
    :class:`TypeRef` or None); ``size`` (the size every call gives; None: unknown, or not the
    same everywhere); ``how`` ("dwarf", "header" -- the calls in a --header source -- or
    "override"); ``sites`` (the :class:`RecordSite` of each call); ``note`` (why the type is
    unknown, or a doubt about it)."""

    __slots__ = ()

    @property
    def name(self) -> str | None:
        return self.type.name if self.type is not None else None


def parse_overrides(items) -> dict[str, str]:
    """``["rb=struct event"]`` -> ``{"rb": "struct event"}``."""
    out: dict[str, str] = {}
    for item in items or ():
        name, sep, spec = item.partition("=")
        if not sep or not name.strip() or not spec.strip():
            raise UsageError(f"--type {item!r}: write MAP=TYPE (for example rb='struct event')")
        out[name.strip()] = spec.strip()
    return out


def record_types(ts: TypeSource) -> dict[str, RecordType]:
    """Every ring buffer and perf event array of the object, by map name."""
    obj = ts.obj
    maps = [m for m in obj.maps if m.type in RECORD_MAP_TYPES and m.section in (".maps", "maps")]
    names = {m.name for m in maps}
    for name in ts.overrides:
        m = obj.map(name)
        if m is None:
            from bpfinspect.suggest import did_you_mean

            have = [m.name for m in obj.maps]
            raise UsageError(f"--type {name}=...: the object has no map {name!r}"
                             + (did_you_mean(name, have) or f" (maps: {', '.join(have) or 'none'})"), path=ts.path)
        if name not in names:
            raise UsageError(f"--type {name}=...: map {name!r} is a {m.type} map, not a ring buffer or perf "
                             "event array", path=ts.path)
    if not maps:
        return {}
    sites = _sites(obj, names)
    out: dict[str, RecordType] = {}
    for m in maps:
        out[m.name] = _decide(ts, m.name, sites.get(m.name, []))
    return out


# -- the calls -----------------------------------------------------------------------------------

# One helper call that sends records: ``function`` is the obj Function it is in, ``data`` is
# ("fp", offset) or None.
_Call = namedtuple("_Call", "program function section insn helper size data")


def _sites(obj, names: set[str]) -> dict[str, list[_Call]]:
    from bpfinspect.flow.cfg import MapRef, code_of
    from bpfinspect.flow.consts import helper_calls

    code = code_of(obj)
    funcs: dict[str, list] = {}
    for f in obj.functions:
        funcs.setdefault(f.section, []).append(f)
    out: dict[str, list[_Call]] = {}
    seen: set[tuple] = set()
    for p in obj.programs:
        if p.is_subprog:
            continue
        found = helper_calls(code, (p.section, p.offset // 8), HELPERS)
        for where, (helper, contexts) in sorted(found.sites.items()):
            _name, map_arg, size_arg, data_arg = HELPERS[helper]
            maps = {args[map_arg].name for args in contexts if isinstance(args[map_arg], MapRef)}
            sizes = {args[size_arg] for args in contexts}
            size = sizes.pop() if len(sizes) == 1 else None
            if not isinstance(size, int) or not 0 < size < MAX_RECORD:
                size = None
            datas = {args[data_arg] if data_arg is not None else None for args in contexts}
            data = datas.pop() if len(datas) == 1 else None
            fn = _function_at(funcs.get(where[0], ()), where[1])
            for name in sorted(maps & names):
                key = (name, where)
                if key in seen:
                    continue
                seen.add(key)
                out.setdefault(name, []).append(_Call(p.name, fn, where[0], where[1], helper, size, data))
    return out


def _function_at(functions, slot: int):
    for f in functions:
        if f.offset // 8 <= slot < (f.offset + f.size) // 8:
            return f
    return None


# -- matching ----------------------------------------------------------------------------------------

def _decide(ts: TypeSource, name: str, calls: list[_Call]) -> RecordType:
    sizes = {c.size for c in calls}
    size = next(iter(sizes)) if len(sizes) == 1 else None
    if name in ts.overrides:
        ref = ts.find(ts.overrides[name])
        note = None
        if size is not None and ts.btf.sizeof(ref.id) != size:
            note = f"the programs send {size} bytes; {ref.name} is {ts.btf.sizeof(ref.id)}"
        return RecordType(name, ref, size, "override", _public(calls, {}), note)
    if not calls:
        return RecordType(name, None, None, None, (), "no program sends records to it")
    if None in sizes:
        return RecordType(name, None, None, None, _public(calls, {}),
                          "a call's size is not a constant the instructions show")
    if len(sizes) > 1:
        return RecordType(name, None, None, None, _public(calls, {}),
                          f"records of {len(sizes)} sizes: {', '.join(str(s) for s in sorted(sizes))}")
    found: dict[int, TypeRef | None] = {}
    notes: list[str] = []
    if ts.has_dwarf:
        for i, c in enumerate(calls):
            ref, why = _from_dwarf(ts, c)
            found[i] = ref
            if why:
                notes.append(why)
    refs = {r.id: r for r in found.values() if r is not None}
    if len(refs) == 1 and all(found.get(i) for i in range(len(calls))):
        ref = next(iter(refs.values()))
        return RecordType(name, ref, size, "dwarf", _public(calls, found), None)
    if not refs:
        # the source given with --header: the argument types at its calls with this map
        sent = {r.name: r for r in ts.header_records(name)}
        fits = [r for r in sent.values() if ts.btf.sizeof(r.id) == size]
        if len(sent) == 1 and fits:
            return RecordType(name, fits[0], size, "header", _public(calls, {}), None)
        if len(sent) > 1:
            notes.insert(0, "the calls in the --header sources send different types: " + ", ".join(sorted(sent)))
        elif sent:
            r = next(iter(sent.values()))
            notes.insert(0, f"the --header sources send {r.name} ({ts.btf.sizeof(r.id)} bytes); the programs "
                            f"send {size}")
    if len(refs) > 1:
        note = "the calls send different types: " + ", ".join(sorted(r.name for r in refs.values()))
    elif notes:
        note = notes[0]
    else:
        note = f"{size}-byte records; the object has no DWARF (built without -g, or stripped): " \
               "name the type with --type MAP=TYPE"
    return RecordType(name, None, size, None, _public(calls, found), note)


def _public(calls: list[_Call], found: dict) -> tuple[RecordSite, ...]:
    out = []
    for i, c in enumerate(calls):
        ref = found.get(i)
        out.append(RecordSite(c.program, c.function.name if c.function is not None else c.program, c.section,
                              c.insn, HELPERS[c.helper][0], c.size, ref.name if ref is not None else None))
    return tuple(out)


def _from_dwarf(ts: TypeSource, call: _Call) -> tuple[TypeRef | None, str | None]:
    from bpfinspect.dwarf import constants as dw
    from bpfinspect.dwarf.scopes import locals_at

    fn = call.function
    if fn is None:
        return None, f"the call at {call.section}:{call.insn} is in no function"
    die = ts.dwarf_functions.get((fn.section_index, fn.offset))
    if die is None:
        return None, f"{fn.name} has no DWARF"
    reserve = HELPERS[call.helper][3] is None
    records = (dw.TAG_structure_type, dw.TAG_union_type)
    ranked: list[tuple[int, int, object, object]] = []   # (rank, -depth, named die, underlying die)
    for v in locals_at(die, fn.section_index, call.insn * 8):
        t = _strip(v.type, cv_only=True)
        r = _strip(t, cv_only=False)
        if r is None:
            continue
        pointee = r.tag == dw.TAG_pointer_type
        named = _strip(r.ref(dw.AT_type), cv_only=True) if pointee else t
        under = _strip(named, cv_only=False)
        if under is None or under.get(dw.AT_declaration) or under.tag == dw.TAG_pointer_type \
                or _size_of(under) != call.size:
            continue
        # records before scalars; pointer targets first for a reservation, stack variables for an output
        rank = (0 if under.tag in records else 2) + (0 if pointee == reserve else 1)
        ranked.append((rank, -v.depth, named, under))
    if not ranked:
        return None, f"no local of {call.size} bytes in scope at {fn.name}+{call.insn - fn.offset // 8}"
    ranked.sort(key=lambda x: (x[0], x[1]))
    best = [x for x in ranked if x[:2] == ranked[0][:2]]
    if len({x[2].offset for x in best}) > 1:
        names = sorted({ts.from_dwarf(x[2]).name for x in best})
        if len(names) > 1:
            return None, f"{len(names)} locals of {call.size} bytes in {fn.name}: {', '.join(names)}"
    return ts.from_dwarf(best[0][2]), None


def _size_of(die) -> int | None:
    """The size of a (typedef- and qualifier-free) type DIE: byte size, or elements times element size."""
    from bpfinspect.dwarf import constants as dw

    size = die.get(dw.AT_byte_size)
    if isinstance(size, int):
        return size
    if die.tag == dw.TAG_array_type:
        elem = _strip(die.ref(dw.AT_type), cv_only=False)
        n = 1
        for sub in die.children():
            if sub.tag == dw.TAG_subrange_type:
                count = sub.get(dw.AT_count)
                if count is None and isinstance(sub.get(dw.AT_upper_bound), int):
                    count = sub.get(dw.AT_upper_bound) + 1
                if not isinstance(count, int):
                    return None
                n *= count
        inner = _size_of(elem) if elem is not None and elem.tag != dw.TAG_array_type else None
        return n * inner if inner is not None else None
    return None


def _strip(die, *, cv_only: bool):
    """A type DIE without its qualifiers (and typedefs unless ``cv_only``)."""
    from bpfinspect.dwarf import constants as dw

    skip = {dw.TAG_const_type, dw.TAG_volatile_type, dw.TAG_restrict_type, dw.TAG_atomic_type}
    if not cv_only:
        skip.add(dw.TAG_typedef)
    for _ in range(64):
        if die is None or die.tag not in skip:
            return die
        die = die.ref(dw.AT_type)
    return None
