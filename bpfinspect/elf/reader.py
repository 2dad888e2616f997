"""The ELF container: sections, symbols and relocation entries.

Small frozen records read straight from the fixed-layout ELF tables (both
classes, both byte orders), every offset and size checked against the bytes
that exist, every failure a :class:`MalformedInput`.  It knows nothing of BPF
beyond the machine number it reports.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class ElfSection:
    index: int
    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    info: int
    align: int
    entsize: int
    _file: "ElfFile"

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
        return self._file.data[self.offset:self.offset + self.size]

    def __repr__(self) -> str:  # keep the back-reference out of reprs
        return f"ElfSection({self.index}, {self.name!r}, {self.type_name}, size={self.size})"


@dataclass(frozen=True, slots=True)
class ElfSymbol:
    index: int
    name: str
    value: int
    size: int
    bind: str      # LOCAL, GLOBAL, WEAK
    type: str      # NOTYPE, OBJECT, FUNC, SECTION, FILE
    visibility: str
    shndx: int     # 0 = undefined; SHN_ABS 0xfff1, SHN_COMMON 0xfff2

    @property
    def defined(self) -> bool:
        return self.shndx != 0 and self.shndx < 0xff00


@dataclass(frozen=True, slots=True)
class ElfReloc:
    offset: int
    type: int
    symbol: ElfSymbol
    addend: int



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
        if size < 16 or self.data[:4] != b"\x7fELF":
            raise MalformedInput("not an ELF file", path=path, offset=0)
        cls, enc = self.data[4], self.data[5]
        if cls not in (1, 2):
            raise MalformedInput(f"unknown ELF class {cls}", path=path, offset=4)
        if enc not in (1, 2):
            raise MalformedInput(f"unknown ELF data encoding {enc}", path=path, offset=5)
        self.elfclass = 64 if cls == 2 else 32
        self.little = enc == 1
        self.endian = "little" if self.little else "big"
        e = "<" if self.little else ">"
        self._e = e
        hdr = struct.Struct(e + ("HHIQQQIHHHHHH" if cls == 2 else "HHIIIIIHHHHHH"))
        if size < 16 + hdr.size:
            raise MalformedInput(f"truncated ELF header ({size} bytes)", path=path, offset=0)
        (self.elf_type, self.machine, _version, _entry, _phoff, shoff, _flags, _ehsize, _phentsize, _phnum,
         shentsize, shnum, shstrndx) = hdr.unpack_from(self.data, 16)
        self._shoff = shoff
        self._shentsize = shentsize
        want = 64 if cls == 2 else 40
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
        off = self._shoff + i * self._shentsize
        if self.elfclass == 64:
            return struct.unpack_from(self._e + "IIQQQQIIQQ", self.data, off)
        name, typ, flags, addr, offset, sz, link, info, align, entsize = struct.unpack_from(
            self._e + "IIIIIIIIII", self.data, off)
        return name, typ, flags, addr, offset, sz, link, info, align, entsize

    @classmethod
    def from_path(cls, path: str | os.PathLike) -> "ElfFile":
        from bpfinspect.fileio import read_input

        path = os.fspath(path)
        return cls(read_input(path), path=path)

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
            where = 62 if self.elfclass == 64 else 50
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

    def section_by_name(self, name: str) -> ElfSection | None:
        for s in self.sections:
            if s.name == name:
                return s
        return None

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
        entsize = 24 if self.elfclass == 64 else 16
        if symtab.entsize and symtab.entsize != entsize:
            raise self._error(f"symbol entry size {symtab.entsize}, expected {entsize}", symtab.offset, symtab.name)
        count = symtab.size // entsize
        if count > MAX_SYMBOLS:
            raise self._error(f"absurd symbol count {count}", symtab.offset, symtab.name)
        strtab = b""
        if 0 < symtab.link < len(self.sections):
            strtab = self.sections[symtab.link].data()
        end = "<" if self.little else ">"
        if self.elfclass == 64:
            fmt = struct.Struct(end + "IBBHQQ")
        else:
            fmt = struct.Struct(end + "IIIBBH")
        data = symtab.data()
        out = []
        for i in range(count):
            if self.elfclass == 64:
                name_off, info, other, shndx, value, sz = fmt.unpack_from(data, i * entsize)
            else:
                name_off, value, sz, info, other, shndx = fmt.unpack_from(data, i * entsize)
            name = _cstr(strtab, name_off) if name_off < len(strtab) else ""
            out.append(ElfSymbol(i, name, value, sz, _BINDS.get(info >> 4, f"BIND{info >> 4}"),
                                 _STTYPES.get(info & 0xF, f"TYPE{info & 0xF}"),
                                 _VIS.get(other & 3, "DEFAULT"), shndx))
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
        rela = rel.type == SHT_RELA
        if self.elfclass == 64:
            entsize = 24 if rela else 16
        else:
            entsize = 12 if rela else 8
        count = rel.size // entsize
        data = rel.data()
        syms = self.symbols
        end = "<" if self.little else ">"
        out = []
        if self.elfclass == 64:
            fmt = struct.Struct(end + ("QQq" if rela else "QQ"))
        else:
            fmt = struct.Struct(end + ("IIi" if rela else "II"))
        for i in range(count):
            fields = fmt.unpack_from(data, i * entsize)
            offset, info = fields[0], fields[1]
            addend = fields[2] if rela else 0
            if self.elfclass == 64:
                sym_index, rtype = info >> 32, info & 0xFFFFFFFF
            else:
                sym_index, rtype = info >> 8, info & 0xFF
            if sym_index >= len(syms):
                raise self._error(f"relocation {i} names symbol {sym_index}, symbol table has {len(syms)}",
                                  rel.offset + i * entsize, rel.name)
            out.append(ElfReloc(offset, rtype, syms[sym_index], addend))
        return tuple(out)


def _cstr(blob: bytes, off: int) -> str:
    end = blob.find(b"\0", off)
    if end < 0:
        end = len(blob)
    return blob[off:end].decode("utf-8", "replace")


_BINDS = {0: "LOCAL", 1: "GLOBAL", 2: "WEAK", 10: "GNU_UNIQUE"}
_STTYPES = {0: "NOTYPE", 1: "OBJECT", 2: "FUNC", 3: "SECTION", 4: "FILE", 5: "COMMON", 6: "TLS"}
_VIS = {0: "DEFAULT", 1: "INTERNAL", 2: "HIDDEN", 3: "PROTECTED"}

