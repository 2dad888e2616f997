"""Making hostile ELF files for the tests: patch a real object, or write a small one from scratch."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

EM_BPF = 247
SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_NOBITS, SHT_REL = 1, 2, 3, 8, 9
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 1, 2, 4

_SHDR_FIELDS = ("name", "type", "flags", "addr", "offset", "size", "link", "info", "align", "entsize")


class Image:
    """An ELF image whose header, section headers and section bytes can be changed in place."""

    def __init__(self, data: bytes) -> None:
        self.buf = bytearray(data)
        self.e = "<" if data[5] == 1 else ">"
        self.is64 = data[4] == 2
        if self.is64:
            self._hdr = {"type": (16, "H"), "machine": (18, "H"), "shoff": (40, "Q"), "shentsize": (58, "H"),
                         "shnum": (60, "H"), "shstrndx": (62, "H")}
            self._shdr_fmt = "IIQQQQIIQQ"
        else:
            self._hdr = {"type": (16, "H"), "machine": (18, "H"), "shoff": (32, "I"), "shentsize": (46, "H"),
                         "shnum": (48, "H"), "shstrndx": (50, "H")}
            self._shdr_fmt = "IIIIIIIIII"

    def __bytes__(self) -> bytes:
        return bytes(self.buf)

    # -- ELF header -------------------------------------------------------------------------
    def hdr(self, name: str) -> int:
        off, f = self._hdr[name]
        return struct.unpack_from(self.e + f, self.buf, off)[0]

    def set_hdr(self, name: str, value: int) -> "Image":
        off, f = self._hdr[name]
        struct.pack_into(self.e + f, self.buf, off, value)
        return self

    # -- section headers ----------------------------------------------------------------------
    def _shdr_off(self, index: int) -> int:
        return self.hdr("shoff") + index * self.hdr("shentsize")

    def shdr(self, index: int) -> dict:
        vals = struct.unpack_from(self.e + self._shdr_fmt, self.buf, self._shdr_off(index))
        return dict(zip(_SHDR_FIELDS, vals))

    def set_shdr(self, which, field_name: str, value: int) -> "Image":
        index = self.index(which) if isinstance(which, str) else which
        vals = list(struct.unpack_from(self.e + self._shdr_fmt, self.buf, self._shdr_off(index)))
        vals[_SHDR_FIELDS.index(field_name)] = value
        struct.pack_into(self.e + self._shdr_fmt, self.buf, self._shdr_off(index), *vals)
        return self

    def names(self) -> list[str]:
        strtab = self.shdr(self.hdr("shstrndx"))
        blob = bytes(self.buf[strtab["offset"]:strtab["offset"] + strtab["size"]])
        out = []
        for i in range(self.hdr("shnum")):
            off = self.shdr(i)["name"]
            out.append(blob[off:blob.index(b"\0", off)].decode())
        return out

    def index(self, name: str) -> int:
        return self.names().index(name)

    def data(self, name: str) -> bytes:
        h = self.shdr(self.index(name))
        return bytes(self.buf[h["offset"]:h["offset"] + h["size"]])

    def put(self, name: str, data: bytes) -> "Image":
        """Give section ``name`` new bytes (appended to the file, 8-aligned)."""
        index = self.index(name)
        while len(self.buf) % 8:
            self.buf.append(0)
        off = len(self.buf)
        self.buf += data
        self.set_shdr(index, "offset", off)
        self.set_shdr(index, "size", len(data))
        return self

    def patch(self, name: str, at: int, fmt: str, *values) -> "Image":
        """Write ``values`` (struct ``fmt`` in the file's byte order) at offset ``at`` of section ``name``."""
        h = self.shdr(self.index(name))
        struct.pack_into(self.e + fmt, self.buf, h["offset"] + at, *values)
        return self


# -- writing a small object from scratch ---------------------------------------------------------

@dataclass
class Sec:
    name: str
    type: int
    data: bytes = b""
    flags: int = 0
    link: str | int = 0
    info: str | int = 0
    entsize: int = 0
    align: int = 8
    size: int | None = None       # claimed size (defaults to len(data))


@dataclass
class Sym:
    name: str
    section: str | int = 0
    value: int = 0
    size: int = 0
    bind: int = 1                 # GLOBAL
    type: int = 2                 # FUNC


@dataclass
class Obj:
    sections: list[Sec] = field(default_factory=list)
    symbols: list[Sym] = field(default_factory=list)
    is64: bool = True
    little: bool = True
    machine: int = EM_BPF


def symtab_bytes(obj: Obj, index_of: dict[str, int], strtab: bytearray) -> bytes:
    e = "<" if obj.little else ">"
    out = bytearray()
    rows = [Sym("", 0, 0, 0, 0, 0)] + list(obj.symbols)
    for s in rows:
        name_off = 0
        if s.name:
            name_off = len(strtab)
            strtab += s.name.encode() + b"\0"
        shndx = index_of[s.section] if isinstance(s.section, str) else s.section
        info = (s.bind << 4) | s.type
        if obj.is64:
            out += struct.pack(e + "IBBHQQ", name_off, info, 0, shndx, s.value, s.size)
        else:
            out += struct.pack(e + "IIIBBH", name_off, s.value, s.size, info, 0, shndx)
    return bytes(out)


def rel_bytes(entries: list[tuple[int, int, int]], *, is64: bool = True, little: bool = True) -> bytes:
    """REL entries (offset, symbol index, type)."""
    e = "<" if little else ">"
    out = bytearray()
    for off, sym, typ in entries:
        if is64:
            out += struct.pack(e + "QQ", off, (sym << 32) | typ)
        else:
            out += struct.pack(e + "II", off, (sym << 8) | typ)
    return bytes(out)


def build(obj: Obj) -> bytes:
    """An ET_REL file with a null section, ``obj.sections``, .symtab/.strtab (when there are
    symbols) and .shstrtab, in that order."""
    e = "<" if obj.little else ">"
    secs = list(obj.sections)
    has_syms = bool(obj.symbols)
    names = [""] + [s.name for s in secs] + ([".symtab", ".strtab"] if has_syms else []) + [".shstrtab"]
    index_of = {n: i for i, n in enumerate(names) if n}
    strtab = bytearray(b"\0")
    if has_syms:
        symtab = symtab_bytes(obj, index_of, strtab)
        nlocal = 1 + sum(1 for s in obj.symbols if s.bind == 0)
        secs.append(Sec(".symtab", SHT_SYMTAB, symtab, link=".strtab", info=nlocal,
                        entsize=24 if obj.is64 else 16))
        secs.append(Sec(".strtab", SHT_STRTAB, bytes(strtab), align=1))
    shstr = bytearray(b"\0")
    name_offs = [0]
    for s in secs:
        name_offs.append(len(shstr))
        shstr += s.name.encode() + b"\0"
    name_offs.append(len(shstr))
    shstr += b".shstrtab\0"
    secs.append(Sec(".shstrtab", SHT_STRTAB, bytes(shstr), align=1))
    ehsize = 64 if obj.is64 else 52
    body = bytearray(b"\0" * ehsize)
    offsets = []
    for s in secs:
        while len(body) % 8:
            body.append(0)
        offsets.append(len(body))
        if s.type != SHT_NOBITS:
            body += s.data
    while len(body) % 8:
        body.append(0)
    shoff = len(body)
    shentsize = 64 if obj.is64 else 40
    fmt = e + ("IIQQQQIIQQ" if obj.is64 else "IIIIIIIIII")
    body += b"\0" * shentsize

    def ref(v):
        return index_of[v] if isinstance(v, str) else v

    for i, s in enumerate(secs):
        size = s.size if s.size is not None else len(s.data)
        body += struct.pack(fmt, name_offs[i + 1], s.type, s.flags, 0, offsets[i], size, ref(s.link), ref(s.info),
                            s.align, s.entsize)
    ident = b"\x7fELF" + bytes([2 if obj.is64 else 1, 1 if obj.little else 2, 1, 0]) + b"\0" * 8
    if obj.is64:
        hdr = struct.pack(e + "HHIQQQIHHHHHH", 1, obj.machine, 1, 0, 0, shoff, 0, ehsize, 0, 0, shentsize,
                          len(secs) + 1, len(secs))
    else:
        hdr = struct.pack(e + "HHIIIIIHHHHHH", 1, obj.machine, 1, 0, 0, shoff, 0, ehsize, 0, 0, shentsize,
                          len(secs) + 1, len(secs))
    body[:ehsize] = ident + hdr
    return bytes(body)


def insn(op: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0, little: bool = True) -> bytes:
    regs = (src << 4 | dst) if little else (dst << 4 | src)
    return struct.pack(("<" if little else ">") + "BBhi", op, regs, off, imm)


MOV64_R0_0 = insn(0xB7)
EXIT = insn(0x95)
