"""The ELF container layer (knows nothing about BPF)."""

from bpfinspect.elf.reader import EM_BPF, ElfFile, ElfReloc, ElfSection, ElfSymbol

__all__ = ["EM_BPF", "ElfFile", "ElfReloc", "ElfSection", "ElfSymbol"]
