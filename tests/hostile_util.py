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
            out.append(blob[off:blob.index(b"\0", off)].decode("utf-8", "surrogateescape"))
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


# -- renaming things inside a real object ----------------------------------------------------------

# BTF kinds whose vlen items start with a name, and the words per item.
_BTF_NAMED_ITEMS = {4: 3, 5: 3, 6: 2, 19: 3, 13: 2}
# Extra words after the 3-word common part, per kind: (fixed, per vlen item).
_BTF_EXTRA = {1: (1, 0), 3: (3, 0), 4: (0, 3), 5: (0, 3), 6: (0, 2), 13: (0, 2), 14: (1, 0), 15: (0, 3),
              17: (1, 0), 19: (0, 3)}


def _strings_with(table: bytes, new: list[bytes]) -> tuple[bytes, dict[bytes, int]]:
    """``table`` with ``new`` strings appended (offsets of the old ones unchanged)."""
    out = bytearray(table)
    if out and out[-1] != 0:
        out.append(0)
    where = {}
    for s in new:
        where[s] = len(out)
        out += s + b"\0"
    return bytes(out), where


def _cstr(table: bytes, off: int) -> bytes:
    end = table.find(b"\0", off)
    return table[off:end if end >= 0 else len(table)]


def patch_btf(data: bytes, names: dict[bytes, bytes] | None = None, sizes: dict[bytes, int] | None = None) -> bytes:
    """The object with its .BTF changed: every name (of a type, member, enumerator or parameter)
    equal to a key of ``names`` renamed to its value, and every struct/union named like a key
    of ``sizes`` given that size.  New names are appended to the string table, so every other
    string offset (.BTF.ext's among them) still holds."""
    names = names or {}
    sizes = sizes or {}
    img = Image(data)
    btf = img.data(".BTF")
    e = "<" if btf[:2] == b"\x9f\xeb" else ">"
    magic, ver, flags, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(e + "HBBIIIII", btf)
    types = bytearray(btf[hdr_len + type_off:hdr_len + type_off + type_len])
    strs = btf[hdr_len + str_off:hdr_len + str_off + str_len]
    strs, where = _strings_with(strs, list(names.values()))

    def rename(pos: int) -> bytes:
        off, = struct.unpack_from(e + "I", types, pos)
        old = _cstr(strs, off)
        if old in names:
            struct.pack_into(e + "I", types, pos, where[names[old]])
        return old

    p = 0
    while p < len(types):
        info, third = struct.unpack_from(e + "II", types, p + 4)
        kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
        own = rename(p)
        if kind in (4, 5) and own in sizes:
            struct.pack_into(e + "I", types, p + 8, sizes[own])
        step = _BTF_NAMED_ITEMS.get(kind)
        fixed, per = _BTF_EXTRA.get(kind, (0, 0))
        if step:
            for i in range(vlen):
                rename(p + 12 + 4 * (fixed + step * i))
        p += 12 + 4 * (fixed + per * vlen)
    hdr = struct.pack(e + "HBBIIIII", magic, ver, flags, 24, 0, len(types), len(types), len(strs))
    return bytes(img.put(".BTF", hdr + bytes(types) + strs))


def patch_symbols(data: bytes, names: dict[bytes, bytes]) -> bytes:
    """The object with the symbols named like a key of ``names`` renamed (new names appended
    to the symbol string table)."""
    img = Image(data)
    sym_index = img.index(".symtab")
    symtab = img.shdr(sym_index)
    strtab_name = img.names()[symtab["link"]]
    old_table = img.data(strtab_name)
    table, where = _strings_with(old_table, list(names.values()))
    img.put(strtab_name, table)
    entsize = 24 if img.is64 else 16
    base = symtab["offset"]
    for i in range(symtab["size"] // entsize):
        off, = struct.unpack_from(img.e + "I", img.buf, base + i * entsize)
        old = _cstr(old_table, off)
        if old in names:
            struct.pack_into(img.e + "I", img.buf, base + i * entsize, where[names[old]])
    return bytes(img)


def patch_section_names(data: bytes, names: dict[bytes, bytes]) -> bytes:
    """The object with the sections named like a key of ``names`` renamed."""
    img = Image(data)
    shstrndx = img.hdr("shstrndx")
    old_table = img.data(img.names()[shstrndx])
    table, where = _strings_with(old_table, list(names.values()))
    olds = [img.shdr(i)["name"] for i in range(img.hdr("shnum"))]
    img.put(img.names()[shstrndx], table)
    for i, off in enumerate(olds):
        old = _cstr(old_table, off)
        if old in names:
            img.set_shdr(i, "name", where[names[old]])
    return bytes(img)
