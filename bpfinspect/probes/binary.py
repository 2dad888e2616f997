"""User-space ELF binaries (executables and shared libraries), read through pyelftools.

pyelftools reads the ELF header, the section and program header tables, the
GNU version sections and the notes.  The two symbol tables and the version
index array are arrays of fixed-size records: they are unpacked here in one
pass with :mod:`struct` (pyelftools builds one object per symbol, 3.8 s for the
52,000 dynamic symbols of libLLVM against 0.05 s).

The file is mapped, never read whole.  A binary comes from a stranger: every
table is checked against the size of the file before it is walked, every loop
is bounded by the bytes that exist, and whatever pyelftools raises on a damaged
file becomes one :class:`~bpfinspect.errors.MalformedInput`.
"""

from __future__ import annotations

import functools
import itertools
import mmap
import os
import stat
import struct
from dataclasses import dataclass

from bpfinspect.errors import BpfInspectError, MalformedInput

SHT_SYMTAB, SHT_DYNSYM, SHT_NOTE, SHT_NOBITS = 2, 11, 7, 8
SHT_GNU_VERSYM, SHT_GNU_VERDEF, SHT_GNU_VERNEED = 0x6FFFFFFF, 0x6FFFFFFD, 0x6FFFFFFE
PT_LOAD = 1
PF_X, PF_W = 1, 2
STT_FUNC, STT_GNU_IFUNC = 2, 10
STB_LOCAL, STB_GLOBAL, STB_WEAK = 0, 1, 2
SHN_UNDEF, SHN_ABS, SHN_COMMON = 0, 0xFFF1, 0xFFF2
VERSYM_HIDDEN = 0x8000

BIND_NAMES = {STB_LOCAL: "local", STB_GLOBAL: "global", STB_WEAK: "weak", 10: "unique"}
TYPE_NAMES = {0: "notype", 1: "object", STT_FUNC: "func", 3: "section", 4: "file", 5: "common", 6: "tls",
              STT_GNU_IFUNC: "ifunc"}


@dataclass(frozen=True, slots=True)
class Section:
    index: int
    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    info: int
    entsize: int


@dataclass(frozen=True, slots=True)
class Segment:
    """A program header: ``vaddr``/``memsz`` in memory, ``offset``/``filesz`` in the file."""
    type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int

    @property
    def executable(self) -> bool:
        return bool(self.flags & PF_X)

    def contains(self, vaddr: int) -> bool:
        return self.vaddr <= vaddr < self.vaddr + self.memsz


@dataclass(frozen=True, slots=True)
class Symbol:
    """One entry of ``.dynsym`` or ``.symtab``.

    ``raw_name`` is the string table's text (in ``.symtab`` of a versioned
    library it carries the version: ``foo@V1``, ``foo@@V2``); ``name`` is the
    part before any ``@``.  ``version`` comes from the text after ``@`` or, in
    ``.dynsym``, from ``.gnu.version``; ``default_version`` is True for ``@@``
    (or a version index without the hidden bit), False for ``@``, None when the
    symbol has no version.  ``name_ok`` is False when the name offset lies
    outside the string table (libbpf skips such a symbol).
    """
    table: str          # "dynsym" or "symtab"
    index: int
    raw_name: str
    name: str
    version: str | None
    default_version: bool | None
    value: int
    size: int
    bind: int
    type: int
    shndx: int
    version_index: int  # .gnu.version entry (dynsym only; 0 otherwise), without the hidden bit
    name_ok: bool = True

    @property
    def defined(self) -> bool:
        return self.shndx != SHN_UNDEF

    @property
    def bind_name(self) -> str:
        return BIND_NAMES.get(self.bind, f"bind{self.bind}")

    @property
    def type_name(self) -> str:
        return TYPE_NAMES.get(self.type, f"type{self.type}")

    @property
    def versioned_name(self) -> str:
        if self.version is None:
            return self.name
        return f"{self.name}{'@@' if self.default_version else '@'}{self.version}"


@dataclass(frozen=True, slots=True)
class Note:
    name: str
    type: int
    desc: bytes
    offset: int         # of the note header in the file


def _text(raw: bytes) -> str:
    """Names keep every byte: undecodable ones come back as surrogates (as in os.fsdecode)."""
    return raw.decode("utf-8", "surrogateescape")


def _cstr(table: bytes, offset: int) -> str:
    if not 0 <= offset < len(table):
        return ""
    end = table.find(b"\0", offset)
    return _text(table[offset:end if end >= 0 else len(table)])


def _split_version(raw: str) -> tuple[str, str | None, bool | None]:
    at = raw.find("@")
    if at < 0:
        return raw, None, None
    if raw.startswith("@@", at):
        return raw[:at], raw[at + 2:], True
    return raw[:at], raw[at + 1:], False


def _guard(fn):
    """Turn whatever pyelftools or struct raises on a damaged file into MalformedInput."""
    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        try:
            return fn(self, *args, **kwargs)
        except BpfInspectError:
            raise
        except (MemoryError, RecursionError):
            raise
        except Exception as exc:  # ELFError, construct errors, struct.error, ValueError, IndexError...
            raise MalformedInput(f"damaged ELF file ({type(exc).__name__}: {exc})", path=self.path) from None
    return wrapper


class Binary:
    """An executable or shared library, mapped read-only.  Use as a context manager."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            raise MalformedInput("no such file", path=path) from None
        except OSError as exc:
            raise MalformedInput(exc.strerror or str(exc), path=path) from None
        try:
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):
                raise MalformedInput("is a directory", path=path)
            if not stat.S_ISREG(st.st_mode):
                raise MalformedInput("not a regular file (uprobes need one)", path=path)
            self.size = st.st_size
            self.inode = (st.st_dev, st.st_ino)
            if self.size < 52:
                raise MalformedInput(f"not an ELF file ({self.size} bytes)", path=path, offset=0)
            self._map = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
        finally:
            os.close(fd)
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> "Binary":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        m, self._map = getattr(self, "_map", None), None
        if m is not None:
            self.__dict__.pop("_elf", None)
            m.close()

    # ---------------------------------------------------------------- headers

    @_guard
    def _open(self) -> None:
        m = self._map
        if m[:4] != b"\x7fELF":
            raise MalformedInput("not an ELF file", path=self.path, offset=0)
        if m[4] not in (1, 2) or m[5] not in (1, 2):
            raise MalformedInput(f"unknown ELF class {m[4]} or data encoding {m[5]}", path=self.path, offset=4)
        from elftools.elf.elffile import ELFFile

        self._elf = ELFFile(m)
        h = self._elf.header
        self.elfclass = self._elf.elfclass
        self.little_endian = self._elf.little_endian
        self._e = "<" if self.little_endian else ">"
        self.elf_type = str(h["e_type"])               # ET_EXEC, ET_DYN, ...
        self.machine = str(h["e_machine"])              # EM_X86_64, EM_AARCH64, ...
        # the section and program header tables must lie inside the file before pyelftools walks them
        shnum = self._elf.num_sections() if h["e_shoff"] else 0
        if shnum and (h["e_shentsize"] < (64 if self.elfclass == 64 else 40)
                      or h["e_shoff"] + shnum * h["e_shentsize"] > self.size):
            raise MalformedInput(f"section header table ({shnum} entries at {h['e_shoff']:#x}) runs past the end "
                                 f"of the file ({self.size} bytes)", path=self.path, offset=h["e_shoff"])
        phnum = self._elf.num_segments() if h["e_phoff"] else 0
        if phnum and (h["e_phentsize"] < (56 if self.elfclass == 64 else 32)
                      or h["e_phoff"] + phnum * h["e_phentsize"] > self.size):
            raise MalformedInput(f"program header table ({phnum} entries at {h['e_phoff']:#x}) runs past the end "
                                 f"of the file ({self.size} bytes)", path=self.path, offset=h["e_phoff"])
        self._shnum, self._phnum = shnum, phnum

    @functools.cached_property
    @_guard
    def sections(self) -> tuple[Section, ...]:
        from elftools.elf.enums import ENUM_SH_TYPE_BASE

        sh_types = dict(ENUM_SH_TYPE_BASE)
        out = []
        names = self._shstrtab()
        for i in range(self._shnum):
            hdr = self._elf._get_section_header(i)
            typ = hdr["sh_type"]
            typ = typ if isinstance(typ, int) else sh_types.get(typ, 0)
            name_off = hdr["sh_name"]
            name = _text(names[name_off:names.find(b"\0", name_off)]) if name_off < len(names) else ""
            out.append(Section(i, name, typ, hdr["sh_flags"], hdr["sh_addr"], hdr["sh_offset"], hdr["sh_size"],
                               hdr["sh_link"], hdr["sh_info"], hdr["sh_entsize"]))
        return tuple(out)

    def _shstrtab(self) -> bytes:
        idx = self._elf.header["e_shstrndx"]
        if idx == 0xFFFF and self._shnum:  # SHN_XINDEX: the real index is section 0's sh_link
            idx = self._elf._get_section_header(0)["sh_link"]
        if not 0 < idx < self._shnum:
            return b""
        hdr = self._elf._get_section_header(idx)
        return self.section_bytes_at(hdr["sh_offset"], hdr["sh_size"], "section name table")

    @functools.cached_property
    @_guard
    def segments(self) -> tuple[Segment, ...]:
        from elftools.elf.enums import ENUM_P_TYPE_BASE

        p_types = dict(ENUM_P_TYPE_BASE)
        out = []
        for i in range(self._phnum):
            h = self._elf._get_segment_header(i)
            typ = h["p_type"]
            typ = typ if isinstance(typ, int) else p_types.get(typ, 0)
            out.append(Segment(typ, h["p_flags"], h["p_offset"], h["p_vaddr"], h["p_filesz"], h["p_memsz"]))
        return tuple(out)

    @property
    def load_segments(self) -> tuple[Segment, ...]:
        return tuple(s for s in self.segments if s.type == PT_LOAD)

    def section_bytes_at(self, offset: int, size: int, what: str) -> bytes:
        if offset < 0 or size < 0 or offset + size > self.size:
            raise MalformedInput(f"{what} ({size} bytes at {offset:#x}) runs past the end of the file "
                                 f"({self.size} bytes)", path=self.path, offset=offset)
        return self._map[offset:offset + size]

    def section_data(self, sec: Section) -> bytes:
        if sec.type == SHT_NOBITS or sec.type == 0:
            return b""
        return self.section_bytes_at(sec.offset, sec.size, f"section [{sec.index}] {sec.name}")

    def first_section(self, sh_type: int) -> Section | None:
        """The first section of a type (as libbpf's elf_find_next_scn_by_type(elf, type, NULL))."""
        return next((s for s in self.sections if s.type == sh_type), None)

    def section_by_name(self, name: str) -> Section | None:
        return next((s for s in self.sections if s.name == name), None)

    def section(self, index: int) -> Section | None:
        secs = self.sections
        return secs[index] if 0 <= index < len(secs) else None

    # ---------------------------------------------------------------- symbols

    @property
    def dynsym(self) -> tuple[Symbol, ...] | None:
        """``.dynsym`` (the first SHT_DYNSYM section), or None when the binary has none."""
        return self._symbols(SHT_DYNSYM)

    @property
    def symtab(self) -> tuple[Symbol, ...] | None:
        """``.symtab`` (the first SHT_SYMTAB section), or None (a stripped binary)."""
        return self._symbols(SHT_SYMTAB)

    def _symbols(self, sh_type: int) -> tuple[Symbol, ...] | None:
        cache = self.__dict__.setdefault("_symbol_cache", {})
        if sh_type not in cache:
            cache[sh_type] = self._read_symbols(sh_type)
        return cache[sh_type]

    @_guard
    def _read_symbols(self, sh_type: int) -> tuple[Symbol, ...] | None:
        sec = self.first_section(sh_type)
        if sec is None:
            return None
        table = "dynsym" if sh_type == SHT_DYNSYM else "symtab"
        entsize = 24 if self.elfclass == 64 else 16
        if sec.entsize != entsize:
            raise MalformedInput(f"{sec.name}: symbol entries of {sec.entsize} bytes, expected {entsize}",
                                 path=self.path, offset=sec.offset)
        data = self.section_data(sec)
        strsec = self.section(sec.link)
        strtab = self.section_data(strsec) if strsec is not None else b""
        count = len(data) // entsize
        if self.elfclass == 64:
            rows = ((n, v, sz, info, shndx) for n, info, _o, shndx, v, sz in
                    struct.iter_unpack(self._e + "IBBHQQ", data[:count * entsize]))
        else:
            rows = ((n, v, sz, info, shndx) for n, v, sz, info, _o, shndx in
                    struct.iter_unpack(self._e + "IIIBBH", data[:count * entsize]))
        versym = self._versym(count) if sh_type == SHT_DYNSYM else None
        defs = self.version_definitions if versym is not None else {}
        needs = self.version_needs if versym is not None else {}
        out = []
        for i, (name_off, value, size, info, shndx) in enumerate(rows):
            name_ok = name_off < len(strtab)
            raw = _cstr(strtab, name_off)
            name, version, default = _split_version(raw)
            vindex = 0
            if versym is not None and i < len(versym):
                v = versym[i]
                vindex = v & ~VERSYM_HIDDEN
                if vindex > 1 and version is None:
                    if vindex in defs:
                        version, default = defs[vindex], not v & VERSYM_HIDDEN
                    elif vindex in needs:  # a reference to another file's version: name@VERSION
                        version, default = needs[vindex][0], False
            out.append(Symbol(table, i, raw, name, version, default, value, size, info >> 4, info & 0xF, shndx,
                              vindex, name_ok))
        return tuple(out)

    def _versym(self, count: int) -> tuple[int, ...] | None:
        sec = self.first_section(SHT_GNU_VERSYM)
        if sec is None:
            return None
        data = self.section_data(sec)
        n = min(count, len(data) // 2)
        return struct.unpack_from(f"{self._e}{n}H", data, 0)

    @functools.cached_property
    @_guard
    def version_definitions(self) -> dict[int, str]:
        """Version index -> name, from ``.gnu.version_d`` (the versions this binary defines)."""
        found = self._version_section(SHT_GNU_VERDEF, 20)
        out: dict[int, str] = {}
        if found is None:
            return out
        sec, strtab = found
        for verdef, aux in sec.iter_versions():
            first = next(itertools.islice(aux, 1), None)
            if first is not None:
                out.setdefault(verdef["vd_ndx"], _cstr(strtab, first["vda_name"]))
        return out

    @functools.cached_property
    @_guard
    def version_needs(self) -> dict[int, tuple[str, str]]:
        """Version index -> (version name, library), from ``.gnu.version_r`` (what it imports)."""
        found = self._version_section(SHT_GNU_VERNEED, 16)
        out: dict[int, tuple[str, str]] = {}
        if found is None:
            return out
        sec, strtab = found
        budget = max(1, sec["sh_size"] // 16)  # no more auxiliary entries than fit in the section
        for verneed, aux in sec.iter_versions():
            library = _cstr(strtab, verneed["vn_file"])
            for entry in itertools.islice(aux, budget):
                budget -= 1
                out.setdefault(entry["vna_other"], (_cstr(strtab, entry["vna_name"]), library))
            if budget <= 0:
                break
        return out

    def _version_section(self, sh_type: int, record: int):
        """pyelftools' view of a version section, once its counts fit in its bytes."""
        info = self.first_section(sh_type)
        if info is None:
            return None
        self.section_data(info)  # inside the file
        strsec = self.section(info.link)
        if strsec is None:
            raise MalformedInput(f"{info.name}: string table index {info.link} out of range", path=self.path)
        if info.info * record > info.size:
            raise MalformedInput(f"{info.name}: {info.info} entries do not fit in {info.size} bytes",
                                 path=self.path, offset=info.offset)
        return self._elf.get_section(info.index), self.section_data(strsec)

    # ---------------------------------------------------------------- notes

    @_guard
    def notes(self, sec: Section) -> list[Note]:
        """The notes of a SHT_NOTE section (each one inside the section, or an error)."""
        self.section_data(sec)
        end = sec.offset + sec.size
        out = []
        for n in self._elf.get_section(sec.index).iter_notes():
            if n["n_offset"] + n["n_size"] > end + 3 or n["n_offset"] + n["n_size"] > self.size + 3:
                raise MalformedInput(f"{sec.name}: note at {n['n_offset']:#x} runs past the end of its section",
                                     path=self.path, offset=n["n_offset"])
            name = n["n_name"] or ""
            typ = n["n_type"]
            if not isinstance(typ, int):
                from elftools.elf.enums import ENUM_NOTE_N_TYPE
                typ = ENUM_NOTE_N_TYPE.get(typ, 0)
            out.append(Note(name, typ, bytes(n["n_descdata"]), n["n_offset"]))
        return out

    # ---------------------------------------------------------------- addresses

    def file_offset_by_section(self, sym: Symbol) -> int | None:
        """``st_value - sh_addr + sh_offset`` of the symbol's section (libbpf's computation), or None when
        the section index names no section (SHN_ABS, out of range).  Section 0 counts, as in libelf."""
        sec = self.section(sym.shndx)
        if sec is None:
            return None
        return sym.value - sec.addr + sec.offset

    def segment_of(self, vaddr: int) -> Segment | None:
        """The PT_LOAD segment (lowest address first) whose memory range holds ``vaddr``."""
        for seg in sorted(self.load_segments, key=lambda s: s.vaddr):
            if seg.contains(vaddr):
                return seg
        return None

    @functools.cached_property
    @_guard
    def is_pie(self) -> bool:
        """An ET_DYN file marked DF_1_PIE in its dynamic section (a position-independent executable)."""
        if self.elf_type != "ET_DYN":
            return False
        dyn = next((s for s in self.sections if s.type == 6), None)  # SHT_DYNAMIC
        if dyn is None:
            return False
        data = self.section_data(dyn)
        fmt = self._e + ("qQ" if self.elfclass == 64 else "iI")
        size = struct.calcsize(fmt)
        for tag, val in struct.iter_unpack(fmt, data[:len(data) // size * size]):
            if tag == 0:  # DT_NULL
                break
            if tag == 0x6FFFFFFB:  # DT_FLAGS_1
                return bool(val & 0x08000000)  # DF_1_PIE
        return False

    @property
    def kind(self) -> str:
        """``executable``, ``PIE executable``, ``shared library`` or the ELF type."""
        if self.elf_type == "ET_EXEC":
            return "executable"
        if self.elf_type == "ET_DYN":
            return "PIE executable" if self.is_pie else "shared library"
        return self.elf_type

    @property
    def machine_name(self) -> str:
        return _MACHINES.get(self.machine, self.machine.removeprefix("EM_").lower())


_MACHINES = {"EM_X86_64": "x86_64", "EM_386": "i386", "EM_AARCH64": "aarch64", "EM_RISCV": "riscv",
             "EM_S390": "s390x", "EM_ARM": "arm", "EM_PPC64": "powerpc64", "EM_PPC": "powerpc",
             "EM_LOONGARCH": "loongarch", "EM_MIPS": "mips"}


def open_binary(path: str) -> Binary:
    """Map ``path`` and read its ELF header; MalformedInput when it is not a readable ELF file."""
    return Binary(path)
