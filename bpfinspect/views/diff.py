"""`diff`: two builds of an object, a summary first, then the details."""

from __future__ import annotations

from bpfinspect.views.jsonout import SCHEMA
from bpfinspect.views.table import Block, Fields, Table, Text

MAX_HUNK_LINES = 40


def to_json(doc: dict) -> dict:
    return {"schema": SCHEMA, **doc}


def _pair(v) -> str:
    a, b = v
    if a is None and b is None:
        return ""
    return f"{'-' if a is None else a} -> {'-' if b is None else b}" if a != b else str(a)


def blocks(doc: dict) -> list[Block]:
    s = doc["summary"]
    progs = s["programs"]
    verdict = "equivalent" if doc["equivalent"] else "different"
    items = [("a", doc["a"]), ("b", doc["b"]), ("verdict", verdict),
             ("programs", ", ".join(f"{n} {k}" for k, n in progs.items() if n) or "none"),
             ("instructions", _pair(s["insns"]))]
    for key, label in (("subprograms_changed", "subprograms changed"), ("maps_changed", "maps changed"),
                       ("globals_changed", "globals changed"), ("types_changed", "types changed"),
                       ("core_changed", "CO-RE relocations changed")):
        if s[key]:
            items.append((label, str(s[key])))
    if s["license_changed"]:
        items.append(("license", _pair(doc["license"]["values"])))
    out: list[Block] = [Fields(items, title="summary")]
    t = Table(["Program", "Status", "Insns", "With subprograms", "Changed in"], title="programs",
              right=frozenset({"Insns", "With subprograms"}), styles={"Program": "bold"})
    for p in doc["programs"]:
        t.rows.append([p["name"], p["status"], _pair(p["insns"]), _pair(p["insns_total"]),
                       ", ".join(p.get("changed_functions", []) + p.get("reasons", []))])
    out.append(t)
    subs = [x for x in doc["subprograms"] if x["status"] != "same"]
    if subs:
        st = Table(["Subprogram", "Status", "Insns"], title="subprograms", right=frozenset({"Insns"}))
        for x in subs:
            st.rows.append([x["name"], x["status"], _pair(x["insns"])])
        out.append(st)
    for p in doc["programs"]:
        if p["status"] != "changed":
            continue
        lines = [f"{p['name']}:"]
        for ln in p["lines"]:
            lines.append(f"  line {ln['line']} ({ln['file']}, in {ln['function']}): insns {_pair(ln['insns'])}: "
                         f"{ln['source'].strip()}")
        for what in ("helpers", "kfuncs", "maps"):
            ch = p.get(what) or {}
            if ch:
                lines.append(f"  {what}: " + ", ".join([f"+{x}" for x in ch["added"]] + [f"-{x}" for x in ch["removed"]]))
        if p["section"][0] != p["section"][1]:
            lines.append(f"  section: {_pair(p['section'])}")
        shown = 0
        for h in p["hunks"]:
            lines.append(f"  @@ {h['function']} a:{h['a'][0]}..{h['a'][1]} b:{h['b'][0]}..{h['b'][1]} @@")
            for text in h["removed"]:
                lines.append(f"  - {text}")
                shown += 1
            for text in h["added"]:
                lines.append(f"  + {text}")
                shown += 1
            if shown > MAX_HUNK_LINES:
                lines.append("  ... (--json has every hunk)")
                break
        out.append(Text("\n".join(lines)))
    maps = [m for m in doc["maps"] if m["status"] != "same"]
    if maps:
        mt = Table(["Map", "Status", "Changes"], title="maps", styles={"Map": "bold"})
        for m in maps:
            mt.rows.append([m["name"], m["status"], ", ".join(f"{k} {_pair(v)}" for k, v in m["changes"].items())])
        out.append(mt)
    gl = [g for g in doc["globals"] if g["status"] != "same"]
    if gl:
        gt = Table(["Section", "Variable", "Status", "Offset", "Size", "Type"], title="globals",
                   right=frozenset({"Offset", "Size"}))
        for g in gl:
            status = g["status"] + (f" ({', '.join(g['changes'])})" if g["changes"] else "")
            gt.rows.append([g["section"], g["name"] or "(section)", status, _pair(g["offset"]), _pair(g["size"]),
                            _pair(g["type"]) if g["type"] != [None, None] else ""])
        out.append(gt)
    ty = [x for x in doc["types"] if x["status"] != "same"]
    if ty:
        lines = ["types used by maps and globals:"]
        for x in ty:
            lines.append(f"  {x['name']}: {x['status']}, size {_pair(x['size'])} (used by {', '.join(x['used_by'])})")
            for m in x["members"]:
                off = [None if v is None else v // 8 if v % 8 == 0 else v / 8 for v in m["offset_bits"]]
                lines.append(f"    {m['status']} {m['name']}: offset {_pair(off)}, type {_pair(m['type'])}")
        out.append(Text("\n".join(lines)))
    if doc["core"]:
        ct = Table(["Function", "Kind", "Relocation", "Count"], title="CO-RE relocations")
        for c in doc["core"]:
            ct.rows.append([c["function"], c["kind"], c["text"], _pair(c["count"])])
        out.append(ct)
    return out
