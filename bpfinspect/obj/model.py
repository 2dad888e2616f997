"""The BPF object model: plain frozen records, built once by :mod:`bpfinspect.obj.build`."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bpfinspect.btf import Btf, BtfExt, LineInfo
    from bpfinspect.elf import ElfFile
    from bpfinspect.sections import SectionSpec


@dataclass(frozen=True, slots=True)
class SectionInfo:
    index: int
    name: str
    type: str           # ELF section type name: PROGBITS, NOBITS, REL, ...
    flags: int
    flags_text: str     # readelf-style letters: W A X M S I L O G T E
    size: int
    offset: int
    align: int
    entsize: int
    link: int
    info: int
    kind: str           # program, subprograms, maps, legacy_maps, data, rodata, bss, struct_ops,
                        # btf, btf_ext, license, version, relocations, symtab, strtab, debug, other
    program_type: str | None  # libbpf program type for program sections


@dataclass(frozen=True, slots=True)
class Reloc:
    section: str        # section the relocation applies to (a code section, .maps, .data...)
    offset: int         # byte offset in that section
    insn_index: int     # offset // 8 (meaningful in code sections)
    kind: str           # map, global_data, subprog_call, callback, kfunc, kconfig, ksym,
                        # map_slot, struct_ops_prog, data_pointer, unknown
    symbol: str         # the ELF symbol's name ('' for section symbols)
    target: str         # what it resolves to: map/var/program/extern name, or section name
    target_offset: int  # offset inside the target (global data: byte offset; calls: insn index)
    elf_type: int       # R_BPF_* number
    elf_type_name: str


@dataclass(frozen=True, slots=True)
class CoreReloInfo:
    section: str
    offset: int         # byte offset of the instruction in its section
    insn_index: int
    kind: str           # byte_off, byte_sz, field_exists, ...
    type_id: int
    access: str         # raw access string, e.g. "0:1:0"
    text: str           # libbpf's rendering: "[53] struct task_struct.tgid (0:93 @ offset 1268)"

    @property
    def describe(self) -> str:
        return f"<{self.kind}> {self.text}"


@dataclass(frozen=True, slots=True)
class Function:
    """Where a function's code lies: cheap to find (symbols only), shared by every view."""
    name: str
    section: str
    section_index: int
    offset: int         # byte offset in the section
    size: int           # bytes
    linkage: str        # global, static, weak
    is_subprog: bool    # a function of .text


@dataclass(frozen=True, slots=True)
class Program:
    name: str
    section: str
    section_index: int
    offset: int         # byte offset of the first instruction in the section
    size: int           # bytes
    insns: int          # instruction slots (size // 8)
    is_subprog: bool
    linkage: str        # global, static, weak
    subprograms: tuple[str, ...]   # subprograms reachable through calls (transitively)
    maps: tuple[str, ...]          # maps referenced (own code and reachable subprograms)
    helpers: tuple[str, ...]       # helper names called
    kfuncs: tuple[str, ...]
    globals: tuple[str, ...]       # global variables referenced
    relocs: tuple[Reloc, ...]      # relocations inside this program's own range

    @property
    def spec(self) -> "SectionSpec | None":
        """Meaning of the section name (None for .text subprograms); read on first use."""
        if self.is_subprog:
            return None
        from bpfinspect.sections import parse_section
        return parse_section(self.section)

    @property
    def type(self) -> str | None:
        if self.is_subprog:
            return None
        from bpfinspect.sections import program_type_of
        return program_type_of(self.section)

    @property
    def attach_type(self) -> str | None:
        return self.spec.attach_type if self.spec else None


@dataclass(frozen=True, slots=True)
class Map:
    name: str
    type: str                 # libbpf map type name: hash, array, ringbuf, struct_ops...
    type_id: int              # numeric map type (BPF_MAP_TYPE_*)
    key_size: int
    value_size: int
    max_entries: int
    map_flags: int
    numa_node: int
    pinning: str              # none, by_name (legacy iproute2: object_ns, global_ns)
    map_extra: int
    key_type: str | None      # C type text
    value_type: str | None
    key_type_id: int
    value_type_id: int
    inner: "Map | None"
    initial_slots: tuple[tuple[str, str], ...]  # (slot or struct_ops member, target name)
    section: str              # .maps, maps, .struct_ops, .struct_ops.link
    offset: int               # offset of the definition in its section
    size: int                 # size of the definition
    btf_var_id: int           # BTF VAR id (0 when there is none)


@dataclass(frozen=True, slots=True)
class Var:
    name: str
    offset: int
    size: int
    type: str | None          # C type text (None without BTF)
    type_id: int
    linkage: str              # global, static, extern
    is_static: bool
    initial: bytes | None     # None for .bss


@dataclass(frozen=True, slots=True)
class DataSection:
    name: str                 # .data, .rodata.cfg, .bss ...
    index: int                # ELF section index
    size: int
    kind: str                 # data, rodata, bss
    map_name: str             # libbpf's internal map name for this object
    skel_name: str            # member name in a C skeleton: data, rodata, data_counters...
    initial: bytes | None     # None for .bss
    btf_id: int               # DATASEC type id (0 without BTF)
    variables: tuple[Var, ...]


@dataclass(frozen=True, slots=True)
class Extern:
    name: str
    kind: str                 # kconfig, ksym, kfunc
    type: str | None          # C type text; None for a typeless ksym
    type_id: int
    weak: bool
    typed: bool               # ksym with a BTF type (false: typeless address)


class BpfObject:
    """One BPF object file.

    Built once and never changed.  Only the section table is read up front;
    every other part (BTF, programs, maps, globals, relocations...) is decoded
    the first time it is asked for, so a command pays only for what it shows.
    """

    def __init__(self, elf: "ElfFile") -> None:
        import importlib

        from bpfinspect.obj.names import libbpf_object_name, skeleton_object_name

        # the stage functions live in obj.build, which imports this module
        _b = importlib.import_module("bpfinspect.obj.build")
        self._b = _b
        self.elf = elf
        self.path: str | None = elf.path
        self.data: bytes = elf.data
        self.endian: str = elf.endian
        self.name: str = skeleton_object_name(elf.path)
        self.libbpf_name: str = libbpf_object_name(elf.path)
        self._warnings: list[str] = []
        self.sections: tuple[SectionInfo, ...] = _b.section_infos(self)

    def __repr__(self) -> str:
        return f"BpfObject({self.path!r})"

    # -- parts decoded on first use -------------------------------------------------------------

    @cached_property
    def btf(self) -> "Btf | None":
        return self._b.load_btf_section(self)

    @cached_property
    def btf_ext(self) -> "BtfExt | None":
        return self._b.load_btf_ext_section(self)

    @cached_property
    def license(self) -> str | None:
        return self._b.license_of(self)

    @cached_property
    def kern_version(self) -> int | None:
        return self._b.kern_version_of(self)

    @cached_property
    def externs(self) -> tuple[Extern, ...]:
        return tuple(self._b.externs_of(self))

    @cached_property
    def datasecs(self) -> tuple[DataSection, ...]:
        return tuple(self._b.datasecs_of(self))

    @cached_property
    def maps(self) -> tuple[Map, ...]:
        return tuple(self._b.maps_of(self))

    @cached_property
    def relocs(self) -> tuple[Reloc, ...]:
        return tuple(self._b.relocs_of(self))

    @cached_property
    def functions(self) -> tuple[Function, ...]:
        return tuple(self._b.functions_of(self))

    @cached_property
    def programs(self) -> tuple[Program, ...]:
        return tuple(self._b.programs_of(self))

    @cached_property
    def core_relos(self) -> tuple[CoreReloInfo, ...]:
        return tuple(self._b.core_relos_of(self))

    @property
    def warnings(self) -> tuple[str, ...]:
        self.programs  # noqa: B018 - building programs is what finds most warnings
        return tuple(self._warnings)

    # -- lookups ------------------------------------------------------------------------------------

    @property
    def code_sections(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.sections if s.kind in ("program", "subprograms"))

    def section(self, name: str) -> SectionInfo | None:
        for s in self.sections:
            if s.name == name:
                return s
        return None

    def code(self, section: str) -> bytes:
        s = self.section(section)
        if s is None:
            from bpfinspect.errors import UsageError
            raise UsageError(f"no section {section!r}", path=self.path)
        return self.elf.sections[s.index].data()

    def program(self, name: str) -> Program:
        for p in self.programs:
            if p.name == name:
                return p
        from bpfinspect.errors import UsageError
        raise UsageError(f"no program {name!r} (have: {', '.join(p.name for p in self.programs)})", path=self.path)

    def programs_in(self, section: str) -> tuple[Program, ...]:
        return tuple(p for p in self.programs if p.section == section)

    def map(self, name: str) -> Map | None:
        for m in self.maps:
            if m.name == name:
                return m
        return None

    def line_info(self, section: str) -> "tuple[LineInfo, ...]":
        if self.btf_ext is None:
            return ()
        return tuple(sorted(self.btf_ext.line_info.get(section, ()), key=lambda li: li.insn_off))
