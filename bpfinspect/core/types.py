"""libbpf's small type helpers, over the public accessors of :class:`~bpfinspect.btf.Btf`.

Every walk is bounded the way libbpf bounds it (32 steps for size resolution and
modifier chains), so a hostile BTF with cycles ends in an error, never a hang.
"""

from __future__ import annotations

from bpfinspect.btf.btf import Btf
from bpfinspect.btf.kinds import MODIFIER_KINDS, Kind

MAX_DEPTH = 32
# Types libbpf can match as the root of a relocation with the same kind (enums mix).
ENUM_KINDS = frozenset({Kind.ENUM, Kind.ENUM64})
COMPOSITE_KINDS = frozenset({Kind.STRUCT, Kind.UNION})


class CoreError(Exception):
    """libbpf would stop with an error (an errno) on this relocation."""

    def __init__(self, errno_name: str, reason: str) -> None:
        super().__init__(reason)
        self.errno_name = errno_name
        self.reason = reason


def essential_len(name: str) -> int:
    """Length of the name without its ``___flavour`` suffix (libbpf's rule: the last
    ``___`` preceded by a non-underscore and followed by one)."""
    n = len(name)
    for i in range(n - 5, -1, -1):
        if name[i] != "_" and name[i + 1:i + 4] == "___" and name[i + 4] != "_":
            return i + 1
    return n


def essential_name(name: str) -> str:
    return name[:essential_len(name)]


def kinds_compat(a: Kind, b: Kind) -> bool:
    return a == b or (a in ENUM_KINDS and b in ENUM_KINDS)


def valid(btf: Btf, tid: int) -> bool:
    return 0 <= tid <= btf.count


def skip_mods(btf: Btf, tid: int) -> int:
    """The id behind typedefs and modifiers (libbpf's ``skip_mods_and_typedefs``)."""
    for _ in range(MAX_DEPTH * 16):
        if not valid(btf, tid):
            raise CoreError("EINVAL", f"type id {tid} out of range")
        if tid == 0 or btf.kind(tid) not in MODIFIER_KINDS:
            return tid
        tid = btf.ref(tid)
    raise CoreError("EINVAL", f"type [{tid}] is a cycle of modifiers")


def resolve_size(btf: Btf, tid: int) -> int:
    """libbpf's ``btf__resolve_size``: bytes of a type (pointers: 8), or CoreError."""
    nelems = 1
    for _ in range(MAX_DEPTH):
        if not valid(btf, tid):
            raise CoreError("EINVAL", f"type id {tid} out of range")
        k = btf.kind(tid)
        if k in (Kind.INT, Kind.FLOAT, Kind.ENUM, Kind.ENUM64, Kind.STRUCT, Kind.UNION, Kind.DATASEC):
            size = btf.size(tid)
            break
        if k == Kind.PTR:
            size = 8
            break
        if k in MODIFIER_KINDS or k in (Kind.VAR, Kind.DECL_TAG):
            tid = btf.ref(tid)
            continue
        if k == Kind.ARRAY:
            arr = btf.type(tid).array
            if nelems and arr.nelems > 0xFFFFFFFF // nelems:
                raise CoreError("E2BIG", f"array [{tid}] is too large")
            nelems *= arr.nelems
            tid = arr.type
            continue
        raise CoreError("EINVAL", f"type [{tid}] ({k.name.lower()}) has no size")
    else:
        raise CoreError("ELOOP", f"type [{tid}] nests too deeply to have a size")
    if nelems and size > 0xFFFFFFFF // nelems:
        raise CoreError("E2BIG", f"type [{tid}] is too large")
    return nelems * size


def int_offset(btf: Btf, tid: int) -> int:
    return btf.type(tid).int_offset


def int_encoding(btf: Btf, tid: int) -> int:
    return btf.type(tid).int_encoding if btf.kind(tid) == Kind.INT else 0
