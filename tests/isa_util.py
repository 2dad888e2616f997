"""Shared helpers of the isa / disasm / asm tests: a minimal BPF ELF writer,
llvm-objdump-19 output parsing, and the list of objects to compare on."""

from __future__ import annotations

import glob
import re
import shutil
import struct
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LLVM_OBJDUMP = shutil.which("llvm-objdump-19")

DEBIAN_OBJECTS = sorted(
    glob.glob("/usr/lib/x86_64-linux-gnu/bpf/*.o")
    + glob.glob("/usr/lib/bpf/*.o")
    + glob.glob("/usr/share/gocode/src/github.com/cilium/ebpf/**/testdata/*.elf", recursive=True)
)
FIXTURES = sorted(str(p) for p in (ROOT / "fixtures").glob("*.bpf.o"))


def enc(op: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0, *, big: bool = False) -> bytes:
    """One 8-byte instruction slot."""
    if big:
        return struct.pack(">BBhi", op, (dst << 4) | src, off, imm)
    return struct.pack("<BBhi", op, (src << 4) | dst, off, imm)


def write_elf(sections, symbols=(), *, big: bool = False) -> bytes:
    """A relocatable EM_BPF ELF64 file.

    ``sections``: (name, data, flags) in order, indexed from 1.
    ``symbols``: (name, section index, value, type, bind); locals are placed first.
    """
    e = ">" if big else "<"
    shstr = bytearray(b"\0")
    strtab = bytearray(b"\0")

    def add(tab: bytearray, s: str) -> int:
        off = len(tab)
        tab.extend(s.encode() + b"\0")
        return off

    secs = [(add(shstr, name), data, flags) for name, data, flags in sections]
    syms = [b"\0" * 24]
    ordered = sorted(symbols, key=lambda s: s[4] != 0)
    nlocal = 1 + sum(1 for s in ordered if s[4] == 0)
    for name, shndx, value, typ, bind in ordered:
        syms.append(struct.pack(e + "IBBHQQ", add(strtab, name), (bind << 4) | typ, 0, shndx, value, 0))
    o_sym, o_str, o_shs = add(shstr, ".symtab"), add(shstr, ".strtab"), add(shstr, ".shstrtab")

    def sh(name, typ, flags, offset, size, link=0, info=0, align=8, entsize=0):
        return struct.pack(e + "IIQQQQIIQQ", name, typ, flags, 0, offset, size, link, info, align, entsize)

    body = bytearray()
    hdrs = [b"\0" * 64]
    pos = 64
    for name_off, data, flags in secs:
        hdrs.append(sh(name_off, 1, flags, pos, len(data)))
        body += data
        pos += len(data)
        pad = (-pos) % 8
        body += b"\0" * pad
        pos += pad
    n = len(secs)
    symdata = b"".join(syms)
    hdrs.append(sh(o_sym, 2, 0, pos, len(symdata), link=n + 2, info=nlocal, entsize=24))
    body += symdata
    pos += len(symdata)
    for off, blob in ((o_str, strtab), (o_shs, shstr)):
        hdrs.append(sh(off, 3, 0, pos, len(blob), align=1))
        body += blob
        pos += len(blob)
    pad = (-pos) % 8
    body += b"\0" * pad
    pos += pad
    ident = b"\x7fELF" + bytes([2, 2 if big else 1, 1, 0]) + b"\0" * 8
    hdr = ident + struct.pack(e + "HHIQQQIHHHHHH", 1, 247, 1, 0, 0, pos, 0, 64, 0, 0, 64, len(hdrs), n + 3)
    return hdr + bytes(body) + b"".join(hdrs)


_INSN = re.compile(r"^\s*(\d+):\t(.*)$")


def parse_objdump(text: str) -> dict[str, list[tuple[int, str]]]:
    """``llvm-objdump -d --no-show-raw-insn`` output -> {section: [(index, text)]}."""
    out: dict[str, list[tuple[int, str]]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("Disassembly of section ") and line.endswith(":"):
            current = out.setdefault(line[len("Disassembly of section "):-1], [])
            continue
        m = _INSN.match(line)
        if m and current is not None:
            current.append((int(m.group(1)), m.group(2)))
    return out


def llvm_disasm(path: str, *extra: str) -> dict[str, list[tuple[int, str]]]:
    res = subprocess.run([LLVM_OBJDUMP, "-d", "--no-show-raw-insn", *extra, path],
                         capture_output=True, text=True, check=True)
    return parse_objdump(res.stdout)


def code_sections(path: str):
    """(section name, index, bytes, little) of every executable section, via bpfinspect.elf."""
    from bpfinspect.elf import ElfFile

    elf = ElfFile.from_path(path)
    for sec in elf.sections:
        if sec.is_exec and sec.size:
            yield sec.name, sec.index, sec.data(), elf.little


def our_disasm(path: str) -> dict[str, list[tuple[int, str, str | None]]]:
    """Our text for every code section: {section: [(index, text, warning)]}."""
    from bpfinspect.elf import ElfFile
    from bpfinspect.isa import TargetNamer, render, section_symbols, unpack_slots

    elf = ElfFile.from_path(path)
    out = {}
    for sec in elf.sections:
        if not (sec.is_exec and sec.size):
            continue
        slots = unpack_slots(sec.data(), elf.little)
        namer = TargetNamer(section_symbols(elf.symbols, sec.index), sec.name)
        out[sec.name] = [(i, text, warn) for i, _, text, warn in render(slots, namer)]
    return out


def all_objects() -> list[str]:
    return FIXTURES + DEBIAN_OBJECTS

