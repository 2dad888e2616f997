"""`info`: a one-screen summary of an object."""

from __future__ import annotations

from bpfinspect.obj import BpfObject
from bpfinspect.views.jsonout import SCHEMA
from bpfinspect.views.table import Block, Fields, Table, Text, plural


def to_json(obj: BpfObject) -> dict:
    """The summary.  Programs come from the symbol table (``obj.functions``) and the counts from
    section and group headers: no instruction and no ``.BTF.ext`` record is decoded."""
    btf = obj.btf
    counts = obj.ext_counts
    progs = [p for p in obj.functions if not p.is_subprog]
    return {
        "schema": SCHEMA,
        "file": obj.path,
        "object_name": obj.name,
        "libbpf_name": obj.libbpf_name,
        "size": len(obj.data),
        "endian": obj.endian,
        "license": obj.license,
        "kern_version": obj.kern_version,
        "btf": None if btf is None else {"types": btf.count, "strings_size": btf.str_len},
        "btf_ext": None if counts is None else {
            "func_info": counts.func_info, "line_info": counts.line_info, "core_relos": counts.core_relos,
        },
        "debug_info": any(s.name == ".debug_info" for s in obj.sections),
        "programs": [{"name": p.name, "section": p.section, "type": p.type, "insns": p.insns} for p in progs],
        "subprograms": [p.name for p in obj.functions if p.is_subprog],
        "maps": [{"name": m.name, "type": m.type} for m in obj.maps],
        "datasecs": [{"name": d.name, "size": d.size, "variables": len(d.variables)} for d in obj.datasecs],
        "externs": [{"name": e.name, "kind": e.kind} for e in obj.externs],
        "relocations": obj.relocation_count,
        "warnings": list(obj.warnings),
    }


def blocks(obj: BpfObject) -> list[Block]:
    d = to_json(obj)
    items = [
        ("file", f"{obj.path} ({d['size']} bytes, {obj.endian}-endian)"),
        ("object", f"{obj.name} (libbpf: {obj.libbpf_name})"),
        ("license", obj.license or "none"),
    ]
    if obj.kern_version is not None:
        items.append(("kern_version", f"0x{obj.kern_version:x}"))
    if d["btf"]:
        items.append(("BTF", f"{d['btf']['types']} types"))
    else:
        items.append(("BTF", "none"))
    if d["btf_ext"]:
        e = d["btf_ext"]
        items.append(("BTF.ext", f"{e['func_info']} func_info, {e['line_info']} line_info, {e['core_relos']} CO-RE"))
    items.append(("DWARF", "yes" if d["debug_info"] else "no (stripped)"))
    items.append(("programs", str(len(d["programs"]))
                  + (f" + {plural(len(d['subprograms']), 'subprogram')}" if d["subprograms"] else "")))
    items.append(("maps", str(len(d["maps"]))))
    items.append(("globals", ", ".join(f"{x['name']} ({x['size']} B, {plural(x['variables'], 'var')})" for x in d["datasecs"]) or "none"))
    ext_counts: dict[str, int] = {}
    for e in obj.externs:
        ext_counts[e.kind] = ext_counts.get(e.kind, 0) + 1
    items.append(("externs", ", ".join(f"{n} {k}" for k, n in sorted(ext_counts.items())) or "none"))
    core = d["btf_ext"]["core_relos"] if d["btf_ext"] else 0
    items.append(("relocations", f"{d['relocations']} ELF, {core} CO-RE"))
    out: list[Block] = [Fields(items, title="summary")]
    progs = [p for p in obj.functions if not p.is_subprog]
    t = Table(["Program", "Type", "Target", "Insns"], title=plural(len(progs), "program"), right=frozenset({"Insns"}),
              styles={"Program": "bold", "Type": "green"})
    for p in obj.functions:
        if p.is_subprog:
            continue
        t.rows.append([p.name, p.type or "unknown", (p.spec.target or "") if p.spec else "", str(p.insns)])
    out.append(t)
    m = Table(["Map", "Type", "Key/Value", "Max entries"], title=plural(len(obj.maps), "map"),
              right=frozenset({"Max entries"}), styles={"Map": "bold", "Type": "green"})
    for x in obj.maps:
        m.rows.append([x.name, x.type, f"{x.key_size}/{x.value_size}", str(x.max_entries)])
    out.append(m)
    for w in obj.warnings:
        out.append(Text(f"warning: {w}", style="yellow"))
    return out
