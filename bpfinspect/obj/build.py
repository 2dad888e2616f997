"""Build steps for the container-level parts of the model: pure functions of their inputs.

Each step takes what it needs (the ELF file, the section table, BTF...) and
returns records or raises :class:`MalformedInput`; none keeps state or changes
its inputs, and what a step finds worth a warning it returns as data.
:class:`bpfinspect.obj.object.BpfObject` decides when each step runs.
"""

from __future__ import annotations

import struct

from bpfinspect.elf import ElfFile
from bpfinspect.errors import MalformedInput
from bpfinspect.isa import decode as isa
from bpfinspect.isa.labels import symbols_by_section
from bpfinspect.obj.identify import check_bpf_elf
from bpfinspect.obj.model import CodeSection, CoreReloInfo, Function, SectionInfo

# BTF is read only by the commands that show it: its modules are imported where it is decoded.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from bpfinspect.btf import Btf, BtfExt

SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 0x1, 0x2, 0x4
SHT_PROGBITS, SHT_NOBITS = 1, 8
_FLAG_LETTERS = [(0x1, "W"), (0x2, "A"), (0x4, "X"), (0x10, "M"), (0x20, "S"), (0x40, "I"), (0x80, "L"),
                 (0x100, "O"), (0x200, "G"), (0x400, "T"), (0x800, "C"), (0x80000000, "E")]
_LINKAGE = {"LOCAL": "static", "GLOBAL": "global", "WEAK": "weak"}
CODE_KINDS = ("program", "subprograms")


def check_bpf_object(elf: ElfFile) -> None:
    """Refuse what libbpf would not open as a BPF object (in the words every command uses)."""
    check_bpf_elf(elf.data, elf.path)


def flags_text(flags: int) -> str:
    return "".join(letter for bit, letter in _FLAG_LETTERS if flags & bit)


def data_section_kind(name: str) -> str | None:
    """data, rodata or bss for the names libbpf maps as global data (``.data``, ``.rodata.cfg``...)."""
    for kind in ("data", "rodata", "bss"):
        base = "." + kind
        if name == base or name.startswith(base + "."):
            return kind
    return None


def section_kind(s) -> str:
    """The BPF meaning of an ELF section (see :class:`SectionInfo`)."""
    name = s.name
    if s.type == 0:
        return "null"
    if s.type == 2:
        return "symtab"
    if s.type == 3:
        return "strtab"
    if s.type in (4, 9):
        return "relocations"
    if s.flags & SHF_EXECINSTR and s.type == SHT_PROGBITS:
        return "subprograms" if name == ".text" else "program"
    fixed = _FIXED_KINDS.get(name)
    if fixed:
        return fixed
    kind = data_section_kind(name)
    if kind:
        return kind
    if name.startswith(".debug"):
        return "debug"
    return "other"


_FIXED_KINDS = {".maps": "maps", "maps": "legacy_maps", ".struct_ops": "struct_ops", ".struct_ops.link": "struct_ops",
                ".BTF": "btf", ".BTF.ext": "btf_ext", "license": "license", "version": "version",
                ".llvm_addrsig": "addrsig"}


def section_infos(elf: ElfFile) -> tuple[SectionInfo, ...]:
    from bpfinspect.sections import program_type_of

    out = []
    for s in elf.sections:
        kind = section_kind(s)
        ptype = program_type_of(s.name) if kind == "program" else None
        out.append(SectionInfo(s.index, s.name, s.type_name, s.flags, flags_text(s.flags), s.size, s.offset,
                               s.align, s.entsize, s.link, s.info, kind, ptype))
    return tuple(out)


def code_section_indexes(sections: tuple[SectionInfo, ...]) -> dict[int, str]:
    """ELF index -> name of every code section (programs and ``.text``), in index order."""
    return {s.index: s.name for s in sections if s.kind in CODE_KINDS}


def executable_section_indexes(sections: tuple[SectionInfo, ...]) -> dict[int, str]:
    """ELF index -> name of every executable section with contents (the code sections, and
    any other section flagged executable: a disassembler shows those too)."""
    return {s.index: s.name for s in sections if s.flags & SHF_EXECINSTR and s.type != "NOBITS"}


# -- BTF and small sections ---------------------------------------------------------------------

def _check_byte_order(elf: ElfFile, endian: str, section: str) -> None:
    """BTF written in the other byte order than its object's: offsets, sizes and
    instructions would be read one way and types the other."""
    if endian != elf.endian:
        raise MalformedInput(f"{section} is {endian}-endian in a {elf.endian}-endian object", path=elf.path,
                             section=section, offset=0)


def load_btf(elf: ElfFile) -> Btf | None:
    sec = elf.section_by_name(".BTF")
    if sec is None:
        return None
    from bpfinspect.btf.btf import parse_btf

    btf = parse_btf(sec.data(), path=elf.path, section=".BTF")
    _check_byte_order(elf, btf.endian, ".BTF")
    return btf


def load_btf_ext(elf: ElfFile, btf: Btf | None) -> BtfExt | None:
    sec = elf.section_by_name(".BTF.ext")
    if sec is None or btf is None:
        return None
    from bpfinspect.btf.ext import parse_btf_ext

    data = sec.data()
    ext = parse_btf_ext(data, btf, path=elf.path)
    _check_byte_order(elf, "little" if data[:2] == b"\x9f\xeb" else "big", ".BTF.ext")
    return ext


def license_of(elf: ElfFile) -> str | None:
    lic = elf.section_by_name("license")
    if lic is None:
        return None
    return lic.data().split(b"\0", 1)[0].decode("utf-8", "replace")


def kern_version_of(elf: ElfFile) -> int | None:
    ver = elf.section_by_name("version")
    data = ver.data() if ver is not None else b""   # (a NOBITS or NULL section has no bytes)
    if len(data) < 4:
        return None
    return struct.unpack_from("<I" if elf.little else ">I", data, 0)[0]


def datasec_ids(btf: Btf | None) -> dict[str, tuple[int, ...]]:
    """Name -> ids of the DATASECs of that name, in id order (one pass over the types)."""
    out: dict[str, list[int]] = {}
    if btf is None:
        return {}
    from bpfinspect.btf.kinds import Kind

    kind, name = btf.kind, btf.name
    for tid in btf.ids():
        if kind(tid) == Kind.DATASEC:
            out.setdefault(name(tid), []).append(tid)
    return {k: tuple(v) for k, v in out.items()}


# -- code ------------------------------------------------------------------------------------------

SHN_ABS = 0xFFF1


def label_symbols(elf: ElfFile) -> dict[int, tuple]:
    """Section index -> (address, name) of the symbols that name addresses in it (llvm-objdump's
    label candidates; SHN_ABS ones under 0xfff1)."""
    return {k: tuple(v) for k, v in symbols_by_section(elf.symbols).items()}


def decode_code(elf: ElfFile, index: int, labels: dict[int, tuple]) -> CodeSection:
    """The instructions of code section ``index``, decoded once."""
    sec = elf.sections[index]
    slots = isa.unpack_slots(sec.data(), elf.little, section=sec.name, path=elf.path)
    return CodeSection(sec.name, index, sec.addr, tuple(slots), labels.get(index, ()), labels.get(SHN_ABS, ()))


def func_symbols(elf: ElfFile, code_secs: dict[int, str]) -> dict[int, list]:
    """Code section index -> its FUNC symbols, in symbol table order."""
    out: dict[int, list] = {}
    for sym in elf.symbols:
        if sym.type == "FUNC" and sym.shndx in code_secs:
            out.setdefault(sym.shndx, []).append(sym)
    return out


def functions_of(elf: ElfFile, code_secs: dict[int, str],
                 func_syms: dict[int, list]) -> tuple[tuple[Function, ...], tuple[str, ...]]:
    """Every function of every code section, from the symbol table alone, and warnings.

    A section without FUNC symbols (stripped by hand) is one function named
    after the section; a symbol without a size runs to the next symbol.
    """
    sections = elf.sections
    out: list[Function] = []
    warnings: list[str] = []
    for idx, secname in sorted(code_secs.items()):
        syms = sorted(func_syms.get(idx, ()), key=lambda s: (s.value, s.name))
        sec = sections[idx]
        is_text = secname == ".text"
        if sec.size % 8:
            raise MalformedInput(f"code size {sec.size} is not a multiple of 8 bytes", path=elf.path,
                                 section=secname, offset=sec.size - sec.size % 8)
        if not syms:
            if sec.size:
                out.append(Function(secname.replace("/", "_"), secname, idx, 0, sec.size, "global", is_text))
            continue
        for i, sym in enumerate(syms):
            size = sym.size
            if size == 0:
                nxt = syms[i + 1].value if i + 1 < len(syms) else sec.size
                size = nxt - sym.value
            if sym.value + size > sec.size:
                warnings.append(f"{secname}: function {sym.name} runs past its section")
                size = max(0, sec.size - sym.value)
            linkage = _LINKAGE.get(sym.bind, sym.bind.lower())
            out.append(Function(sym.name, secname, idx, sym.value, size, linkage, is_text))
    return tuple(out), tuple(warnings)


# -- BTF.ext records, one section at a time ---------------------------------------------------------

def sorted_line_info(ext: BtfExt, section: str) -> tuple:
    """The line info records of one section, by instruction offset."""
    return tuple(sorted(ext.line_info.get(section, ()), key=lambda li: li.insn_off))


def core_relos_of(btf: Btf, ext: BtfExt, section: str) -> tuple[CoreReloInfo, ...]:
    """The CO-RE records of one section, each with libbpf's rendering of its access path."""
    from bpfinspect.btf.core import core_relo_text

    return tuple(CoreReloInfo(section, rec.insn_off, rec.insn_off // 8, rec.kind_name, rec.type_id, rec.access,
                              core_relo_text(btf, rec))
                 for rec in ext.core_relos.get(section, ()))
