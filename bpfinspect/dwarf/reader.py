"""The DWARF of a BPF object: ``.debug_info`` units, their DIE trees and attribute values.

Read with :mod:`struct` over the bytes the ELF reader hands out, as ``elf/`` is
(pyelftools checks every value in the tests).  The reason is measured: the
bootstrap fixture's DWARF holds 24,000 DIEs (the kernel types it uses), and
pyelftools needs 4 s to apply its 12,000 relocations and 4 s more to parse the
DIEs, where this reader needs a tenth of a second for both.

Design:

* **Relocations first.**  In a relocatable BPF object the debug sections hold
  relocations (``.rel.debug_info``, ``.rel.debug_addr``, ``.rel.debug_str_offsets``
  ...): R_BPF_64_ABS64/ABS32 add the symbol's value to the bytes in place.  A
  section is relocated the first time it is read.  Every code address also
  remembers the section its symbol lies in: BPF programs all start at address 0
  of their own section, so an address alone would not say which code it is.
* **One scan per unit, values later.**  A unit's DIEs are found in one pass
  that steps over attribute values without decoding them (an abbreviation whose
  attributes all have fixed sizes is stepped over in one addition).  Each DIE
  is kept as a handful of integers: its offset, abbreviation, where its
  attributes start, its parent and the index just past its subtree.  The
  attributes of a DIE are decoded when asked for.
* **Bounds.**  Every length and offset is checked against the bytes that
  exist; LEB128 numbers are at most 10 bytes; a unit's DIEs are at most one per
  byte.  Every failure is a :class:`MalformedInput` naming the section and the
  offset.

The encoding itself (LEB128, abbreviation tables, the size of each form) is
:mod:`bpfinspect.dwarf.encoding`; the file names ``DW_AT_decl_file`` counts
come from the line table's header (:mod:`bpfinspect.dwarf.line_files`).
"""

from __future__ import annotations

import struct
import zlib
from functools import cached_property

from bpfinspect.dwarf import constants as dw
from bpfinspect.dwarf.encoding import Abbrev, fixed_size, parse_abbrevs, skip, sleb, uleb
from bpfinspect.dwarf.line_files import line_table_files
from bpfinspect.errors import MalformedInput

# The forms a unit's base attribute (DW_AT_str_offsets_base, DW_AT_addr_base...) may take.
_OFFSET_FORMS = frozenset({dw.FORM_sec_offset, dw.FORM_data1, dw.FORM_data2, dw.FORM_data4, dw.FORM_data8,
                           dw.FORM_udata})

R_BPF_64_ABS64 = 2
R_BPF_64_ABS32 = 3
R_BPF_64_NODYLD32 = 4
SHF_COMPRESSED = 0x800
ELFCOMPRESS_ZLIB = 1
# A compressed debug section may not grow beyond this many times its size.
MAX_INFLATE_RATIO = 1024
# Sections whose relocations point at code: addresses in them are kept with their section.
_ADDRESS_SECTIONS = (".debug_info", ".debug_addr", ".debug_ranges", ".debug_rnglists")


class Dwarf:
    """The DWARF of one ELF object (``None`` from :func:`read_dwarf` when it has none)."""

    def __init__(self, elf) -> None:
        self.elf = elf
        self.path = elf.path
        self.little = elf.little
        self._e = "<" if elf.little else ">"
        self._secs = {s.name: s for s in elf.sections if s.name.startswith(".debug_") or s.name.startswith(".zdebug_")}
        self._data: dict[str, bytes] = {}
        # section name -> {byte offset: ELF section index of the symbol relocated there}
        self.address_sections: dict[str, dict[int, int]] = {}
        self._abbrevs: dict[int, dict[int, Abbrev]] = {}

    # -- sections -------------------------------------------------------------------------------

    def section(self, name: str) -> bytes:
        """A debug section's bytes, decompressed and relocated (empty when absent)."""
        data = self._data.get(name)
        if data is None:
            data = self._data[name] = self._load(name)
        return data

    def has(self, name: str) -> bool:
        return name in self._secs

    def _load(self, name: str) -> bytes:
        sec = self._secs.get(name)
        if sec is None:
            return b""
        raw = sec.data()
        if sec.flags & SHF_COMPRESSED:
            raw = self._inflate(sec, raw)
        relocs = self.elf.relocations(sec.index)
        if not relocs:
            return raw
        buf = bytearray(raw)
        e = self._e
        keep = {} if name in _ADDRESS_SECTIONS else None
        for r in relocs:
            if r.type == R_BPF_64_ABS64:
                width, fmt = 8, e + "Q"
            elif r.type in (R_BPF_64_ABS32, R_BPF_64_NODYLD32):
                width, fmt = 4, e + "I"
            else:
                continue  # no other relocation type applies to data
            if r.offset + width > len(buf):
                raise MalformedInput(f"relocation at {r.offset:#x} runs past the section ({len(buf)} bytes)",
                                     path=self.path, section=name)
            value = r.symbol.value + r.addend
            if value:
                old = struct.unpack_from(fmt, buf, r.offset)[0]
                struct.pack_into(fmt, buf, r.offset, (old + value) & ((1 << (8 * width)) - 1))
            if keep is not None and r.symbol.defined:
                keep[r.offset] = r.symbol.shndx
        if keep:
            self.address_sections[name] = keep
        return bytes(buf)

    def _inflate(self, sec, raw: bytes) -> bytes:
        e = self._e
        if self.elf.elfclass == 64:
            if len(raw) < 24:
                raise MalformedInput("compressed section header truncated", path=self.path, section=sec.name)
            ctype, _res, size, _align = struct.unpack_from(e + "IIQQ", raw, 0)
            body = raw[24:]
        else:
            if len(raw) < 12:
                raise MalformedInput("compressed section header truncated", path=self.path, section=sec.name)
            ctype, size, _align = struct.unpack_from(e + "III", raw, 0)
            body = raw[12:]
        if ctype != ELFCOMPRESS_ZLIB:
            raise MalformedInput(f"compressed with method {ctype} (only zlib is read)", path=self.path,
                                 section=sec.name)
        if size > MAX_INFLATE_RATIO * max(len(body), 1):
            raise MalformedInput(f"claims to inflate {len(body)} bytes to {size}", path=self.path, section=sec.name)
        d = zlib.decompressobj()
        try:
            out = d.decompress(body, size + 1)
        except zlib.error as exc:
            raise MalformedInput(f"bad zlib data ({exc})", path=self.path, section=sec.name) from None
        if len(out) != size:
            raise MalformedInput(f"inflates to {len(out)} bytes, the header says {size}", path=self.path,
                                 section=sec.name)
        return out

    # -- units ----------------------------------------------------------------------------------

    @cached_property
    def units(self) -> tuple["Unit", ...]:
        info = self.section(".debug_info")
        out = []
        pos = 0
        while pos < len(info):
            unit = Unit(self, info, pos)
            out.append(unit)
            pos = unit.end
        return tuple(out)

    def unit_at(self, offset: int) -> "Unit":
        """The unit whose bytes hold ``offset`` of ``.debug_info``."""
        units = self.units
        lo, hi = 0, len(units)
        while lo < hi:
            mid = (lo + hi) // 2
            if units[mid].end <= offset:
                lo = mid + 1
            else:
                hi = mid
        if lo == len(units) or offset < units[lo].offset:
            raise MalformedInput(f"DIE reference {offset:#x} outside every unit", path=self.path,
                                 section=".debug_info")
        return units[lo]

    def die(self, offset: int) -> "Die":
        """The DIE at ``offset`` of ``.debug_info``."""
        unit = self.unit_at(offset)
        return Die(unit, unit.index_of(offset))

    def abbrevs(self, offset: int, unit_offset: int) -> dict[int, Abbrev]:
        table = self._abbrevs.get(offset)
        if table is None:
            table = self._abbrevs[offset] = parse_abbrevs(self.section(".debug_abbrev"), offset, unit_offset,
                                                          self.path)
        return table

    # -- strings, addresses ---------------------------------------------------------------------

    def cstring(self, section: str, offset: int) -> str:
        data = self.section(section)
        if not 0 <= offset < len(data):
            raise MalformedInput(f"string offset {offset:#x} past the end ({len(data)} bytes)", path=self.path,
                                 section=section)
        end = data.find(b"\0", offset)
        if end < 0:
            end = len(data)
        return data[offset:end].decode("utf-8", "replace")


def read_dwarf(elf) -> Dwarf | None:
    """The DWARF of ``elf`` (a :class:`bpfinspect.elf.ElfFile`), or None without ``.debug_info``."""
    if elf.section_by_name(".debug_info") is None:
        return None
    return Dwarf(elf)


def _is_address(value) -> bool:
    """Whether an attribute's value is an address: ``(value, ELF section index or None)``."""
    return isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], int)


class Unit:
    """One unit of ``.debug_info``: its header, and its DIEs (found on first use)."""

    def __init__(self, dwarf: Dwarf, info: bytes, offset: int) -> None:
        self.dwarf = dwarf
        self.offset = offset
        e = dwarf._e
        sec = ".debug_info"
        path = dwarf.path
        if offset + 4 > len(info):
            raise MalformedInput("unit header truncated", path=path, offset=offset, section=sec)
        length = struct.unpack_from(e + "I", info, offset)[0]
        pos = offset + 4
        self.offset_size = 4
        if length == 0xFFFFFFFF:
            if pos + 8 > len(info):
                raise MalformedInput("unit header truncated", path=path, offset=offset, section=sec)
            length = struct.unpack_from(e + "Q", info, pos)[0]
            pos += 8
            self.offset_size = 8
        elif length >= 0xFFFFFFF0:
            raise MalformedInput(f"reserved unit length {length:#x}", path=path, offset=offset, section=sec)
        self.end = pos + length
        if self.end > len(info) or length < 7:
            raise MalformedInput(f"unit of {length} bytes runs past the section ({len(info)} bytes)", path=path,
                                 offset=offset, section=sec)
        self.version = struct.unpack_from(e + "H", info, pos)[0]
        pos += 2
        if not 2 <= self.version <= 5:
            raise MalformedInput(f"DWARF version {self.version} (2 to 5 are read)", path=path, offset=offset,
                                 section=sec)
        osz = "I" if self.offset_size == 4 else "Q"
        need = 1 + 1 + self.offset_size
        if pos + need > self.end:
            raise MalformedInput("unit header truncated", path=path, offset=offset, section=sec)
        if self.version >= 5:
            self.unit_type = info[pos]
            self.address_size = info[pos + 1]
            self.abbrev_offset = struct.unpack_from(e + osz, info, pos + 2)[0]
            pos += need
            if self.unit_type in (4, 5):        # skeleton, split compile: a DWO id follows
                pos += 8
            elif self.unit_type in (2, 6):      # type units: signature and type offset
                pos += 8 + self.offset_size
        else:
            self.unit_type = 1
            self.abbrev_offset = struct.unpack_from(e + osz, info, pos)[0]
            self.address_size = info[pos + self.offset_size]
            pos += self.offset_size + 1
        if self.address_size not in (4, 8):
            raise MalformedInput(f"address size {self.address_size}", path=path, offset=offset, section=sec)
        if pos > self.end:
            raise MalformedInput("unit header truncated", path=path, offset=offset, section=sec)
        self.die_start = pos
        self.info = info
        self._attr_cache: dict[int, tuple[dict, dict]] = {}

    def __repr__(self) -> str:
        return f"Unit(offset={self.offset:#x}, version={self.version})"

    @cached_property
    def abbrevs(self) -> dict[int, Abbrev]:
        return self.dwarf.abbrevs(self.abbrev_offset, self.offset)

    # -- the scan ---------------------------------------------------------------------------------

    @cached_property
    def _dies(self) -> tuple[list[int], list[Abbrev], list[int], list[int], list[int]]:
        """(offsets, abbreviations, attribute starts, parents, subtree ends) of every DIE, in order."""
        info = self.info
        end = self.end
        abbrevs = self.abbrevs
        path = self.dwarf.path
        offs: list[int] = []
        abbs: list[Abbrev] = []
        starts: list[int] = []
        parents: list[int] = []
        ends: list[int] = []
        stack: list[int] = []
        addr = self.address_size
        osz = self.offset_size
        ref_addr = addr if self.version == 2 else osz
        little = self.dwarf.little
        pos = self.die_start
        while pos < end:
            at = pos
            b = info[pos]
            pos += 1
            if b & 0x80:
                code, pos = uleb(info, at, ".debug_info")
            else:
                code = b
            if code == 0:
                if stack:
                    ends[stack.pop()] = len(offs)
                continue
            ab = abbrevs.get(code)
            if ab is None:
                raise MalformedInput(f"DIE uses abbreviation {code}, which the unit's table lacks", path=path,
                                     offset=at, section=".debug_info")
            idx = len(offs)
            offs.append(at)
            abbs.append(ab)
            starts.append(pos)
            parents.append(stack[-1] if stack else -1)
            ends.append(idx + 1)
            if ab.fixed is None:
                ab.fixed = fixed_size(ab, addr, osz, ref_addr)
            if ab.fixed >= 0:
                pos += ab.fixed
            else:
                for _attr, form, _imp in ab.attrs:
                    pos = skip(info, pos, form, addr, osz, ref_addr, path, little)
            if pos > end:
                raise MalformedInput("DIE runs past its unit", path=path, offset=at, section=".debug_info")
            if ab.children:
                stack.append(idx)
        while stack:  # a unit that ends without closing its children: they end with it
            ends[stack.pop()] = len(offs)
        return offs, abbs, starts, parents, ends

    def __len__(self) -> int:
        return len(self._dies[0])

    @cached_property
    def _index(self) -> dict[int, int]:
        return {o: i for i, o in enumerate(self._dies[0])}

    def index_of(self, offset: int) -> int:
        i = self._index.get(offset)
        if i is None:
            raise MalformedInput(f"no DIE starts at {offset:#x}", path=self.dwarf.path, section=".debug_info")
        return i

    def tag(self, i: int) -> int:
        return self._dies[1][i].tag

    def parent(self, i: int) -> int:
        return self._dies[3][i]

    def children(self, i: int) -> list[int]:
        """Indexes of DIE ``i``'s direct children."""
        ends = self._dies[4]
        out = []
        j = i + 1
        stop = ends[i]
        while j < stop:
            out.append(j)
            j = ends[j]
        return out

    def subtree_end(self, i: int) -> int:
        return self._dies[4][i]

    # -- attributes -------------------------------------------------------------------------------

    @cached_property
    def _bases(self) -> tuple[int, int, int]:
        """(str_offsets_base, addr_base, rnglists_base) from the unit DIE (DWARF 5 defaults)."""
        if not len(self):
            return 8, 8, 12
        raw = self._raw_attrs(0)
        wide = self.offset_size != 4

        def base(attrs, default: int) -> int:
            for attr in attrs:
                if attr in raw:
                    form, value = raw[attr]
                    # (a string, a block or an address -- hostile input -- is no offset)
                    if form not in _OFFSET_FORMS or not isinstance(value, int) or value < 0:
                        raise MalformedInput(f"the unit's base attribute 0x{attr:x} is not an offset (form "
                                             f"0x{raw[attr][0]:x})", path=self.dwarf.path, section=".debug_info")
                    return value
            return default

        so = base((dw.AT_str_offsets_base,), 16 if wide else 8)
        ab = base((dw.AT_addr_base, dw.AT_GNU_addr_base), 16 if wide else 8)
        rb = base((dw.AT_rnglists_base,), 20 if wide else 12)
        return so, ab, rb

    def _raw_attrs(self, i: int) -> dict[int, tuple[int, object]]:
        """attribute -> (form, value as stored: ints, bytes, or a position for strings and addresses)."""
        info = self.info
        ab = self._dies[1][i]
        pos = self._dies[2][i]
        e = self.dwarf._e
        addr = self.address_size
        osz = self.offset_size
        path = self.dwarf.path
        out: dict[int, tuple[int, object]] = {}
        for attr, form, implicit in ab.attrs:
            here = pos
            if form == dw.FORM_indirect:
                form, pos = uleb(info, pos, ".debug_info")
                here = pos
                if form not in dw.FORM_SHAPE or form in (dw.FORM_indirect, dw.FORM_implicit_const):
                    raise MalformedInput(f"indirect form {form:#x}", path=path, offset=here, section=".debug_info")
            shape = dw.FORM_SHAPE[form]
            if form == dw.FORM_implicit_const:
                value: object = implicit
            elif form == dw.FORM_flag_present:
                value = True
            elif shape == "uleb":
                value, pos = uleb(info, pos, ".debug_info")
            elif shape == "sleb":
                value, pos = sleb(info, pos, ".debug_info")
            elif shape == "string":
                stop = info.find(b"\0", pos, self.end)
                if stop < 0:
                    raise MalformedInput("string runs past its unit", path=path, offset=pos, section=".debug_info")
                value = info[pos:stop].decode("utf-8", "replace")
                pos = stop + 1
            elif isinstance(shape, str) and shape.startswith("block"):
                if shape == "block":
                    n, pos = uleb(info, pos, ".debug_info")
                else:
                    w = int(shape[5:])
                    if pos + w > self.end:
                        raise MalformedInput("block length runs past its unit", path=path, offset=pos,
                                             section=".debug_info")
                    n = int.from_bytes(info[pos:pos + w], "little" if self.dwarf.little else "big")
                    pos += w
                if pos + n > self.end:
                    raise MalformedInput("block runs past its unit", path=path, offset=pos, section=".debug_info")
                value = info[pos:pos + n]
                pos += n
            else:
                width = shape if isinstance(shape, int) else (
                    addr if shape == "addr" else osz if shape == "offset" else
                    (addr if self.version == 2 else osz))
                if pos + width > self.end:
                    raise MalformedInput("attribute runs past its unit", path=path, offset=pos,
                                         section=".debug_info")
                if width in (1, 2, 4, 8):
                    value = struct.unpack_from(e + {1: "B", 2: "H", 4: "I", 8: "Q"}[width], info, pos)[0]
                elif width == 3:
                    value = int.from_bytes(info[pos:pos + 3], "little" if self.dwarf.little else "big")
                else:
                    value = info[pos:pos + width]
                pos += width
            if form in dw.REF_FORMS:
                value = self.offset + value  # unit-relative -> section offset
            elif form == dw.FORM_addr:
                value = ("addr", value, here)
            out[attr] = (form, value)
        return out

    def attrs(self, i: int) -> dict[int, object]:
        """DIE ``i``'s attributes, decoded: ints, bools, str, bytes (blocks), DIE offsets (references)
        and, for addresses, ``(value, ELF section index or None)``."""
        cached = self._attr_cache.get(i)
        if cached is None:
            cached = self._decode_all(i)
        return cached[0]

    def forms(self, i: int) -> dict[int, int]:
        """attribute -> form of DIE ``i`` (to tell a constant from a location, a length from an address)."""
        cached = self._attr_cache.get(i)
        if cached is None:
            cached = self._decode_all(i)
        return cached[1]

    def _decode_all(self, i: int) -> tuple[dict[int, object], dict[int, int]]:
        values: dict[int, object] = {}
        forms: dict[int, int] = {}
        for attr, (form, value) in self._raw_attrs(i).items():
            values[attr] = self._decode(form, value)
            forms[attr] = form
        self._attr_cache[i] = (values, forms)
        return values, forms

    def _decode(self, form: int, value):
        d = self.dwarf
        if form in dw.STRING_FORMS:
            if form == dw.FORM_string:
                return value
            if form == dw.FORM_strp:
                return d.cstring(".debug_str", value)
            if form == dw.FORM_line_strp:
                return d.cstring(".debug_line_str", value)
            return d.cstring(".debug_str", self._str_offset(value))
        if form == dw.FORM_addr:
            _tag, v, here = value
            shndx = d.address_sections.get(".debug_info", {}).get(here)
            return (v, shndx)
        if form in dw.ADDRX_FORMS:
            return self.address_at(value)
        return value

    def _str_offset(self, index: int) -> int:
        data = self.dwarf.section(".debug_str_offsets")
        at = self._bases[0] + index * self.offset_size
        if at + self.offset_size > len(data):
            raise MalformedInput(f"string index {index} past .debug_str_offsets", path=self.dwarf.path,
                                 section=".debug_str_offsets")
        return struct.unpack_from(self.dwarf._e + ("I" if self.offset_size == 4 else "Q"), data, at)[0]

    def address_at(self, index: int) -> tuple[int, int | None]:
        """Entry ``index`` of this unit's ``.debug_addr`` table: (address, ELF section index or None)."""
        d = self.dwarf
        data = d.section(".debug_addr")
        at = self._bases[1] + index * self.address_size
        if at + self.address_size > len(data):
            raise MalformedInput(f"address index {index} past .debug_addr", path=d.path, section=".debug_addr")
        v = struct.unpack_from(d._e + ("I" if self.address_size == 4 else "Q"), data, at)[0]
        return v, d.address_sections.get(".debug_addr", {}).get(at)

    def file_name(self, index: int) -> str | None:
        """File ``index`` of the unit's line table (``DW_AT_decl_file``), as a path without ``./``."""
        names = self._file_names
        if 0 <= index < len(names):
            return names[index]
        return None

    @cached_property
    def _file_names(self) -> list[str | None]:
        """The line table's file names; none when it is malformed (they only say where a type was
        declared, so a broken line table costs that and nothing else)."""
        if not len(self):
            return []
        stmt = self.attrs(0).get(dw.AT_stmt_list)
        if not isinstance(stmt, int) or isinstance(stmt, bool):
            return []
        try:
            return line_table_files(self, stmt)
        except MalformedInput:
            return []

    def ranges(self, i: int) -> list[tuple[int, int, int | None]]:
        """The code ranges of DIE ``i``: ``(start, end, ELF section index or None)`` from
        ``low_pc``/``high_pc`` or ``ranges`` (empty when it has neither)."""
        a = self.attrs(i)
        low = a.get(dw.AT_low_pc)
        if low is not None and not _is_address(low):
            self._not_a(i, "low_pc", "an address")
        if dw.AT_ranges in a:
            value = a[dw.AT_ranges]
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                self._not_a(i, "ranges", "an offset")
            return self._range_list(i, value, low)
        if low is None:
            return []
        high = a.get(dw.AT_high_pc)
        if high is None:
            return [(low[0], low[0] + 1, low[1])]
        if _is_address(high):
            return [(low[0], high[0], low[1])]
        if not isinstance(high, int) or isinstance(high, bool) or high < 0:
            self._not_a(i, "high_pc", "an address or a length")
        return [(low[0], low[0] + high, low[1])]

    def _not_a(self, i: int, attr: str, what: str) -> None:
        raise MalformedInput(f"DW_AT_{attr} of the DIE at 0x{self._dies[0][i]:x} is not {what}",
                             path=self.dwarf.path, section=".debug_info")

    def _range_list(self, i: int, value: int, low) -> list[tuple[int, int, int | None]]:
        d = self.dwarf
        form = self.forms(i)[dw.AT_ranges]
        base = self.attrs(0).get(dw.AT_low_pc, (0, None)) if len(self) else (0, None)
        if not _is_address(base):
            self._not_a(0, "low_pc", "an address")
        out: list[tuple[int, int, int | None]] = []
        if self.version < 5:
            data = d.section(".debug_ranges")
            relocs = d.address_sections.get(".debug_ranges", {})
            pos = value
            w = self.address_size
            fmt = d._e + ("I" if w == 4 else "Q")
            top = (1 << (8 * w)) - 1
            for _ in range(len(data) // (2 * w) + 1):
                if pos + 2 * w > len(data):
                    raise MalformedInput("range list runs past the section", path=d.path, offset=pos,
                                         section=".debug_ranges")
                s, e_ = struct.unpack_from(fmt, data, pos)[0], struct.unpack_from(fmt, data, pos + w)[0]
                shndx = relocs.get(pos, relocs.get(pos + w))
                pos += 2 * w
                if s == 0 and e_ == 0 and shndx is None:
                    break
                if s == top:
                    base = (e_, shndx)
                    continue
                out.append((base[0] + s, base[0] + e_, shndx if shndx is not None else base[1]))
            return out
        data = d.section(".debug_rnglists")
        if form == dw.FORM_rnglistx:
            at = self._bases[2] + value * self.offset_size
            if at + self.offset_size > len(data):
                raise MalformedInput(f"range list index {value} past the section", path=d.path,
                                     section=".debug_rnglists")
            pos = self._bases[2] + struct.unpack_from(d._e + ("I" if self.offset_size == 4 else "Q"), data, at)[0]
        else:
            pos = value
        sec = ".debug_rnglists"
        relocs = d.address_sections.get(sec, {})
        w = self.address_size
        fmt = d._e + ("I" if w == 4 else "Q")
        for _ in range(len(data) + 1):
            if pos >= len(data):
                raise MalformedInput("range list runs past the section", path=d.path, offset=pos, section=sec)
            kind = data[pos]
            pos += 1
            if kind == dw.RLE_end_of_list:
                break
            if kind == dw.RLE_base_addressx:
                idx, pos = uleb(data, pos, sec)
                base = self.address_at(idx)
            elif kind in (dw.RLE_startx_endx, dw.RLE_startx_length):
                a, pos = uleb(data, pos, sec)
                b, pos = uleb(data, pos, sec)
                start = self.address_at(a)
                stop = self.address_at(b)[0] if kind == dw.RLE_startx_endx else start[0] + b
                out.append((start[0], stop, start[1]))
            elif kind == dw.RLE_offset_pair:
                a, pos = uleb(data, pos, sec)
                b, pos = uleb(data, pos, sec)
                out.append((base[0] + a, base[0] + b, base[1]))
            elif kind in (dw.RLE_base_address, dw.RLE_start_end, dw.RLE_start_length):
                if pos + w > len(data):
                    raise MalformedInput("range list runs past the section", path=d.path, offset=pos, section=sec)
                a = (struct.unpack_from(fmt, data, pos)[0], relocs.get(pos))
                pos += w
                if kind == dw.RLE_base_address:
                    base = a
                elif kind == dw.RLE_start_end:
                    if pos + w > len(data):
                        raise MalformedInput("range list runs past the section", path=d.path, offset=pos,
                                             section=sec)
                    out.append((a[0], struct.unpack_from(fmt, data, pos)[0], a[1]))
                    pos += w
                else:
                    n, pos = uleb(data, pos, sec)
                    out.append((a[0], a[0] + n, a[1]))
            else:
                raise MalformedInput(f"unknown range list entry {kind}", path=d.path, offset=pos - 1, section=sec)
        return out


class Die:
    """A view of one DIE: its unit and index (cheap; attributes decoded on first use)."""

    __slots__ = ("unit", "index")

    def __init__(self, unit: Unit, index: int) -> None:
        self.unit = unit
        self.index = index

    def __eq__(self, other) -> bool:
        return isinstance(other, Die) and other.unit is self.unit and other.index == self.index

    def __hash__(self) -> int:
        return hash((self.unit.offset, self.index))

    def __repr__(self) -> str:
        return f"Die({self.offset:#x}, tag={self.tag:#x})"

    @property
    def offset(self) -> int:
        return self.unit._dies[0][self.index]

    @property
    def tag(self) -> int:
        return self.unit.tag(self.index)

    @property
    def attrs(self) -> dict[int, object]:
        return self.unit.attrs(self.index)

    def get(self, attr: int, default=None):
        return self.unit.attrs(self.index).get(attr, default)

    @property
    def name(self) -> str:
        v = self.get(dw.AT_name)
        return v if isinstance(v, str) else ""

    def ref(self, attr: int) -> "Die | None":
        """The DIE an attribute refers to (None when absent)."""
        v = self.get(attr)
        if not isinstance(v, int) or isinstance(v, bool):
            return None
        if self.unit.forms(self.index).get(attr) not in dw.REF_FORMS | {dw.FORM_ref_addr}:
            return None
        if self.unit.offset <= v < self.unit.end:
            return Die(self.unit, self.unit.index_of(v))
        return self.unit.dwarf.die(v)

    @property
    def parent(self) -> "Die | None":
        p = self.unit.parent(self.index)
        return Die(self.unit, p) if p >= 0 else None

    def children(self) -> list["Die"]:
        return [Die(self.unit, j) for j in self.unit.children(self.index)]

    def descendants(self) -> list["Die"]:
        return [Die(self.unit, j) for j in range(self.index + 1, self.unit.subtree_end(self.index))]


