"""The minimal BTF that objects' CO-RE relocations need from a target, as bpftool 7.1's
``gen min_core_btf`` makes it (byte for byte).

Algorithm (bpftool's btfgen, in two passes):

1. Marking.  Each object is resolved against the target (the same resolution as the
   ``core`` command, candidate cache per object); the first matching candidate's target
   spec says what the relocation uses:

   - field kinds: the root type, then along the access path each struct/union member
     used (the member itself and its type); arrays are stepped through;
   - ``target_type_id``/``type_exists``/``type_size``: the root type and everything it
     refers to, pointers followed, but a struct/union without its members;
   - ``type_matches``: the root type and, recursively, every member of every
     struct/union reached without going through a pointer;
   - enum kinds: the enum (all its enumerators);
   - ``local_type_id`` and relocations that found nothing: nothing.

   Marking a type marks what it refers to (modifiers, typedefs, array element and index
   types, function prototypes' return and parameter types; pointer targets only for the
   type kinds).  A kind with nothing to mark in that way (func, var, datasec, decl or
   type tag, fwd outside ``type_matches``) is an error, as in bpftool.

2. Building.  The marked types are copied in id order into a new table: structs and
   unions with only their marked members (kind_flag recomputed), every other type
   whole.  Type ids are then rewritten to the new numbering; a reference to a type that
   was not marked becomes 0 (void): a pointer to an unused struct is a pointer to void.
"""

from __future__ import annotations

import sys

from bpfinspect.btf.btf import Btf
from bpfinspect.btf.kinds import Kind, MODIFIER_KINDS
from bpfinspect.btf.writer import BtfBuilder
from bpfinspect.core.spec import FIELD_KINDS, TARGET_TYPE_ID, TYPE_EXISTS, TYPE_MATCHES, TYPE_SIZE, Spec
from bpfinspect.core.types import COMPOSITE_KINDS
from bpfinspect.errors import MalformedInput, OperationFailed

MAX_MARK_DEPTH = 4096


class Marks:
    """Types and members of the target in use."""

    def __init__(self, target: Btf) -> None:
        self.target = target
        self.types: set[int] = set()
        self.members: dict[int, set[int]] = {}
        # (type, flag) walks already done: marking is idempotent, so a walk done once need not
        # be redone (this keeps hostile DAGs and cycles of by-value members finite)
        self._walked: set[tuple[str, int, bool]] = set()

    def _enter(self, walk: str, tid: int, flag: bool, depth: int) -> bool:
        """Mark ``tid``; False when this walk already went through it."""
        if (walk, tid, flag) in self._walked:
            return False
        if depth > MAX_MARK_DEPTH:
            raise OperationFailed("type references nest too deeply to mark")
        self._walked.add((walk, tid, flag))
        self.types.add(tid)
        return True

    def member(self, tid: int, idx: int) -> None:
        self.members.setdefault(tid, set()).add(idx)

    def type(self, tid: int, follow_pointers: bool, depth: int = 0) -> None:
        """bpftool's ``btfgen_mark_type``."""
        btf = self.target
        while tid:
            if not self._enter("t", tid, follow_pointers, depth):
                return
            depth += 1
            k = btf.kind(tid)
            if k in (Kind.INT, Kind.FLOAT, Kind.ENUM, Kind.ENUM64, Kind.STRUCT, Kind.UNION):
                return
            if k == Kind.PTR:
                if not follow_pointers:
                    return
                tid = btf.ref(tid)
            elif k in (Kind.CONST, Kind.RESTRICT, Kind.VOLATILE, Kind.TYPEDEF):
                tid = btf.ref(tid)
            elif k == Kind.ARRAY:
                arr = btf.type(tid).array
                self.type(arr.type, follow_pointers, depth)
                tid = arr.index_type
            elif k == Kind.FUNC_PROTO:
                t = btf.type(tid)
                self.type(t.type, follow_pointers, depth)
                for p in t.params:
                    self.type(p.type, follow_pointers, depth)
                return
            else:
                raise OperationFailed(f"unsupported kind: {k.name.lower()} ({tid})")

    def type_match(self, tid: int, behind_ptr: bool, depth: int = 0) -> None:
        """bpftool's ``btfgen_mark_type_match``."""
        btf = self.target
        while tid:
            if not self._enter("m", tid, behind_ptr, depth):
                return
            depth += 1
            k = btf.kind(tid)
            if k in (Kind.INT, Kind.FLOAT, Kind.ENUM, Kind.ENUM64):
                return
            if k in COMPOSITE_KINDS:
                if behind_ptr:
                    return
                for i, m in enumerate(btf.type(tid).members):
                    self.member(tid, i)
                    self.type_match(m.type, False, depth)
                return
            if k in (Kind.CONST, Kind.FWD, Kind.RESTRICT, Kind.TYPEDEF, Kind.VOLATILE):
                tid = btf.ref(tid)
            elif k == Kind.PTR:
                behind_ptr = True
                tid = btf.ref(tid)
            elif k == Kind.ARRAY:
                arr = btf.type(tid).array
                self.type_match(arr.type, False, depth)
                self.type_match(arr.index_type, False, depth)
                return
            elif k == Kind.FUNC_PROTO:
                t = btf.type(tid)
                self.type_match(t.type, False, depth)
                for p in t.params:
                    self.type_match(p.type, False, depth)
                return
            else:
                raise OperationFailed(f"unsupported kind: {k.name.lower()} ({tid})")

    def field_relo(self, spec: Spec) -> None:
        """bpftool's ``btfgen_record_field_relo``."""
        btf = self.target
        tid = spec.root_type_id
        self.type(tid, False)
        for idx in spec.raw[1:]:
            steps = 0
            while btf.kind(tid) in MODIFIER_KINDS and tid:
                tid = btf.ref(tid)
                steps += 1
                if steps > MAX_MARK_DEPTH:
                    raise OperationFailed("modifiers nest too deeply")
            k = btf.kind(tid)
            if k in COMPOSITE_KINDS:
                self.member(tid, idx)
                tid = btf.type(tid).members[idx].type
                self.type(tid, False)
            elif k == Kind.ARRAY:
                tid = btf.type(tid).array.type
            else:
                raise OperationFailed(f"unsupported kind: {k.name.lower()} ({tid})")

    def relocation(self, kind: int, spec: Spec | None) -> None:
        """bpftool's ``btfgen_record_reloc`` for a relocation's matched target spec."""
        if spec is None:
            return
        if kind in FIELD_KINDS:
            self.field_relo(spec)
        elif kind in (TARGET_TYPE_ID, TYPE_EXISTS, TYPE_SIZE):
            self.type(spec.root_type_id, True)
        elif kind == TYPE_MATCHES:
            self.type_match(spec.root_type_id, False)
        elif kind in (10, 11):
            self.type(spec.root_type_id, False)

    def build(self) -> BtfBuilder:
        """bpftool's ``btfgen_get_btf``: the marked types, in id order, renumbered."""
        btf = self.target
        out = BtfBuilder()
        ids: dict[int, int] = {}
        for tid in sorted(self.types):
            k = btf.kind(tid)
            if k in COMPOSITE_KINDS:
                t = btf.type(tid)
                new = out.add_composite(k, t.name, t.size)
                used = self.members.get(tid, ())
                for i, m in enumerate(t.members):
                    if i in used:
                        out.add_field(m.name, m.type, m.bit_offset, m.bitfield_size)
            else:
                new = out.add_type(btf, tid)
            ids[tid] = new
        out.remap_ids(lambda x: ids.get(x, 0))
        return out


def minimize(objects: list, target: Btf, target_path: str) -> bytes:
    """The minimal BTF of ``target`` for the CO-RE relocations of ``objects``
    (:class:`~bpfinspect.obj.BpfObject`), as raw BTF bytes."""
    from bpfinspect.core.resolve import Resolver

    marks = Marks(target)
    for obj in objects:
        if obj.btf is None:
            raise MalformedInput("has no .BTF section", path=obj.path)
        if obj.btf_ext is None:
            raise MalformedInput("has no .BTF.ext section", path=obj.path)
        report = Resolver(obj).resolve(target, target_path, reach=False, check_insns=False)
        for r in report.relocations:
            if r.status in ("ambiguous", "error"):
                raise OperationFailed(f"{r.section} relocation #{r.index} ({r.kind} {r.local}): {r.status}: "
                                      f"{r.reason}", path=obj.path)
            if r.status == "resolved":
                marks.relocation(r.kind_id, r.target_spec)
    # bpftool writes the new BTF in the byte order of the machine it runs on
    return marks.build().raw(sys.byteorder)
