"""Every CO-RE record of an object resolved against one target BTF, as libbpf 1.1 does.

The order and the numbering are libbpf's: records are taken section by section in
the order of ``.BTF.ext``, a record's number (``relo #N``) is its index in its
section's group, and candidates are cached per local root type id for the whole
object — a relocation that matches some candidates prunes the cached list to them,
so a later relocation of the same root sees fewer (and numbers them anew).

After resolution the instructions are patched as ``bpf_core_patch_insn`` would
(checked against the value the compiler put there, load/store widths adjusted or
poisoned), and the reachability of each poisoned instruction is decided on the
patched code by :mod:`bpfinspect.flow`: "guarded" when no program can reach it,
"would fail" otherwise, with the programs the verifier would reject.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bpfinspect.btf.btf import Btf
from bpfinspect.btf.core import kind_word
from bpfinspect.btf.ext import CORE_KINDS
from bpfinspect.btf.kinds import Kind
from bpfinspect.core.calc import RelocValue, calc_relo
from bpfinspect.core.match import CandidateIndex, spec_match
from bpfinspect.core.spec import (ENUMVAL_KINDS, FIELD_KINDS, LOCAL_TYPE_ID, TYPE_KINDS, TYPE_MATCHES, Spec,
                                  format_spec, parse_spec)
from bpfinspect.core.types import COMPOSITE_KINDS, CoreError, essential_len, skip_mods
from bpfinspect.errors import MalformedInput
from bpfinspect.isa import opcodes as oc

POISON_IMM = 0xBAD2310        # libbpf's "bad relo" helper number (195896080)
EXISTS_KINDS = frozenset({2, 8, 10, 12})


@dataclass
class Candidate:
    type_id: int
    name: str           # "struct task_struct"
    matched: bool
    spec: str           # libbpf's text of the target spec (as far as matching got)


@dataclass
class Relocation:
    program: str | None     # the program or subprogram holding the instruction (None: none does)
    section: str
    index: int              # libbpf's relocation number: the record's index in its section
    insn: int               # instruction index inside the program (libbpf's "insn #N")
    section_insn: int       # instruction index inside the section
    kind: str
    kind_id: int
    local_type_id: int
    access: str
    local: str              # libbpf's text of the local spec
    candidates: list[Candidate] = field(default_factory=list)
    status: str = "resolved"  # resolved, not_found, ambiguous, error
    value: int | None = None
    orig_value: int | None = None
    poisoned: bool = False
    guarded: bool | None = None   # for poisoned instructions: unreachable by every program
    reason: str = ""
    target_spec: Spec | None = None   # the matched target spec (for gen min-core-btf)
    mem_size: tuple[int, int] | None = None  # (old, new) load/store width when it changes
    rejected_by: list[str] = field(default_factory=list)
    res: RelocValue | None = None     # libbpf's computed result (values, checks, sizes)


@dataclass
class TargetReport:
    path: str
    relocations: list[Relocation]
    programs: list[str]                 # every program resolved (not subprograms)
    rejected: list[str]                 # programs the verifier would reject
    approximate: list[str] = field(default_factory=list)  # programs whose reachability is over-approximated

    def summary(self) -> dict:
        rs = self.relocations
        return {
            "relocations": len(rs),
            "resolved": sum(r.status == "resolved" for r in rs),
            "not_found": sum(r.status == "not_found" for r in rs),
            "ambiguous": sum(r.status == "ambiguous" for r in rs),
            "errors": sum(r.status == "error" for r in rs),
            "poisoned": sum(r.poisoned for r in rs),
            "guarded": sum(bool(r.poisoned and r.guarded) for r in rs),
            "would_fail": sum(bool(r.poisoned and not r.guarded) for r in rs),
            "rejected_programs": list(self.rejected),
            "works": not self.rejected and not any(r.status in ("ambiguous", "error") for r in rs),
        }


def type_text(btf: Btf, tid: int) -> str:
    return f"{kind_word(btf.kind(tid))} {btf.name(tid) or '<anon>'}"


class Resolver:
    """Resolves one object's records against targets (the object is decoded once)."""

    def __init__(self, obj, *, btf: Btf | None = None) -> None:
        """``obj``: a :class:`~bpfinspect.obj.BpfObject`; or None and ``btf`` the local BTF alone,
        to resolve accesses one by one (:meth:`resolve_access`)."""
        self.obj = obj
        self.btf: Btf | None = obj.btf if obj is not None else btf
        self.ext = obj.btf_ext if obj is not None else None
        self._one_target: tuple | None = None
        self._code = None
        self._check = True
        self._locals: dict[tuple, tuple[Spec, str] | CoreError] = {}

    @property
    def records(self) -> list[tuple[str, int, object]]:
        if self.ext is None or self.btf is None:
            return []
        return [(sec, i, rec) for sec, recs in self.ext.core_relos.items() for i, rec in enumerate(recs)]

    def code(self):
        if self._code is None:
            from bpfinspect.flow.cfg import code_of
            self._code = code_of(self.obj)
        return self._code

    def resolve(self, target: Btf, path: str, *, reach: bool = True, check_insns: bool = True) -> TargetReport:
        """Every record against ``target``; ``check_insns`` adds libbpf's checks of the
        instructions (bpftool's ``gen min_core_btf`` does not patch, so does not check),
        ``reach`` decides guarded or would-fail for poisoned instructions."""
        self._check = check_insns
        index = CandidateIndex(target)
        btf = self.btf
        if btf is not None:
            roots = {rec.type_id for _sec, _i, rec in self.records if 0 < rec.type_id <= btf.count}
            index.prepare({essential_name_of(btf.name(t)) for t in roots})
        cache: dict[int, list[int]] = {}
        self._matches: dict[tuple, tuple[int, Spec, str] | CoreError] = {}
        progs = [p for p in self.obj.programs]
        out: list[Relocation] = []
        for sec, i, rec in self.records:
            out.append(self._one(sec, i, rec, progs, target, index, cache))
        entries = [p for p in progs if not p.is_subprog]
        report = TargetReport(path, out, [p.name for p in entries], [])
        if reach:
            self._reach(report, entries)
        return report

    def resolve_access(self, target: Btf, type_id: int, access: str, kind: int) -> Relocation:
        """One relocation of the local BTF (root ``type_id``, ``access`` string, CO-RE ``kind``)
        against ``target``, with the candidate cache kept across calls for the same target."""
        from bpfinspect.btf.ext import CoreRelo

        if self._one_target is None or self._one_target[0] is not target:
            self._matches = {}
            self._one_target = (target, CandidateIndex(target), {})
        _t, index, cache = self._one_target
        rec = CoreRelo(0, type_id, access, kind)
        r = Relocation(None, "", 0, 0, 0, CORE_KINDS.get(kind, f"kind{kind}"), kind, type_id, access, "")
        try:
            if not (0 < type_id <= self.btf.count):
                raise CoreError("EINVAL", f"type id {type_id} out of range")
            local, r.local = self._local(rec)
            self._match(r, rec, local, target, index, cache)
        except CoreError as exc:
            r.status, r.reason, r.value = "error", exc.reason, None
        except MalformedInput as exc:
            r.status, r.reason, r.value = "error", exc.what, None
        return r

    # -- one record -----------------------------------------------------------------------------

    def _one(self, sec, i, rec, progs, target, index, cache) -> Relocation:
        btf = self.btf
        assert btf is not None
        prog = None
        sec_insn = rec.insn_off // 8
        for p in progs:
            if p.section == sec and p.offset <= rec.insn_off < p.offset + p.size:
                prog = p
                break
        r = Relocation(prog.name if prog else None, sec, i, sec_insn - (prog.offset // 8 if prog else 0), sec_insn,
                       CORE_KINDS.get(rec.kind, f"kind{rec.kind}"), rec.kind, rec.type_id, rec.access, "")
        try:
            if rec.insn_off % 8:
                raise CoreError("EINVAL", f"instruction offset {rec.insn_off} is not a multiple of 8")
            if not (0 < rec.type_id <= btf.count):
                raise CoreError("EINVAL", f"type id {rec.type_id} out of range")
            local, r.local = self._local(rec)
            self._match(r, rec, local, target, index, cache)
            if r.status != "ambiguous" and self._check:
                self._check_insn(r, sec, sec_insn)
        except CoreError as exc:
            r.status = "error"
            r.reason = exc.reason
            r.value = None
            if not r.local:
                r.local = f"[{rec.type_id}] {type_text(btf, rec.type_id) if 0 < rec.type_id <= btf.count else '?'}" \
                          f" + {rec.access}"
        except MalformedInput as exc:
            r.status = "error"
            r.reason = exc.what
            r.value = None
        return r

    def _match(self, r: Relocation, rec, local: Spec, target: Btf, index, cache) -> None:
        btf = self.btf
        kind = rec.kind
        if kind == LOCAL_TYPE_ID:
            r.value = r.orig_value = rec.type_id
            r.res = RelocValue(rec.type_id, rec.type_id, validate=False)
            return
        cands = cache.get(rec.type_id)
        if cands is None:
            cands = index.candidates(btf, rec.type_id)
            cache[rec.type_id] = cands
        if not btf.name(rec.type_id):
            raise CoreError("EOPNOTSUPP", f"<{r.kind}> relocation of an anonymous type is not supported")
        kept: list[int] = []
        first: tuple[RelocValue, Spec] | None = None
        for c in cands:
            found, cspec, text = self._spec_match(local, rec, target, c)
            r.candidates.append(Candidate(c, type_text(target, c), bool(found), text))
            if not found:
                continue
            res = calc_relo(kind, local, cspec)
            if first is None:
                first = (res, cspec)
            elif cspec.bit_offset != first[1].bit_offset:
                r.status = "ambiguous"
                r.reason = (f"candidates disagree on the field offset: {cspec.bit_offset & 0xFFFFFFFF} != "
                            f"{first[1].bit_offset & 0xFFFFFFFF} (bits)")
                return
            elif res.poison != first[0].poison or res.new_val != first[0].new_val:
                r.status = "ambiguous"
                r.reason = (f"candidates disagree on the value: {res.new_val} != {first[0].new_val}")
                return
            kept.append(c)
        if kept:
            cache[rec.type_id] = kept
            res, tspec = first  # type: ignore[misc]
            r.target_spec = tspec
            r.status = "resolved"
        else:
            res = calc_relo(kind, local, None)
            r.status = "not_found"
            r.reason = self._why_not_found(r, rec, local, target, cands)
        r.res = res
        r.orig_value = res.orig_val
        if res.poison:
            r.poisoned = True
            r.value = None
        else:
            r.value = res.new_val

    @staticmethod
    def _family(rec) -> tuple:
        return (rec.type_id, rec.access, rec.kind if rec.kind in TYPE_KINDS else (0 if rec.kind in FIELD_KINDS else 10))

    def _local(self, rec) -> tuple[Spec, str]:
        """The local spec and its text, parsed once per (root, access, kind family)."""
        def parse():
            spec = parse_spec(self.btf, rec.type_id, rec.access, rec.kind)
            return spec, format_spec(spec)
        return _remembered(self._locals, self._family(rec), parse)

    def _spec_match(self, local: Spec, rec, target: Btf, cand: int) -> tuple[int, Spec, str]:
        """spec_match and the target spec's text, remembered per (root, access, kind family,
        candidate) for this target: relocations of one field by several kinds match it once."""
        def match():
            found, spec = spec_match(local, target, cand)
            return found, spec, format_spec(spec)
        return _remembered(self._matches, (*self._family(rec), cand), match)

    def _why_not_found(self, r: Relocation, rec, local: Spec, target: Btf, cands: list[int]) -> str:
        btf = self.btf
        root = type_text(btf, local.root_type_id)
        ess = btf.name(local.root_type_id)
        ess = ess[:essential_len(ess)]
        what = f"{kind_word(btf.kind(local.root_type_id))} {ess}"
        if not cands:
            return f"no {what} in this target"
        if local.kind in TYPE_KINDS:
            rel = "matches" if local.kind == TYPE_MATCHES else "is compatible with"
            return f"no {what} in this target {rel} the local {root}"
        if local.kind in ENUMVAL_KINDS:
            return f"{what} has no enumerator {essential_name_of(local.accessors[0].name or '')} in this target"
        # field kinds: find the first accessor that no candidate could match
        best = None
        for c in cands:
            _found, cspec, _text = self._spec_match(local, rec, target, c)
            if best is None or len(cspec.accessors) > len(best.accessors):
                best = cspec
        assert best is not None
        n = len(best.accessors)
        if n >= len(local.accessors):
            return f"{what}: the access does not fit this target"
        acc = local.accessors[n]
        holder = f"{type_text(target, best.accessors[-1].type_id)}" if n and best.accessors[-1].name is None \
            else None
        if acc.name:
            parent = self._parent_text(local, n)
            member_type = best_member_type(target, best, acc.name)
            if member_type is not None:
                return f"{parent}.{acc.name} has an incompatible type in this target"
            return f"{parent} has no member {acc.name} in this target"
        return f"index {acc.idx} is out of bounds in this target{' (' + holder + ')' if holder else ''}"

    def _parent_text(self, local: Spec, n: int) -> str:
        btf = self.btf
        ess = btf.name(local.root_type_id)
        parts = [ess[:essential_len(ess)]]
        for acc in local.accessors[1:n]:
            parts.append(f".{acc.name}" if acc.name else f"[{acc.idx}]")
        return "".join(parts)

    # -- the instruction ------------------------------------------------------------------------

    def _check_insn(self, r: Relocation, sec: str, sec_insn: int) -> None:
        """libbpf's checks in ``bpf_core_patch_insn`` (poisoning aside)."""
        res = r.res
        assert res is not None
        code = self.code()
        slots = code.sections.get(sec)
        if slots is None or not 0 <= sec_insn < len(slots):
            raise CoreError("EINVAL", f"instruction {sec_insn} is not in section {sec}")
        if r.poisoned:
            return
        op, _regs, off, imm = slots[sec_insn]
        cls = op & 0x07
        if cls in (oc.ALU, oc.ALU64):
            if op & oc.X:
                raise CoreError("EINVAL", "the instruction is an ALU operation with a register operand")
            if res.validate and (imm & 0xFFFFFFFF) != (res.orig_val & 0xFFFFFFFF):
                raise CoreError("EINVAL", f"the instruction holds {imm & 0xFFFFFFFF}, "
                                          f"libbpf expects {res.orig_val}")
        elif cls in (oc.LDX, oc.ST, oc.STX):
            if res.validate and (off & 0xFFFF) != (res.orig_val & 0xFFFF):
                raise CoreError("EINVAL", f"the instruction's offset is {off}, libbpf expects {res.orig_val}")
            if res.new_val > 0x7FFF:
                raise CoreError("ERANGE", f"offset {res.new_val} does not fit the instruction")
            if res.fail_memsz_adjust:
                r.poisoned = True
                r.reason = (f"the field is {res.new_sz} bytes in this target, not {res.orig_sz}: "
                            "libbpf changes the load width only for pointers and unsigned integers")
                r.value = None
                return
            if res.new_sz != res.orig_sz:
                have = oc.SIZE_BYTES.get(op & 0x18)
                if have != res.orig_sz:
                    raise CoreError("EINVAL", f"the instruction accesses {have} bytes, libbpf expects {res.orig_sz}")
                if res.new_sz not in (1, 2, 4, 8):
                    raise CoreError("EINVAL", f"no load or store of {res.new_sz} bytes")
                r.mem_size = (res.orig_sz, res.new_sz)
        elif op == oc.LD_IMM64:
            if sec_insn + 1 >= len(slots):
                raise CoreError("EINVAL", "the ld_imm64 instruction is cut short")
            nop, nregs, noff, nimm = slots[sec_insn + 1]
            if (_regs >> 4) or off or nop or nregs or noff:
                raise CoreError("EINVAL", "the ld_imm64 instruction has an unexpected form")
            val = (imm & 0xFFFFFFFF) | ((nimm & 0xFFFFFFFF) << 32)
            if res.validate and val != res.orig_val:
                raise CoreError("EINVAL", f"the instruction holds {val}, libbpf expects {res.orig_val}")
        else:
            raise CoreError("EINVAL", f"libbpf cannot relocate an instruction with opcode {op:#04x}")

    def patched(self, report: TargetReport):
        """The code with every relocation applied as libbpf would (a new :class:`Code`)."""
        from bpfinspect.flow.cfg import Code

        code = self.code()
        sections = {k: list(v) for k, v in code.sections.items()}
        for r in report.relocations:
            slots = sections.get(r.section)
            if slots is None or r.status == "error" or not 0 <= r.section_insn < len(slots):
                continue
            i = r.section_insn
            op, regs, off, imm = slots[i]
            if r.poisoned:
                if op == oc.LD_IMM64 and i + 1 < len(slots):
                    slots[i + 1] = (oc.JMP | oc.JMP_CALL, 0, 0, POISON_IMM)
                slots[i] = (oc.JMP | oc.JMP_CALL, 0, 0, POISON_IMM)
                continue
            if r.value is None:
                continue
            v = r.value
            cls = op & 0x07
            if cls in (oc.ALU, oc.ALU64):
                slots[i] = (op, regs, off, _s32(v))
            elif cls in (oc.LDX, oc.ST, oc.STX):
                if r.mem_size:
                    size = {1: oc.SIZE_B, 2: oc.SIZE_H, 4: oc.SIZE_W, 8: oc.SIZE_DW}[r.mem_size[1]]
                    op = (op & ~0x18) | size
                slots[i] = (op, regs, _s16(v), imm)
            elif op == oc.LD_IMM64 and i + 1 < len(slots):
                slots[i] = (op, regs, off, _s32(v & 0xFFFFFFFF))
                n = slots[i + 1]
                slots[i + 1] = (n[0], n[1], n[2], _s32((v >> 32) & 0xFFFFFFFF))
        return Code(sections, code.links, code.global_functions)

    def _reach(self, report: TargetReport, entries) -> None:
        from bpfinspect.flow.consts import reachable

        poisoned = [r for r in report.relocations if r.poisoned]
        if not poisoned:
            return
        code = self.patched(report)
        rejected: list[str] = []
        for p in entries:
            reach = reachable(code, (p.section, p.offset // 8))
            if reach.approximate:
                report.approximate.append(p.name)
            hit = False
            for r in poisoned:
                if (r.section, r.section_insn) in reach.slots:
                    r.rejected_by.append(p.name)
                    hit = True
            if hit:
                rejected.append(p.name)
        for r in poisoned:
            r.guarded = not r.rejected_by
        report.rejected = rejected


def _remembered(cache: dict, key, compute):
    """``compute()``, once per key; a CoreError is remembered and raised again."""
    hit = cache.get(key)
    if hit is None:
        try:
            hit = compute()
        except CoreError as exc:
            hit = exc
        cache[key] = hit
    if isinstance(hit, CoreError):
        raise hit
    return hit


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >> 31 else v


def _s16(v: int) -> int:
    v &= 0xFFFF
    return v - (1 << 16) if v >> 15 else v


def essential_name_of(name: str) -> str:
    return name[:essential_len(name)]


def best_member_type(target: Btf, partial: Spec, name: str) -> int | None:
    """The type of member ``name`` of the last composite the partial target spec reached (or of
    its root), looking through anonymous members; None when there is no such member."""
    tid = partial.accessors[-1].type_id if partial.accessors else partial.root_type_id
    if partial.accessors and partial.accessors[-1].name:
        acc = partial.accessors[-1]
        tid = target.type(acc.type_id).members[acc.idx].type
    todo = [skip_mods(target, tid)]
    seen = 0
    while todo and seen < 4096:
        seen += 1
        t = todo.pop()
        if target.kind(t) not in COMPOSITE_KINDS:
            continue
        for m in target.type(t).members:
            if m.name == name:
                return m.type
            if not m.name:
                todo.append(skip_mods(target, m.type))
    return None


__all__ = ["Candidate", "Relocation", "Resolver", "TargetReport", "Kind", "FIELD_KINDS", "EXISTS_KINDS"]
