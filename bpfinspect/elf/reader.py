"""The ELF container: sections, symbols and relocation entries.

Small frozen records read straight from the fixed-layout ELF tables (both
classes, both byte orders), every offset and size checked against the bytes
that exist, every failure a :class:`MalformedInput`.  It knows nothing of BPF
beyond the machine number it reports.
"""

from __future__ import annotations

import os
import struct
from collections import namedtuple
from functools import cached_property

from bpfinspect.errors import MalformedInput

EM_BPF = 247

SHT_STRTAB = 3
SHT_NOBITS = 8
SHT_REL = 9
SHT_RELA = 4
SHF_EXECINSTR = 0x4

_SECTION_TYPE_NAMES = {
    0: "NULL", 1: "PROGBITS", 2: "SYMTAB", 3: "STRTAB", 4: "RELA", 5: "HASH", 6: "DYNAMIC",
    7: "NOTE", 8: "NOBITS", 9: "REL", 10: "SHLIB", 11: "DYNSYM", 14: "INIT_ARRAY",
    15: "FINI_ARRAY", 16: "PREINIT_ARRAY", 17: "GROUP", 18: "SYMTAB_SHNDX",
    0x6FFF4C03: "LLVM_ADDRSIG", 0x6FFF4C00: "LLVM_ODRTAB", 0x6FFF4C01: "LLVM_LINKER_OPTIONS",
    0x6FFF4C02: "LLVM_CALL_GRAPH_PROFILE", 0x6FFF4C04: "LLVM_DEPENDENT_LIBRARIES",
    0x6FFF4C05: "LLVM_SYMPART", 0x6FFF4C09: "LLVM_BB_ADDR_MAP", 0x6FFFFFF5: "GNU_ATTRIBUTES",
    0x6FFFFFF6: "GNU_HASH", 0x6FFFFFFD: "GNU_VERDEF", 0x6FFFFFFE: "GNU_VERNEED",
    0x6FFFFFFF: "GNU_VERSYM",
}

# Limits that keep hostile files from making us allocate or loop without end.
MAX_SECTIONS = 65535
MAX_SYMBOLS = 1 << 20

# The fixed-layout records of the two ELF classes (fields after e_ident for the header).
# Symbols keep their on-disk field order; ElfLayout.symbol_fields says where each one is.
_FORMATS = {
    64: {"header": "HHIQQQIHHHHHH", "section": "IIQQQQIIQQ", "symbol": "IBBHQQ", "rel": "QQ", "rela": "QQq"},
    32: {"header": "HHIIIIIHHHHHH", "section": "IIIIIIIIII", "symbol": "IIIBBH", "rel": "II", "rela": "IIi"},
}
# (name, info, other, shndx, value, size) positions within one unpacked symbol
_SYMBOL_FIELDS = {64: (0, 1, 2, 3, 4, 5), 32: (0, 3, 4, 5, 1, 2)}
# r_info: symbol index = info >> shift, relocation type = info & mask
_RINFO = {64: (32, 0xFFFFFFFF), 32: (8, 0xFF)}


# The records here are named tuples and a slotted class, not dataclasses: every command reads
# an ELF file, and a dataclass costs a few milliseconds of each start to define.
class ElfLayout(namedtuple("ElfLayout", "elfclass little header section symbol rel rela symbol_fields "
                                        "rinfo_shift rtype_mask")):
    """The record layouts of one ELF class in one byte order (sizes follow from the formats):
    ``header`` e_type ... e_shstrndx after the 16 bytes of e_ident; ``section`` name, type,
    flags, addr, offset, size, link, info, addralign, entsize; ``rel`` offset, info; ``rela``
    offset, info, addend (all :class:`struct.Struct`); ``symbol_fields`` where each symbol
    field is; ``r_info`` is split by ``rinfo_shift`` and ``rtype_mask``."""
    __slots__ = ()


def _layout(elfclass: int, little: bool) -> ElfLayout:
    order = "<" if little else ">"
    recs = {k: struct.Struct(order + f) for k, f in _FORMATS[elfclass].items()}
    shift, mask = _RINFO[elfclass]
    return ElfLayout(elfclass, little, symbol_fields=_SYMBOL_FIELDS[elfclass], rinfo_shift=shift,
                     rtype_mask=mask, **recs)


LAYOUTS = {(cls, little): _layout(cls, little) for cls in (32, 64) for little in (True, False)}


class ElfSection(namedtuple("ElfSection", "index name type flags addr offset size link info align entsize file")):
    """One section header, with its name, and the file it is in (for :meth:`data`)."""
    __slots__ = ()

    @property
    def type_name(self) -> str:
        return _SECTION_TYPE_NAMES.get(self.type, f"0x{self.type:x}")

    @property
    def is_nobits(self) -> bool:
        return self.type == SHT_NOBITS

    @property
    def is_exec(self) -> bool:
        return bool(self.flags & SHF_EXECINSTR)

    def data(self) -> bytes:
        if self.type == SHT_NOBITS or self.type == 0:
            return b""
        return self.file.data[self.offset:self.offset + self.size]

    def __repr__(self) -> str:  # keep the back-reference out of reprs
        return f"ElfSection({self.index}, {self.name!r}, {self.type_name}, size={self.size})"


class ElfSymbol(namedtuple("ElfSymbol", "index name value size bind type visibility shndx")):
    """One symbol: ``bind`` LOCAL, GLOBAL, WEAK...; ``type`` NOTYPE, OBJECT, FUNC, SECTION, FILE...;
    ``shndx`` 0 when undefined, SHN_ABS 0xfff1, SHN_COMMON 0xfff2."""
    __slots__ = ()

    @property
    def defined(self) -> bool:
        return self.shndx != 0 and self.shndx < 0xff00


class ElfReloc(namedtuple("ElfReloc", "offset type symbol addend")):
    """One relocation and the symbol it names."""
    __slots__ = ()



class ElfFile:
    """A relocatable ELF file held in memory.

    The ELF header and the section header table are fixed-layout records, so
    they are read directly with :mod:`struct` (a few microseconds, which keeps
    every command's start-up short); the tests check every field against
    pyelftools and llvm-readelf.
    """

    def __init__(self, data: bytes, path: str | None = None) -> None:
        self.data = data if isinstance(data, bytes) else bytes(data)
        self.path = path
        size = len(self.data)
        from bpfinspect.elf.header import HEAD_SIZE, parse_header

        h = parse_header(self.data[:HEAD_SIZE], None, path)  # identification and header fields
        self.elfclass, self.little = h.elfclass, h.little
        self.endian = "little" if self.little else "big"
        self.layout = LAYOUTS[(self.elfclass, self.little)]
        self.elf_type, self.machine = h.type, h.machine
        shoff, shentsize, shnum, shstrndx = h.shoff, h.shentsize, h.shnum, h.shstrndx
        want = self.layout.section.size
        self._shoff = shoff
        self._shentsize = shentsize
        if shoff == 0:
            shnum = 0
        elif shnum == 0 and shoff:  # more than 0xff00 sections: the count lives in section 0
            if shentsize < want or shoff + want > size:
                raise MalformedInput("section header table out of the file", path=path, offset=shoff)
            shnum = self._raw_header(0)[5]
        if shnum > MAX_SECTIONS:
            raise MalformedInput(f"absurd section count {shnum}", path=path, offset=shoff)
        if shnum and (shentsize < want or shoff + shnum * shentsize > size):
            raise MalformedInput(
                f"section header table ({shnum} x {shentsize} bytes at {shoff:#x}) runs past end of file ({size} bytes)",
                path=path, offset=shoff)
        if shstrndx == 0xFFFF and shnum:  # SHN_XINDEX: the real index is section 0's sh_link
            shstrndx = self._raw_header(0)[6]
        self.shnum = shnum
        self._shstrndx = shstrndx

    def _raw_header(self, i: int) -> tuple:
        """(name, type, flags, addr, offset, size, link, info, align, entsize) of section ``i``."""
        return self.layout.section.unpack_from(self.data, self._shoff + i * self._shentsize)

    @classmethod
    def from_path(cls, path: str | os.PathLike, *, check=None) -> "ElfFile":
        """The file at ``path``, read only once its header makes sense (``check(header,
        first_bytes)`` may refuse it too, e.g. for its machine)."""
        from bpfinspect.elf.header import HEAD_SIZE, parse_header
        from bpfinspect.fileio import read_input

        path = os.fspath(path)

        def look(head: bytes, size: int | None) -> None:
            header = parse_header(head, size, path)
            if check is not None:
                check(header, head)

        return cls(read_input(path, check=look, head=HEAD_SIZE), path=path)

    def _error(self, what: str, offset: int | None = None, section: str | None = None) -> MalformedInput:
        return MalformedInput(what, path=self.path, offset=offset, section=section)

    @cached_property
    def sections(self) -> tuple[ElfSection, ...]:
        size = len(self.data)
        headers = [self._raw_header(i) for i in range(self.shnum)]
        names = b""
        if headers:
            # Without its name table no section can be told from another: libbpf refuses
            # such a file too, so an index that names no string table is an error.
            where = 16 + self.layout.header.size - 2  # e_shstrndx, the header's last field
            if not 0 < self._shstrndx < len(headers):
                raise self._error(f"section name table index {self._shstrndx} out of range "
                                  f"({len(headers)} sections)", where)
            h = headers[self._shstrndx]
            if h[1] != SHT_STRTAB:
                raise self._error(f"section name table [{self._shstrndx}] is not a string table "
                                  f"(type {_SECTION_TYPE_NAMES.get(h[1], hex(h[1]))})", where)
            if h[4] + h[5] > size:
                raise self._error("section name table runs past end of file", h[4])
            names = self.data[h[4]:h[4] + h[5]]
        out = []
        for i, (name_off, stype, flags, addr, offset, length, link, info, align, entsize) in enumerate(headers):
            name = _cstr(names, name_off) if name_off < len(names) else (f"<bad name {name_off}>" if i else "")
            if stype not in (0, SHT_NOBITS) and offset + length > size:
                raise self._error(
                    f"section [{i}] {name} ({length} bytes at {offset:#x}) runs past end of file ({size} bytes)",
                    offset)
            out.append(ElfSection(i, name, stype, flags, addr, offset, length, link, info, align, entsize, self))
        return tuple(out)

    @cached_property
    def _by_name(self) -> dict[str, ElfSection]:
        out: dict[str, ElfSection] = {}
        for s in self.sections:
            out.setdefault(s.name, s)  # the first of equally named sections, as a scan finds it
        return out

    def section_by_name(self, name: str) -> ElfSection | None:
        return self._by_name.get(name)

    @cached_property
    def symtab(self) -> ElfSection | None:
        for s in self.sections:
            if s.type == 2:
                return s
        return None

    @cached_property
    def symbols(self) -> tuple[ElfSymbol, ...]:
        symtab = self.symtab
        if symtab is None:
            return ()
        lay = self.layout
        entsize = lay.symbol.size
        if symtab.entsize and symtab.entsize != entsize:
            raise self._error(f"symbol entry size {symtab.entsize}, expected {entsize}", symtab.offset, symtab.name)
        count = symtab.size // entsize
        if count > MAX_SYMBOLS:
            raise self._error(f"absurd symbol count {count}", symtab.offset, symtab.name)
        strtab = b""
        if 0 < symtab.link < len(self.sections):
            strtab = self.sections[symtab.link].data()
        data = symtab.data()
        names: dict[int, str] = {}
        ni, ii, oi, si, vi, zi = lay.symbol_fields
        out = []
        for i, rec in enumerate(lay.symbol.iter_unpack(data[:count * entsize])):
            name_off, info, other, shndx = rec[ni], rec[ii], rec[oi], rec[si]
            name = names.get(name_off)
            if name is None:
                name = names[name_off] = _cstr(strtab, name_off) if name_off < len(strtab) else ""
            out.append(ElfSymbol(i, name, rec[vi], rec[zi], _BINDS.get(info >> 4) or f"BIND{info >> 4}",
                                 _STTYPES.get(info & 0xF) or f"TYPE{info & 0xF}", _VIS[other & 3], shndx))
        return tuple(out)

    @cached_property
    def _rel_sections(self) -> dict[int, ElfSection]:
        """Target section index -> its REL/RELA section."""
        out = {}
        for s in self.sections:
            if s.type in (SHT_REL, SHT_RELA) and s.info < len(self.sections):
                out[s.info] = s
        return out

    def relocations(self, section_index: int) -> tuple[ElfReloc, ...]:
        """The relocations that apply to section ``section_index`` (decoded once)."""
        cache = self.__dict__.setdefault("_relocs_cache", {})
        found = cache.get(section_index)
        if found is None:
            rel = self._rel_sections.get(section_index)
            found = cache[section_index] = self._decode_relocs(rel) if rel is not None else ()
        return found

    def _decode_relocs(self, rel: ElfSection) -> tuple[ElfReloc, ...]:
        lay = self.layout
        rela = rel.type == SHT_RELA
        rec = lay.rela if rela else lay.rel
        count = rel.size // rec.size
        syms = self.symbols
        nsyms = len(syms)
        shift, mask = lay.rinfo_shift, lay.rtype_mask
        out = []
        for i, fields in enumerate(rec.iter_unpack(rel.data()[:count * rec.size])):
            offset, info = fields[0], fields[1]
            sym_index = info >> shift
            if sym_index >= nsyms:
                raise self._error(f"relocation {i} names symbol {sym_index}, symbol table has {nsyms}",
                                  rel.offset + i * rec.size, rel.name)
            out.append(ElfReloc(offset, info & mask, syms[sym_index], fields[2] if rela else 0))
        return tuple(out)


def _cstr(blob: bytes, off: int) -> str:
    end = blob.find(b"\0", off)
    if end < 0:
        end = len(blob)
    return blob[off:end].decode("utf-8", "replace")


_BINDS = {0: "LOCAL", 1: "GLOBAL", 2: "WEAK", 10: "GNU_UNIQUE"}
_STTYPES = {0: "NOTYPE", 1: "OBJECT", 2: "FUNC", 3: "SECTION", 4: "FILE", 5: "COMMON", 6: "TLS"}
_VIS = {0: "DEFAULT", 1: "INTERNAL", 2: "HIDDEN", 3: "PROTECTED"}

