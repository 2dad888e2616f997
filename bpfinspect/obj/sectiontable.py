"""The section table of a BPF object with each section's BPF meaning: the one part of the model
read up front, and all that ``sections`` shows.

Kept apart from the rest of the model so that a command showing only this table imports only
the ELF reader and libbpf's section names (no instruction decoder, no records of programs).
"""

from __future__ import annotations

import os
from collections import namedtuple

from bpfinspect.elf import ElfFile
from bpfinspect.obj.identify import check_bpf_elf, check_bpf_header

SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 0x1, 0x2, 0x4
SHT_PROGBITS, SHT_NOBITS = 1, 8
_FLAG_LETTERS = [(0x1, "W"), (0x2, "A"), (0x4, "X"), (0x10, "M"), (0x20, "S"), (0x40, "I"), (0x80, "L"),
                 (0x100, "O"), (0x200, "G"), (0x400, "T"), (0x800, "C"), (0x80000000, "E")]
CODE_KINDS = ("program", "subprograms")
_FIXED_KINDS = {".maps": "maps", "maps": "legacy_maps", ".struct_ops": "struct_ops", ".struct_ops.link": "struct_ops",
                ".BTF": "btf", ".BTF.ext": "btf_ext", "license": "license", "version": "version",
                ".llvm_addrsig": "addrsig"}


class SectionInfo(namedtuple("SectionInfo", "index name type flags flags_text size offset align entsize link info "
                                          "kind program_type")):
    """One section: ``type`` the ELF type name (PROGBITS, NOBITS, REL...), ``flags_text``
    readelf's letters (W A X M S I L O G T E), ``kind`` its BPF meaning (program, subprograms,
    maps, legacy_maps, data, rodata, bss, struct_ops, btf, btf_ext, license, version,
    relocations, symtab, strtab, debug, other), ``program_type`` libbpf's program type for a
    program section.  (A named tuple: a dataclass costs milliseconds of every start to define.)"""
    __slots__ = ()


class SectionTable:
    """What ``open_sections`` reads: the file's path and its sections (index 0 included)."""

    __slots__ = ("path", "sections")

    def __init__(self, path: str | None, sections: tuple[SectionInfo, ...]) -> None:
        self.path = path
        self.sections = sections


def open_elf(path: str | os.PathLike) -> ElfFile:
    """The BPF object file at ``path`` as ELF (refused from its header, before the rest is read,
    when it is not a BPF object)."""
    return ElfFile.from_path(path, check=lambda header, head: check_bpf_header(header, head, os.fspath(path)))


def check_bpf_object(elf: ElfFile) -> None:
    """Refuse what libbpf would not open as a BPF object (in the words every command uses)."""
    check_bpf_elf(elf.data, elf.path)


def open_sections(path: str | os.PathLike) -> SectionTable:
    """The section table of the BPF object at ``path``, as :func:`bpfinspect.obj.open_object`
    reads it (and refuses it), without the rest of the model."""
    elf = open_elf(path)
    check_bpf_object(elf)
    return SectionTable(elf.path, section_infos(elf))


_FLAGS_TEXT: dict[int, str] = {}


def flags_text(flags: int) -> str:
    text = _FLAGS_TEXT.get(flags)
    if text is None:
        text = "".join(letter for bit, letter in _FLAG_LETTERS if flags & bit)
        if len(_FLAGS_TEXT) < 4096:
            _FLAGS_TEXT[flags] = text
    return text


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


def section_infos(elf: ElfFile) -> tuple[SectionInfo, ...]:
    from bpfinspect.sections import program_type_of

    out = []
    for s in elf.sections:
        kind = section_kind(s)
        ptype = program_type_of(s.name) if kind == "program" else None
        out.append(SectionInfo(s.index, s.name, s.type_name, s.flags, flags_text(s.flags), s.size, s.offset,
                               s.align, s.entsize, s.link, s.info, kind, ptype))
    return tuple(out)
