"""Decoding of .BTF.ext: func_info, line_info and CO-RE relocation records.

Every record keeps ``insn_off`` as stored in the ELF file: a byte offset into
the program section the group names.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from bpfinspect.btf.btf import Btf
from bpfinspect.errors import MalformedInput

BTF_EXT_MAGIC = 0xEB9F

CORE_KINDS = {
    0: "byte_off", 1: "byte_sz", 2: "field_exists", 3: "signed", 4: "lshift_u64", 5: "rshift_u64",
    6: "local_type_id", 7: "target_type_id", 8: "type_exists", 9: "type_size", 10: "enumval_exists",
    11: "enumval_value", 12: "type_matches",
}


@dataclass(frozen=True, slots=True)
class FuncInfo:
    insn_off: int
    type_id: int


@dataclass(frozen=True, slots=True)
class LineInfo:
    insn_off: int
    file: str
    line_text: str
    line: int
    col: int


@dataclass(frozen=True, slots=True)
class CoreRelo:
    insn_off: int
    type_id: int
    access: str
    kind: int

    @property
    def kind_name(self) -> str:
        return CORE_KINDS.get(self.kind, f"kind{self.kind}")


@dataclass(frozen=True)
class BtfExt:
    version: int
    flags: int
    func_info: dict[str, tuple[FuncInfo, ...]] = field(default_factory=dict)
    line_info: dict[str, tuple[LineInfo, ...]] = field(default_factory=dict)
    core_relos: dict[str, tuple[CoreRelo, ...]] = field(default_factory=dict)
    func_info_rec_size: int = 8
    line_info_rec_size: int = 16
    core_relo_rec_size: int = 16


def parse_btf_ext(data: bytes, btf: Btf, path: str | None = None) -> BtfExt:
    def fail(what: str, off: int):
        raise MalformedInput(what, path=path, offset=off, section=".BTF.ext")

    if len(data) < 8:
        fail(f"too short ({len(data)} bytes) for a header", 0)
    if struct.unpack_from("<H", data, 0)[0] == BTF_EXT_MAGIC:
        e = "<"
    elif struct.unpack_from(">H", data, 0)[0] == BTF_EXT_MAGIC:
        e = ">"
    else:
        fail("bad magic", 0)
    version, flags, hdr_len = struct.unpack_from(e + "BBI", data, 2)
    if hdr_len < 24 or hdr_len > len(data):
        fail(f"header length {hdr_len} out of range", 4)
    fi_off, fi_len, li_off, li_len = struct.unpack_from(e + "IIII", data, 8)
    cr_off = cr_len = 0
    if hdr_len >= 32:
        cr_off, cr_len = struct.unpack_from(e + "II", data, 24)

    def groups(off: int, length: int, min_rec: int, what: str):
        """Yield (section name, record size, record bytes offset, count)."""
        if length == 0:
            return
        start = hdr_len + off
        end = start + length
        if end > len(data) or length < 4:
            fail(f"{what} subsection {off}+{length} outside the data", start)
        rec_size = struct.unpack_from(e + "I", data, start)[0]
        if rec_size < min_rec or rec_size % 4:
            fail(f"{what} record size {rec_size} invalid", start)
        pos = start + 4
        while pos < end:
            if pos + 8 > end:
                fail(f"{what} group header truncated", pos)
            name_off, num = struct.unpack_from(e + "II", data, pos)
            pos += 8
            if num == 0:
                fail(f"{what} group with no records", pos - 4)
            if pos + num * rec_size > end:
                fail(f"{what} group of {num} records runs past its subsection", pos - 4)
            yield btf.string(name_off), rec_size, pos, num
            pos += num * rec_size

    func_info: dict[str, list] = {}
    rec_fi = 8
    for sec, rec_size, pos, num in groups(fi_off, fi_len, 8, "func_info"):
        rec_fi = rec_size
        lst = func_info.setdefault(sec, [])
        for i in range(num):
            insn_off, type_id = struct.unpack_from(e + "II", data, pos + i * rec_size)
            lst.append(FuncInfo(insn_off, type_id))
    line_info: dict[str, list] = {}
    rec_li = 16
    for sec, rec_size, pos, num in groups(li_off, li_len, 16, "line_info"):
        rec_li = rec_size
        lst = line_info.setdefault(sec, [])
        for i in range(num):
            insn_off, file_off, line_off, line_col = struct.unpack_from(e + "IIII", data, pos + i * rec_size)
            lst.append(LineInfo(insn_off, btf.string(file_off), btf.string(line_off), line_col >> 10,
                                line_col & 0x3FF))
    core: dict[str, list] = {}
    rec_cr = 16
    for sec, rec_size, pos, num in groups(cr_off, cr_len, 16, "core_relo"):
        rec_cr = rec_size
        lst = core.setdefault(sec, [])
        for i in range(num):
            insn_off, type_id, acc_off, kind = struct.unpack_from(e + "IIII", data, pos + i * rec_size)
            lst.append(CoreRelo(insn_off, type_id, btf.string(acc_off), kind))
    return BtfExt(version, flags,
                  {k: tuple(v) for k, v in func_info.items()},
                  {k: tuple(v) for k, v in line_info.items()},
                  {k: tuple(v) for k, v in core.items()},
                  rec_fi, rec_li, rec_cr)
