"""Relocations classified the way libbpf resolves them: pure functions, linear in their input.

libbpf decides by the instruction and the symbol, not by the relocation type: a
call to an undefined symbol is a kfunc, a call into a code section a
subprogram call; an ld_imm64 of an extern is a ``.kconfig`` or ``.ksyms``
variable, of a ``.maps`` symbol a map, of a data-section symbol global data,
of a code symbol a callback's address.  Every lookup a relocation needs (which
function starts at a slot, which map sits at an offset, which variable covers a
byte) is a dict or a bisection prepared once in :class:`RelocTargets`, so a
file with R relocations and V variables costs O((R + V) log V), not O(R x V).
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections import namedtuple

from bpfinspect.elf import ElfFile
from bpfinspect.errors import MalformedInput
from bpfinspect.isa import decode as isa
from bpfinspect.obj.model import CodeSection, DataSection, Extern, Reloc, Var

R_BPF_NAMES = {0: "R_BPF_NONE", 1: "R_BPF_64_64", 2: "R_BPF_64_ABS64", 3: "R_BPF_64_ABS32",
               4: "R_BPF_64_NODYLD32", 10: "R_BPF_64_32"}
_DATA_TYPES = (1, 8)  # PROGBITS, NOBITS: the other sections whose relocations mean something to libbpf


def elf_type_name(rtype: int) -> str:
    return R_BPF_NAMES.get(rtype, f"R_BPF_{rtype}")


def other_reloc_sections(elf: ElfFile, code_secs: dict[int, str]) -> list:
    """The non-code sections whose relocations the model lists (``.maps``, ``.data``,
    ``.struct_ops``...; not DWARF, not BTF), in section order."""
    return [s for s in elf.sections
            if s.index not in code_secs and s.type in _DATA_TYPES
            and not s.name.startswith(".debug") and s.name not in (".BTF", ".BTF.ext")]


def check_code_reloc(elf: ElfFile, section: str, size: int, offset: int) -> None:
    """A relocation in a code section must sit on one of its instructions."""
    if offset % 8 or offset + 8 > size:
        raise MalformedInput(f"relocation at offset {offset} is not on an instruction of {section}", path=elf.path,
                             section=section, offset=offset)


def count_relocs(elf: ElfFile, code_secs: dict[int, str]) -> int:
    """How many relocations :func:`code_relocs` and :func:`data_relocs` give, checked the same
    way, without decoding any instruction."""
    n = 0
    for idx, name in code_secs.items():
        size = elf.sections[idx].size
        for r in elf.relocations(idx):
            check_code_reloc(elf, name, size, r.offset)
            n += 1
    for s in other_reloc_sections(elf, code_secs):
        n += len(elf.relocations(s.index))
    return n


class VarIndex:
    """Which variable of a data section a byte offset falls in.

    Where variables overlap (aliases, hand-made files) the answer is the last
    non-static one in (offset, name) order, else the first static one.  A sweep
    over the variables' start and end offsets settles the answer for every
    stretch between two of them once; a lookup is then one bisection.
    """

    __slots__ = ("_starts", "_answers")

    def __init__(self, variables: tuple[Var, ...]) -> None:
        spans = [(v.offset, v.offset + max(v.size, 1), k) for k, v in enumerate(variables)]
        points = sorted({p for a, b, _ in spans for p in (a, b)})
        by_start = sorted(spans)
        starts: list[int] = []
        answers: list[Var | None] = []
        global_heap: list[tuple[int, int]] = []   # (-index, end): the last non-static first
        static_heap: list[tuple[int, int]] = []   # (index, end): the first static first
        j = 0
        for p in points:
            while j < len(by_start) and by_start[j][0] <= p:
                a, b, k = by_start[j]
                if variables[k].is_static:
                    heapq.heappush(static_heap, (k, b))
                else:
                    heapq.heappush(global_heap, (-k, b))
                j += 1
            while global_heap and global_heap[0][1] <= p:
                heapq.heappop(global_heap)
            while static_heap and static_heap[0][1] <= p:
                heapq.heappop(static_heap)
            if global_heap:
                found = variables[-global_heap[0][0]]
            elif static_heap:
                found = variables[static_heap[0][0]]
            else:
                found = None
            starts.append(p)
            answers.append(found)
        self._starts = starts
        self._answers = answers

    def at(self, offset: int) -> Var | None:
        k = bisect_right(self._starts, offset) - 1
        return self._answers[k] if k >= 0 else None


class RelocTargets(namedtuple("RelocTargets", "text_index code_indexes func_at map_sections map_at datasecs "
                                              "var_index extern_kind")):
    """Everything a code relocation may resolve to, indexed for lookups:

    - ``text_index``: ELF index of .text (-1 without one);
    - ``code_indexes``: ELF indexes of every code section with FUNC symbols;
    - ``func_at``: (section index, slot) -> first FUNC symbol name there;
    - ``map_sections``: ELF indexes of .maps and maps;
    - ``map_at``: (section name, offset) -> map name;
    - ``datasecs``: ELF index -> DataSection;
    - ``var_index``: ELF index -> VarIndex of its variables;
    - ``extern_kind``: name -> kconfig, ksym, kfunc."""

    __slots__ = ()


def reloc_targets(elf: ElfFile, func_syms: dict[int, list], map_at: dict[tuple[str, int], str],
                  datasecs: tuple[DataSection, ...], externs: tuple[Extern, ...]) -> RelocTargets:
    func_at: dict = {}
    for shndx, syms in func_syms.items():
        for s in syms:
            func_at.setdefault((shndx, s.value // 8), s.name)
    text = elf.section_by_name(".text")
    return RelocTargets(
        text_index=text.index if text is not None else -1,
        code_indexes=frozenset(func_syms),
        func_at=func_at,
        map_sections=frozenset(s.index for s in elf.sections if s.name in (".maps", "maps")),
        map_at=map_at,
        datasecs={d.index: d for d in datasecs},
        var_index={d.index: VarIndex(d.variables) for d in datasecs},
        extern_kind={e.name: e.kind for e in externs},
    )


def _section_name(elf: ElfFile, index: int) -> str:
    sections = elf.sections
    return sections[index].name if 0 < index < len(sections) else ""


def func_name_for(elf: ElfFile, sym) -> str:
    """The function a symbol designates (its section's name for a section symbol)."""
    return sym.name or _section_name(elf, sym.shndx)


def code_relocs(elf: ElfFile, code: CodeSection, t: RelocTargets) -> tuple[Reloc, ...]:
    """The relocations of one code section, classified, in file order."""
    secname = code.name
    slots = code.slots
    size = len(slots) * 8
    out = []
    for r in elf.relocations(code.index):
        check_code_reloc(elf, secname, size, r.offset)
        out.append(_classify(elf, r, secname, slots[r.offset // 8], t))
    return tuple(out)


def _classify(elf: ElfFile, r, secname: str, slot, t: RelocTargets) -> Reloc:
    sym = r.symbol
    off = r.offset
    op, _regs, _off, imm = slot
    rname = elf_type_name(r.type)
    insn = off // 8

    def mk(kind: str, target: str, toff: int = 0, tsec: str = "") -> Reloc:
        return Reloc(secname, off, insn, kind, sym.name, target, toff, r.type, rname, tsec)

    in_code = sym.shndx == t.text_index or sym.shndx in t.code_indexes
    what = isa.ROLE[op]
    if what == isa.CALL:
        if not sym.defined:
            return mk("kfunc", sym.name)
        if in_code:
            if sym.type == "FUNC":
                return mk("subprog_call", sym.name, sym.value // 8)
            target_insn = sym.value // 8 + imm + 1
            return mk("subprog_call", _func_at(elf, t, sym.shndx, target_insn), target_insn)
    elif what == isa.WIDE:
        if not sym.defined:
            kind = t.extern_kind.get(sym.name, "ksym")
            return mk(kind, sym.name)
        if sym.shndx in t.map_sections:
            name = sym.name if sym.type == "OBJECT" and sym.name else t.map_at.get(
                (_section_name(elf, sym.shndx), sym.value + imm), sym.name)
            return mk("map", name)
        ds = t.datasecs.get(sym.shndx)
        if ds is not None:
            is_section = sym.type == "SECTION"
            at = sym.value + imm if is_section else sym.value
            inner = 0 if is_section else imm
            var = t.var_index[sym.shndx].at(at)
            if var is not None:
                return mk("global_data", var.name, at - var.offset + inner, ds.name)
            return mk("global_data", ds.name, at + inner, ds.name)
        if in_code:
            if sym.type == "FUNC":
                return mk("callback", sym.name, sym.value // 8)
            target_insn = (sym.value + imm) // 8
            return mk("callback", _func_at(elf, t, sym.shndx, target_insn), target_insn)
    return mk("unknown", func_name_for(elf, sym))


def _func_at(elf: ElfFile, t: RelocTargets, shndx: int, insn: int) -> str:
    name = t.func_at.get((shndx, insn))
    return name if name is not None else f"{_section_name(elf, shndx)}+{insn}"


def data_relocs(elf: ElfFile, code_secs: dict[int, str]) -> tuple[Reloc, ...]:
    """Relocations of the non-code sections: map slots, struct_ops programs, data pointers."""
    out = []
    for s in other_reloc_sections(elf, code_secs):
        if s.name == ".maps":
            kind = "map_slot"
        elif s.name.startswith(".struct_ops"):
            kind = "struct_ops_prog"
        else:
            kind = "data_pointer"
        for r in elf.relocations(s.index):
            out.append(Reloc(s.name, r.offset, r.offset // 8, kind, r.symbol.name, func_name_for(elf, r.symbol), 0,
                             r.type, elf_type_name(r.type)))
    return tuple(out)
