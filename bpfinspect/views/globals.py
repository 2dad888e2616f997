"""`globals`: data sections, their variables, and externs."""

from __future__ import annotations

from bpfinspect.obj import BpfObject
from bpfinspect.views.jsonout import SCHEMA
from bpfinspect.views.table import Block, Table

PREVIEW = 16
STRING_PREVIEW = 80


def _string(v, dwarf: dict) -> str | None:
    """The text of a char array variable whose initial bytes are a C string (then NULs), else None."""
    if v.initial is None:
        return None
    from bpfinspect.quote.c import is_char_array, string_at

    if not is_char_array(v.type or dwarf.get(v.name)):
        return None
    data = string_at(v.initial)
    if data is None or v.initial[len(data):].strip(b"\0"):
        return None
    return data.decode("utf-8")


def _var_types(obj: BpfObject, source) -> dict[str, str]:
    """Types of variables the object's BTF does not give (an object without BTF): from its DWARF."""
    missing = [v.name for d in obj.datasecs for v in d.variables if v.type is None]
    if not missing:
        return {}
    if source is None:
        from bpfinspect.typesrc import TypeSource
        source = TypeSource(obj)
    out = {}
    for name in missing:
        ref = source.variable_type(name)
        if ref is not None:
            out[name] = ref.name
    return out


def to_json(obj: BpfObject, source=None) -> dict:
    dwarf = _var_types(obj, source)
    return {
        "schema": SCHEMA,
        "file": obj.path,
        "sections": [
            {"name": d.name, "size": d.size, "map_name": d.map_name, "skel_name": d.skel_name,
             "variables": [
                 {"name": v.name, "offset": v.offset, "size": v.size, "type": v.type or dwarf.get(v.name),
                  "linkage": v.linkage,
                  "initial": v.initial.hex() if v.initial is not None else None,
                  "string": _string(v, dwarf)}
                 for v in d.variables]}
            for d in obj.datasecs
        ],
        "externs": [{"name": e.name, "kind": e.kind, "type": e.type, "weak": e.weak} for e in obj.externs],
    }


def blocks(obj: BpfObject, source=None) -> list[Block]:
    dwarf = _var_types(obj, source)
    out: list[Block] = []
    for d in obj.datasecs:
        t = Table(["Offset", "Size", "Name", "Type", "Linkage", "Initial"],
                  title=f"{d.name} ({d.size} bytes, map {d.map_name})", right=frozenset({"Offset", "Size"}),
                  styles={"Name": "bold", "Type": "green"})
        for v in d.variables:
            text = _string(v, dwarf)
            if v.initial is None:
                init = ""
            elif text is not None:  # a char array holding a string: shown as the C string
                from bpfinspect.quote.c import readable_string
                init = readable_string(text.encode("utf-8"), limit=STRING_PREVIEW)
            else:
                init = v.initial[:PREVIEW].hex() + ("…" if len(v.initial) > PREVIEW else "")
            t.rows.append([str(v.offset), str(v.size), v.name, v.type or dwarf.get(v.name) or "?", v.linkage, init])
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
