"""The same BTF with other names: for code generators that must print only safe names.

``with_names(btf, name_of)`` builds a new :class:`~bpfinspect.btf.Btf` whose types
are those of ``btf`` (same ids, kinds, sizes, references: only the name offsets
change) and whose every name is ``name_of(type_id, index, old_name)``: ``index``
is -1 for the type's own name, else the position of the member, enumerator or
prototype parameter that carries it.  A generator hands the printer that BTF, so
whatever the printer writes as a name went through the generator's rules.

Only self-contained BTF (an object's, not split on a base) can be renamed.
"""

from __future__ import annotations

import struct
import sys
from array import array

from bpfinspect.btf.btf import Btf
from bpfinspect.btf.kinds import Kind
from bpfinspect.errors import MalformedInput

# Kinds whose vlen items each start with a name: words per item.
_NAMED_ITEMS = {Kind.STRUCT: 3, Kind.UNION: 3, Kind.ENUM: 2, Kind.ENUM64: 3, Kind.FUNC_PROTO: 2}
_HDR = struct.Struct("=HBBIIIII")


def with_names(btf: Btf, name_of) -> Btf:
    if btf.base is not None:
        raise MalformedInput("split BTF cannot be renamed", path=btf.path, section=btf.section)
    words = array("I", btf._w)
    strings = bytearray(b"\0")
    index = {"": 0}

    def offset(text: str) -> int:
        o = index.get(text)
        if o is None:
            o = index[text] = len(strings)
            strings.extend(text.encode("utf-8", "surrogateescape") + b"\0")
        return o

    string = btf.string
    for i, p in enumerate(btf._starts):
        tid = btf.start_id + i
        info = words[p + 1]
        words[p] = offset(name_of(tid, -1, string(words[p])))
        step = _NAMED_ITEMS.get((info >> 24) & 0x1F)
        if step:
            for n in range(info & 0xFFFF):
                q = p + 3 + step * n
                words[q] = offset(name_of(tid, n, string(words[q])))
    types = words.tobytes()
    order = "<" if sys.byteorder == "little" else ">"
    header = struct.pack(order + "HBBIIIII", 0xEB9F, 1, 0, _HDR.size, 0, len(types), len(types), len(strings))
    return Btf(header + types + bytes(strings), path=btf.path, section=btf.section)
