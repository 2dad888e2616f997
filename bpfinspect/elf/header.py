"""What the first bytes of an ELF file say: checked before the rest of the file is read.

A file is read only once its identification (magic, class, byte order) and header make
sense and the tables the header points to lie inside the file's size: a large file that is
not ELF, or whose header is damaged, costs no more than reading its first page.  The same
header also names what a file is when it is not what a command wants ("an x86-64
executable"), from the machine and type fields and, for position-independent executables,
the program header table (an interpreter makes it an executable, not a shared library).
"""

from __future__ import annotations

import struct
from collections import namedtuple

from bpfinspect.elf.reader import LAYOUTS
from bpfinspect.errors import MalformedInput
from bpfinspect.fileio import HEAD_SIZE  # noqa: F401 - read before anything else (the header and more)

ET_REL, ET_EXEC, ET_DYN, ET_CORE = 1, 2, 3, 4
PT_INTERP = 3

# e_machine -> (article, name as people say it)
_MACHINES = {
    0: ("a", "machine-less"), 2: ("a", "SPARC"), 3: ("an", "x86 (32-bit)"), 4: ("a", "Motorola 68000"),
    8: ("a", "MIPS"), 15: ("a", "PA-RISC"), 18: ("a", "SPARC32+"), 20: ("a", "PowerPC"),
    21: ("a", "PowerPC64"), 22: ("an", "s390"), 40: ("an", "ARM"), 42: ("a", "SuperH"), 43: ("a", "SPARC64"),
    50: ("an", "IA-64"), 62: ("an", "x86-64"), 183: ("an", "AArch64"), 243: ("a", "RISC-V"),
    247: ("a", "BPF"), 258: ("a", "LoongArch"),
}
_TYPES = {0: "file of no type", ET_REL: "relocatable object", ET_EXEC: "executable",
          ET_DYN: "shared library", ET_CORE: "core dump"}


# (The records on the path every command takes are named tuples: a dataclass costs a few
# milliseconds of every start to define, and its module imports ``inspect``.)
class ElfHeader(namedtuple("ElfHeader", "elfclass little type machine phoff phentsize phnum shoff shentsize "
                                        "shnum shstrndx")):
    """The ELF header's fields: ``elfclass`` 32 or 64, ``type`` e_type, ``machine`` e_machine...;
    ``shnum`` 0 with ``shoff`` set means the real count is in section 0, ``shstrndx`` 0xffff
    that the real index is (both read later)."""
    __slots__ = ()


def parse_header(head: bytes, size: int | None = None, path: str | None = None) -> ElfHeader:
    """The header in ``head`` (the file's first bytes), checked against the file's ``size``
    when it is known; every failure a :class:`MalformedInput`."""
    if len(head) < 16 or head[:4] != b"\x7fELF":
        raise MalformedInput("not an ELF file", path=path, offset=0)
    cls, enc = head[4], head[5]
    if cls not in (1, 2):
        raise MalformedInput(f"unknown ELF class {cls}", path=path, offset=4)
    if enc not in (1, 2):
        raise MalformedInput(f"unknown ELF data encoding {enc}", path=path, offset=5)
    elfclass = 64 if cls == 2 else 32
    little = enc == 1
    fmt = LAYOUTS[(elfclass, little)].header
    if len(head) < 16 + fmt.size:
        raise MalformedInput(f"truncated ELF header ({len(head)} bytes)", path=path, offset=0)
    (etype, machine, _version, _entry, phoff, shoff, _flags, _ehsize, phentsize, phnum, shentsize, shnum,
     shstrndx) = fmt.unpack_from(head, 16)
    header = ElfHeader(elfclass, little, etype, machine, phoff, phentsize, phnum, shoff, shentsize, shnum,
                       shstrndx)
    if size is not None:
        if shoff and shoff + max(shnum, 1) * shentsize > size:
            raise MalformedInput(f"section header table ({shnum} x {shentsize} bytes at {shoff:#x}) runs past "
                                 f"end of file ({size} bytes)", path=path, offset=shoff)
        if phoff and phoff + phnum * phentsize > size:
            raise MalformedInput(f"program header table ({phnum} x {phentsize} bytes at {phoff:#x}) runs past "
                                 f"end of file ({size} bytes)", path=path, offset=phoff)
    return header


def describe(header: ElfHeader, head: bytes = b"") -> str:
    """What the file is, in words: "an x86-64 executable", "a 32-bit AArch64 shared library"."""
    article, machine = _MACHINES.get(header.machine, ("an", f"ELF (machine {header.machine})"))
    kind = _TYPES.get(header.type, f"file of type {header.type:#x}")
    if header.type == ET_DYN and _has_interpreter(header, head):
        kind = "executable"  # position-independent, as every distribution builds them now
    if header.elfclass == 32 and header.machine not in (3, 8, 20, 40, 2, 18, 42, 4):
        machine = f"32-bit {machine}"
        article = "a"
    return f"{article} {machine} {kind}"


def _has_interpreter(header: ElfHeader, head: bytes) -> bool:
    """Whether the program header table, if it lies within ``head``, has a PT_INTERP entry."""
    if not header.phoff or header.phentsize < 4 or header.phoff + header.phnum * header.phentsize > len(head):
        return False
    order = "<" if header.little else ">"
    return any(struct.unpack_from(order + "I", head, header.phoff + i * header.phentsize)[0] == PT_INTERP
               for i in range(header.phnum))
