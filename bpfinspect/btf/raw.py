"""The raw rendering of BTF: one line per type, one indented line per member.

The text is what ``bpftool btf dump file X format raw`` prints, e.g.::

    [5] STRUCT 'event' size=16 vlen=2
    	'pid' type_id=2 bits_offset=0
    	'comm' type_id=7 bits_offset=32

:func:`raw_text` renders a blob (a split blob: only its own ids);
:func:`raw_records` gives the same data as JSON-ready dicts with the field
names of ``bpftool -j btf dump``.

How the text is made
--------------------
A record's line (and member lines) print, in order, its id, its name and
then, nearly always, its remaining words in the order they are stored.  So
the listing is one ``%`` format operation: the format is the records'
*templates* joined in id order, the values are the record words themselves,
with the id put in place of the name word and the name in place of the info
word.  A template depends only on the info word (kind, ``vlen``, kind flag),
so a kernel's 130,000 types need a few thousand templates; every kind and
linkage name in a template comes from :mod:`bpfinspect.btf.kinds`, and no
text from the BTF is ever part of a format string.  Where bpftool prints a
word differently from its stored value, the value is replaced before the
format: names (member, enumerator and parameter names too), an int's
encoding word (``bits_offset=.. nr_bits=.. encoding=..``), signed enum
values, 64-bit enum values (joined from their two words; the high word's
slot prints nothing), bitfield offsets (``N bitfield_size=M``),
variable linkages, decl tag components (signed) and section variables
(with the kind and name of the variable).  An array's and a forward declaration's
unused third word print nothing.

Bounds: the text is at most :func:`bpfinspect.btf.table.output_limit`
characters; names are what can make it long (one long name repeated by many
members), and their total length is checked before anything is formatted.
"""

from __future__ import annotations

from collections import deque
from itertools import chain, compress, repeat

from bpfinspect.btf.kinds import (ARRAY, BIT_OFFSET_MASK, BITFIELD_SHIFT, CONST, DATASEC, DECL_TAG,
                                  ENUM, ENUM64, ENUM_ENCODING_NAMES, FLOAT, FUNC, FUNC_PROTO, FWD,
                                  FWD_KIND_NAMES, INT, INT_ENCODING_NAMES, INT_ENCODING_SHIFT,
                                  INT_OFFSET_SHIFT, KFLAG_SHIFT, KIND_MASK, KIND_NAMES, KIND_SHIFT, PTR,
                                  RESTRICT, STRUCT, TYPE_TAG, TYPEDEF, UNION, UNKNOWN_INT_ENCODING, VAR,
                                  VLEN_MASK, VOLATILE, linkage_name, s32, s64)
from bpfinspect.btf.table import Filled, Table, kind_selector, output_limit
from bpfinspect.errors import MalformedInput

# What bpftool prints for an unnamed type or member.
ANON_TEXT = "(anon)"
ANON = ANON_TEXT.encode()
_REF_KINDS = frozenset({PTR, TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG})


def _template(info: int) -> str:
    """The format of every record with this info word (values: see the module docstring)."""
    k = (info >> KIND_SHIFT) & KIND_MASK
    vlen = info & VLEN_MASK
    kflag = info >> KFLAG_SHIFT
    kn = KIND_NAMES[k]
    head = f"[%d] {kn} '%s'"
    if k in _REF_KINDS:
        return head + " type_id=%d\n"
    if k == STRUCT or k == UNION:
        member = "\n\t'%s' type_id=%d bits_offset=%s" if kflag else "\n\t'%s' type_id=%d bits_offset=%d"
        return head + f" size=%d vlen={vlen}" + member * vlen + "\n"
    if k == FUNC:
        return head + f" type_id=%d linkage={linkage_name(vlen)}\n"
    if k == FUNC_PROTO:
        return head + f" ret_type_id=%d vlen={vlen}" + "\n\t'%s' type_id=%d" * vlen + "\n"
    if k == ARRAY:
        return head + " %stype_id=%d index_type_id=%d nr_elems=%d\n"
    if k == INT:
        return head + " size=%d %s\n"
    if k == ENUM:
        return head + f" encoding={ENUM_ENCODING_NAMES[kflag]} size=%d vlen={vlen}" + "\n\t'%s' val=%d" * vlen + "\n"
    if k == ENUM64:
        val = "\n\t'%s' val=%dLL%s" if kflag else "\n\t'%s' val=%dULL%s"
        return head + f" encoding={ENUM_ENCODING_NAMES[kflag]} size=%d vlen={vlen}" + val * vlen + "\n"
    if k == FWD:
        return head + f" %sfwd_kind={FWD_KIND_NAMES[kflag]}\n"
    if k == VAR:
        return head + " type_id=%d, linkage=%s\n"
    if k == DATASEC:
        return head + f" size=%d vlen={vlen}" + "\n\ttype_id=%d offset=%d size=%s" * vlen + "\n"
    if k == FLOAT:
        return head + " size=%d\n"
    if k == DECL_TAG:
        return head + " type_id=%d component_idx=%d\n"
    raise ValueError(k)   # (the decoder has refused any other kind)


_TEMPLATES = Filled(lambda info: _TEMPLATES.setdefault(info, _template(info).encode()))


# For each kind, a bytes.translate table that keeps it (1) and drops the others (0).
_SELECT = [kind_selector(k) for k in range(256)]
_KIND_BYTE = [bytes([k]) for k in range(256)]
# The kinds whose records _listing and _fix_values look at one group at a time.
_GROUPED = (INT, ARRAY, STRUCT, UNION, ENUM, FWD, FUNC_PROTO, VAR, DATASEC, DECL_TAG, ENUM64)


def _positions(vals: list, rs: list, start: int, step: int) -> chain:
    """Positions (in a listing's values, info words still in place) of the items of the
    records at ``rs`` whose item words start at record + ``start`` every ``step`` words."""
    firsts = [r + start for r in rs]
    ends = [r + start + step * (vals[r + 1] & VLEN_MASK) for r in rs]
    return chain.from_iterable(map(range, firsts, ends, repeat(step)))


def raw_text(btf, ids=None, table: Table | None = None, *, limit: int | None = None) -> str:
    """The raw dump of ``btf`` (of ``ids`` only when given), byte-compatible with bpftool."""
    return raw_bytes(btf, ids, table, limit=limit).decode("utf-8", "surrogateescape")


def raw_bytes(btf, ids=None, table: Table | None = None, *, limit: int | None = None) -> bytes:
    """:func:`raw_text` as the bytes to write (names are never decoded)."""
    t = table or btf.table
    if ids is None:
        ids = range(t.start_id, t.count + 1)
    else:
        ids = list(ids)
        for tid in ids:
            if not 0 < tid <= t.count:
                t.fail(f"type id {tid} out of range (last is {t.count})")
    if not ids:
        return b""
    if limit is None:
        limit = output_limit(btf)
    names = t.byte_names()
    # Unnamed types and members read "(anon)": offset 0 is switched for the duration of the
    # dump (copying the whole table would cost more than the switch).
    empty = names[0]
    names[0] = ANON
    try:
        # A run of ids is listed _CHUNK types at a time: the words of a chunk become Python
        # integers, and a whole kernel's at once would hold about 50 MB of them (each page of
        # it a page fault) for a listing a fifth of that size.  Ids given one by one are listed
        # one by one.  What each part writes counts against the limit of the whole.
        if type(ids) is range:
            runs = [range(first, min(first + _CHUNK, ids.stop)) for first in range(ids.start, ids.stop, _CHUNK)]
        else:
            runs = [range(tid, tid + 1) for tid in ids]
        out = []
        room = limit
        for run in runs:
            part = _listing(t, run, names, room, limit)
            room -= len(part)
            out.append(part)
        return b"".join(out)   # (one part is returned as it is, not copied)
    finally:
        names[0] = empty


_CHUNK = 4096


def _listing(t: Table, ids: range, names, room: int, limit: int) -> bytes:
    """The listing of a run of consecutive ids, in at most ``room`` bytes (what the whole
    listing's ``limit`` leaves)."""
    w, pos = t.w, t.pos
    first = pos[ids[0]]
    last = ids[-1]
    end = pos[last + 1] if last + 1 < len(pos) else len(w)
    vals = w[first:end].tolist()
    rel = [p - first for p in pos[ids[0]:last + 1]]
    kinds = t.kind[ids[0]:last + 1]
    get = names.__getitem__
    # The format: one template per record.
    fmt = b"".join(map(_TEMPLATES.__getitem__, t.infos[ids[0] - 1:last]))
    # The records of the kinds printed otherwise than stored or with named items, by kind
    # (positions relative to ``vals``).
    by_kind = {k: list(compress(rel, kinds.translate(_SELECT[k]))) for k in _GROUPED if _KIND_BYTE[k] in kinds}
    # Names: every record's (it goes where the info word was; the id where the name was),
    # members', enumerators' and parameters'.
    record_names = list(map(get, map(vals.__getitem__, rel)))
    spots = list(chain.from_iterable(_positions(vals, by_kind[kind], start, step)
                                     for kind, start, step in _NAMED_ITEMS if kind in by_kind))
    item_names = list(map(get, map(vals.__getitem__, spots)))
    longest = names.longest
    if (len(rel) + len(spots)) * longest + len(fmt) + 12 * len(vals) > room:
        size = len(fmt) + sum(map(len, record_names)) + sum(map(len, item_names)) + 12 * len(vals)
        if size > room:
            raise MalformedInput(f"the raw listing would exceed {limit >> 20} MiB: names repeated beyond "
                                 "what a real program has", path=t.path, section=t.section)
    _fix_values(t, vals, by_kind, names)
    setitem = vals.__setitem__
    deque(map(setitem, rel, ids), 0)
    deque(map(setitem, map((1).__add__, rel), record_names), 0)
    deque(map(setitem, spots, item_names), 0)
    return fmt % tuple(vals)


# Kinds whose items start with a name: (kind, first item word, words per item).
_NAMED_ITEMS = ((STRUCT, 3, 3), (UNION, 3, 3), (ENUM, 3, 2), (ENUM64, 3, 3), (FUNC_PROTO, 3, 2))


def _fix_values(t: Table, vals: list, by_kind: dict, names) -> None:
    """Values bpftool prints otherwise than stored (see the module docstring); the info words
    are still in place."""
    for r in by_kind.get(INT, ()):
        v = vals[r + 3]
        enc = INT_ENCODING_NAMES.get((v >> INT_ENCODING_SHIFT) & 0xF, UNKNOWN_INT_ENCODING)
        vals[r + 3] = f"bits_offset={(v >> INT_OFFSET_SHIFT) & 0xFF} nr_bits={v & 0xFF} encoding={enc}".encode()
    # Words printed as nothing: an array's and a forward declaration's third word.
    for r in by_kind.get(ARRAY, ()):
        vals[r + 2] = b""
    for r in by_kind.get(FWD, ()):
        vals[r + 2] = b""
    for r in by_kind.get(VAR, ()):
        vals[r + 3] = linkage_name(vals[r + 3]).encode()
    for r in by_kind.get(DECL_TAG, ()):
        vals[r + 3] = s32(vals[r + 3])
    signed = [r for r in by_kind.get(ENUM, ()) if vals[r + 1] >> KFLAG_SHIFT]
    for q in _positions(vals, signed, 4, 2):
        vals[q] = s32(vals[q])
    for kind in (STRUCT, UNION):
        flagged = [r for r in by_kind.get(kind, ()) if vals[r + 1] >> KFLAG_SHIFT]
        for q in _positions(vals, flagged, 5, 3):
            word = vals[q]
            bsz = word >> BITFIELD_SHIFT
            vals[q] = b"%d bitfield_size=%d" % (word & BIT_OFFSET_MASK, bsz) if bsz else b"%d" % word
    for r in by_kind.get(ENUM64, ()):
        signed = vals[r + 1] >> KFLAG_SHIFT
        for q in _positions(vals, [r], 4, 3):
            v = vals[q] | (vals[q + 1] << 32)
            vals[q] = s64(v) if signed else v
            vals[q + 1] = b""
    for r in by_kind.get(DATASEC, ()):
        for q in _positions(vals, [r], 3, 3):
            vt = vals[q]
            if not 0 < vt <= t.count:
                t.fail(f"a data section refers to type id {vt}, out of range (last is {t.count})")
            vals[q + 2] = b"%d (%s '%s')" % (vals[q + 2], KIND_NAMES[t.kind[vt]].encode(), names[t.w[t.pos[vt]]])


def raw_records(btf, ids=None, table: Table | None = None) -> list[dict]:
    """The types as dicts with ``bpftool -j btf dump`` field names."""
    t = table or btf.table
    w, pos, kinds = t.w, t.pos, t.kind
    strs = t.strs.load_all() if ids is None else t.strs

    def nm(off: int) -> str:
        return strs[off] if off else ANON_TEXT

    recs = []
    for tid in (range(t.start_id, t.count + 1) if ids is None else ids):
        p = pos[tid]
        info = w[p + 1]
        k = kinds[tid]
        vlen = info & VLEN_MASK
        kflag = info >> KFLAG_SHIFT
        x = w[p + 2]
        r = {"id": tid, "kind": KIND_NAMES[k], "name": nm(w[p])}
        q = p + 3
        if k == INT:
            v = w[q]
            r.update(size=x, bits_offset=(v >> INT_OFFSET_SHIFT) & 0xFF, nr_bits=v & 0xFF,
                     encoding=INT_ENCODING_NAMES.get((v >> INT_ENCODING_SHIFT) & 0xF, UNKNOWN_INT_ENCODING))
        elif k in _REF_KINDS:
            r["type_id"] = x
        elif k == ARRAY:
            r.update(type_id=w[q], index_type_id=w[q + 1], nr_elems=w[q + 2])
        elif k == STRUCT or k == UNION:
            r.update(size=x, vlen=vlen)
            ms = []
            for i in range(vlen):
                off = w[q + 2]
                m = {"name": nm(w[q]), "type_id": w[q + 1]}
                if kflag:
                    m["bits_offset"] = off & BIT_OFFSET_MASK
                    if off >> BITFIELD_SHIFT:
                        m["bitfield_size"] = off >> BITFIELD_SHIFT
                else:
                    m["bits_offset"] = off
                ms.append(m)
                q += 3
            r["members"] = ms
        elif k == ENUM or k == ENUM64:
            r.update(encoding=ENUM_ENCODING_NAMES[kflag], size=x, vlen=vlen)
            vals = []
            for i in range(vlen):
                if k == ENUM:
                    vals.append({"name": nm(w[q]), "val": s32(w[q + 1]) if kflag else w[q + 1]})
                    q += 2
                else:
                    v = w[q + 1] | (w[q + 2] << 32)
                    vals.append({"name": nm(w[q]), "val": s64(v) if kflag else v})
                    q += 3
            r["values"] = vals
        elif k == FWD:
            r["fwd_kind"] = FWD_KIND_NAMES[kflag]
        elif k == FUNC:
            r.update(type_id=x, linkage=linkage_name(vlen))
        elif k == FUNC_PROTO:
            r.update(ret_type_id=x, vlen=vlen)
            r["params"] = [{"name": nm(w[q + 2 * i]), "type_id": w[q + 2 * i + 1]} for i in range(vlen)]
        elif k == VAR:
            r.update(type_id=x, linkage=linkage_name(w[q]))
        elif k == DATASEC:
            r.update(size=x, vlen=vlen)
            r["vars"] = [{"type_id": w[q + 3 * i], "offset": w[q + 3 * i + 1], "size": w[q + 3 * i + 2]}
                         for i in range(vlen)]
        elif k == FLOAT:
            r["size"] = x
        elif k == DECL_TAG:
            r.update(type_id=x, component_idx=s32(w[q]))
        recs.append(r)
    return recs
