"""`globals`: data sections, their variables, and externs."""

from __future__ import annotations

from bpfinspect.obj import BpfObject
from bpfinspect.views.jsonout import SCHEMA
from bpfinspect.views.table import Block, Table

PREVIEW = 16


def to_json(obj: BpfObject) -> dict:
    return {
        "schema": SCHEMA,
        "file": obj.path,
        "sections": [
            {"name": d.name, "size": d.size, "map_name": d.map_name, "skel_name": d.skel_name,
             "variables": [
                 {"name": v.name, "offset": v.offset, "size": v.size, "type": v.type, "linkage": v.linkage,
                  "initial": v.initial.hex() if v.initial is not None else None}
                 for v in d.variables]}
            for d in obj.datasecs
        ],
        "externs": [{"name": e.name, "kind": e.kind, "type": e.type, "weak": e.weak} for e in obj.externs],
    }


def blocks(obj: BpfObject) -> list[Block]:
    out: list[Block] = []
    for d in obj.datasecs:
        t = Table(["Offset", "Size", "Name", "Type", "Linkage", "Initial"],
                  title=f"{d.name} ({d.size} bytes, map {d.map_name})", right=frozenset({"Offset", "Size"}),
                  styles={"Name": "bold", "Type": "green"})
        for v in d.variables:
            if v.initial is None:
                init = ""
            else:
                init = v.initial[:PREVIEW].hex() + ("…" if len(v.initial) > PREVIEW else "")
            t.rows.append([str(v.offset), str(v.size), v.name, v.type or "?", v.linkage, init])
        out.append(t)
    if obj.externs:
        t = Table(["Name", "Kind", "Type", "Weak"], title="externs", styles={"Name": "bold", "Kind": "cyan"})
        for e in obj.externs:
            t.rows.append([e.name, e.kind, e.type or ("(typeless)" if e.kind == "ksym" else ""), "weak" if e.weak else ""])
        out.append(t)
    if not out:
        from bpfinspect.views.table import Text
        out.append(Text(f"{obj.path}: no global data and no externs"))
    return out
