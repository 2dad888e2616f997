"""A CO-RE access string as libbpf reads it, and libbpf's text for a spec.

A spec keeps two views of one access (libbpf's ``bpf_core_spec``):

- the *raw* indices, one per step of the access string (``0:1:2:3``): the first steps
  through the root pointer as an array, then member indices (anonymous members
  included) and array indices;
- the *accessors*, only the meaningful turning points: the root, each named member,
  each array element.  Field matching is done accessor by accessor.

``bit_offset`` is the offset of the accessed field from the root pointer.  For enum
kinds the single accessor is the enumerator; type kinds have neither view.

The text is libbpf's (``bpf_core_format_spec``) without the ``<kind>`` prefix:
``[22] struct task_struct.real_parent (0:95 @ offset 1280)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bpfinspect.btf.btf import Btf
from bpfinspect.btf.core import kind_word
from bpfinspect.btf.kinds import Kind
from bpfinspect.core.types import COMPOSITE_KINDS, ENUM_KINDS, CoreError, resolve_size, skip_mods, valid

# libbpf's BPF_CORE_SPEC_MAX_LEN
SPEC_MAX_LEN = 64

FIELD_KINDS = frozenset({0, 1, 2, 3, 4, 5})
TYPE_KINDS = frozenset({6, 7, 8, 9, 12})
ENUMVAL_KINDS = frozenset({10, 11})

BYTE_OFF, BYTE_SZ, FIELD_EXISTS, SIGNED, LSHIFT_U64, RSHIFT_U64 = range(6)
LOCAL_TYPE_ID, TARGET_TYPE_ID, TYPE_EXISTS, TYPE_SIZE, ENUMVAL_EXISTS, ENUMVAL_VALUE, TYPE_MATCHES = range(6, 13)


@dataclass(slots=True)
class Accessor:
    type_id: int        # the struct/union holding the member, the array element type, or the enum
    idx: int            # member index, array index, or enumerator index
    name: str | None    # member or enumerator name; None for array elements and the root


@dataclass(slots=True)
class Spec:
    btf: Btf
    root_type_id: int
    kind: int
    accessors: list[Accessor] = field(default_factory=list)
    raw: list[int] = field(default_factory=list)
    bit_offset: int = 0

    def text(self) -> str:
        return format_spec(self)


def parse_access(access: str) -> list[int]:
    """The indices of an access string, as libbpf's sscanf loop accepts them."""
    if not access or access[0] == ":":
        raise CoreError("EINVAL", f"bad access string {access!r}")
    out: list[int] = []
    for part in access.split(":"):
        if not part or not (part.isascii() and (part.isdigit() or (part[0] in "+-" and part[1:].isdigit()))):
            raise CoreError("EINVAL", f"bad access string {access!r}")
        if len(out) == SPEC_MAX_LEN:
            raise CoreError("E2BIG", f"access string {access!r} is too long")
        value = int(part)
        if not -(1 << 31) <= value < (1 << 31):
            raise CoreError("EINVAL", f"bad access string {access!r}")
        out.append(value)
    return out


def parse_spec(btf: Btf, type_id: int, access: str, kind: int) -> Spec:
    """libbpf's ``bpf_core_parse_spec`` for a record of the local (object) BTF."""
    if not valid(btf, type_id) or type_id == 0:
        raise CoreError("EINVAL", f"type id {type_id} out of range")
    if not access or access[0] == ":":
        raise CoreError("EINVAL", f"bad access string {access!r}")
    spec = Spec(btf, type_id, kind)
    if kind in TYPE_KINDS:
        if access != "0":
            raise CoreError("EINVAL", f"type-based relocation with access string {access!r}")
        return spec
    spec.raw = parse_access(access)
    tid = skip_mods(btf, type_id)
    idx = spec.raw[0]
    if kind in ENUMVAL_KINDS:
        if btf.kind(tid) not in ENUM_KINDS or len(spec.raw) > 1 or not 0 <= idx < btf.vlen(tid):
            raise CoreError("EINVAL", f"access {access!r} is not an enumerator of [{type_id}]")
        spec.accessors.append(Accessor(tid, idx, btf.type(tid).values[idx].name))
        return spec
    if kind not in FIELD_KINDS:
        raise CoreError("EINVAL", f"unknown relocation kind {kind}")
    spec.accessors.append(Accessor(tid, idx, None))
    spec.bit_offset = idx * resolve_size(btf, tid) * 8
    for step in spec.raw[1:]:
        tid = skip_mods(btf, tid)
        k = btf.kind(tid)
        if k in COMPOSITE_KINDS:
            t = btf.type(tid)
            if not 0 <= step < len(t.members):
                raise CoreError("EINVAL", f"member index {step} out of range for [{tid}]")
            m = t.members[step]
            spec.bit_offset += m.bit_offset
            if m.name:
                spec.accessors.append(Accessor(tid, step, m.name))
            tid = m.type
        elif k == Kind.ARRAY:
            arr = btf.type(tid).array
            elem = skip_mods(btf, arr.type)
            if not is_flex_array(btf, spec.accessors[-1], arr.nelems) and not 0 <= step < arr.nelems:
                raise CoreError("EINVAL", f"array index {step} out of range for [{tid}]")
            spec.accessors.append(Accessor(elem, step, None))
            spec.bit_offset += step * resolve_size(btf, elem) * 8
            tid = elem
        else:
            raise CoreError("EINVAL", f"access {access!r} steps into [{tid}] {kind_word(k)}, which has no parts")
    return spec


def is_flex_array(btf: Btf, prev: Accessor, nelems: int) -> bool:
    """A zero-length array that is the last member of the struct holding it."""
    if prev.name is None or nelems > 0:
        return False
    return prev.idx == btf.vlen(prev.type_id) - 1


def format_spec(spec: Spec) -> str:
    """libbpf's ``bpf_core_format_spec`` text, without the leading ``<kind>``."""
    btf = spec.btf
    tid = spec.root_type_id
    name = btf.name(tid) if tid else ""
    k = btf.kind(tid)
    head = f"[{tid}] {kind_word(k)} {name or '<anon>'}"
    if spec.kind in TYPE_KINDS:
        return head
    if spec.kind in ENUMVAL_KINDS:
        et = skip_mods(btf, tid)
        t = btf.type(et)
        idx = spec.raw[0] if spec.raw else 0
        if not 0 <= idx < len(t.values):
            return head
        v = t.values[idx]
        if t.kind == Kind.ENUM:
            val = v.value if t.kflag else v.value & 0xFFFFFFFF
        else:
            val = v.value if t.kflag else v.value & 0xFFFFFFFFFFFFFFFF
        return f"{head}::{v.name} = {val}"
    parts = [head]
    for i, acc in enumerate(spec.accessors):
        if acc.name:
            parts.append(f".{acc.name}")
        elif i > 0 or acc.idx > 0:
            parts.append(f"[{acc.idx & 0xFFFFFFFF}]")
    raw = ":".join(str(x) for x in spec.raw)
    bo = spec.bit_offset & 0xFFFFFFFF
    where = f"{bo // 8}.{bo % 8}" if bo % 8 else f"{bo // 8}"
    parts.append(f" ({raw} @ offset {where})")
    return "".join(parts)
