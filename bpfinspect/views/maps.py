"""`maps`: every map definition (BTF-defined, legacy and struct_ops)."""

from __future__ import annotations

from bpfinspect.obj import BpfObject, Map
from bpfinspect.views.jsonout import SCHEMA
from bpfinspect.views.table import Block, Table


def map_json(m: Map) -> dict:
    return {
        "name": m.name,
        "type": m.type,
        "key_size": m.key_size,
        "value_size": m.value_size,
        "max_entries": m.max_entries,
        "map_flags": m.map_flags,
        "pinning": m.pinning,
        "key_type": m.key_type,
        "value_type": m.value_type,
        "inner": map_json(m.inner) if m.inner else None,
        "initial_slots": {slot: target for slot, target in m.initial_slots},
        "section": m.section,
        # beyond the contract
        "numa_node": m.numa_node,
        "map_extra": m.map_extra,
    }


def to_json(obj: BpfObject) -> dict:
    return {"schema": SCHEMA, "file": obj.path, "maps": [map_json(m) for m in obj.maps]}


def _flags(v: int) -> str:
    return f"0x{v:x}" if v else "0"


def blocks(obj: BpfObject) -> list[Block]:
    t = Table(["Name", "Type", "Key", "Value", "Max entries", "Flags", "Pinning", "Section", "Details"],
              title=f"{obj.path}: {len(obj.maps)} maps", right=frozenset({"Max entries"}),
              styles={"Name": "bold", "Type": "green"})
    for m in obj.maps:
        key = f"{m.key_size}" + (f" ({m.key_type})" if m.key_type else "")
        val = f"{m.value_size}" + (f" ({m.value_type})" if m.value_type else "")
        details = []
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
