"""Candidate search and matching, libbpf 1.1's rules (``relo_core.c``, ``libbpf.c``).

- Candidates of a local root type: every target type of a compatible kind (the same
  kind; enum and enum64 mix) whose essential name (the name without ``___flavour``)
  equals the local one, in id order.
- Field kinds: each named accessor is looked up by name in the target, descending into
  anonymous members; the two member types must be compatible
  (:func:`fields_are_compat`); array indices must be within bounds (flexible arrays
  excepted).
- Type kinds: :func:`types_are_compat`, or the stricter :func:`types_match` for
  ``type_matches``.
- Enum kinds: an enumerator with the same essential name.

Every function returns libbpf's tri-state: 1 match, 0 no match, or raises
:class:`~bpfinspect.core.types.CoreError` where libbpf returns a negative errno.
"""

from __future__ import annotations

import weakref
from itertools import accumulate

from bpfinspect.btf.btf import Btf
from bpfinspect.btf.kinds import Kind
from bpfinspect.core.spec import (ENUMVAL_KINDS, FIELD_KINDS, SPEC_MAX_LEN, TYPE_KINDS, TYPE_MATCHES, Accessor,
                                  Spec, is_flex_array)
from bpfinspect.core.types import (COMPOSITE_KINDS, ENUM_KINDS, MAX_DEPTH, CoreError, essential_len, kinds_compat,
                                   resolve_size, skip_mods)


# Work allowed for matching one candidate: hostile BTF can make anonymous members and
# by-value members a DAG whose walk (as libbpf does it) grows exponentially.
MAX_STEPS = 50_000


class Budget:
    __slots__ = ("left",)

    def __init__(self, steps: int = MAX_STEPS) -> None:
        self.left = steps

    def spend(self, n: int = 1) -> None:
        self.left -= n
        if self.left < 0:
            raise CoreError("E2BIG", "the types are too intricate to match (work limit reached)")


class CandidateIndex:
    """Target type ids by essential name, in id order.

    Built in one pass for all the names asked at once (:meth:`prepare`): the string
    sections are split once, the names kept are the wanted ones and their flavours, then
    the types' name offsets are looked up.  Kernel BTF has ~150,000 types; decoding every
    name would dominate the run."""

    def __init__(self, btf: Btf) -> None:
        self.btf = btf
        self._by_name: dict[str, list[int]] = {}
        self._prepared: set[str] = set()

    def prepare(self, names) -> None:
        wanted = {n.encode("utf-8", "surrogateescape") for n in names if n} - \
            {n.encode("utf-8", "surrogateescape") for n in self._prepared}
        if not wanted:
            return
        chain = []
        b: Btf | None = self.btf
        while b is not None:
            chain.append(b)
            b = b.base
        found: dict[str, list[int]] = {}
        for part in reversed(chain):
            start, blob = part.string_table()
            parts = blob.split(b"\0")
            offsets = accumulate((len(x) + 1 for x in parts), initial=start)
            hits: dict[int, str] = {o: x.decode("utf-8", "surrogateescape")
                                    for o, x in zip(offsets, parts) if x in wanted}
            # flavoured names (``name___flavour``) are few: from each ``___`` to its string's ends
            at = blob.find(b"___")
            while at >= 0:
                lo = blob.rfind(b"\0", 0, at) + 1
                hi = blob.find(b"\0", at)
                hi = len(blob) if hi < 0 else hi
                name = blob[lo:hi].decode("utf-8", "surrogateescape")
                ess = name[:essential_len(name)]
                if ess != name and ess.encode("utf-8", "surrogateescape") in wanted:
                    hits[start + lo] = ess
                at = blob.find(b"___", hi)
            if not hits:
                continue
            get = hits.get
            first = part.start_id
            for i, off in enumerate(part.name_offsets()):
                ess = get(off)
                if ess is not None:
                    found.setdefault(ess, []).append(first + i)
        for n in wanted:
            name = n.decode("utf-8", "surrogateescape")
            self._by_name[name] = found.get(name, [])
            self._prepared.add(name)

    def candidates(self, local_btf: Btf, local_id: int) -> list[int]:
        name = local_btf.name(local_id)
        ess = name[:essential_len(name)]
        if not ess:
            return []
        if ess not in self._prepared:
            self.prepare([ess])
        lk = local_btf.kind(local_id)
        return [t for t in self._by_name.get(ess, ()) if kinds_compat(self.btf.kind(t), lk)]


# -- type compatibility (type_exists, type_size, target_type_id) -----------------------------------

def _steps(what: str):
    """libbpf's 32 steps of ``goto recur`` through pointers, arrays and return types."""
    yield from range(MAX_DEPTH)
    raise CoreError("EINVAL", f"types nest too deeply to {what}")


def types_are_compat(lb: Btf, lid: int, tb: Btf, tid: int, level: int = 32) -> int:
    """libbpf's ``__bpf_core_types_are_compat``."""
    if not kinds_compat(lb.kind(lid), tb.kind(tid)):
        return 0
    for _ in _steps("compare"):
        lid, tid = skip_mods(lb, lid), skip_mods(tb, tid)
        lk, tk = lb.kind(lid), tb.kind(tid)
        if not kinds_compat(lk, tk):
            return 0
        if lk in (Kind.UNKN, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.FWD, Kind.ENUM64):
            return 1
        if lk == Kind.INT:
            return int(lb.type(lid).int_offset == 0 and tb.type(tid).int_offset == 0)
        if lk == Kind.PTR:
            lid, tid = lb.ref(lid), tb.ref(tid)
            continue
        if lk == Kind.ARRAY:
            lid, tid = lb.type(lid).array.type, tb.type(tid).array.type
            continue
        if lk == Kind.FUNC_PROTO:
            lt, tt = lb.type(lid), tb.type(tid)
            if len(lt.params) != len(tt.params):
                return 0
            for lp, tp in zip(lt.params, tt.params):
                if level <= 0:
                    raise CoreError("EINVAL", "function prototypes nest too deeply to compare")
                r = types_are_compat(lb, skip_mods(lb, lp.type), tb, skip_mods(tb, tp.type), level - 1)
                if r <= 0:
                    return r
            lid, tid = skip_mods(lb, lt.type), skip_mods(tb, tt.type)
            continue
        return 0


# -- field compatibility ------------------------------------------------------------------------

def _names_equal_essential(a: str, b: str) -> bool:
    la, lb_ = essential_len(a), essential_len(b)
    return la == lb_ and a[:la] == b[:lb_]


def fields_are_compat(lb: Btf, lid: int, tb: Btf, tid: int) -> int:
    """libbpf's ``bpf_core_fields_are_compat``."""
    for _ in range(MAX_DEPTH * 16):
        lid = skip_mods(lb, lid)
        tid = skip_mods(tb, tid)
        lk, tk = lb.kind(lid), tb.kind(tid)
        if lk in COMPOSITE_KINDS and tk in COMPOSITE_KINDS:
            return 1
        if not kinds_compat(lk, tk):
            return 0
        if lk in (Kind.PTR, Kind.FLOAT):
            return 1
        if lk in (Kind.FWD, Kind.ENUM, Kind.ENUM64):
            ln, tn = lb.name(lid), tb.name(tid)
            return int(essential_len(ln) == 0 or essential_len(tn) == 0 or _names_equal_essential(ln, tn))
        if lk == Kind.INT:
            return int(lb.type(lid).int_offset == 0 and tb.type(tid).int_offset == 0)
        if lk == Kind.ARRAY:
            lid, tid = lb.type(lid).array.type, tb.type(tid).array.type
            continue
        return 0
    raise CoreError("EINVAL", "array types nest too deeply to compare")


_MEMBER_INDEX: "weakref.WeakKeyDictionary[Btf, dict]" = weakref.WeakKeyDictionary()


def _member_index(btf: Btf, tid: int) -> tuple[dict[str, int], list[int]]:
    """(first index of each member name, indices of the anonymous members) of a struct/union,
    kept per BTF: the member walk below visits the same big structs again and again."""
    per = _MEMBER_INDEX.get(btf)
    if per is None:
        per = {}
        _MEMBER_INDEX[btf] = per
    hit = per.get(tid)
    if hit is None:
        names: dict[str, int] = {}
        anon: list[int] = []
        for i, m in enumerate(btf.type(tid).members):
            if m.name:
                names.setdefault(m.name, i)
            else:
                anon.append(i)
        hit = per[tid] = (names, anon)
    return hit


def _match_member(lb: Btf, local_acc: Accessor, tb: Btf, targ_id: int, spec: Spec, budget: Budget,
                  depth: int = 0) -> tuple[int, int]:
    """libbpf's ``bpf_core_match_member``: (found, next target type id).

    libbpf walks the members in order, descending into each anonymous one; the first
    member with the name ends the walk.  The same walk, without visiting the named members
    that cannot match: the anonymous members before the first one of that name, then it."""
    budget.spend()
    if depth > SPEC_MAX_LEN:
        raise CoreError("E2BIG", "anonymous members nest too deeply")
    targ_id = skip_mods(tb, targ_id)
    if tb.kind(targ_id) not in COMPOSITE_KINDS:
        return 0, targ_id
    local_member = lb.type(local_acc.type_id).members[local_acc.idx]
    members = tb.type(targ_id).members
    names, anon = _member_index(tb, targ_id)
    named = names.get(local_member.name, len(members))
    for i in [a for a in anon if a < named] + ([named] if named < len(members) else []):
        m = members[i]
        if len(spec.raw) == SPEC_MAX_LEN:
            raise CoreError("E2BIG", "access nests too deeply")
        budget.spend()
        spec.bit_offset += m.bit_offset
        spec.raw.append(i)
        if not m.name:
            found, nxt = _match_member(lb, local_acc, tb, m.type, spec, budget, depth + 1)
            if found:
                return found, nxt
        else:
            spec.accessors.append(Accessor(targ_id, i, m.name))
            found = fields_are_compat(lb, local_member.type, tb, m.type)
            if not found:
                spec.accessors.pop()
            return found, m.type
        spec.bit_offset -= m.bit_offset
        spec.raw.pop()
    return 0, targ_id


# -- type_matches ----------------------------------------------------------------------------------

def _names_match(ln: str, tn: str) -> bool:
    if not tn:
        return not ln
    return _names_equal_essential(ln, tn)


def _enums_match(lb: Btf, lid: int, tb: Btf, tid: int) -> int:
    lt, tt = lb.type(lid), tb.type(tid)
    if lt.size != tt.size or len(lt.values) > len(tt.values):
        return 0
    for lv in lt.values:
        if not any(_names_match(lv.name, tv.name) for tv in tt.values):
            return 0
    return 1


def _composites_match(lb: Btf, lid: int, tb: Btf, tid: int, behind_ptr: bool, level: int, budget: Budget) -> int:
    lt, tt = lb.type(lid), tb.type(tid)
    budget.spend(len(lt.members) * len(tt.members) + 1)
    if len(lt.members) > len(tt.members):
        return 0
    for lm in lt.members:
        matched = False
        for tm in tt.members:
            if not _names_match(lm.name, tm.name):
                continue
            r = types_match(lb, lm.type, tb, tm.type, behind_ptr, level - 1, budget)
            if r > 0:
                matched = True
                break
        if not matched:
            return 0
    return 1


def types_match(lb: Btf, lid: int, tb: Btf, tid: int, behind_ptr: bool = False, level: int = 32,
                budget: Budget | None = None) -> int:
    """libbpf's ``__bpf_core_types_match`` (the ``type_matches`` relation)."""
    if budget is None:
        budget = Budget()
    budget.spend()
    if level <= 0:
        raise CoreError("EINVAL", "types nest too deeply to match")
    for _ in _steps("match"):
        lid, tid = skip_mods(lb, lid), skip_mods(tb, tid)
        if not _names_match(lb.name(lid), tb.name(tid)):
            return 0
        lk, tk = lb.kind(lid), tb.kind(tid)
        if lk == Kind.UNKN:
            return int(lk == tk)
        if lk == Kind.FWD:
            lf = lb.kflag(lid)
            if behind_ptr:
                if lk == tk:
                    return int(lf == tb.kflag(tid))
                return int((tk == Kind.STRUCT and not lf) or (tk == Kind.UNION and lf))
            if lk != tk:
                return 0
            return int(lf == tb.kflag(tid))
        if lk in ENUM_KINDS:
            if tk not in ENUM_KINDS:
                return 0
            return _enums_match(lb, lid, tb, tid)
        if lk in COMPOSITE_KINDS:
            if behind_ptr:
                if lk == tk:
                    return 1
                if tk != Kind.FWD:
                    return 0
                return int((lk == Kind.UNION) == tb.kflag(tid))
            if lk != tk:
                return 0
            return _composites_match(lb, lid, tb, tid, behind_ptr, level, budget)
        if lk == Kind.INT:
            if lk != tk:
                return 0
            lt, tt = lb.type(lid), tb.type(tid)
            return int(lt.size == tt.size and (lt.int_encoding & 1) == (tt.int_encoding & 1))
        if lk == Kind.PTR:
            if lk != tk:
                return 0
            behind_ptr = True
            lid, tid = lb.ref(lid), tb.ref(tid)
            continue
        if lk == Kind.ARRAY:
            if lk != tk:
                return 0
            la, ta = lb.type(lid).array, tb.type(tid).array
            if la.nelems != ta.nelems:
                return 0
            lid, tid = la.type, ta.type
            continue
        if lk == Kind.FUNC_PROTO:
            if lk != tk:
                return 0
            lt, tt = lb.type(lid), tb.type(tid)
            if len(lt.params) != len(tt.params):
                return 0
            for lp, tp in zip(lt.params, tt.params):
                r = types_match(lb, lp.type, tb, tp.type, behind_ptr, level - 1, budget)
                if r <= 0:
                    return r
            lid, tid = lt.type, tt.type
            continue
        return 0


# -- one candidate ---------------------------------------------------------------------------------

def spec_match(local: Spec, tb: Btf, targ_id: int) -> tuple[int, Spec]:
    """libbpf's ``bpf_core_spec_match``: (1 or 0, the target spec as far as it got)."""
    targ = Spec(tb, targ_id, local.kind)
    if local.kind in TYPE_KINDS:
        if local.kind == TYPE_MATCHES:
            return types_match(local.btf, local.root_type_id, tb, targ_id), targ
        return types_are_compat(local.btf, local.root_type_id, tb, targ_id), targ
    if local.kind in ENUMVAL_KINDS:
        tid = skip_mods(tb, targ_id)
        if tb.kind(tid) not in ENUM_KINDS:
            return 0, targ
        lname = local.accessors[0].name or ""
        ll = essential_len(lname)
        for i, v in enumerate(tb.type(tid).values):
            if essential_len(v.name) == ll and v.name[:ll] == lname[:ll]:
                targ.accessors.append(Accessor(tid, i, v.name))
                targ.raw.append(i)
                return 1, targ
        return 0, targ
    if local.kind not in FIELD_KINDS:
        raise CoreError("EINVAL", f"unknown relocation kind {local.kind}")
    tid = targ_id
    budget = Budget()
    for i, acc in enumerate(local.accessors):
        tid = skip_mods(tb, tid)
        if acc.name:
            found, tid = _match_member(local.btf, acc, tb, tid, targ, budget)
            if found <= 0:
                return found, targ
            continue
        if i > 0:
            if tb.kind(tid) != Kind.ARRAY:
                return 0, targ
            arr = tb.type(tid).array
            if not is_flex_array(tb, targ.accessors[-1], arr.nelems) and acc.idx >= arr.nelems:
                return 0, targ
            tid = skip_mods(tb, arr.type)
        if len(targ.raw) == SPEC_MAX_LEN:
            raise CoreError("E2BIG", "access nests too deeply")
        targ.accessors.append(Accessor(tid, acc.idx, None))
        targ.raw.append(acc.idx)
        targ.bit_offset += acc.idx * resolve_size(tb, tid) * 8
    return 1, targ
