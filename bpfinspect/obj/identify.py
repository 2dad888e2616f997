"""Whether an ELF file is a BPF object, and what it is, in words, when it is not.

Asked of the header alone (before the rest of a file is read) by :func:`open_object`, and of
an ELF file in memory by :func:`build`: every command, ``load`` included, refuses a file that
is not a BPF object with the same sentence.
"""

from __future__ import annotations

from bpfinspect.elf import EM_BPF
from bpfinspect.elf.header import ET_REL, HEAD_SIZE, ElfHeader, describe, parse_header
from bpfinspect.errors import MalformedInput

HINT = "compile with clang -target bpf"


def check_bpf_header(header: ElfHeader, head: bytes, path: str | None = None) -> None:
    """Refuse (MalformedInput) an ELF header that is not a BPF object's."""
    if header.machine != EM_BPF:
        raise MalformedInput(f"{describe(header, head)}, not a BPF object ({HINT})", path=path)
    if header.elfclass != 64:  # libbpf reads only ELF64; BPF relocations are defined for it alone
        raise MalformedInput(f"ELF class {header.elfclass}: BPF objects are 64-bit ELF files ({HINT})", path=path)
    if header.type != ET_REL:
        raise MalformedInput(f"{describe(header, head)}, not a relocatable BPF object ({HINT} -c)", path=path)


def check_bpf_elf(data: bytes, path: str | None = None) -> None:
    """The same for a whole file in memory."""
    head = data[:HEAD_SIZE]
    check_bpf_header(parse_header(head, len(data), path), head, path)
