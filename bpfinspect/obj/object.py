"""``BpfObject``: the build steps wired together, each run the first time its part is asked for.

This is the one place that decides what is built from what.  Every part is a
``cached_property`` (or a per-section :class:`OnDemand` mapping) whose body
calls one build step with explicit inputs; the steps are pure functions that
know nothing of this class.  Only the section table is read up front, so a
command pays for what it shows: ``sections`` reads headers only, ``info``
counts relocations and ``.BTF.ext`` records without decoding an instruction,
``disasm --no-annotate`` decodes code and symbols and nothing else.

    section table ──> sections ──> code (each executable section, on demand)
    symbols ─────────> functions (+ warnings)
    .BTF ──> DATASEC ids ──> datasecs, maps, externs
    code + functions + maps, datasecs, externs ──> relocs (each code section, on demand)
    functions + code + relocs ──> programs
    .BTF.ext ──> counts (group headers); line info, CO-RE records (each section, on demand)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from functools import cached_property

from bpfinspect.elf import ElfFile
from bpfinspect.errors import UsageError
from bpfinspect.obj import build as steps
from bpfinspect.obj import data, maps as mapdefs, programs as progs, relocs as rel
from bpfinspect.obj.model import (CodeSection, CoreReloInfo, DataSection, ExtCounts, Extern, Function, Map, Program,
                                  Reloc, Var)
from bpfinspect.obj.sectiontable import SectionInfo, check_bpf_object, open_elf, section_infos
from bpfinspect.obj.names import libbpf_object_name, skeleton_object_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bpfinspect.btf import Btf, BtfExt, LineInfo


class OnDemand(Mapping):
    """A mapping over a fixed set of keys whose values are made on first lookup, one key at a time."""

    __slots__ = ("_keys", "_make", "_made")

    def __init__(self, keys, make: Callable) -> None:
        self._keys = dict.fromkeys(keys)
        self._make = make
        self._made: dict = {}

    def __getitem__(self, key):
        try:
            return self._made[key]
        except KeyError:
            if key not in self._keys:
                raise
        value = self._made[key] = self._make(key)
        return value

    def __iter__(self) -> Iterator:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


def _first_by_name(items) -> dict:
    """name -> the first item of that name (what a scan in order would find)."""
    out: dict = {}
    for item in items:
        out.setdefault(item.name, item)
    return out


def open_object(path: str | os.PathLike) -> "BpfObject":
    """Read and model the BPF object file at ``path`` (refused from its header, before the
    rest is read, when it is not a BPF object)."""
    return build(open_elf(path))


def from_bytes(data: bytes, path: str | None = None) -> "BpfObject":
    return build(ElfFile(data, path=path))


def build(elf: ElfFile) -> "BpfObject":
    check_bpf_object(elf)
    return BpfObject(elf)


class BpfObject:
    """One BPF object file: built once, never changed, each part decoded on first use."""

    def __init__(self, elf: ElfFile) -> None:
        self.elf = elf
        self.path: str | None = elf.path
        self.data: bytes = elf.data
        self.endian: str = elf.endian
        self.name: str = skeleton_object_name(elf.path)
        self.libbpf_name: str = libbpf_object_name(elf.path)
        self.sections: tuple[SectionInfo, ...] = section_infos(elf)

    def __repr__(self) -> str:
        return f"BpfObject({self.path!r})"

    # -- BTF and the small sections -----------------------------------------------------------------

    @cached_property
    def btf(self) -> "Btf | None":
        return steps.load_btf(self.elf)

    @cached_property
    def btf_ext(self) -> "BtfExt | None":
        return steps.load_btf_ext(self.elf, self.btf)

    @cached_property
    def license(self) -> str | None:
        return steps.license_of(self.elf)

    @cached_property
    def kern_version(self) -> int | None:
        return steps.kern_version_of(self.elf)

    @cached_property
    def _datasec_ids(self) -> dict[str, tuple[int, ...]]:
        return steps.datasec_ids(self.btf)

    @cached_property
    def externs(self) -> tuple[Extern, ...]:
        return data.externs_of(self.elf, self.btf, self._datasec_ids)

    @cached_property
    def datasecs(self) -> tuple[DataSection, ...]:
        return data.datasecs_of(self.elf, self.btf, self._datasec_ids, self.libbpf_name)

    @cached_property
    def maps(self) -> tuple[Map, ...]:
        return mapdefs.maps_of(self.elf, self.btf, self._datasec_ids)

    # -- code ---------------------------------------------------------------------------------------

    @cached_property
    def _code_secs(self) -> dict[int, str]:
        return steps.code_section_indexes(self.sections)

    @cached_property
    def _func_syms(self) -> dict[int, list]:
        return steps.func_symbols(self.elf, self._code_secs)

    @cached_property
    def code(self) -> Mapping[int, CodeSection]:
        """ELF index of each executable section -> its decoded instructions, in section order
        (each section decoded when first asked for)."""
        labels = steps.label_symbols(self.elf)
        return OnDemand(steps.executable_section_indexes(self.sections),
                        lambda index: steps.decode_code(self.elf, index, labels))

    @cached_property
    def _functions(self) -> tuple[tuple[Function, ...], tuple[str, ...]]:
        return steps.functions_of(self.elf, self._code_secs, self._func_syms)

    @property
    def functions(self) -> tuple[Function, ...]:
        return self._functions[0]

    @property
    def warnings(self) -> tuple[str, ...]:
        return self._functions[1]

    # -- relocations --------------------------------------------------------------------------------

    @cached_property
    def _reloc_targets(self) -> rel.RelocTargets:
        return rel.reloc_targets(self.elf, self._func_syms, mapdefs.map_names(self.elf, self.btf, self._datasec_ids),
                                 self.datasecs, self.externs)

    @cached_property
    def _code_relocs(self) -> Mapping[int, tuple[Reloc, ...]]:
        return OnDemand(self._code_secs,
                        lambda index: rel.code_relocs(self.elf, self.code[index], self._reloc_targets))

    @cached_property
    def relocs(self) -> tuple[Reloc, ...]:
        out: list[Reloc] = []
        for index in self._code_secs:
            out.extend(self._code_relocs[index])
        return tuple(out) + rel.data_relocs(self.elf, self._code_secs)

    def relocs_in(self, section_index: int) -> tuple[Reloc, ...]:
        """The relocations of one code section, by ELF index (classified on first use)."""
        return self._code_relocs.get(section_index, ())

    @cached_property
    def _relocs_at(self) -> Mapping[int, dict[int, Reloc]]:
        return OnDemand(self._code_secs, lambda index: {r.insn_index: r for r in self._code_relocs[index]})

    def reloc_at(self, section_index: int, slot: int) -> Reloc | None:
        """The relocation on instruction ``slot`` of a code section (the last one, should the
        file hold two), None for none."""
        found = self._relocs_at.get(section_index)
        return found.get(slot) if found else None

    def map_load(self, section_index: int, slot: int) -> str | None:
        """The map whose address the ld_imm64 at ``slot`` loads, None when it loads none."""
        r = self.reloc_at(section_index, slot)
        return r.target if r is not None and r.kind == "map" else None

    def global_load(self, section_index: int, slot: int) -> Reloc | None:
        """The global-data relocation of the ld_imm64 at ``slot`` (its ``target`` is the variable,
        or the data section itself, ``target_offset`` the offset in it), None for none."""
        r = self.reloc_at(section_index, slot)
        return r if r is not None and r.kind == "global_data" else None

    @cached_property
    def relocation_count(self) -> int:
        """``len(self.relocs)``, checked the same way, without decoding instructions."""
        return rel.count_relocs(self.elf, self._code_secs)

    # -- programs -------------------------------------------------------------------------------------

    @cached_property
    def programs(self) -> tuple[Program, ...]:
        return progs.programs_of(self.functions, self.code, self._code_relocs, self.path)

    @cached_property
    def _programs_by_name(self) -> dict[str, Program]:
        return _first_by_name(self.programs)

    @cached_property
    def _programs_by_section(self) -> dict[str, tuple[Program, ...]]:
        out: dict[str, list[Program]] = {}
        for p in self.programs:
            out.setdefault(p.section, []).append(p)
        return {k: tuple(v) for k, v in out.items()}

    # -- BTF.ext --------------------------------------------------------------------------------------

    @cached_property
    def ext_counts(self) -> ExtCounts | None:
        """Record counts of ``.BTF.ext`` (read from its group headers), None without it."""
        ext = self.btf_ext
        if ext is None:
            return None
        return ExtCounts(ext.count("func_info"), ext.count("line_info"), ext.count("core_relos"))

    @cached_property
    def _line_info(self) -> Mapping[str, tuple]:
        ext = self.btf_ext
        names = ext.sections("line_info") if ext is not None else ()
        return OnDemand(names, lambda name: steps.sorted_line_info(ext, name))

    def line_info(self, section: str) -> "tuple[LineInfo, ...]":
        return self._line_info.get(section, ())

    @cached_property
    def _core_relos(self) -> Mapping[str, tuple[CoreReloInfo, ...]]:
        ext = self.btf_ext
        names = ext.sections("core_relos") if ext is not None else ()
        return OnDemand(names, lambda name: steps.core_relos_of(self.btf, ext, name))

    @cached_property
    def core_relos(self) -> tuple[CoreReloInfo, ...]:
        return tuple(c for name in self._core_relos for c in self._core_relos[name])

    def core_relos_in(self, section: str) -> tuple[CoreReloInfo, ...]:
        return self._core_relos.get(section, ())

    # -- lookups --------------------------------------------------------------------------------------

    @cached_property
    def _sections_by_name(self) -> dict[str, SectionInfo]:
        return _first_by_name(self.sections)

    @cached_property
    def _datasecs_by_name(self) -> dict[str, DataSection]:
        return _first_by_name(self.datasecs)

    @cached_property
    def _variables_by_name(self) -> dict[tuple[str, str], Var]:
        out: dict[tuple[str, str], Var] = {}
        for d in self._datasecs_by_name.values():   # the section datasec(name) gives, as its bytes
            for v in d.variables:
                out.setdefault((d.name, v.name), v)
        return out

    @cached_property
    def _maps_by_name(self) -> dict[str, Map]:
        return _first_by_name(self.maps)

    @property
    def code_sections(self) -> tuple[str, ...]:
        return tuple(self._code_secs.values())

    def code_section(self, name: str) -> CodeSection:
        """The decoded instructions of the code section called ``name`` (the first one, should
        two share the name)."""
        s = self.section(name)
        if s is None or s.index not in self.code:
            raise UsageError(f"no code section {name!r}", path=self.path)
        return self.code[s.index]

    def section(self, name: str) -> SectionInfo | None:
        return self._sections_by_name.get(name)

    def section_bytes(self, name: str) -> bytes:
        """The bytes of a section (empty for NOBITS), for views that show raw contents."""
        s = self.section(name)
        if s is None:
            raise UsageError(f"no section {name!r}", path=self.path)
        return self.elf.sections[s.index].data()

    def datasec(self, name: str) -> DataSection | None:
        return self._datasecs_by_name.get(name)

    def variable(self, section: str, name: str) -> Var | None:
        """The variable ``name`` of data section ``section`` (of the first section of that name, the
        one :meth:`datasec` gives; the first variable of that name in it)."""
        return self._variables_by_name.get((section, name))

    def variable_at(self, section: str, offset: int) -> Var | None:
        """The variable of data section ``section`` that byte ``offset`` falls in (the rule
        relocations are resolved by, see :class:`bpfinspect.obj.relocs.VarIndex`)."""
        d = self.datasec(section)
        return None if d is None else self._reloc_targets.var_index[d.index].at(offset)

    def program(self, name: str) -> Program:
        p = self._programs_by_name.get(name)
        if p is None:
            from bpfinspect.suggest import did_you_mean

            names = [p.name for p in self.programs]
            raise UsageError(f"no program {name!r}" + (did_you_mean(name, names) or
                                                        f" (have: {', '.join(names) or 'none'})"),
                             path=self.path)
        return p

    def programs_in(self, section: str) -> tuple[Program, ...]:
        return self._programs_by_section.get(section, ())

    def map(self, name: str) -> Map | None:
        return self._maps_by_name.get(name)


# The package's ``build`` is this function (the steps module of the same name is imported as
# ``bpfinspect.obj.build`` and set as the attribute by the import system first).
_package = __import__("bpfinspect.obj", fromlist=["_EXPORTS"])
_package.build = build
del _package
