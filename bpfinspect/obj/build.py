"""Build steps for the container-level parts of the model: pure functions of their inputs.

Each step takes what it needs (the ELF file, the section table, BTF...) and
returns records or raises :class:`MalformedInput`; none keeps state or changes
its inputs, and what a step finds worth a warning it returns as data.
:class:`bpfinspect.obj.object.BpfObject` decides when each step runs.
"""

from __future__ import annotations

import struct
from operator import itemgetter

from bpfinspect.elf import ElfFile
from bpfinspect.errors import MalformedInput
from bpfinspect.isa import decode as isa
from bpfinspect.isa.labels import symbols_by_section
from bpfinspect.obj.model import CodeSection, CoreReloInfo, Function
# The section table is read up front, by its own module (``sections`` imports only that).
from bpfinspect.obj.sectiontable import CODE_KINDS, SHF_EXECINSTR, SectionInfo

# BTF is read only by the commands that show it: its modules are imported where it is decoded.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from bpfinspect.btf import Btf, BtfExt

_LINKAGE = {"LOCAL": "static", "GLOBAL": "global", "WEAK": "weak"}


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
    # (the readers decode only the names they show: BTF libbpf would refuse is refused whole)
    btf.check_name_offsets()
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

    name = btf.name
    for tid in btf.ids_of_kind(Kind.DATASEC):
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

_INSN_OFF = itemgetter(0)   # a LineInfo's insn_off (stable sort: records at one offset keep their order)


def sorted_line_info(ext: BtfExt, section: str) -> tuple:
    """The line info records of one section, by instruction offset."""
    return tuple(sorted(ext.line_info.get(section, ()), key=_INSN_OFF))


def core_relos_of(btf: Btf, ext: BtfExt, section: str) -> tuple[CoreReloInfo, ...]:
    """The CO-RE records of one section, each with libbpf's rendering of its access path."""
    from bpfinspect.btf.core import core_relo_text

    return tuple(CoreReloInfo(section, rec.insn_off, rec.insn_off // 8, rec.kind_name, rec.type_id, rec.access,
                              core_relo_text(btf, rec))
                 for rec in ext.core_relos.get(section, ()))
