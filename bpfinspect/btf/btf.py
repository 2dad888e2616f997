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

from bpfinspect.btf.kinds import (BIT_OFFSET_MASK, BITFIELD_SHIFT, BTF_HEADER, BTF_HEADER_SIZE, BTF_MAGIC,
                                  COMMON_WORDS, CV_KINDS, EXTRA_FIXED, EXTRA_PER_VLEN, INT_ENCODING_SHIFT,
                                  INT_OFFSET_SHIFT, KFLAG_SHIFT, KIND_MASK, KIND_SHIFT, MAX_KIND, MODIFIER_KINDS,
                                  SIZED_KINDS, VLEN_MASK, Kind, info_kinds, s32)
from bpfinspect.errors import MalformedInput

# (typing is not imported at run time: a constant False keeps the import for type checkers only.)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from bpfinspect.btf.model import Type

# Ids and string offsets are 32-bit; a type count beyond this is hostile.
MAX_TYPES = 1 << 24
# How deep a chain of modifiers/arrays/typedefs may go before we call it a cycle.
MAX_CHAIN = 512

_KINDS = list(Kind)


class _BadKind(Exception):
    pass


# Words of a record by kind (the kind's five bits index them): its fixed words (0 for a kind
# that does not exist) and its words per member, parameter or enumerator.
_FIXED_WORDS = bytes(COMMON_WORDS + EXTRA_FIXED[k] if 0 < k <= MAX_KIND else 0 for k in range(KIND_MASK + 1))
_WORDS_PER_VLEN = bytes(EXTRA_PER_VLEN[k] if k <= MAX_KIND else 0 for k in range(KIND_MASK + 1))


def _walk_records(w, n: int, starts: list, infos) -> int:
    """Walk the records of the type section ``w`` (its first ``n`` words): append the word
    position of each to ``starts`` and its info word to ``infos``; the position the walk ends
    at (``n`` when the records fill the section exactly).  IndexError when a record's info
    word lies past the end; _BadKind for a kind that does not exist.

    Compiled (bpfinspect.compiled), btf.pxd gives the locals C types: a word, a kind and a
    length are C integers and the loop makes no integer object but the positions it keeps."""
    fixed = _FIXED_WORDS
    per_vlen = _WORDS_PER_VLEN
    shift = KIND_SHIFT
    kind_mask = KIND_MASK
    vlen_mask = VLEN_MASK
    add = starts.append
    add_info = infos.append
    pos = 0
    while pos < n:
        add(pos)
        info = w[pos + 1]
        add_info(info)
        kind = (info >> shift) & kind_mask
        size = fixed[kind]
        if not size:
            raise _BadKind(kind)
        pos += size + per_vlen[kind] * (info & vlen_mask)
    return pos


class Btf:
    """A decoded BTF blob (optionally split on top of a base)."""

    def __init__(self, data: bytes, *, base: "Btf | None" = None, path: str | None = None,
                 section: str | None = None) -> None:
        self.path = path
        self.section = section
        self.base = base
        self.raw = bytes(data)
        if len(self.raw) < BTF_HEADER_SIZE:
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
            e + BTF_HEADER, self.raw, 2)
        if self.version != 1:
            self._fail(f"unsupported BTF version {self.version}", 2)
        if self.hdr_len < BTF_HEADER_SIZE or self.hdr_len > len(self.raw):
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
        words.frombytes(memoryview(self.raw)[t0:t0 + type_len])   # (no copy of the section first)
        if (sys.byteorder == "little") != (self.endian == "little"):
            words.byteswap()
        self._w = words
        self._scan(t0)
        self._cache: dict[int, Type] = {}
        self._names_checked = False
        self._kind_bytes: bytes | None = None
        self._table = None
        self._layout = None
        self._declarator = None

    # -- construction -------------------------------------------------------------------------

    def _fail(self, what: str, offset: int | None) -> None:
        raise MalformedInput(what, path=self.path, offset=offset, section=self.section)

    def _scan(self, t0: int) -> None:
        w = self._w
        n = len(w)
        pos = 0
        starts: list[int] = []
        infos = array("I")   # (kept as words: no int object per type stays alive)
        try:
            pos = _walk_records(w, n, starts, infos)
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
        # Each record's info word (kind, vlen, kind flag), in id order (all of valid kinds).
        self._info_words = infos
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
        kinds = self._kind_bytes
        if kinds is None:
            kinds = self._kinds_by_id()
        if 0 <= tid < len(kinds):
            return _KINDS[kinds[tid]]
        self._owner(tid)   # says what is wrong with the id
        raise AssertionError(tid)

    def _kinds_by_id(self) -> bytes:
        """Each id's kind number, id 0 (void, kind 0) first, over this blob and its bases: made on
        the first question about a kind (the decoders ask it tens of thousands of times)."""
        base = self.base._kinds_by_id() if self.base is not None else b"\0"
        kinds = self._kind_bytes = base + info_kinds(self._info_words)
        return kinds

    def ids_of_kind(self, *kinds: int) -> list[int]:
        """The ids of this blob (not its base's) whose kind is one of ``kinds``, in id order
        (found in the kinds' bytes: a pass over every id in Python costs more)."""
        kinds_bytes = self._kind_bytes
        if kinds_bytes is None:
            kinds_bytes = self._kinds_by_id()
        out: list[int] = []
        kinds = tuple(dict.fromkeys(int(k) for k in kinds))
        for k in kinds:
            b = bytes((k,))
            i = kinds_bytes.find(b, self.start_id)
            while i >= 0:
                out.append(i)
                i = kinds_bytes.find(b, i + 1)
        if len(kinds) > 1:
            out.sort()
        return out

    def check_name_offsets(self) -> None:
        """Refuse (MalformedInput) this blob when a name offset lies past its strings: a
        type's, a struct or union member's, an enumerator's or a parameter's, as libbpf does on
        reading BTF.  A reader that decodes only the names it shows checks them all here, once,
        in the words (the first bad one in id order is named)."""
        if self._names_checked:
            return
        limit = self._total_str_len
        w, starts, first = self._w, self._starts, self.start_id
        # (kind, words per item) of the kinds whose items have names; items start 3 words in
        items = ((Kind.STRUCT, 3), (Kind.UNION, 3), (Kind.ENUM, 2), (Kind.ENUM64, 3), (Kind.FUNC_PROTO, 2))
        step_of = dict(items)
        bad = starts and max(map(w.__getitem__, starts)) >= limit
        if not bad:
            for tid in self.ids_of_kind(*step_of):
                p = starts[tid - first]
                step = step_of[self.kind(tid)]
                offs = w[p + 3:p + 3 + step * (w[p + 1] & VLEN_MASK):step]
                if offs and max(offs) >= limit:
                    bad = True
                    break
        if bad:
            for tid in self.ids():
                p = starts[tid - first]
                self.string(w[p])   # (raises at the first offset past the strings)
                step = step_of.get(self.kind(tid))
                if step:
                    for off in w[p + 3:p + 3 + step * (w[p + 1] & VLEN_MASK):step]:
                        self.string(off)
        self._names_checked = True

    def name(self, tid: int) -> str:
        if tid == 0:
            return ""
        b, p = self._owner(tid)
        return self.string(b._w[p])

    def info(self, tid: int) -> int:
        b, p = self._owner(tid)
        return b._w[p + 1]

    def vlen(self, tid: int) -> int:
        return self.info(tid) & VLEN_MASK if tid else 0

    def kflag(self, tid: int) -> bool:
        return bool(self.info(tid) >> KFLAG_SHIFT) if tid else False

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
        kind = _KINDS[(info >> KIND_SHIFT) & KIND_MASK]
        vlen = info & VLEN_MASK
        kflag = bool(info >> KFLAG_SHIFT)
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
            kw.update(int_encoding=(v >> INT_ENCODING_SHIFT) & 0xF, int_offset=(v >> INT_OFFSET_SHIFT) & 0xFF,
                      int_bits=v & 0xFF)
        elif kind == Kind.ARRAY:
            kw["array"] = ArrayInfo(w[x], w[x + 1], w[x + 2])
        elif kind in (Kind.STRUCT, Kind.UNION):
            ms = []
            for i in range(vlen):
                q = x + 3 * i
                off = w[q + 2]
                if kflag:
                    ms.append(Member(self.string(w[q]), w[q + 1], off & BIT_OFFSET_MASK, off >> BITFIELD_SHIFT))
                else:
                    ms.append(Member(self.string(w[q]), w[q + 1], off, 0))
            kw["members"] = tuple(ms)
        elif kind == Kind.ENUM:
            vals = []
            for i in range(vlen):
                q = x + 2 * i
                v = w[q + 1]
                vals.append(EnumValue(self.string(w[q]), s32(v) if kflag else v))
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
            kw["component_idx"] = s32(w[x])
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
            if kind is not None and ((w[p + 1] >> KIND_SHIFT) & KIND_MASK) != kind:
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

    # -- layout and C type names (one engine each: layout.py, decl.py) ------------------------

    @property
    def table(self):
        """The flat id-indexed table over this blob and its bases (made once)."""
        t = self._table
        if t is None:
            from bpfinspect.btf.table import Table
            t = self._table = Table(self)
        return t

    @property
    def layout(self):
        """Sizes, alignments and member placement (:mod:`bpfinspect.btf.layout`), made once."""
        lay = self._layout
        if lay is None:
            from bpfinspect.btf.layout import Layout
            lay = self._layout = Layout(self.table)
        return lay

    def sizeof(self, tid: int) -> int:
        """Size in bytes as libbpf resolves it; MalformedInput when the type has none."""
        self.check_id(tid)
        size = self.layout.sizeof(tid)
        if size < 0:
            raise MalformedInput(f"type [{tid}] {self.kind(tid).name} has no size"
                                 if size != -7 else f"type [{tid}] is larger than 4 GiB",
                                 path=self.path, section=self.section)
        return size

    def alignof(self, tid: int) -> int:
        """Alignment in bytes as libbpf computes it (1 for a packed record); MalformedInput when
        the type has none (a function, a forward declaration, void)."""
        self.check_id(tid)
        try:
            align = self.layout.alignof(tid)
        except RecursionError:
            raise MalformedInput(f"type [{tid}] nests too deeply (a cycle?)", path=self.path,
                                 section=self.section) from None
        if align <= 0:
            raise MalformedInput(f"type [{tid}] {self.kind(tid).name} has no alignment", path=self.path,
                                 section=self.section)
        return align

    def type_name(self, tid: int, var: str = "") -> str:
        """A C declaration of ``var`` with type ``tid`` (just the type when ``var`` is empty), as
        clang spells types: ``const char *restrict const``, ``int (*)(void *)``,
        ``char[16]``.  Named structs, unions and enums are written by tag, anonymous ones as
        ``struct {...}``; type tags are left out.  A function or variable is declared with its
        own name when ``var`` is empty; a data section or decl tag is its name."""
        self.check_id(tid)
        k = self.kind(tid)
        if k == Kind.FUNC or k == Kind.VAR:
            var = var or self.name(tid)
            tid = self.check_id(self.ref(tid))
        elif k == Kind.DATASEC or k == Kind.DECL_TAG:
            return f"{self.name(tid)} {var}" if var else self.name(tid)
        d = self._declarator
        if d is None:
            from bpfinspect.btf.decl import MODEL, Declarator
            d = self._declarator = Declarator(self.table, style=MODEL)
        try:
            return d.decl(tid, var)
        except RecursionError:
            raise MalformedInput(f"type [{tid}] nests too deeply to be named", path=self.path,
                                 section=self.section) from None


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
    from bpfinspect.fileio import HEAD_SIZE, read_input

    def look(head: bytes, size: int | None) -> None:
        if head[:4] == b"\x7fELF":
            from bpfinspect.elf.header import parse_header   # (raw BTF needs no ELF reader)
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
