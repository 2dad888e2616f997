"""Two builds of a BPF object compared: programs, maps, globals, types, CO-RE, license.

:func:`diff_objects` gives the JSON document of ``bpfinspect diff`` (without its
schema number): what changed, and for code the instructions and source lines where.
"""

from __future__ import annotations

import bisect
import re

from bpfinspect.compare.code import FunctionCode, compare, function_code, line_counts

MAP_FIELDS = ("type", "key_size", "value_size", "max_entries", "map_flags", "pinning", "numa_node", "map_extra",
              "key_type", "value_type")
MAX_TYPE_DEPTH = 32
MAX_TYPES = 4096


class _Side:
    """One object, with its functions' code made once on demand."""

    def __init__(self, obj) -> None:
        self.obj = obj
        self.progs = {p.name: p for p in obj.programs if not p.is_subprog}
        self.subs = {p.name: p for p in obj.programs if p.is_subprog}
        self._code: dict[str, FunctionCode] = {}
        self._relocs: dict[str, dict] = {}
        self._core: dict[str, dict] = {}
        self._hunks: dict[str, list] = {}

    def hunks(self, other: "_Side", name: str) -> list:
        """The hunks of function ``name`` between this build and ``other`` (compared once)."""
        h = self._hunks.get(name)
        if h is None:
            h = self._hunks[name] = compare(self.code(name), other.code(name))
        return h

    def code(self, name: str) -> FunctionCode:
        fc = self._code.get(name)
        if fc is None:
            f = self.progs.get(name) or self.subs[name]
            cs = self.obj.code_section(f.section)
            if f.section not in self._relocs:
                self._relocs[f.section] = {r.insn_index: r for r in self.obj.relocs_in(cs.index)}
                self._core[f.section] = {c.insn_index: (c.kind, _core_text(c.text))
                                         for c in self.obj.core_relos_in(f.section)}
            fc = function_code(self.obj, f, cs, self._relocs[f.section], self._core[f.section])
            self._code[name] = fc
        return fc


def _core_text(text: str) -> str:
    """What a CO-RE relocation asks for: libbpf's text without the local type id and the local
    access (``[34] struct task_struct.tgid (0:93 @ offset 1268)`` is ``struct task_struct.tgid``):
    both move when the headers change, while the kernel's answer stays the same."""
    return re.sub(r" \([^()]*\)$", "", re.sub(r"^\[\d+\] ", "", text))


def diff_objects(obj_a, obj_b, prog: str | None = None) -> dict:
    from bpfinspect.errors import UsageError

    A, B = _Side(obj_a), _Side(obj_b)
    if prog is not None and prog not in A.progs and prog not in B.progs:
        have = sorted(set(A.progs) | set(B.progs))
        raise UsageError(f"no program named {prog!r} in either object (have: {', '.join(have) or 'none'})")
    names = [n for n in _union(A.progs, B.progs) if prog is None or n == prog]
    programs = [_program(A, B, n) for n in names]
    sub_status = {}
    subprograms = []
    if prog is None:
        for n in _union(A.subs, B.subs):
            st, insns, hunks = _function_status(A, B, n, A.subs, B.subs)
            sub_status[n] = st
            subprograms.append({"name": n, "status": st, "insns": insns})
    maps_a = {m.name: m for m in obj_a.maps}
    maps_b = {m.name: m for m in obj_b.maps}
    used_maps = None
    used_vars = None
    if prog is not None:
        used_maps = set()
        used_vars = set()
        for side in (A, B):
            p = side.progs.get(prog)
            if p is not None:
                used_maps.update(p.maps)
                used_vars.update(p.globals)
    maps = [_map(maps_a.get(n), maps_b.get(n), n) for n in _union(maps_a, maps_b)
            if used_maps is None or n in used_maps]
    globals_ = _globals(obj_a, obj_b, used_vars)
    types = _types(obj_a, obj_b, [m for m in maps_a.values() if used_maps is None or m.name in used_maps],
                   [m for m in maps_b.values() if used_maps is None or m.name in used_maps], used_vars)
    core = _core(A, B, prog)
    lic = obj_a.license, obj_b.license
    doc = {
        "a": obj_a.path, "b": obj_b.path,
        "equivalent": False,
        "summary": {},
        "programs": programs,
        "subprograms": subprograms,
        "maps": maps,
        "globals": globals_,
        "types": types,
        "core": core,
        "license": {"status": "same" if lic[0] == lic[1] else "changed", "values": list(lic)},
    }
    changed = lambda xs: sum(1 for x in xs if x["status"] != "same")  # noqa: E731
    doc["summary"] = {
        "programs": {s: sum(1 for p in programs if p["status"] == s) for s in ("same", "changed", "added", "removed")},
        "insns": [sum(p["insns"][0] or 0 for p in programs), sum(p["insns"][1] or 0 for p in programs)],
        "subprograms_changed": changed(subprograms),
        "maps_changed": changed(maps), "globals_changed": changed(globals_), "types_changed": changed(types),
        "core_changed": len(core), "license_changed": lic[0] != lic[1],
    }
    doc["equivalent"] = not (changed(programs) or changed(subprograms) or changed(maps) or changed(globals_)
                             or changed(types) or core or (prog is None and lic[0] != lic[1]))
    return doc


def _union(a, b) -> list:
    return list(a) + [n for n in b if n not in a]


def _function_status(A: _Side, B: _Side, name: str, fa: dict, fb: dict):
    if name not in fb:
        return "removed", [fa[name].insns, None], []
    if name not in fa:
        return "added", [None, fb[name].insns], []
    hunks = A.hunks(B, name)
    return ("changed" if hunks else "same"), [fa[name].insns, fb[name].insns], hunks


def _program(A: _Side, B: _Side, name: str) -> dict:
    pa, pb = A.progs.get(name), B.progs.get(name)
    st, insns, hunks = _function_status(A, B, name, A.progs, B.progs)
    entry: dict = {"name": name, "status": st, "insns": insns,
                   "section": [pa.section if pa else None, pb.section if pb else None]}
    if pa is None or pb is None:
        p = pa or pb
        total = p.insns + sum((A if pa else B).subs[s].insns for s in p.subprograms if s in (A if pa else B).subs)
        entry.update({"insns_total": [total, None] if pa else [None, total], "lines": [], "hunks": [],
                      "changed_functions": [], "helpers": {}, "kfuncs": {}, "maps": {}, "reasons": []})
        return entry
    reasons = []
    if pa.section != pb.section:
        reasons.append("section")
    all_hunks = [(name, hunks)] if hunks else []
    subs = _union(list(pa.subprograms), list(pb.subprograms))
    for s in subs:
        if s in A.subs and s in B.subs:
            h = A.hunks(B, s)
            if h:
                all_hunks.append((s, h))
        else:
            reasons.append(f"subprogram {s} {'added' if s in B.subs else 'removed'}")
    lines = []
    for fname, hs in all_hunks:
        ca, cb = A.code(fname), B.code(fname)
        touched = []
        for h in hs:
            for k in range(*h.a):
                if ca.lines[k] is not None and ca.lines[k][1]:      # line 0: made by the compiler
                    touched.append(ca.lines[k][:2])
            for k in range(*h.b):
                if cb.lines[k] is not None and cb.lines[k][1]:
                    touched.append(cb.lines[k][:2])
        la, lb = line_counts(ca), line_counts(cb)
        for key in sorted(set(touched), key=lambda x: (x[1], x[0])):
            ea, eb = la.get(key), lb.get(key)
            src = eb or ea
            lines.append({"function": fname, "file": src[1], "line": key[1], "source": src[2],
                          "insns": [ea[0] if ea else 0, eb[0] if eb else 0]})
    total = [pa.insns + sum(A.subs[s].insns for s in pa.subprograms if s in A.subs),
             pb.insns + sum(B.subs[s].insns for s in pb.subprograms if s in B.subs)]
    entry.update({
        "insns_total": total,
        "lines": lines,
        "hunks": [{"function": f, "a": list(h.a), "b": list(h.b), "removed": h.removed, "added": h.added}
                  for f, hs in all_hunks for h in hs],
        "changed_functions": [f for f, _ in all_hunks],
        "helpers": _set_change(pa.helpers, pb.helpers),
        "kfuncs": _set_change(pa.kfuncs, pb.kfuncs),
        "maps": _set_change(pa.maps, pb.maps),
    })
    if all_hunks or reasons or any(entry[k] for k in ("helpers", "kfuncs", "maps")):
        entry["status"] = "changed"
    entry["reasons"] = reasons
    return entry


def _set_change(a, b) -> dict:
    sa, sb = set(a), set(b)
    if sa == sb:
        return {}
    return {"added": sorted(sb - sa), "removed": sorted(sa - sb)}


def _map_fields(m) -> dict:
    d = {f: getattr(m, f) for f in MAP_FIELDS}
    d["inner"] = _map_fields(m.inner) if m.inner is not None else None
    return d


def _map(a, b, name: str) -> dict:
    if a is None or b is None:
        m = a or b
        return {"name": name, "status": "removed" if b is None else "added", "changes": {},
                "type": m.type, "key_size": m.key_size, "value_size": m.value_size, "max_entries": m.max_entries}
    fa, fb = _map_fields(a), _map_fields(b)
    changes = {k: [fa[k], fb[k]] for k in fa if fa[k] != fb[k]}
    return {"name": name, "status": "changed" if changes else "same", "changes": changes,
            "type": b.type, "key_size": b.key_size, "value_size": b.value_size, "max_entries": b.max_entries}


def _globals(obj_a, obj_b, used: set | None) -> list[dict]:
    out = []
    secs_a = {d.name: d for d in obj_a.datasecs}
    secs_b = {d.name: d for d in obj_b.datasecs}
    for sec in _union(secs_a, secs_b):
        da, db = secs_a.get(sec), secs_b.get(sec)
        va = {v.name: v for v in (da.variables if da else ())}
        vb = {v.name: v for v in (db.variables if db else ())}
        if used is None and (da is None or db is None or da.size != db.size):
            out.append({"section": sec, "name": None,
                        "status": "added" if da is None else "removed" if db is None else "changed",
                        "changes": ["resized"] if da and db else [],
                        "offset": [None, None], "size": [da.size if da else None, db.size if db else None],
                        "type": [None, None]})
        for n in _union(va, vb):
            if used is not None and n not in used:
                continue
            a, b = va.get(n), vb.get(n)
            changes = []
            if a is not None and b is not None:
                if a.offset != b.offset:
                    changes.append("moved")
                if a.size != b.size:
                    changes.append("resized")
                if a.type != b.type:
                    changes.append("retyped")
                if (a.initial or b"") != (b.initial or b"") and a.size == b.size:
                    changes.append("initial value")
                status = "changed" if changes else "same"
            else:
                status = "added" if a is None else "removed"
            out.append({"section": sec, "name": n, "status": status, "changes": changes,
                        "offset": [a.offset if a else None, b.offset if b else None],
                        "size": [a.size if a else None, b.size if b else None],
                        "type": [a.type if a else None, b.type if b else None]})
    return out


# -- types used by maps and globals -----------------------------------------------------------------

def _layouts(obj, maps, used_vars) -> tuple[dict, dict]:
    """{C name: layout} of the structs and unions maps and globals hold (not through pointers),
    and {C name: [users]}."""
    btf = obj.btf
    if btf is None:
        return {}, {}
    from bpfinspect.btf.kinds import Kind

    roots = []
    for m in maps:
        for tid, role in ((m.key_type_id, "key"), (m.value_type_id, "value")):
            if tid:
                roots.append((tid, f"map {m.name} {role}"))
        if m.inner is not None:
            for tid, role in ((m.inner.key_type_id, "key"), (m.inner.value_type_id, "value")):
                if tid:
                    roots.append((tid, f"map {m.name} inner {role}"))
    for d in obj.datasecs:
        for v in d.variables:
            if v.type_id and (used_vars is None or v.name in used_vars):
                roots.append((v.type_id, f"{d.name}:{v.name}"))
    layouts: dict = {}
    users: dict = {}
    for root, user in roots:
        todo = [(root, 0)]
        while todo and len(layouts) < MAX_TYPES:
            tid, depth = todo.pop()
            if depth > MAX_TYPE_DEPTH or not btf.valid(tid):
                continue
            tid = btf.resolve(tid)
            if not btf.valid(tid):
                continue
            t = btf.type(tid)
            if t.kind == Kind.ARRAY and t.array is not None:
                todo.append((t.array.type, depth + 1))
                continue
            if t.kind not in (Kind.STRUCT, Kind.UNION):
                continue
            name = btf.type_name(tid)
            users.setdefault(name, [])
            if user not in users[name] and depth == 0:
                users[name].append(user)
            if name in layouts:
                continue
            layouts[name] = {"size": t.size,
                             "members": [(m.name, m.bit_offset, m.bitfield_size, btf.type_name(m.type))
                                         for m in t.members]}
            for m in t.members:
                todo.append((m.type, depth + 1))
    return layouts, users


def _types(obj_a, obj_b, maps_a, maps_b, used_vars) -> list[dict]:
    la, ua = _layouts(obj_a, maps_a, used_vars)
    lb, ub = _layouts(obj_b, maps_b, used_vars)
    out = []
    for name in _union(la, lb):
        a, b = la.get(name), lb.get(name)
        used_by = sorted(set(ua.get(name, [])) | set(ub.get(name, [])))
        if a is None or b is None:
            out.append({"name": name, "status": "added" if a is None else "removed", "used_by": used_by,
                        "size": [a["size"] if a else None, b["size"] if b else None], "members": []})
            continue
        ma = {m[0]: m for m in a["members"]}
        mb = {m[0]: m for m in b["members"]}
        members = []
        for mn in _union(ma, mb):
            x, y = ma.get(mn), mb.get(mn)
            if x == y:
                continue
            members.append({"name": mn, "status": "added" if x is None else "removed" if y is None else "changed",
                            "offset_bits": [x[1] if x else None, y[1] if y else None],
                            "bitfield_size": [x[2] if x else None, y[2] if y else None],
                            "type": [x[3] if x else None, y[3] if y else None]})
        same = a["size"] == b["size"] and not members and [m[0] for m in a["members"]] == [m[0] for m in b["members"]]
        out.append({"name": name, "status": "same" if same else "changed", "used_by": used_by,
                    "size": [a["size"], b["size"]], "members": members})
    return out


def _core(A: _Side, B: _Side, prog: str | None) -> list[dict]:
    """CO-RE relocations present in one build and not the other, by function, kind and access."""
    def entries(side: _Side) -> dict:
        starts: dict[str, list] = {}
        for f in side.obj.functions:
            starts.setdefault(f.section, []).append((f.offset // 8, f.offset // 8 + f.size // 8, f.name))
        for v in starts.values():
            v.sort()
        firsts = {s: [x[0] for x in v] for s, v in starts.items()}
        out: dict = {}
        for c in side.obj.core_relos:
            owner = c.section
            k = bisect.bisect_right(firsts.get(c.section, []), c.insn_index) - 1
            if k >= 0 and starts[c.section][k][0] <= c.insn_index < starts[c.section][k][1]:
                owner = starts[c.section][k][2]
            if prog is not None and owner != prog:
                continue
            key = (owner, c.kind, _core_text(c.text))
            out[key] = out.get(key, 0) + 1
        return out

    ea, eb = entries(A), entries(B)
    out = []
    for key in sorted(set(ea) | set(eb)):
        na, nb = ea.get(key, 0), eb.get(key, 0)
        if na != nb:
            out.append({"function": key[0], "kind": key[1], "text": key[2], "count": [na, nb],
                        "status": "added" if na == 0 else "removed" if nb == 0 else "changed"})
    return out
