"""Map definitions: BTF-defined (``.maps``), legacy (``maps``) and struct_ops (a build step)."""

from __future__ import annotations

import struct
from bisect import bisect_left

from bpfinspect.btf.kinds import BIT_OFFSET_MASK, KFLAG_SHIFT, VLEN_MASK, Kind
from bpfinspect.elf import ElfFile, ElfSection
from bpfinspect.errors import MalformedInput
from bpfinspect.obj.model import Map
from bpfinspect.obj.relocs import func_name_for
from bpfinspect.uapi import MAP_TYPES, enum_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bpfinspect.btf import Btf

MAP_TYPE_STRUCT_OPS = 26
BPF_F_LINK = 0x2000  # libbpf marks .struct_ops.link maps with it

PINNING = {0: "none", 1: "by_name"}
LEGACY_PINNING = {0: "none", 1: "object_ns", 2: "global_ns"}

_INT_FIELDS = ("type", "max_entries", "map_flags", "numa_node", "key_size", "value_size", "pinning",
               "map_extra")


def map_type_name(n: int) -> str:
    return enum_name(MAP_TYPES, n)


def _int_field(btf: Btf, member_type: int, what: str) -> int:
    """``__uint(name, N)`` is ``int (*name)[N]``: N is the array's element count.  ``map_extra``
    may also be ``__ulong(map_extra, N)``: an enum (or enum64) of one value, N (libbpf 1.4+)."""
    ptr = btf.resolve(member_type)
    k = btf.kind(ptr)
    if what == "map_extra" and k in (Kind.ENUM, Kind.ENUM64):
        values = btf.type(ptr).values
        if len(values) != 1:
            raise MalformedInput(f"map field {what} is an enum of {len(values)} values, not one (__ulong)",
                                 path=btf.path, section=".maps")
        value = values[0].value
        if k == Kind.ENUM:  # libbpf reads a 32-bit enum value as signed, then widens it
            value = (value & 0xFFFFFFFF) - ((value & 0x80000000) << 1)
        return value & 0xFFFFFFFFFFFFFFFF
    if k != Kind.PTR:
        raise MalformedInput(f"map field {what} is not a pointer to an array", path=btf.path, section=".maps")
    arr = btf.resolve(btf.ref(ptr))
    if btf.kind(arr) != Kind.ARRAY:
        raise MalformedInput(f"map field {what} does not point to an array", path=btf.path, section=".maps")
    w, p = btf.words(arr)
    return w[p + 5]   # (name, info, 0, then the array's element type, index type, element count)


def _members(btf: Btf, tid: int):
    """(name, type id, bit offset) of each member of struct ``tid``, read from its words (a map
    definition is read once: the typed view of :meth:`Btf.type` would cost more than the reading)."""
    w, p = btf.words(tid)
    info = w[p + 1]
    q = p + 3
    e = q + 3 * (info & VLEN_MASK)
    string = btf.string
    mask = BIT_OFFSET_MASK if info >> KFLAG_SHIFT else 0xFFFFFFFF
    return [(string(no), mt, word & mask) for no, mt, word in zip(w[q:e:3], w[q + 1:e:3], w[q + 2:e:3])]


class Slots:
    """``.rel.maps`` targets by offset, sorted once so each map finds its own by bisection."""

    __slots__ = ("offsets", "names")

    def __init__(self, by_offset: dict[int, str]) -> None:
        self.offsets = sorted(by_offset)
        self.names = [by_offset[o] for o in self.offsets]

    def between(self, start: int, stop: int) -> list[tuple[int, str]]:
        a, b = bisect_left(self.offsets, start), bisect_left(self.offsets, stop)
        return list(zip(self.offsets[a:b], self.names[a:b]))


_NO_SLOTS = Slots({})


def maps_of(elf: ElfFile, btf: Btf | None, datasecs: dict[str, tuple[int, ...]]) -> tuple[Map, ...]:
    """Every map of the object: ``.maps``, then legacy ``maps``, then struct_ops sections."""
    symbols = elf.symbols
    out = []
    sec_maps = elf.section_by_name(".maps")
    if sec_maps is not None:
        slots = Slots({r.offset: r.symbol.name for r in elf.relocations(sec_maps.index)})
        if btf is None:
            raise MalformedInput("has a .maps section but no BTF to describe it", path=elf.path, section=".maps")
        sym_by_name = {s.name: s for s in symbols if s.name and s.shndx == sec_maps.index}
        out.extend(btf_maps(elf, btf, datasecs.get(".maps", ()), sec_maps, sym_by_name, slots))
    sec_legacy = elf.section_by_name("maps")
    if sec_legacy is not None:
        out.extend(legacy_maps(elf, sec_legacy, symbols))
    # the first section of each name (as libbpf reads them), in file order
    ops = sorted((s for s in map(elf.section_by_name, (".struct_ops", ".struct_ops.link")) if s is not None),
                 key=lambda s: s.index)
    for s in ops:
        prog_at = {r.offset: func_name_for(elf, r.symbol) for r in elf.relocations(s.index)}
        out.extend(struct_ops_maps(elf, btf, datasecs.get(s.name, ()), s, symbols, prog_at))
    return tuple(out)


def parse_map_def(btf: Btf, name: str, def_type: int, *, section: str, offset: int, size: int,
                  var_id: int, slots: Slots = _NO_SLOTS, depth: int = 0) -> Map:
    """One BTF-defined map: the anonymous struct behind a ``.maps`` variable."""
    st = btf.resolve(def_type)
    if btf.kind(st) != Kind.STRUCT:
        raise MalformedInput(f"map {name!r} is not defined by a struct", path=btf.path, section=section)
    fields: dict[str, int] = {}
    key_tid = value_tid = 0
    inner: Map | None = None
    values_bit_offset = None
    values_elem = 0
    for m_name, m_type, m_bit_offset in _members(btf, st):
        if m_name in _INT_FIELDS:
            fields[m_name] = _int_field(btf, m_type, m_name)
        elif m_name in ("key", "value"):
            ptr = btf.resolve(m_type)
            if btf.kind(ptr) != Kind.PTR:
                raise MalformedInput(f"map {name!r} field {m_name} is not a pointer", path=btf.path, section=section)
            if m_name == "key":
                key_tid = btf.ref(ptr)
            else:
                value_tid = btf.ref(ptr)
        elif m_name == "values":
            arr = btf.resolve(m_type)
            if btf.kind(arr) != Kind.ARRAY:
                raise MalformedInput(f"map {name!r} field values is not an array", path=btf.path, section=section)
            values_bit_offset = m_bit_offset
            w, p = btf.words(arr)
            ptr = btf.resolve(w[p + 3])
            if btf.kind(ptr) != Kind.PTR:
                raise MalformedInput(f"map {name!r} values are not pointers", path=btf.path, section=section)
            values_elem = btf.resolve(btf.ref(ptr))
            if btf.kind(values_elem) == Kind.STRUCT and depth == 0:
                inner = parse_map_def(btf, f"{name}.inner", values_elem, section=section, offset=0, size=0,
                                      var_id=0, depth=1)
    mtype = fields.get("type", 0)
    key_size = fields.get("key_size", 0)
    value_size = fields.get("value_size", 0)
    if key_tid:
        key_size = btf.sizeof(key_tid)
    if value_tid:
        value_size = btf.sizeof(value_tid)
    if values_bit_offset is not None:
        # map-in-map and prog arrays hold 4-byte ids/fds.
        value_size = value_size or 4
        if not key_size:
            key_size = 4
    initial: list[tuple[str, str]] = []
    if values_bit_offset is not None:
        base = offset + values_bit_offset // 8
        for rel_off, target in slots.between(base, offset + size):
            if (rel_off - base) % 8 == 0:
                initial.append((str((rel_off - base) // 8), target))
    return Map(
        name=name, type=map_type_name(mtype), type_id=mtype, key_size=key_size, value_size=value_size,
        max_entries=fields.get("max_entries", 0), map_flags=fields.get("map_flags", 0),
        numa_node=fields.get("numa_node", 0), pinning=PINNING.get(fields.get("pinning", 0), str(fields.get("pinning"))),
        map_extra=fields.get("map_extra", 0),
        key_type=btf.type_name(key_tid) if key_tid else None,
        value_type=btf.type_name(value_tid) if value_tid else None,
        key_type_id=key_tid, value_type_id=value_tid, inner=inner, initial_slots=tuple(initial),
        section=section, offset=offset, size=size, btf_var_id=var_id,
    )


def _btf_map_vars(elf: ElfFile, btf: Btf, datasec_ids: tuple[int, ...], symbols_by_name: dict):
    """(VAR id, name, type, offset, size) of each map of a ``.maps`` section, in the order of
    their definitions (offset and size: the symbol's, else the DATASEC entry's)."""
    if not datasec_ids:
        raise MalformedInput("has a .maps section but no .maps DATASEC in BTF", path=elf.path, section=".maps")
    w, p = btf.words(datasec_ids[0])
    q = p + 3
    e = q + 3 * (w[p + 1] & VLEN_MASK)
    for var_id, offset, size in zip(w[q:e:3], w[q + 1:e:3], w[q + 2:e:3]):
        kind = btf.kind(btf.check_id(var_id, ".maps DATASEC"))
        if kind != Kind.VAR:
            raise MalformedInput(f".maps DATASEC entry [{var_id}] is {kind.name}, not VAR", path=elf.path,
                                 section=".maps")
        name = btf.name(var_id)
        sym = symbols_by_name.get(name)
        yield var_id, name, btf.ref(var_id), (sym.value if sym is not None else offset), \
            (sym.size if sym is not None else size)


def btf_maps(elf: ElfFile, btf: Btf, datasec_ids: tuple[int, ...], sec: ElfSection, symbols_by_name: dict,
             slots: Slots) -> list[Map]:
    """Maps of a ``.maps`` section, in the order of their definitions."""
    out = [parse_map_def(btf, name, var_type, section=".maps", offset=offset, size=size, var_id=var_id,
                         slots=slots)
           for var_id, name, var_type, offset, size in _btf_map_vars(elf, btf, datasec_ids, symbols_by_name)]
    out.sort(key=lambda m: m.offset)
    return out


def map_names(elf: ElfFile, btf: Btf | None, datasecs: dict[str, tuple[int, ...]]) -> dict[tuple[str, int], str]:
    """(section, offset) -> name of the maps a relocation can name (``.maps`` and ``maps``), as
    :func:`maps_of` places them, without reading their definitions (what ``disasm`` and
    ``relocs`` need; an offset two maps share names the later one)."""
    out: dict[tuple[str, int], str] = {}
    sec_maps = elf.section_by_name(".maps")
    if sec_maps is not None:
        if btf is None:
            raise MalformedInput("has a .maps section but no BTF to describe it", path=elf.path, section=".maps")
        sym_by_name = {s.name: s for s in elf.symbols if s.name and s.shndx == sec_maps.index}
        placed = sorted(((offset, k, name) for k, (_, name, _, offset, _) in
                         enumerate(_btf_map_vars(elf, btf, datasecs.get(".maps", ()), sym_by_name))))
        out.update(((".maps", offset), name) for offset, _, name in placed)
    sec_legacy = elf.section_by_name("maps")
    if sec_legacy is not None:
        out.update(((m.section, m.offset), m.name) for m in legacy_maps(elf, sec_legacy, elf.symbols))
    return out


def legacy_maps(elf: ElfFile, sec: ElfSection, symbols: list) -> list[Map]:
    """``struct bpf_map_def`` records of a legacy ``maps`` section, one per symbol."""
    data = sec.data()
    syms = sorted((s for s in symbols if s.shndx == sec.index and s.type in ("OBJECT", "NOTYPE") and s.name),
                  key=lambda s: s.value)
    if not syms:
        return []
    def_size = len(data) // len(syms)
    if def_size < 20:
        raise MalformedInput(f"legacy map definitions of {def_size} bytes are too small", path=elf.path,
                             section=sec.name)
    e = "<" if elf.little else ">"
    out = []
    for s in syms:
        if s.value + 20 > len(data):
            raise MalformedInput(f"map {s.name!r} at {s.value} runs past the section", path=elf.path,
                                 section=sec.name, offset=s.value)
        mtype, ks, vs, me, flags = struct.unpack_from(e + "5I", data, s.value)
        pinning = "none"
        if def_size >= 28 and s.value + 28 <= len(data):
            # iproute2's struct bpf_elf_map adds id and pinning.
            _id, pin = struct.unpack_from(e + "2I", data, s.value + 20)
            pinning = LEGACY_PINNING.get(pin, str(pin))
        out.append(Map(name=s.name, type=map_type_name(mtype), type_id=mtype, key_size=ks, value_size=vs,
                       max_entries=me, map_flags=flags, numa_node=0, pinning=pinning, map_extra=0, key_type=None,
                       value_type=None, key_type_id=0, value_type_id=0, inner=None, initial_slots=(),
                       section=sec.name, offset=s.value, size=def_size, btf_var_id=0))
    return out


def struct_ops_maps(elf: ElfFile, btf: Btf | None, ds: tuple[int, ...], sec: ElfSection, symbols: list,
                    prog_at: dict[int, str]) -> list[Map]:
    """Variables of ``.struct_ops``/``.struct_ops.link``: each becomes a struct_ops map.

    ``prog_at`` maps a byte offset in the section to the program a relocation
    stores there; those are reported as (member name, program) slots.
    """
    out = []
    if btf is None or not ds:
        return out
    syms = {s.name: s for s in symbols if s.shndx == sec.index and s.type == "OBJECT"}
    for dv in btf.type(ds[0]).vars:
        var = btf.type(btf.check_id(dv.type))
        if var.kind != Kind.VAR:
            continue
        st = btf.resolve(var.type)
        sym = syms.get(var.name)
        offset = sym.value if sym else dv.offset
        size = btf.sizeof(st)
        slots = []
        if btf.kind(st) in (Kind.STRUCT, Kind.UNION):
            for m in btf.type(st).members:
                at = offset + m.bit_offset // 8
                if at in prog_at:
                    slots.append((m.name, prog_at[at]))
        out.append(Map(name=var.name, type="struct_ops", type_id=MAP_TYPE_STRUCT_OPS, key_size=4, value_size=size,
                       max_entries=1, map_flags=BPF_F_LINK if sec.name.endswith(".link") else 0, numa_node=0,
                       pinning="none", map_extra=0, key_type=None,
                       value_type=btf.type_name(st), key_type_id=0, value_type_id=st, inner=None,
                       initial_slots=tuple(slots), section=sec.name, offset=offset, size=size, btf_var_id=var.id))
    return out
