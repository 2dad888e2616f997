"""`core`: how each CO-RE relocation of an object resolves on each target BTF."""

from __future__ import annotations

from bpfinspect.views.jsonout import SCHEMA
from bpfinspect.views.table import Block, Fields, Table, Text


def result_json(r) -> dict:
    return {"status": r.status, "value": r.value, "poisoned": r.poisoned,
            "guarded": r.guarded if r.poisoned else None, "reason": r.reason or None}


def relocation_json(r) -> dict:
    return {
        "program": r.program, "section": r.section, "index": r.index, "insn": r.insn,
        "section_insn": r.section_insn, "kind": r.kind, "type_id": r.local_type_id, "access": r.access,
        "local": r.local,
        "candidates": [{"type_id": c.type_id, "name": c.name, "matched": c.matched, "spec": c.spec}
                       for c in r.candidates],
        "result": result_json(r),
        "rejected_by": list(r.rejected_by),
    }


def target_json(t) -> dict:
    if t.report is None:
        return {"path": t.name, "error": t.error, "relocations": [], "summary": None}
    return {"path": t.name, "error": None,
            "relocations": [relocation_json(r) for r in t.relocations],
            "summary": t.summary}


def to_json(path: str, targets: list) -> dict:
    works = sum(1 for t in targets if t.summary and t.summary["works"])
    return {"schema": SCHEMA, "file": path, "targets": [target_json(t) for t in targets],
            "summary": {"targets": len(targets), "works_on": works}}


def write_json(doc: dict, stream=None) -> None:
    """The document as ``emit`` lays it out (two-space indents), except that each relocation
    stays on one line: objects with thousands of records print in a fraction of the time
    (the standard encoder is only fast without indentation), and grep finds a relocation
    whole."""
    import json
    import sys

    from bpfinspect.views import jsonout

    stream = stream or sys.stdout
    if jsonout.one_line:
        jsonout.emit(doc, stream)
        return

    def one(v) -> str:
        return json.dumps(v, ensure_ascii=False, separators=(", ", ": "))

    def block(obj: dict, indent: str, keys_inline=()) -> str:
        inner = indent + "  "
        parts = []
        for k, v in obj.items():
            if k == "targets":
                items = [block(t, inner + "  ") for t in v]
                body = (",\n").join(inner + "  " + it for it in items)
                parts.append(f'{inner}"targets": [' + (f"\n{body}\n{inner}]" if items else "]"))
            elif k == "relocations":
                body = (",\n").join(inner + "  " + one(r) for r in v)
                parts.append(f'{inner}"relocations": [' + (f"\n{body}\n{inner}]" if v else "]"))
            else:
                text = json.dumps(v, ensure_ascii=False, indent=2).replace("\n", "\n" + inner)
                parts.append(f"{inner}{json.dumps(k)}: {text}")
        return "{\n" + ",\n".join(parts) + "\n" + indent + "}"

    stream.write(block(doc, "") + "\n")


def result_text(r) -> str:
    if r.status in ("ambiguous", "error"):
        return f"{r.status}: {r.reason}"
    if r.poisoned:
        where = "guarded" if r.guarded else "WOULD FAIL"
        return f"poisoned, {where}: {r.reason}"
    if r.status == "not_found":
        return f"{r.value} (not found: {r.reason})"
    if r.mem_size:
        return f"{r.value} (load/store of {r.mem_size[0]} -> {r.mem_size[1]} bytes)"
    return str(r.value)


def summary_text(s: dict) -> str:
    text = (f"{s['relocations']} relocations, {s['resolved']} resolved, {s['not_found']} not found, "
            f"{s['guarded']} guarded, {s['would_fail']} would fail")
    if s["ambiguous"] or s["errors"]:
        text += f", {s['ambiguous']} ambiguous, {s['errors']} errors"
    if s["rejected_programs"]:
        text += f"; rejected: {', '.join(s['rejected_programs'])}"
    return text


def summary_blocks(targets: list) -> list[Block]:
    """One line per target, then on how many the object works."""
    table = Table(["Target", "Relocations", "Resolved", "Not found", "Guarded", "Would fail", "Rejected programs"],
                  right=frozenset({"Relocations", "Resolved", "Not found", "Guarded", "Would fail"}),
                  styles={"Rejected programs": "red"})
    for t in targets:
        s = t.summary
        if s is None:
            table.rows.append([t.name, "-", "-", "-", "-", "-", f"cannot read: {t.error}"])
            continue
        rejected = ", ".join(s["rejected_programs"])
        if s["ambiguous"] or s["errors"]:
            rejected = ", ".join(x for x in (rejected, f"{s['ambiguous'] + s['errors']} ambiguous/errors") if x)
        table.rows.append([t.name, str(s["relocations"]), str(s["resolved"]), str(s["not_found"]),
                           str(s["guarded"]), str(s["would_fail"]), rejected or "-"])
    works = sum(1 for t in targets if t.summary and t.summary["works"])
    return [table, Fields([("works on", f"{works} of {len(targets)} kernels")], title="summary")]


def blocks(path: str, targets: list, *, verbose: bool = False, summary: bool = False) -> list[Block]:
    if summary:
        return summary_blocks(targets)
    out: list[Block] = []
    for t in targets:
        if t.report is None:
            out.append(Text(f"{t.name}: cannot read: {t.error}", style="red"))
            continue
        table = Table(["Program", "#", "Insn", "Kind", "Local", "Target", "Result"],
                      title=f"{t.name}: {summary_text(t.summary)}", right=frozenset({"#", "Insn"}),
                      styles={"Kind": "magenta", "Result": "bold"})
        for r in t.relocations:
            matched = [c for c in r.candidates if c.matched]
            if matched:
                target = matched[0].spec + (f" (+{len(matched) - 1} more)" if len(matched) > 1 else "")
            elif r.candidates:
                target = f"{len(r.candidates)} candidate(s), none matched"
            else:
                target = "-" if r.kind == "local_type_id" else "no candidate"
            table.rows.append([r.program or r.section, str(r.index), str(r.insn), r.kind, r.local, target,
                               result_text(r)])
            if verbose:
                for i, c in enumerate(r.candidates):
                    table.rows.append(["", "", "", "", f"  candidate #{i}", c.spec,
                                       "matching" if c.matched else "non-matching"])
        out.append(table)
    if len(targets) > 1:
        works = sum(1 for t in targets if t.summary and t.summary["works"])
        out.append(Fields([("works on", f"{works} of {len(targets)} kernels")], title="summary"))
    return out
