"""`sections`: every ELF section with its BPF meaning."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:   # any object with ``path`` and ``sections`` will do: the section table alone is enough
    from bpfinspect.obj import BpfObject

from bpfinspect.views.jsonout import SCHEMA
from bpfinspect.views.table import Block, Table, plural


def to_json(obj: BpfObject) -> dict:
    return {
        "schema": SCHEMA,
        "file": obj.path,
        "sections": [
            {"index": s.index, "name": s.name, "type": s.type, "flags": s.flags_text, "size": s.size,
             "offset": s.offset, "kind": s.kind, "program_type": s.program_type,
             # beyond the contract: the raw sh_flags value and the alignment
             "flags_value": s.flags, "align": s.align}
            for s in obj.sections if s.index != 0
        ],
    }


def blocks(obj: BpfObject) -> list[Block]:
    t = Table(["Idx", "Name", "Type", "Flags", "Size", "Offset", "Kind", "Program type"],
              title=f"{obj.path}: {plural(len(obj.sections) - 1, 'section')}", right=frozenset({"Idx", "Size", "Offset"}),
              styles={"Name": "bold", "Kind": "cyan", "Program type": "green"}, nowrap=frozenset({"Name"}))
    for s in obj.sections:
        if s.index == 0:
            continue
        t.rows.append([str(s.index), s.name, s.type, s.flags_text, str(s.size), f"0x{s.offset:x}", s.kind,
                       s.program_type or ""])
    return [t]
