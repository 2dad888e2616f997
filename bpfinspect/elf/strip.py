"""A relocatable ELF file without the contents of its DWARF sections.

Every ``.debug_*`` section, and every relocation section that applies to one, keeps its
header (so section indexes, the symbols that refer to them and every other section stay as
they were) but becomes empty; the remaining contents are laid out again in file order, each
at its alignment, with the section header table after them.  libbpf ignores these sections
whatever their size, so the object loads and links as before: what goes is the bulk of a
``clang -g`` object (its debug information).
"""

from __future__ import annotations

from bpfinspect.elf.reader import SHT_NOBITS, SHT_REL, SHT_RELA, ElfFile
from bpfinspect.errors import UsageError


def is_debug(elf: ElfFile, index: int) -> bool:
    """Is section ``index`` DWARF, or relocations of DWARF?"""
    s = elf.sections[index]
    if s.name.startswith(".debug_"):
        return True
    if s.type in (SHT_REL, SHT_RELA) and 0 < s.info < len(elf.sections):
        return elf.sections[s.info].name.startswith(".debug_")
    return False


def without_debug(elf: ElfFile) -> bytes:
    """The bytes of ``elf`` with its DWARF sections emptied (see the module's text)."""
    layout = elf.layout
    head_size = 16 + layout.header.size
    header = list(layout.header.unpack_from(elf.data, 16))
    # (e_type, e_machine, e_version, e_entry, e_phoff, e_shoff, e_flags, e_ehsize, e_phentsize,
    #  e_phnum, e_shentsize, e_shnum, e_shstrndx)
    if header[9]:
        raise UsageError("--strip-debug takes relocatable objects (this file has program headers)",
                         path=elf.path)
    sections = elf.sections
    out = bytearray(elf.data[:head_size])
    placed: dict[int, tuple[int, int]] = {}  # index -> (new offset, new size)
    for s in sorted(sections[1:], key=lambda s: (s.offset, s.index)):
        if s.type in (0, SHT_NOBITS):
            placed[s.index] = (s.offset if s.type == SHT_NOBITS else 0, s.size)
            continue
        align = s.align if s.align > 1 else 1
        out += b"\0" * (-len(out) % align)
        if is_debug(elf, s.index):
            placed[s.index] = (len(out), 0)
            continue
        placed[s.index] = (len(out), s.size)
        out += elf.data[s.offset:s.offset + s.size]
    out += b"\0" * (-len(out) % 8)
    shoff = len(out)
    entsize = header[10]
    for i in range(elf.shnum):
        raw = list(elf._raw_header(i))
        if i in placed:
            raw[4], raw[5] = placed[i]
        record = layout.section.pack(*raw)
        out += record + elf.data[elf._shoff + i * entsize + len(record):elf._shoff + (i + 1) * entsize]
    header[5] = shoff
    out[16:head_size] = layout.header.pack(*header)
    return bytes(out)
