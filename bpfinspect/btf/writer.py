"""Writing BTF: a type table built type by type, serialised as a raw ``.BTF`` blob.

The builder follows the semantics of libbpf's writer API (``btf__new_empty``,
``btf__add_str``, ``btf__add_struct``/``btf__add_field``, ``btf__add_type``), because
its output is compared byte for byte with bpftool's:

- the string section starts with the empty string; every other string is stored once,
  in the order it was first added (an empty name takes offset 0);
- a copied type brings its strings in the order libbpf visits them: the type's name,
  then its members', enumerators' or parameters' names;
- a struct or union gets ``kind_flag`` as soon as one of its fields is a bitfield (a
  field with a bit size, or an offset that is not a whole byte), and then keeps it;
- type ids are copied as they are; :meth:`BtfBuilder.remap_ids` rewrites them all at
  the end (every place a type id lives in a record, by kind).

:meth:`BtfBuilder.raw` gives the blob: a 24-byte header (``hdr_len`` 24, the type
section at offset 0, the strings right after it), little-endian unless asked otherwise.
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Callable

from bpfinspect.btf.btf import Btf
from bpfinspect.btf.kinds import (BITFIELD_SHIFT, BTF_HEADER, BTF_HEADER_SIZE, BTF_MAGIC, COMMON_WORDS, EXTRA_FIXED,
                                  EXTRA_PER_VLEN, KFLAG_SHIFT, KIND_MASK, KIND_SHIFT, VLEN_MASK, Kind, info_kind)
from bpfinspect.errors import UsageError

HEADER_LEN = BTF_HEADER_SIZE
# Kinds whose third word is a type id.
_REF_KINDS = frozenset({Kind.PTR, Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.FUNC,
                        Kind.VAR, Kind.DECL_TAG, Kind.TYPE_TAG, Kind.FUNC_PROTO})


def record_words(btf: Btf, tid: int) -> list[int]:
    """The 32-bit words of type ``tid``'s record, as stored."""
    words, pos = btf.words(tid)
    info = words[pos + 1]
    kind = info_kind(info)
    n = COMMON_WORDS + EXTRA_FIXED[kind] + EXTRA_PER_VLEN[kind] * (info & VLEN_MASK)
    return list(words[pos:pos + n])


def _info(kind: int, vlen: int, kflag: bool) -> int:
    return (int(kflag) << KFLAG_SHIFT) | ((kind & KIND_MASK) << KIND_SHIFT) | (vlen & VLEN_MASK)


class BtfBuilder:
    """A new type table (ids from 1), filled in order; with ``base``, a split table whose ids and
    string offsets continue the base's (as a kernel module's BTF continues vmlinux's)."""

    def __init__(self, base: Btf | None = None) -> None:
        self._strs = bytearray(b"\0")
        self._str_off: dict[bytes, int] = {b"": 0}
        self.types: list[list[int]] = []
        self.base = base
        self.start_id = base.count + 1 if base is not None else 1
        if base is not None:
            first, strs = base.string_table()
            self._str_base = first + len(strs)
        else:
            self._str_base = 0

    # -- strings ----------------------------------------------------------------------------

    def add_str(self, s: str | bytes) -> int:
        b = s.encode("utf-8", "surrogateescape") if isinstance(s, str) else bytes(s)
        if b"\0" in b:
            raise UsageError("a BTF string cannot hold a NUL byte")
        off = self._str_off.get(b)
        if off is None:
            off = self._str_base + len(self._strs)
            self._strs += b + b"\0"
            self._str_off[b] = off
        return off

    # -- types ------------------------------------------------------------------------------

    @property
    def count(self) -> int:
        """The last id given (the base's included)."""
        return self.start_id - 1 + len(self.types)

    def _commit(self, words: list[int]) -> int:
        self.types.append(words)
        return self.count

    def add_composite(self, kind: Kind, name: str, size: int) -> int:
        """``btf__add_struct``/``btf__add_union``: an empty record, fields follow."""
        return self._commit([self.add_str(name) if name else 0, _info(kind, 0, False), size & 0xFFFFFFFF])

    def add_field(self, name: str, type_id: int, bit_offset: int, bit_size: int) -> None:
        """``btf__add_field``: a member of the last struct or union."""
        self.add_member(self.count, name, type_id, bit_offset, bit_size)

    def add_member(self, record_id: int, name: str, type_id: int, bit_offset: int, bit_size: int) -> None:
        """A member of struct or union ``record_id`` (``add_field`` for a record other than the last)."""
        if not self.start_id <= record_id <= self.count:
            raise UsageError("a field needs a struct or union before it")
        rec = self.types[record_id - self.start_id]
        kind = info_kind(rec[1])
        if kind not in (Kind.STRUCT, Kind.UNION):
            raise UsageError("a field needs a struct or union before it")
        bitfield = bool(bit_size) or bit_offset % 8 != 0
        if bitfield and (bit_size == 0 or bit_size > 255 or bit_offset > 0xFFFFFF):
            raise UsageError(f"field {name!r}: bitfield size {bit_size} or offset {bit_offset} out of range")
        if kind == Kind.UNION and bit_offset:
            raise UsageError(f"field {name!r}: a union member at offset {bit_offset}")
        name_off = self.add_str(name) if name else 0
        rec += [name_off, type_id, bit_offset | (bit_size << BITFIELD_SHIFT)]
        vlen = (rec[1] & VLEN_MASK) + 1
        rec[1] = _info(kind, vlen, bitfield or bool(rec[1] >> KFLAG_SHIFT))

    def add_int(self, name: str, size: int, encoding: int = 0, bits: int | None = None, offset: int = 0) -> int:
        """``btf__add_int``: ``encoding`` is a mask of INT_SIGNED, INT_CHAR, INT_BOOL."""
        bits = size * 8 if bits is None else bits
        if not 0 <= bits <= 128 or not 0 <= offset < 128 or size > 0xFFFFFFFF:
            raise UsageError(f"int {name!r}: {bits} bits at {offset} in {size} bytes is out of range")
        return self._commit([self.add_str(name) if name else 0, _info(Kind.INT, 0, False), size,
                             ((encoding & 0xF) << 24) | (offset << 16) | bits])

    def add_float(self, name: str, size: int) -> int:
        return self._commit([self.add_str(name), _info(Kind.FLOAT, 0, False), size & 0xFFFFFFFF])

    def add_ref(self, kind: Kind, type_id: int, name: str = "", vlen: int = 0) -> int:
        """A type that only refers to another: PTR, TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG
        (``name`` is the tag), FUNC (``vlen`` is the linkage)."""
        if kind not in _REF_KINDS or kind in (Kind.VAR, Kind.DECL_TAG, Kind.FUNC_PROTO):
            raise UsageError(f"{kind.name} is not a plain reference kind")
        return self._commit([self.add_str(name) if name else 0, _info(kind, vlen, False), type_id])

    def add_array(self, elem_type: int, index_type: int, nelems: int) -> int:
        if not 0 <= nelems <= 0xFFFFFFFF:
            raise UsageError(f"array of {nelems} elements is out of range")
        return self._commit([0, _info(Kind.ARRAY, 0, False), 0, elem_type, index_type, nelems])

    def add_fwd(self, name: str, union: bool) -> int:
        return self._commit([self.add_str(name), _info(Kind.FWD, 0, union), 0])

    def add_enum(self, name: str, size: int, signed: bool, values: list[tuple[str, int]],
                 wide: bool = False) -> int:
        """ENUM, or ENUM64 when ``wide`` (or a value needs more than 32 bits)."""
        wide = wide or any(not -(1 << 31) <= v < (1 << 32) for _, v in values)
        rec = [self.add_str(name) if name else 0, _info(Kind.ENUM64 if wide else Kind.ENUM, len(values), signed),
               size & 0xFFFFFFFF]
        for vname, v in values:
            off = self.add_str(vname)
            if wide:
                v &= (1 << 64) - 1
                rec += [off, v & 0xFFFFFFFF, v >> 32]
            else:
                rec += [off, v & 0xFFFFFFFF]
        if len(values) > 0xFFFF:
            raise UsageError(f"enum {name!r} has more than 65535 values")
        return self._commit(rec)

    def add_func_proto(self, ret_type: int, params: list[tuple[str, int]]) -> int:
        """A prototype; a ``("", 0)`` parameter last means ``...``."""
        if len(params) > 0xFFFF:
            raise UsageError("a prototype with more than 65535 parameters")
        rec = [0, _info(Kind.FUNC_PROTO, len(params), False), ret_type]
        for pname, ptype in params:
            rec += [self.add_str(pname) if pname else 0, ptype]
        return self._commit(rec)

    def add_var(self, name: str, type_id: int, linkage: int) -> int:
        return self._commit([self.add_str(name), _info(Kind.VAR, 0, False), type_id, linkage])

    def add_decl_tag(self, value: str, type_id: int, component_idx: int) -> int:
        return self._commit([self.add_str(value), _info(Kind.DECL_TAG, 0, False), type_id,
                             component_idx & 0xFFFFFFFF])

    def add_type(self, src: Btf, tid: int, name_of: Callable[[int, str], str] | None = None) -> int:
        """``btf__add_type``: a copy of ``src``'s type ``tid`` with its strings re-added (type
        ids inside are kept as they are).  With ``name_of``, every name (the type's, index -1,
        then each member's, enumerator's or parameter's by position) is ``name_of(index, old)``
        instead, even where the old one is empty."""
        words = record_words(src, tid)
        kind = info_kind(words[1])
        vlen = words[1] & VLEN_MASK
        step = {Kind.STRUCT: 3, Kind.UNION: 3, Kind.ENUM: 2, Kind.ENUM64: 3, Kind.FUNC_PROTO: 2}.get(kind, 0)
        for index, at in [(-1, 0)] + [(i, 3 + step * i) for i in range(vlen if step else 0)]:
            if name_of is not None:
                new = name_of(index, src.string(words[at]) if words[at] else "")
                words[at] = self.add_str(new) if new else 0
            elif words[at]:
                words[at] = self.add_str(src.string(words[at]))
        return self._commit(words)

    def remap_ids(self, mapping: Callable[[int], int], first: int | None = None) -> None:
        """Rewrite every type id held by every record (from id ``first`` on) through ``mapping``."""
        start = 0 if first is None else max(first - self.start_id, 0)
        for rec in self.types[start:]:
            kind = info_kind(rec[1])
            vlen = rec[1] & VLEN_MASK
            if kind in _REF_KINDS:
                rec[2] = mapping(rec[2])
            if kind == Kind.ARRAY:
                rec[3] = mapping(rec[3])
                rec[4] = mapping(rec[4])
            elif kind in (Kind.STRUCT, Kind.UNION):
                for i in range(vlen):
                    rec[3 + 3 * i + 1] = mapping(rec[3 + 3 * i + 1])
            elif kind == Kind.FUNC_PROTO:
                for i in range(vlen):
                    rec[3 + 2 * i + 1] = mapping(rec[3 + 2 * i + 1])
            elif kind == Kind.DATASEC:
                for i in range(vlen):
                    rec[3 + 3 * i] = mapping(rec[3 + 3 * i])

    # -- output -----------------------------------------------------------------------------

    def raw(self, endian: str = "little") -> bytes:
        words = array("I", [w & 0xFFFFFFFF for rec in self.types for w in rec])
        if (endian == "little") != (struct.pack("=I", 1) == struct.pack("<I", 1)):
            words.byteswap()
        types = words.tobytes()
        e = "<" if endian == "little" else ">"
        header = struct.pack(e + "H" + BTF_HEADER, BTF_MAGIC, 1, 0, HEADER_LEN, 0, len(types), len(types),
                             len(self._strs))
        return header + types + bytes(self._strs)

    def btf(self, *, path: str | None = None, section: str | None = None) -> Btf:
        """The table as a decoded :class:`Btf` (on top of the base for a split table)."""
        endian = self.base.endian if self.base is not None else "little"
        return Btf(self.raw(endian), base=self.base, path=path, section=section)


def flattened(btf: Btf) -> Btf:
    """A split table and its bases as one self-contained table (same ids, same types); ``btf`` itself
    when it has no base."""
    import sys

    if btf.base is None:
        return btf
    out = BtfBuilder()
    for tid in range(1, btf.count + 1):
        out.add_type(btf, tid)
    return Btf(out.raw(sys.byteorder), path=btf.path, section=btf.section)
