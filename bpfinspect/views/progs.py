"""`progs`: programs and subprograms, where they attach and what they use."""

from __future__ import annotations

from bpfinspect.obj import BpfObject, Program
from bpfinspect.views.jsonout import SCHEMA
from bpfinspect.views.table import Block, Table, plural


def program_json(p: Program) -> dict:
    spec = p.spec
    return {
        "name": p.name,
        "section": p.section,
        "type": spec.prog_type if spec else None,
        "attach_type": spec.attach_type if spec else None,
        "attach_kind": spec.attach_kind if spec else None,
        "retprobe": spec.retprobe if spec else None,
        "target": spec.target if spec else None,
        "sleepable": bool(spec.sleepable) if spec else False,
        "autoload": bool(spec.autoload) if spec else False,
        "insns": p.insns,
        "size": p.size,
        "subprograms": list(p.subprograms),
        "maps": list(p.maps),
        "helpers": list(p.helpers),
        "kfuncs": list(p.kfuncs),
        # beyond the contract
        "offset": p.offset,
        "linkage": p.linkage,
        "globals": list(p.globals),
        "known_section": bool(spec.known) if spec else None,
        "auto_attach": bool(spec.auto_attach) if spec else False,
        "target_parts": dict(spec.parts) if spec else {},
        "libbpf_since": spec.libbpf_since if spec else None,
    }


def to_json(obj: BpfObject, *, uprobes: dict | None = None) -> dict:
    """``uprobes``: program name -> where its uprobe goes on this machine (bpfinspect.probes.check.uprobe_target)."""
    uprobes = uprobes or {}
    programs = []
    for p in obj.programs:
        if not p.is_subprog:
            doc = program_json(p)
            if p.name in uprobes:
                from bpfinspect.views.probes import uprobe_json
                doc["uprobe"] = uprobe_json(uprobes[p.name])
            programs.append(doc)
    return {
        "schema": SCHEMA,
        "file": obj.path,
        "programs": programs,
        "subprograms": [
            {"name": p.name, "section": p.section, "offset": p.offset, "insns": p.insns, "size": p.size,
             "linkage": p.linkage, "subprograms": list(p.subprograms), "maps": list(p.maps),
             "helpers": list(p.helpers), "kfuncs": list(p.kfuncs), "globals": list(p.globals)}
            for p in obj.programs if p.is_subprog
        ],
    }


def _attach(p: Program) -> str:
    spec = p.spec
    if spec is None:
        return ""
    if not spec.known:
        return "unknown section name"
    bits = [spec.prog_type or "?"]
    if spec.attach_type:
        bits.append(f"({spec.attach_type})")
    return " ".join(bits)


def _uprobe_text(t) -> str:
    """Where a uprobe goes, with what came from the object escaped for the terminal."""
    from bpfinspect.views.probes import shown

    func = f"{t.function}+{t.function_offset:#x}" if t.function and t.function_offset else t.function
    where = f"{t.path or t.binary}:{func}" if func else (t.path or t.binary)
    if t.error:
        return shown(f"{where}: {t.error}")
    return shown(f"{where} at file offset {t.offset:#x}")


def blocks(obj: BpfObject, *, uprobes: dict | None = None) -> list[Block]:
    uprobes = uprobes or {}
    progs = [p for p in obj.programs if not p.is_subprog]
    t = Table(["Name", "Section", "Type", "Kind", "Target", "Insns", "Flags", "Maps", "Helpers / kfuncs"],
              title=f"{obj.path}: {plural(len(progs), 'program')}", right=frozenset({"Insns"}),
              styles={"Name": "bold", "Type": "green", "Maps": "cyan", "Helpers / kfuncs": "magenta"})
    for p in progs:
        spec = p.spec
        flags = []
        if spec is not None:
            if not spec.autoload:
                flags.append("no-autoload")
            if spec.sleepable:
                flags.append("sleepable")
            if spec.known and not spec.auto_attach:
                flags.append("manual-attach")
            if spec.error:
                flags.append(spec.error)
        calls = list(p.helpers) + [f"{k} (kfunc)" for k in p.kfuncs]
        kind = (spec.attach_kind or "") if spec else ""
        target = (spec.target or "") if spec else ""
        if p.name in uprobes:
            target = _uprobe_text(uprobes[p.name])
        t.rows.append([p.name, p.section, _attach(p), kind, target, str(p.insns),
                       ", ".join(flags), ", ".join(p.maps), ", ".join(calls)])
    out: list[Block] = [t]
    subs = [p for p in obj.programs if p.is_subprog]
    if subs:
        s = Table(["Name", "Section", "Offset", "Insns", "Linkage", "Calls", "Maps", "Helpers / kfuncs"],
                  title=plural(len(subs), "subprogram"), right=frozenset({"Offset", "Insns"}), styles={"Name": "bold"})
        for p in subs:
            calls = list(p.helpers) + [f"{k} (kfunc)" for k in p.kfuncs]
            s.rows.append([p.name, p.section, str(p.offset // 8), str(p.insns), p.linkage, ", ".join(p.subprograms),
                           ", ".join(p.maps), ", ".join(calls)])
        out.append(s)
    return out
