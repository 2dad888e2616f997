"""The raw rendering of BTF: one line per type, one indented line per member.

The text is the layout ``bpftool btf dump file X format raw`` prints, e.g.::

    [5] STRUCT 'event' size=16 vlen=2
    	'pid' type_id=2 bits_offset=0
    	'comm' type_id=7 bits_offset=32

:func:`raw_text` renders a whole blob (a split blob: only its own ids);
:func:`raw_records` gives the same data as JSON-ready dicts with the field
names of ``bpftool -j btf dump``.

Speed: everything works on the flat word table (:mod:`bpfinspect.btf.c_table`).
Types are grouped by kind (one C-level sort), each group is formatted by one
comprehension over its records, and the lines are scattered back into id order
in C.  Member lines of a struct are one comprehension over strided word slices;
the parameter lines of all prototypes (the most numerous lines of a kernel) are
a single ``%`` operation over the (name, type) word pairs of every prototype,
split back per prototype.  Per-line f-strings in comprehensions are as fast as
CPython 3.11 gets here; bulk ``%`` only pays where the values come straight
from word slices.
"""

from __future__ import annotations

from collections import Counter, deque
from itertools import chain

from bpfinspect.btf import parallel
from bpfinspect.btf.c_table import Table
from bpfinspect.btf.kinds import Kind

# bpftool's spelling of each kind number (0 is "UNKNOWN").
KIND_NAMES = ["UNKNOWN"] + [k.name for k in list(Kind)[1:]]
_INT_ENC = {0: "(none)", 1: "SIGNED", 2: "CHAR", 4: "BOOL"}
_LINKAGE = {0: "static", 1: "global", 2: "extern"}


class _Linkage(dict):
    def __missing__(self, v):
        return "(unknown)"


_LINK = _Linkage(_LINKAGE)


def _linkage(v: int) -> str:
    return _LINKAGE.get(v, "(unknown)")


def _s32(v: int) -> int:
    return v - 0x100000000 if v & 0x80000000 else v


def _s64(v: int) -> int:
    return v - (1 << 64) if v & (1 << 63) else v


def _ids(table: Table, ids) -> range | list:
    if ids is None:
        return range(table.start_id, table.count + 1)
    return ids


class _ParamFormats(dict):
    """vlen -> format of a prototype's parameter lines, ended by a NUL that separates types."""

    def __missing__(self, vlen: int) -> str:
        f = self[vlen] = "\n\t'%s' type_id=%d" * vlen + "\n\0"
        return f


_PARAM_FORMATS = _ParamFormats()


def raw_text(btf, ids=None, table: Table | None = None) -> str:
    """The raw dump of ``btf`` (of ``ids`` only when given), byte-compatible with bpftool."""
    t = table or Table(btf)
    if ids is None:
        ids = range(t.start_id, t.count + 1)
        kk = t.kind[t.start_id:]
    else:
        ids = list(ids)
        for tid in ids:
            if not 0 < tid <= t.count:
                t.fail(f"type id {tid} out of range (last is {t.count})")
        kk = list(map(t.kind.__getitem__, ids))
    strs = t.strs
    # Unnamed types and members read "(anon)": offset 0 is switched for the duration of the
    # dump (copying the whole string table would cost more than the switch).
    empty = strs[0]
    strs[0] = "(anon)"
    try:
        if type(ids) is range and parallel.worth_it(len(ids)):
            return _raw_text_split(t, ids, kk, strs.__getitem__)
        return _raw_text(t, ids, kk, strs.__getitem__)
    finally:
        strs[0] = empty


def _raw_text_split(t: Table, ids: range, kk, get) -> str:
    """A kernel-sized dump in two parts, the second rendered by a forked child.  The child
    also encodes and sends its text: it gets a little less than half of the words."""
    w_half = len(t.w) * 11 // 20
    pos = t.pos
    lo, hi = 0, len(ids)
    while lo < hi:   # the first id whose record starts in the second half of the words
        mid = (lo + hi) // 2
        if pos[ids[mid]] < w_half:
            lo = mid + 1
        else:
            hi = mid
    first, second = ids[:lo], ids[lo:]
    job = parallel.Job.start(lambda: _raw_text(t, second, kk[lo:], get).encode("utf-8", "surrogateescape"))
    if job is None:
        return _raw_text(t, ids, kk, get)
    try:
        head = _raw_text(t, first, kk[:lo], get)
        tail = job.result()
    finally:
        job.close()
    if type(tail) is bytes:
        return head + tail.decode("utf-8", "surrogateescape")
    return head + _raw_text(t, second, kk[lo:], get)


def _raw_text(t: Table, ids, kk: list, get) -> str:
    w, pos = t.w, t.pos
    # Group the positions in ``ids`` by kind (a stable C-level sort), format each group
    # with comprehensions over its records, then put the lines back in id order.
    order = sorted(range(len(ids)), key=kk.__getitem__)
    groups = []
    start = 0
    for k, n in sorted(Counter(kk).items()):
        js = order[start:start + n]
        start += n
        tids = list(map(ids.__getitem__, js))
        ps = list(map(pos.__getitem__, tids))
        if k == 12:
            link = _LINK
            lines = [f"[{i}] FUNC '{get(w[p])}' type_id={w[p + 2]} linkage={link[w[p + 1] & 0xFFFF]}\n"
                     for i, p in zip(tids, ps)]
        elif k == 13:
            # Parameter lines of every prototype with one format operation over the
            # (name, type) word pairs of all records, split back per prototype.
            vlens = [w[p + 1] & 0xFFFF for p in ps]
            heads = [f"[{i}] FUNC_PROTO '{get(w[p])}' ret_type_id={w[p + 2]} vlen={v}"
                     for i, p, v in zip(tids, ps, vlens)]
            vals = list(chain.from_iterable(map(w.__getitem__, map(slice, [p + 3 for p in ps],
                                                                   [p + 3 + 2 * v for p, v in zip(ps, vlens)]))))
            vals[0::2] = map(get, vals[0::2])
            body = ("".join(map(_PARAM_FORMATS.__getitem__, vlens)) % tuple(vals)).split("\0")
            lines = list(map(str.__add__, heads, body))
        elif k in (2, 8, 9, 10, 11, 18):
            kn = KIND_NAMES[k]
            lines = [f"[{i}] {kn} '{get(w[p])}' type_id={w[p + 2]}\n" for i, p in zip(tids, ps)]
        elif k == 4 or k == 5:
            kn = KIND_NAMES[k]
            lines = []
            add = lines.append
            for i, p in zip(tids, ps):
                info = w[p + 1]
                vlen = info & 0xFFFF
                q = p + 3
                e = q + 3 * vlen
                if info >> 31:
                    add(f"[{i}] {kn} '{get(w[p])}' size={w[p + 2]} vlen={vlen}"
                        + "".join([f"\n\t'{get(a)}' type_id={b} bits_offset={c & 0xFFFFFF} bitfield_size={c >> 24}"
                                   if c >> 24 else f"\n\t'{get(a)}' type_id={b} bits_offset={c}"
                                   for a, b, c in zip(w[q:e:3], w[q + 1:e:3], w[q + 2:e:3])]) + "\n")
                else:
                    add(f"[{i}] {kn} '{get(w[p])}' size={w[p + 2]} vlen={vlen}"
                        + "".join([f"\n\t'{get(a)}' type_id={b} bits_offset={c}"
                                   for a, b, c in zip(w[q:e:3], w[q + 1:e:3], w[q + 2:e:3])]) + "\n")
        elif k == 3:
            lines = [f"[{i}] ARRAY '{get(w[p])}' type_id={w[p + 3]} index_type_id={w[p + 4]} nr_elems={w[p + 5]}\n"
                     for i, p in zip(tids, ps)]
        else:
            lines = [_other(t, get, i, p, k) for i, p in zip(tids, ps)]
        groups.append(lines)
    # ``order`` lists the positions in group order: scatter the lines back (in C).
    out = [""] * len(ids)
    deque(map(out.__setitem__, order, chain.from_iterable(groups)), 0)
    return "".join(out)


def _other(t: Table, get, tid: int, p: int, k: int) -> str:
    """The less frequent kinds, one type at a time."""
    w = t.w
    info = w[p + 1]
    name = get(w[p])
    x = w[p + 2]
    vlen = info & 0xFFFF
    q = p + 3
    if k == 1:
        v = w[q]
        return (f"[{tid}] INT '{name}' size={x} bits_offset={(v >> 16) & 0xFF} nr_bits={v & 0xFF} "
                f"encoding={_INT_ENC.get((v >> 24) & 0xF, 'UNKN')}\n")
    if k == 6 or k == 19:
        signed = info >> 31
        lines = [f"[{tid}] {KIND_NAMES[k]} '{name}' encoding={'SIGNED' if signed else 'UNSIGNED'} size={x} vlen={vlen}"]
        for _ in range(vlen):
            if k == 6:
                v = w[q + 1]
                lines.append(f"\n\t'{get(w[q])}' val={_s32(v) if signed else v}")
                q += 2
            else:
                v = w[q + 1] | (w[q + 2] << 32)
                lines.append(f"\n\t'{get(w[q])}' val={_s64(v)}LL" if signed else f"\n\t'{get(w[q])}' val={v}ULL")
                q += 3
        return "".join(lines) + "\n"
    if k == 7:
        return f"[{tid}] FWD '{name}' fwd_kind={'union' if info >> 31 else 'struct'}\n"
    if k == 14:
        return f"[{tid}] VAR '{name}' type_id={x}, linkage={_linkage(w[q])}\n"
    if k == 15:
        lines = [f"[{tid}] DATASEC '{name}' size={x} vlen={vlen}"]
        for _ in range(vlen):
            vt = w[q]
            if not 0 < vt <= t.count:
                t.fail(f"DATASEC [{tid}] refers to type id {vt}, out of range (last is {t.count})")
            lines.append(f"\n\ttype_id={vt} offset={w[q + 1]} size={w[q + 2]} "
                         f"({KIND_NAMES[t.kind[vt]]} '{get(w[t.pos[vt]])}')")
            q += 3
        return "".join(lines) + "\n"
    if k == 16:
        return f"[{tid}] FLOAT '{name}' size={x}\n"
    if k == 17:
        return f"[{tid}] DECL_TAG '{name}' type_id={x} component_idx={_s32(w[q])}\n"
    t.fail(f"type [{tid}] has unknown kind {k}")
    return ""


def raw_records(btf, ids=None, table: Table | None = None) -> list[dict]:
    """The types as dicts with ``bpftool -j btf dump`` field names."""
    t = table or Table(btf)
    w, pos, kinds = t.w, t.pos, t.kind
    nm = t.strs.with_anon()
    recs = []
    for tid in _ids(t, ids):
        p = pos[tid]
        info = w[p + 1]
        k = kinds[tid]
        vlen = info & 0xFFFF
        x = w[p + 2]
        r = {"id": tid, "kind": KIND_NAMES[k], "name": nm[w[p]]}
        q = p + 3
        if k == 1:
            v = w[q]
            r.update(size=x, bits_offset=(v >> 16) & 0xFF, nr_bits=v & 0xFF,
                     encoding=_INT_ENC.get((v >> 24) & 0xF, "UNKN"))
        elif k in (2, 8, 9, 10, 11, 18):
            r["type_id"] = x
        elif k == 3:
            r.update(type_id=w[q], index_type_id=w[q + 1], nr_elems=w[q + 2])
        elif k in (4, 5):
            r.update(size=x, vlen=vlen)
            ms = []
            for i in range(vlen):
                off = w[q + 2]
                m = {"name": nm[w[q]], "type_id": w[q + 1]}
                if info >> 31:
                    m["bits_offset"] = off & 0xFFFFFF
                    if off >> 24:
                        m["bitfield_size"] = off >> 24
                else:
                    m["bits_offset"] = off
                ms.append(m)
                q += 3
            r["members"] = ms
        elif k in (6, 19):
            signed = bool(info >> 31)
            r.update(encoding="SIGNED" if signed else "UNSIGNED", size=x, vlen=vlen)
            vals = []
            for i in range(vlen):
                if k == 6:
                    v = _s32(w[q + 1]) if signed else w[q + 1]
                    vals.append({"name": nm[w[q]], "val": v})
                    q += 2
                else:
                    v = w[q + 1] | (w[q + 2] << 32)
                    vals.append({"name": nm[w[q]], "val": _s64(v) if signed else v})
                    q += 3
            r["values"] = vals
        elif k == 7:
            r["fwd_kind"] = "union" if info >> 31 else "struct"
        elif k == 12:
            r.update(type_id=x, linkage=_linkage(vlen))
        elif k == 13:
            r.update(ret_type_id=x, vlen=vlen)
            r["params"] = [{"name": nm[w[q + 2 * i]], "type_id": w[q + 2 * i + 1]} for i in range(vlen)]
        elif k == 14:
            r.update(type_id=x, linkage=_linkage(w[q]))
        elif k == 15:
            r.update(size=x, vlen=vlen)
            r["vars"] = [{"type_id": w[q + 3 * i], "offset": w[q + 3 * i + 1], "size": w[q + 3 * i + 2]}
                         for i in range(vlen)]
        elif k == 16:
            r["size"] = x
        elif k == 17:
            r.update(type_id=x, component_idx=_s32(w[q]))
        recs.append(r)
    return recs
