"""Decoding of .BTF.ext: func_info, line_info and CO-RE relocation records.

Every record keeps ``insn_off`` as stored in the ELF file: a byte offset into
the program section the group names.  The header and every group header are
read and checked when the section is opened (so malformed sizes and counts are
reported at once); the records themselves are decoded one section at a time,
when that section's records are first asked for.
"""

from __future__ import annotations

import struct
from collections import namedtuple
from collections.abc import Mapping

from bpfinspect.btf.btf import Btf
from bpfinspect.btf.kinds import (BTF_EXT_CORE_HEADER, BTF_EXT_CORE_HEADER_SIZE, BTF_EXT_HEADER,
                                  BTF_EXT_HEADER_SIZE, BTF_EXT_PREFIX, BTF_MAGIC, CORE_KINDS)
from bpfinspect.errors import MalformedInput


# The records are named tuples: tens of thousands are made for one listing, and a tuple is made
# several times faster than a frozen dataclass (each field set through object.__setattr__).

class FuncInfo(namedtuple("FuncInfo", "insn_off type_id")):
    __slots__ = ()


class LineInfo(namedtuple("LineInfo", "insn_off file line_text line col")):
    __slots__ = ()


class CoreRelo(namedtuple("CoreRelo", "insn_off type_id access kind")):
    __slots__ = ()

    @property
    def kind_name(self) -> str:
        return CORE_KINDS.get(self.kind, f"kind{self.kind}")


# The three subsections, in header order, and the size of their records (the smallest valid
# size, and the size reported when a subsection is empty).
SUBSECTIONS = ("func_info", "line_info", "core_relos")
_RECORD_SIZE = {"func_info": 8, "line_info": 16, "core_relos": 16}


class _Records(Mapping):
    """Section name -> records of one subsection, each section decoded on first lookup."""

    __slots__ = ("_groups", "_decode", "_done")

    def __init__(self, groups: dict[str, list[tuple[int, int]]], decode) -> None:
        self._groups = groups
        self._decode = decode
        self._done: dict[str, tuple] = {}

    def __getitem__(self, name: str) -> tuple:
        found = self._done.get(name)
        if found is None:
            found = self._done[name] = tuple(r for pos, num in self._groups[name] for r in self._decode(pos, num))
        return found

    def __iter__(self):
        return iter(self._groups)

    def __len__(self) -> int:
        return len(self._groups)


class BtfExt:
    """A .BTF.ext section: its header and group headers read and checked at once, the
    records of each section decoded when that section is first looked up.

    ``func_info``, ``line_info`` and ``core_relos`` map a section name to its records;
    :meth:`count` gives a subsection's record count from its group headers alone.
    """

    def __init__(self, data: bytes, btf: Btf, path: str | None = None) -> None:
        self._data = data
        self._btf = btf
        self._path = path
        if len(data) < 8:
            self._fail(f"too short ({len(data)} bytes) for a header", 0)
        if struct.unpack_from("<H", data, 0)[0] == BTF_MAGIC:
            e = "<"
        elif struct.unpack_from(">H", data, 0)[0] == BTF_MAGIC:
            e = ">"
        else:
            self._fail("bad magic", 0)
        self._e = e
        self.version, self.flags, hdr_len = struct.unpack_from(e + BTF_EXT_PREFIX, data, 2)
        if hdr_len < BTF_EXT_HEADER_SIZE or hdr_len > len(data):
            self._fail(f"header length {hdr_len} out of range", 4)
        fi_off, fi_len, li_off, li_len = struct.unpack_from(e + BTF_EXT_HEADER, data, 8)
        cr_off = cr_len = 0
        if hdr_len >= BTF_EXT_CORE_HEADER_SIZE:
            cr_off, cr_len = struct.unpack_from(e + BTF_EXT_CORE_HEADER, data, BTF_EXT_HEADER_SIZE)
        places = {"func_info": (fi_off, fi_len), "line_info": (li_off, li_len), "core_relos": (cr_off, cr_len)}
        self._counts: dict[str, int] = {}
        self._groups: dict[str, dict[str, list[tuple[int, int]]]] = {}
        self._rec_size: dict[str, int] = {}
        self._hdr_len = hdr_len
        for what in SUBSECTIONS:
            self._read_groups(what, *places[what])
        self.func_info = _Records(self._groups["func_info"], self._func_info)
        self.line_info = _Records(self._groups["line_info"], self._line_info)
        self.core_relos = _Records(self._groups["core_relos"], self._core_relos)

    def _fail(self, what: str, off: int):
        raise MalformedInput(what, path=self._path, offset=off, section=".BTF.ext")

    def _read_groups(self, what: str, off: int, length: int) -> None:
        """Check one subsection's record size and group headers; remember where each group is."""
        groups: dict[str, list[tuple[int, int]]] = {}
        self._groups[what] = groups
        self._counts[what] = 0
        self._rec_size[what] = _RECORD_SIZE[what]
        if length == 0:
            return
        data, e = self._data, self._e
        label = "core_relo" if what == "core_relos" else what
        start = self._hdr_len + off
        end = start + length
        if end > len(data) or length < 4:
            self._fail(f"{label} subsection {off}+{length} outside the data", start)
        rec_size = struct.unpack_from(e + "I", data, start)[0]
        if rec_size < _RECORD_SIZE[what] or rec_size % 4:
            self._fail(f"{label} record size {rec_size} invalid", start)
        self._rec_size[what] = rec_size
        pos = start + 4
        total = 0
        while pos < end:
            if pos + 8 > end:
                self._fail(f"{label} group header truncated", pos)
            name_off, num = struct.unpack_from(e + "II", data, pos)
            pos += 8
            if num == 0:
                self._fail(f"{label} group with no records", pos - 4)
            if pos + num * rec_size > end:
                self._fail(f"{label} group of {num} records runs past its subsection", pos - 4)
            groups.setdefault(self._btf.string(name_off), []).append((pos, num))
            total += num
            pos += num * rec_size
        self._counts[what] = total

    # -- the records ---------------------------------------------------------------------------------

    def _fields(self, what: str, pos: int, num: int):
        """The leading fields of ``num`` records from ``pos`` (records may be longer than we read)."""
        size = self._rec_size[what]
        fmt = struct.Struct(self._e + ("II" if what == "func_info" else "IIII"))
        data = self._data
        if size == fmt.size:
            return fmt.iter_unpack(memoryview(data)[pos:pos + num * size])
        unpack = fmt.unpack_from
        return (unpack(data, pos + i * size) for i in range(num))

    def _strings(self, rows: list, *columns: int) -> dict[int, str]:
        """Offset -> string of the string offsets in ``columns`` of ``rows``, each looked up once
        (in record order, so a bad offset is reported as a scan would meet it)."""
        string = self._btf.string
        found: dict[int, str] = {}
        for row in rows:
            for c in columns:
                off = row[c]
                if off not in found:
                    found[off] = string(off)
        return found

    def _func_info(self, pos: int, num: int):
        return [FuncInfo(insn_off, type_id) for insn_off, type_id in self._fields("func_info", pos, num)]

    def _line_info(self, pos: int, num: int):
        rows = list(self._fields("line_info", pos, num))
        text = self._strings(rows, 1, 2)
        return [LineInfo(insn_off, text[file_off], text[line_off], line_col >> 10, line_col & 0x3FF)
                for insn_off, file_off, line_off, line_col in rows]

    def _core_relos(self, pos: int, num: int):
        rows = list(self._fields("core_relos", pos, num))
        text = self._strings(rows, 2)
        return [CoreRelo(insn_off, type_id, text[acc_off], kind) for insn_off, type_id, acc_off, kind in rows]

    # -- what the headers tell ----------------------------------------------------------------------

    def count(self, what: str) -> int:
        """Records in subsection ``what`` (func_info, line_info or core_relos), from its group headers."""
        return self._counts[what]

    def sections(self, what: str) -> tuple[str, ...]:
        """The sections subsection ``what`` has records for, in the order of their first group."""
        return tuple(self._groups[what])

    @property
    def func_info_rec_size(self) -> int:
        return self._rec_size["func_info"]

    @property
    def line_info_rec_size(self) -> int:
        return self._rec_size["line_info"]

    @property
    def core_relo_rec_size(self) -> int:
        return self._rec_size["core_relos"]


def parse_btf_ext(data: bytes, btf: Btf, path: str | None = None) -> BtfExt:
    """Read the headers of a .BTF.ext section (records are decoded per section on first use)."""
    return BtfExt(data, btf, path)
