"""`relocs`: ELF relocations as the loader will resolve them, and CO-RE records."""

from __future__ import annotations

from bpfinspect.obj import BpfObject
from bpfinspect.views.jsonout import SCHEMA
from bpfinspect.views.table import Block, Table, plural


def to_json(obj: BpfObject) -> dict:
    return {
        "schema": SCHEMA,
        "file": obj.path,
        "relocations": [
            {"section": r.section, "offset": r.offset, "insn_index": r.insn_index, "kind": r.kind,
             "symbol": r.symbol, "target": r.target, "target_offset": r.target_offset, "type": r.elf_type_name}
            for r in obj.relocs
        ],
        "core": [
            {"section": c.section, "offset": c.offset, "insn_index": c.insn_index, "kind": c.kind,
             "type_id": c.type_id, "access": c.access, "text": c.text}
            for c in obj.core_relos
        ],
    }


def blocks(obj: BpfObject) -> list[Block]:
    t = Table(["Section", "Insn", "Kind", "Target", "Symbol", "ELF type"],
              title=f"{obj.path}: {plural(len(obj.relocs), 'relocation')}", right=frozenset({"Insn"}),
              styles={"Kind": "cyan", "Target": "bold"})
    for r in obj.relocs:
        target = r.target
        if r.kind == "global_data" and r.target_offset:
            target = f"{r.target}+{r.target_offset}"
        elif r.kind in ("subprog_call", "callback"):
            target = f"{r.target} (insn {r.target_offset})"
        where = str(r.insn_index) if r.kind not in ("map_slot", "struct_ops_prog", "data_pointer") else f"+{r.offset}"
        t.rows.append([r.section, where, r.kind, target, r.symbol, r.elf_type_name])
    out: list[Block] = [t]
    c = Table(["Section", "Insn", "Kind", "Relocation"], title=plural(len(obj.core_relos), "CO-RE relocation"),
              right=frozenset({"Insn"}), styles={"Kind": "magenta"})
    for cr in obj.core_relos:
        c.rows.append([cr.section, str(cr.insn_index), cr.kind, cr.text])
    out.append(c)
    return out
