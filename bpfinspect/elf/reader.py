"""The ELF container: sections, symbols and relocation entries.

pyelftools does the decoding; this module turns its objects into small frozen
records, checks every offset and size against the bytes that exist, and turns
every decoding failure into :class:`MalformedInput`.  It knows nothing of BPF
beyond the machine number it reports.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from functools import cached_property

from bpfinspect.errors import MalformedInput

EM_BPF = 247

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


_SHN_NAMES = {"SHN_UNDEF": 0, "SHN_ABS": 0xFFF1, "SHN_COMMON": 0xFFF2, "SHN_XINDEX": 0xFFFF}


class ElfFile:
    """A relocatable ELF file held in memory."""

    def __init__(self, data: bytes, path: str | None = None) -> None:
        from elftools.common.exceptions import ELFError
        from elftools.elf.elffile import ELFFile

        self.data = bytes(data)
        self.path = path
        if len(self.data) < 16 or self.data[:4] != b"\x7fELF":
            raise MalformedInput("not an ELF file", path=path, offset=0)
        if self.data[4] not in (1, 2):
            raise MalformedInput(f"unknown ELF class {self.data[4]}", path=path, offset=4)
        if self.data[5] not in (1, 2):
            raise MalformedInput(f"unknown ELF data encoding {self.data[5]}", path=path, offset=5)
        try:
            self._elf = ELFFile(io.BytesIO(self.data))
            header = self._elf.header
            self.machine = self._machine_number(header["e_machine"])
            self.elf_type = header["e_type"]
            self.little = self._elf.little_endian
            self.elfclass = self._elf.elfclass
            shnum = self._elf.num_sections()
        except (ELFError, ValueError, KeyError, AttributeError, TypeError, IndexError) as exc:
            raise MalformedInput(f"bad ELF header: {exc}", path=path, offset=0) from None
        except Exception as exc:  # construct's StreamError and friends
            raise MalformedInput(f"truncated ELF header ({type(exc).__name__})", path=path, offset=0) from None
        self.endian = "little" if self.little else "big"
        shoff = header["e_shoff"]
        shentsize = header["e_shentsize"]
        if shnum > MAX_SECTIONS:
            raise MalformedInput(f"absurd section count {shnum}", path=path, offset=shoff)
        if shnum and (shentsize < (64 if self.elfclass == 64 else 40) or shoff + shnum * shentsize > len(self.data)):
            raise MalformedInput(
                f"section header table ({shnum} x {shentsize} bytes at {shoff:#x}) runs past end of file ({len(self.data)} bytes)",
                path=path, offset=shoff)
        self.shnum = shnum

    @staticmethod
    def _machine_number(value) -> int:
        if isinstance(value, int):
            return value
        from elftools.elf.enums import ENUM_E_MACHINE
        return ENUM_E_MACHINE.get(value, -1)

    @classmethod
    def from_path(cls, path: str | os.PathLike) -> "ElfFile":
        path = os.fspath(path)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise MalformedInput("no such file", path=path) from None
        except IsADirectoryError:
            raise MalformedInput("is a directory, not an object file", path=path) from None
        except OSError as exc:
            raise MalformedInput(exc.strerror or str(exc), path=path) from None
        return cls(data, path=path)

    def _error(self, what: str, offset: int | None = None, section: str | None = None) -> MalformedInput:
        return MalformedInput(what, path=self.path, offset=offset, section=section)

    @cached_property
    def sections(self) -> tuple[ElfSection, ...]:
        out = []
        size = len(self.data)
        try:
            headers = [self._elf._get_section_header(i) for i in range(self.shnum)]
        except Exception as exc:
            raise self._error(f"unreadable section header ({type(exc).__name__})", self._elf.header["e_shoff"]) from None
        shstrndx = self._elf.header["e_shstrndx"]
        if shstrndx == 0xFFFF and headers:  # SHN_XINDEX: real index in section 0's sh_link
            shstrndx = headers[0]["sh_link"]
        names = b""
        if 0 < shstrndx < len(headers):
            h = headers[shstrndx]
            if h["sh_type"] != "SHT_NOBITS":
                if h["sh_offset"] + h["sh_size"] > size:
                    raise self._error("section name table runs past end of file", h["sh_offset"])
                names = self.data[h["sh_offset"]:h["sh_offset"] + h["sh_size"]]
        for i, h in enumerate(headers):
            stype = h["sh_type"]
            if not isinstance(stype, int):
                from elftools.elf.enums import ENUM_SH_TYPE_BASE
                stype = ENUM_SH_TYPE_BASE.get(stype, _TYPE_BY_NAME.get(stype, 0))
            name_off = h["sh_name"]
            name = _cstr(names, name_off) if name_off < len(names) else (f"<bad name {name_off}>" if i else "")
            offset, length = h["sh_offset"], h["sh_size"]
            if stype not in (0, SHT_NOBITS) and offset + length > size:
                raise self._error(
                    f"section [{i}] {name} ({length} bytes at {offset:#x}) runs past end of file ({size} bytes)",
                    offset)
            flags = h["sh_flags"]
            out.append(ElfSection(i, name, stype, flags, h["sh_addr"], offset, length, h["sh_link"],
                                  h["sh_info"], h["sh_addralign"], h["sh_entsize"], self))
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
        import struct
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

    def reloc_section_for(self, section_index: int) -> ElfSection | None:
        return self._rel_sections.get(section_index)

    def relocations(self, section_index: int) -> tuple[ElfReloc, ...]:
        rel = self._rel_sections.get(section_index)
        if rel is None:
            return ()
        return self._decode_relocs(rel)

    def _decode_relocs(self, rel: ElfSection) -> tuple[ElfReloc, ...]:
        import struct
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
_TYPE_BY_NAME = {"SHT_" + v: k for k, v in _SECTION_TYPE_NAMES.items()}
