"""Decoding of a .BTF blob into a compact type table.

Design, chosen for kernel-sized BTF (≈150,000 types): the whole type
section is read once as an array of 32-bit words (every BTF record is a
multiple of four bytes).  One pass over that array records, per type id, the
word position of its record; nothing else is built up front.  Accessors
(``kind``, ``name``, ``members``...) read the words on demand, and
:meth:`Btf.type` builds a frozen :class:`~bpfinspect.btf.model.Type` view
only when asked and caches it (the dataclass module behind those views is
imported then, not at start-up: the printers never need it).  Split BTF (a
kernel module's) keeps a reference to its base and continues its ids and
string offsets.
"""

from __future__ import annotations

import os
import struct
import sys
from array import array

from bpfinspect.btf.kinds import (CV_KINDS, EXTRA_FIXED, EXTRA_PER_VLEN, MAX_KIND, MODIFIER_KINDS,
                                  SIZED_KINDS, Kind)
from bpfinspect.errors import MalformedInput

# (typing is not imported at run time: a constant False keeps the import for type checkers only.)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from bpfinspect.btf.model import Type

BTF_MAGIC = 0xEB9F
HEADER_MIN = 24
# Ids and string offsets are 32-bit; a type count beyond this is hostile.
MAX_TYPES = 1 << 24
# How deep a chain of modifiers/arrays/typedefs may go before we call it a cycle.
MAX_CHAIN = 512

_KINDS = list(Kind)


def _s32(v: int) -> int:
    return v - (1 << 32) if v & 0x80000000 else v


class _BadKind(Exception):
    pass


class _RecordLengths(dict):
    """info word -> record length in words (computed, and the kind checked, on first sight)."""

    def __missing__(self, info: int) -> int:
        kind = (info >> 24) & 0x1F
        if kind > MAX_KIND or kind == 0:
            raise _BadKind(kind)
        n = 3 + EXTRA_FIXED[kind] + EXTRA_PER_VLEN[kind] * (info & 0xFFFF)
        self[info] = n
        return n


class Btf:
    """A decoded BTF blob (optionally split on top of a base)."""

    def __init__(self, data: bytes, *, base: "Btf | None" = None, path: str | None = None,
                 section: str | None = None) -> None:
        self.path = path
        self.section = section
        self.base = base
        self.raw = bytes(data)
        if len(self.raw) < HEADER_MIN:
            self._fail(f"BTF too short ({len(self.raw)} bytes) for its header", 0)
        magic_le = struct.unpack_from("<H", self.raw, 0)[0]
        if magic_le == BTF_MAGIC:
            self.endian = "little"
        elif struct.unpack_from(">H", self.raw, 0)[0] == BTF_MAGIC:
            self.endian = "big"
        else:
            self._fail(f"bad BTF magic 0x{magic_le:04x}", 0)
        e = "<" if self.endian == "little" else ">"
        self._e = e
        self.version, self.flags, self.hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(
            e + "BBIIIII", self.raw, 2)
        if self.version != 1:
            self._fail(f"unsupported BTF version {self.version}", 2)
        if self.hdr_len < HEADER_MIN or self.hdr_len > len(self.raw):
            self._fail(f"BTF header length {self.hdr_len} out of range", 4)
        body = len(self.raw) - self.hdr_len
        if type_off + type_len > body or type_off % 4 or type_len % 4:
            self._fail(f"type section {type_off}+{type_len} outside BTF data ({body} bytes) or misaligned",
                       self.hdr_len + type_off)
        if str_off + str_len > body:
            self._fail(f"string section {str_off}+{str_len} outside BTF data ({body} bytes)", self.hdr_len + str_off)
        self.type_off, self.type_len, self.str_off, self.str_len = type_off, type_len, str_off, str_len
        s0 = self.hdr_len + str_off
        self._strs = self.raw[s0:s0 + str_len]
        if base is None and str_len and self._strs[0] != 0:
            self._fail("string section does not start with an empty string", s0)
        self._str_cache: dict[int, str] = {}
        self._base_str_len = base._total_str_len if base is not None else 0
        self._total_str_len = self._base_str_len + str_len
        self.start_id = base.count + 1 if base is not None else 1
        t0 = self.hdr_len + type_off
        words = array("I")
        words.frombytes(self.raw[t0:t0 + type_len])
        if (sys.byteorder == "little") != (self.endian == "little"):
            words.byteswap()
        self._w = words
        self._scan(t0)
        self._cache: dict[int, Type] = {}

    # -- construction -------------------------------------------------------------------------

    def _fail(self, what: str, offset: int | None) -> None:
        raise MalformedInput(what, path=self.path, offset=offset, section=self.section)

    def _scan(self, t0: int) -> None:
        w = self._w
        n = len(w)
        pos = 0
        starts: list[int] = []
        append = starts.append
        # Record length (in words) by info word: kernel BTF has only a few hundred distinct
        # info words, so the length arithmetic and kind check run once per distinct word.
        lengths = _RecordLengths()
        try:
            while pos < n:
                append(pos)
                pos += lengths[w[pos + 1]]
        except IndexError:
            self._fail(f"type [{self.start_id + len(starts) - 1}] truncated", t0 + starts[-1] * 4)
        except _BadKind as exc:
            self._fail(f"type [{self.start_id + len(starts) - 1}] has unknown kind {exc.args[0]}",
                       t0 + starts[-1] * 4)
        if len(starts) > MAX_TYPES:
            self._fail("absurd number of types", t0)
        if pos != n:
            self._fail(f"type [{self.start_id + len(starts) - 1}] runs past the type section", t0 + (starts[-1] if starts else 0) * 4)
        self._starts = starts
        # The distinct info words seen (all valid): printers map them to kinds in bulk.
        self._infos = lengths
        self.count = self.start_id - 1 + len(starts)

    # -- ids ----------------------------------------------------------------------------------

    def __len__(self) -> int:
        """Number of type ids including void, like bpftool's numbering: ids 0..count."""
        return self.count + 1

    def ids(self) -> range:
        """The ids this blob defines (not the base's)."""
        return range(self.start_id, self.count + 1)

    def valid(self, tid: int) -> bool:
        return 0 <= tid <= self.count

    def _owner(self, tid: int) -> "tuple[Btf, int]":
        """(btf holding tid, word position of its record)."""
        if tid >= self.start_id:
            idx = tid - self.start_id
            if idx >= len(self._starts):
                raise MalformedInput(f"type id {tid} out of range (last is {self.count})", path=self.path,
                                     section=self.section)
            return self, self._starts[idx]
        if self.base is not None and tid > 0:
            return self.base._owner(tid)
        raise MalformedInput(f"type id {tid} has no record", path=self.path, section=self.section)

    # -- strings ------------------------------------------------------------------------------

    def string(self, off: int) -> str:
        """The string at offset ``off`` of the (split-aware) string section."""
        s = self._str_cache.get(off)
        if s is not None:
            return s
        if off < self._base_str_len:
            s = self.base.string(off)  # type: ignore[union-attr]
        else:
            local = off - self._base_str_len
            strs = self._strs
            if local >= len(strs):
                raise MalformedInput(f"string offset {off} past the string section ({self._total_str_len} bytes)",
                                     path=self.path, section=self.section)
            end = strs.find(b"\0", local)
            if end < 0:
                end = len(strs)
            s = strs[local:end].decode("utf-8", "replace")
        self._str_cache[off] = s
        return s

    # -- raw accessors ------------------------------------------------------------------------

    def kind(self, tid: int) -> Kind:
        if tid == 0:
            return Kind.UNKN
        b, p = self._owner(tid)
        return _KINDS[(b._w[p + 1] >> 24) & 0x1F]

    def name(self, tid: int) -> str:
        if tid == 0:
            return ""
        b, p = self._owner(tid)
        return self.string(b._w[p])

    def info(self, tid: int) -> int:
        b, p = self._owner(tid)
        return b._w[p + 1]

    def vlen(self, tid: int) -> int:
        return self.info(tid) & 0xFFFF if tid else 0

    def kflag(self, tid: int) -> bool:
        return bool(self.info(tid) >> 31) if tid else False

    def size(self, tid: int) -> int:
        """The size word (meaningful for sized kinds)."""
        b, p = self._owner(tid)
        return b._w[p + 2]

    def ref(self, tid: int) -> int:
        """The referenced type id (PTR, TYPEDEF, modifiers, FUNC, VAR, tags, FUNC_PROTO return)."""
        b, p = self._owner(tid)
        return b._w[p + 2]

    def words(self, tid: int) -> tuple[array, int]:
        """The raw word array and the record's word position for ``tid`` (to patch or print raw)."""
        b, p = self._owner(tid)
        return b._w, p

    # -- typed view ---------------------------------------------------------------------------

    def type(self, tid: int) -> Type:
        t = self._cache.get(tid)
        if t is not None:
            return t
        # The typed views are only for API users; decoding and the printers never need them.
        from bpfinspect.btf.model import ArrayInfo, DatasecVar, EnumValue, Member, Param, Type
        if tid == 0:
            t = Type(0, Kind.UNKN, "void", False, 0)
            self._cache[0] = t
            return t
        b, p = self._owner(tid)
        w = b._w
        info = w[p + 1]
        kind = _KINDS[(info >> 24) & 0x1F]
        vlen = info & 0xFFFF
        kflag = bool(info >> 31)
        name = self.string(w[p])
        third = w[p + 2]
        x = p + 3
        kw: dict = {}
        if kind in SIZED_KINDS:
            kw["size"] = third
        else:
            kw["type"] = third
        if kind == Kind.INT:
            v = w[x]
            kw.update(int_encoding=(v >> 24) & 0xF, int_offset=(v >> 16) & 0xFF, int_bits=v & 0xFF)
        elif kind == Kind.ARRAY:
            kw["array"] = ArrayInfo(w[x], w[x + 1], w[x + 2])
        elif kind in (Kind.STRUCT, Kind.UNION):
            ms = []
            for i in range(vlen):
                q = x + 3 * i
                off = w[q + 2]
                if kflag:
                    ms.append(Member(self.string(w[q]), w[q + 1], off & 0xFFFFFF, off >> 24))
                else:
                    ms.append(Member(self.string(w[q]), w[q + 1], off, 0))
            kw["members"] = tuple(ms)
        elif kind == Kind.ENUM:
            vals = []
            for i in range(vlen):
                q = x + 2 * i
                v = w[q + 1]
                vals.append(EnumValue(self.string(w[q]), _s32(v) if kflag else v))
            kw["values"] = tuple(vals)
        elif kind == Kind.ENUM64:
            vals = []
            for i in range(vlen):
                q = x + 3 * i
                v = w[q + 1] | (w[q + 2] << 32)
                if kflag and v & (1 << 63):
                    v -= 1 << 64
                vals.append(EnumValue(self.string(w[q]), v))
            kw["values"] = tuple(vals)
        elif kind == Kind.FUNC_PROTO:
            kw["params"] = tuple(Param(self.string(w[x + 2 * i]), w[x + 2 * i + 1]) for i in range(vlen))
        elif kind == Kind.VAR:
            kw["linkage"] = w[x]
        elif kind == Kind.FUNC:
            kw["linkage"] = vlen
        elif kind == Kind.DATASEC:
            kw["vars"] = tuple(DatasecVar(w[x + 3 * i], w[x + 3 * i + 1], w[x + 3 * i + 2]) for i in range(vlen))
        elif kind == Kind.DECL_TAG:
            kw["component_idx"] = _s32(w[x])
        t = Type(tid, kind, name, kflag, vlen, **kw)
        self._cache[tid] = t
        return t

    # -- queries ------------------------------------------------------------------------------

    def find(self, name: str, kind: Kind | None = None) -> list[int]:
        """Ids of every type called ``name`` (of ``kind`` when given), base included."""
        out = []
        if self.base is not None:
            out.extend(self.base.find(name, kind))
        w = self._w
        string = self.string
        for i, p in enumerate(self._starts):
            if kind is not None and ((w[p + 1] >> 24) & 0x1F) != kind:
                continue
            if w[p] and string(w[p]) == name:
                out.append(self.start_id + i)
        return out

    def name_offsets(self) -> list[int]:
        """The name offset of every type this blob defines (item i: type ``start_id + i``)."""
        w = self._w
        return [w[p] for p in self._starts]

    def string_table(self) -> tuple[int, bytes]:
        """(the offset its first byte has in this blob's split-aware string offsets, the bytes)
        of this blob's own string section."""
        return self._base_str_len, self._strs

    def check_id(self, tid: int, where: str = "") -> int:
        if not 0 <= tid <= self.count:
            raise MalformedInput(f"type id {tid}{' in ' + where if where else ''} out of range (last is {self.count})",
                                 path=self.path, section=self.section)
        return tid

    def resolve(self, tid: int, *, through=MODIFIER_KINDS) -> int:
        """Skip typedefs and cv-qualifiers (and type tags) to the underlying type."""
        for _ in range(MAX_CHAIN):
            self.check_id(tid)
            if tid == 0 or self.kind(tid) not in through:
                return tid
            tid = self.ref(tid)
        raise MalformedInput(f"type chain through [{tid}] is a cycle or too deep", path=self.path,
                             section=self.section)

    def strip_cv(self, tid: int) -> int:
        return self.resolve(tid, through=CV_KINDS)

    def sizeof(self, tid: int) -> int:
        """Size in bytes, as the kernel computes it (pointers are 8 bytes)."""
        factor = 1  # product of the element counts of the arrays walked through
        for _ in range(MAX_CHAIN):
            self.check_id(tid)
            k = self.kind(tid)
            if k in SIZED_KINDS:
                return factor * self.size(tid)
            if k == Kind.PTR:
                return factor * 8
            if k == Kind.ARRAY:
                arr = self.type(tid).array
                if arr.nelems == 0:
                    return 0
                factor *= arr.nelems
                tid = arr.type
                continue
            if k in MODIFIER_KINDS or k == Kind.VAR:
                tid = self.ref(tid)
                continue
            if k in (Kind.FWD, Kind.UNKN, Kind.FUNC, Kind.FUNC_PROTO, Kind.DECL_TAG):
                raise MalformedInput(f"type [{tid}] {k.name} has no size", path=self.path, section=self.section)
        raise MalformedInput(f"type chain through [{tid}] is a cycle or too deep", path=self.path,
                             section=self.section)

    def alignof(self, tid: int) -> int:
        """Natural alignment, as a C compiler for BPF would choose it."""
        seen = 0
        while True:
            seen += 1
            if seen > MAX_CHAIN:
                raise MalformedInput(f"type chain through [{tid}] is a cycle or too deep", path=self.path,
                                     section=self.section)
            self.check_id(tid)
            k = self.kind(tid)
            if k in (Kind.INT, Kind.FLOAT, Kind.ENUM, Kind.ENUM64):
                return max(1, min(self.size(tid), 8))
            if k == Kind.PTR:
                return 8
            if k == Kind.ARRAY:
                tid = self.type(tid).array.type
                continue
            if k in MODIFIER_KINDS or k == Kind.VAR:
                tid = self.ref(tid)
                continue
            if k in (Kind.STRUCT, Kind.UNION):
                return self._record_align(tid)
            return 1

    def _record_align(self, tid: int) -> int:
        t = self.type(tid)
        align = 1
        for m in t.members:
            if m.type == tid:
                raise MalformedInput(f"type [{tid}] contains itself", path=self.path, section=self.section)
            a = self._member_align(m.type, {tid})
            align = max(align, a)
            if m.bitfield_size == 0 and m.bit_offset % (8 * a):
                # A misaligned member means the record is packed.
                return 1
        if t.size % align:
            return 1
        return align

    def _member_align(self, tid: int, seen: set[int]) -> int:
        for _ in range(MAX_CHAIN):
            self.check_id(tid)
            k = self.kind(tid)
            if k in (Kind.STRUCT, Kind.UNION):
                if tid in seen:
                    raise MalformedInput(f"type [{tid}] contains itself by value", path=self.path,
                                         section=self.section)
                if len(seen) > MAX_CHAIN:
                    raise MalformedInput("struct nesting too deep", path=self.path, section=self.section)
                t = self.type(tid)
                align = 1
                for m in t.members:
                    a = self._member_align(m.type, seen | {tid})
                    align = max(align, a)
                    if m.bitfield_size == 0 and m.bit_offset % (8 * a):
                        return 1
                return 1 if t.size % align else align
            if k == Kind.ARRAY:
                tid = self.type(tid).array.type
                continue
            if k in MODIFIER_KINDS:
                tid = self.ref(tid)
                continue
            return self.alignof(tid)
        raise MalformedInput(f"type chain through [{tid}] is a cycle or too deep", path=self.path,
                             section=self.section)

    # -- C type names -------------------------------------------------------------------------

    def type_name(self, tid: int, var: str = "") -> str:
        """A C declaration of ``var`` with type ``tid`` (just the type when ``var`` is empty).

        Named structs/unions/enums are referred to by tag; anonymous ones are written
        as ``struct {...}``.  Cycle-safe.
        """
        return _declare(self, tid, var)


# Steps one C type name may take, over all its nested parts.
_DECLARE_BUDGET = 20000
_DECLARE_DEPTH = 200

_ANON = {Kind.STRUCT: "struct", Kind.UNION: "union", Kind.ENUM: "enum", Kind.ENUM64: "enum"}


def _declare(btf: Btf, tid: int, inner: str, budget: list[int] | None = None, depth: int = 0) -> str:
    """The declarator text; ``budget`` bounds the total work over the nested calls (hostile
    BTF can make qualifiers, parameters and variables refer back to themselves)."""
    if budget is None:
        budget = [_DECLARE_BUDGET]
    if depth > _DECLARE_DEPTH:
        raise MalformedInput(f"type [{tid}] refers back to itself or nests too deeply to be named",
                             path=btf.path, section=btf.section)
    for _ in range(MAX_CHAIN):
        budget[0] -= 1
        if budget[0] < 0:
            raise MalformedInput(f"type [{tid}] refers back to itself or nests too deeply to be named",
                                 path=btf.path, section=btf.section)
        btf.check_id(tid)
        k = btf.kind(tid)
        if k == Kind.UNKN:
            return _join("void", inner)
        name = btf.name(tid)
        if k in (Kind.INT, Kind.FLOAT, Kind.TYPEDEF):
            return _join(name, inner)
        if k in _ANON:
            return _join(f"{_ANON[k]} {name}" if name else f"{_ANON[k]} {{...}}", inner)
        if k == Kind.FWD:
            return _join(("union " if btf.kflag(tid) else "struct ") + name, inner)
        if k == Kind.PTR:
            inner = "*" + inner
            tid = btf.ref(tid)
            continue
        if k in (Kind.CONST, Kind.VOLATILE, Kind.RESTRICT):
            q = k.name.lower()
            target = btf.ref(tid)
            if btf.kind(btf.resolve(target, through=frozenset({Kind.TYPE_TAG}))) == Kind.PTR:
                inner = f"{q} {inner}" if inner else q
                tid = target
                continue
            return q + " " + _declare(btf, target, inner, budget, depth + 1)
        if k == Kind.TYPE_TAG:
            tid = btf.ref(tid)
            continue
        if k == Kind.ARRAY:
            arr = btf.type(tid).array
            if inner.startswith("*"):
                inner = f"({inner})"
            inner = f"{inner}[{arr.nelems}]"
            tid = arr.type
            continue
        if k == Kind.FUNC_PROTO:
            t = btf.type(tid)
            params = []
            for p in t.params:
                if p.type == 0 and not p.name:
                    params.append("...")
                else:
                    params.append(_declare(btf, p.type, p.name, budget, depth + 1))
            if not params:
                params = ["void"]
            if inner:
                inner = f"({inner})" if inner.startswith("*") else inner
            inner = f"{inner}({', '.join(params)})"
            tid = t.type
            continue
        if k in (Kind.FUNC, Kind.VAR):
            return _declare(btf, btf.ref(tid), inner or name, budget, depth + 1)
        if k in (Kind.DATASEC, Kind.DECL_TAG):
            return _join(name, inner)
        return _join(f"<kind {k}>", inner)
    raise MalformedInput(f"type chain through [{tid}] is a cycle or too deep", path=btf.path, section=btf.section)


def _join(base: str, inner: str) -> str:
    if not inner:
        return base
    if inner.startswith("[") or inner.startswith("("):
        return base + inner if inner.startswith("[") else f"{base} {inner}"
    return f"{base} {inner}"


def parse_btf(data: bytes, base: Btf | None = None, path: str | None = None, section: str | None = ".BTF") -> Btf:
    return Btf(data, base=base, path=path, section=section)


def load_btf(path: str | os.PathLike, base: "Btf | str | os.PathLike | None" = None, *,
             data: bytes | None = None) -> Btf:
    """A BTF blob from a raw BTF file (``/sys/kernel/btf/vmlinux``) or an ELF file's ``.BTF``;
    ``data``, when given, is the file's content already read."""
    path = os.fspath(path)
    if base is not None and not isinstance(base, Btf):
        base = load_btf(base)
    if data is None:
        data = read_source(path)
    if data[:4] == b"\x7fELF":
        from bpfinspect.elf import EM_BPF, ElfFile
        elf = ElfFile(data, path=path)
        sec = elf.section_by_name(".BTF")
        if sec is None:
            what = "has no .BTF section"
            if elf.machine != EM_BPF:
                from bpfinspect.obj.identify import HINT
                what = f"{_elf_words(data)}, not a BPF object ({HINT}), and it has no .BTF section"
            raise MalformedInput(what, path=path)
        return Btf(sec.data(), base=base, path=path, section=".BTF")
    return Btf(data, base=base, path=path, section=None)


def read_source(path: str) -> bytes:
    """The bytes of a BTF source (raw BTF, or an ELF file holding .BTF), read only once its
    first bytes say it is one of them and its size is bounded."""
    from bpfinspect.elf.header import HEAD_SIZE, parse_header
    from bpfinspect.fileio import read_input

    def look(head: bytes, size: int | None) -> None:
        if head[:4] == b"\x7fELF":
            parse_header(head, size, path)
        elif len(head) >= 2 and BTF_MAGIC in struct.unpack_from("<H", head) + struct.unpack_from(">H", head):
            pass  # the header is checked against the bytes by Btf itself
        else:
            raise MalformedInput("neither raw BTF nor an ELF file", path=path, offset=0)

    return read_input(path, check=look, head=HEAD_SIZE)


def _elf_words(data: bytes) -> str:
    from bpfinspect.elf.header import HEAD_SIZE, describe, parse_header
    head = data[:HEAD_SIZE]
    return describe(parse_header(head, len(data)), head)
