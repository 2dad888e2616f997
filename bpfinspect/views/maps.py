"""`maps`: every map definition (BTF-defined, legacy and struct_ops)."""

from __future__ import annotations

from bpfinspect.obj import BpfObject, Map
from bpfinspect.views.jsonout import SCHEMA
from bpfinspect.views.table import Block, Table, plural


def map_json(m: Map, types: "_Types | None" = None) -> dict:
    key_type, value_type = types.kv(m) if types is not None else (m.key_type, m.value_type)
    rec = types.record(m.name) if types is not None else None
    return {
        "name": m.name,
        "type": m.type,
        "key_size": m.key_size,
        "value_size": m.value_size,
        "max_entries": m.max_entries,
        "map_flags": m.map_flags,
        "pinning": m.pinning,
        "key_type": key_type,
        "value_type": value_type,
        "inner": map_json(m.inner) if m.inner else None,
        "initial_slots": {slot: target for slot, target in m.initial_slots},
        "section": m.section,
        "record_type": rec.name if rec is not None else None,
        # beyond the contract
        "numa_node": m.numa_node,
        "map_extra": m.map_extra,
        "record_size": rec.size if rec is not None else None,
        "record_source": rec.how if rec is not None and rec.type is not None else None,
        "record_note": rec.note if rec is not None else None,
    }


class _Types:
    """What the type source adds to the model: record types, and key/value types BTF lacks."""

    def __init__(self, obj: BpfObject, source) -> None:
        if source is None:
            from bpfinspect.typesrc import TypeSource
            source = TypeSource(obj)
        self.source = source
        self.records = source.record_types()

    def record(self, name: str):
        return self.records.get(name)

    def kv(self, m: Map) -> tuple[str | None, str | None]:
        if m.key_type is not None or m.value_type is not None or m.section != "maps":
            return m.key_type, m.value_type
        key, value = self.source.map_types(m.name)
        return (key.name if key else None), (value.name if value else None)


def to_json(obj: BpfObject, source=None) -> dict:
    types = _Types(obj, source)
    return {"schema": SCHEMA, "file": obj.path, "maps": [map_json(m, types) for m in obj.maps]}


def _flags(v: int) -> str:
    return f"0x{v:x}" if v else "0"


def blocks(obj: BpfObject, source=None) -> list[Block]:
    types = _Types(obj, source)
    t = Table(["Name", "Type", "Key", "Value", "Max entries", "Flags", "Pinning", "Section", "Details"],
              title=f"{obj.path}: {plural(len(obj.maps), 'map')}", right=frozenset({"Max entries"}),
              styles={"Name": "bold", "Type": "green"})
    for m in obj.maps:
        key_type, value_type = types.kv(m)
        key = f"{m.key_size}" + (f" ({key_type})" if key_type else "")
        val = f"{m.value_size}" + (f" ({value_type})" if value_type else "")
        details = []
        rec = types.record(m.name)
        if rec is not None:
            if rec.type is not None:
                details.append(f"record: {rec.name}" + (f" ({rec.how})" if rec.how != "dwarf" else ""))
            elif rec.size is not None:
                details.append(f"record: {rec.size} bytes, type unknown")
            else:
                details.append("record: unknown")
        if m.inner:
            details.append(f"inner: {m.inner.type} {m.inner.key_size}/{m.inner.value_size} x{m.inner.max_entries}")
        if m.initial_slots:
            details.append("slots: " + ", ".join(f"{s}={t}" for s, t in m.initial_slots))
        if m.numa_node:
            details.append(f"numa_node={m.numa_node}")
        if m.map_extra:
            details.append(f"map_extra=0x{m.map_extra:x}")
        t.rows.append([m.name, m.type, key, val, str(m.max_entries), _flags(m.map_flags), m.pinning, m.section,
                       "; ".join(details)])
    return [t]
