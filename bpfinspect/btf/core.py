"""Rendering of CO-RE relocation records as readable type paths.

The text follows libbpf's own log format:
``[53] struct task_struct.tgid (0:93 @ offset 1268)`` for field-based kinds,
``[7] struct foo`` for type-based kinds, ``[9] enum e::B = 1`` for enum values.
The access string's first index steps through the root pointer as an array;
each following index is a member (anonymous members count, but are not named
in the path) or an array element.
"""

from __future__ import annotations

from bpfinspect.btf.btf import Btf
from bpfinspect.btf.ext import CoreRelo
from bpfinspect.btf.kinds import KIND_WORDS, Kind
from bpfinspect.errors import MalformedInput

FIELD_KINDS = frozenset({0, 1, 2, 3, 4, 5})
TYPE_KINDS = frozenset({6, 7, 8, 9, 12})
ENUMVAL_KINDS = frozenset({10, 11})

MAX_ACCESS = 64


def kind_word(kind: Kind) -> str:
    return KIND_WORDS[kind] if 0 <= kind < len(KIND_WORDS) else KIND_WORDS[0]


def core_relo_text(btf: Btf, relo: CoreRelo) -> str:
    """libbpf's rendering of the relocation's local spec (without the ``<kind>`` prefix)."""
    tid = relo.type_id
    if not btf.valid(tid) or tid == 0:
        return f"[{tid}] <invalid type id> ({relo.access})"
    kind = btf.kind(tid)
    name = btf.name(tid) or "<anon>"
    head = f"[{tid}] {kind_word(kind)} {name}"
    if relo.kind in TYPE_KINDS:
        return head
    try:
        raw = [int(x) for x in relo.access.split(":")] if relo.access else []
    except ValueError:
        return f"{head} (bad access string {relo.access!r})"
    if len(raw) > MAX_ACCESS:
        return f"{head} (access string too long)"
    if relo.kind in ENUMVAL_KINDS:
        t = btf.type(btf.resolve(tid))
        if raw and t.kind in (Kind.ENUM, Kind.ENUM64) and raw[0] < len(t.values):
            v = t.values[raw[0]]
            val = v.value & (0xFFFFFFFF if t.kind == Kind.ENUM else 0xFFFFFFFFFFFFFFFF)
            return f"{head}::{v.name} = {val}"
        return f"{head} (bad enum access {relo.access})"
    if not raw:
        return f"{head} (empty access string)"
    try:
        path, bit_offset = _walk(btf, tid, raw)
    except (MalformedInput, IndexError, ValueError):
        return f"{head} ({relo.access} invalid for this type)"
    where = f"{bit_offset // 8}.{bit_offset % 8}" if bit_offset % 8 else f"{bit_offset // 8}"
    return f"{head}{path} ({relo.access} @ offset {where})"


def _walk(btf: Btf, root: int, raw: list[int]) -> tuple[str, int]:
    cur = btf.resolve(root)
    parts: list[str] = []
    bit_offset = raw[0] * btf.sizeof(cur) * 8
    if raw[0] > 0:
        parts.append(f"[{raw[0]}]")
    for idx in raw[1:]:
        t = btf.type(cur)
        if t.kind in (Kind.STRUCT, Kind.UNION):
            m = t.members[idx]
            bit_offset += m.bit_offset
            if m.name:
                parts.append(f".{m.name}")
            cur = btf.resolve(m.type)
        elif t.kind == Kind.ARRAY:
            elem = btf.resolve(t.array.type)
            parts.append(f"[{idx}]")
            bit_offset += idx * btf.sizeof(elem) * 8
            cur = elem
        else:
            raise ValueError("access into a scalar")
    return "".join(parts), bit_offset
