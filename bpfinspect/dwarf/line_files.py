"""The file table of a line program's header: what ``DW_AT_decl_file`` numbers name.

A DIE says where it was declared as an index into its unit's line table
(``DW_AT_stmt_list`` gives the table's offset in ``.debug_line``).  Only the
header is read: its directories and files (DWARF 2-4: NUL-terminated lists;
DWARF 5: entries described by (content type, form) pairs, strings inline or
in ``.debug_line_str``/``.debug_str``), each file joined to its directory.
The line program itself (addresses to lines) is not read.  Every length is
checked against the section; failures are :class:`MalformedInput`.
"""

from __future__ import annotations

import struct

from bpfinspect.dwarf import constants as dw
from bpfinspect.dwarf.encoding import uleb
from bpfinspect.errors import MalformedInput

_LNCT_path = 1
_LNCT_directory_index = 2


def line_table_files(unit, offset: int) -> list[str | None]:
    """File names of the line program at ``offset`` (indexed as DW_AT_decl_file counts: from 0 in
    DWARF 5, from 1 before, where entry 0 is None)."""
    import posixpath

    d = unit.dwarf
    data = d.section(".debug_line")
    sec = ".debug_line"
    e = d._e

    def need(pos: int, n: int) -> None:
        if pos + n > len(data):
            raise MalformedInput("line table header runs past the section", path=d.path, offset=pos, section=sec)

    need(offset, 4)
    length = struct.unpack_from(e + "I", data, offset)[0]
    pos = offset + 4
    osz = 4
    if length == 0xFFFFFFFF:
        need(pos, 8)
        length = struct.unpack_from(e + "Q", data, pos)[0]
        pos += 8
        osz = 8
    end = min(pos + length, len(data))
    need(pos, 2)
    version = struct.unpack_from(e + "H", data, pos)[0]
    pos += 2
    if not 2 <= version <= 5:
        raise MalformedInput(f"line table version {version}", path=d.path, offset=offset, section=sec)
    addr = unit.address_size
    if version >= 5:
        need(pos, 2)
        addr = data[pos]
        pos += 2
    pos += osz  # header_length
    need(pos, 4)
    pos += 1 + (1 if version >= 4 else 0) + 1 + 1 + 1  # min_inst, max_ops, default_is_stmt, line_base, line_range
    opcode_base = data[pos]
    pos += 1 + max(opcode_base - 1, 0)

    def cstr(pos: int) -> tuple[str, int]:
        stop = data.find(b"\0", pos, end)
        if stop < 0:
            raise MalformedInput("line table string runs past its header", path=d.path, offset=pos, section=sec)
        return data[pos:stop].decode("utf-8", "replace"), stop + 1

    def join(dirs: list[str], name: str, index: int) -> str:
        base = dirs[index] if 0 <= index < len(dirs) else ""
        full = name if name.startswith("/") or not base else posixpath.join(base, name)
        return posixpath.normpath(full)

    if version < 5:
        dirs = [""]
        while True:
            need(pos, 1)
            s, pos = cstr(pos)
            if not s:
                break
            dirs.append(s)
        files: list[str | None] = [None]
        while True:
            need(pos, 1)
            name, pos = cstr(pos)
            if not name:
                break
            di, pos = uleb(data, pos, sec)
            _mtime, pos = uleb(data, pos, sec)
            _size, pos = uleb(data, pos, sec)
            files.append(join(dirs, name, di))
        return files

    def entries(pos: int) -> tuple[list[dict[int, object]], int]:
        need(pos, 1)
        nformats = data[pos]
        pos += 1
        formats = []
        for _ in range(nformats):
            ct, pos = uleb(data, pos, sec)
            form, pos = uleb(data, pos, sec)
            formats.append((ct, form))
        count, pos = uleb(data, pos, sec)
        if count > len(data):
            raise MalformedInput(f"line table claims {count} entries", path=d.path, offset=pos, section=sec)
        out = []
        for _ in range(count):
            item: dict[int, object] = {}
            for ct, form in formats:
                value, pos = _line_form(unit, data, pos, form, osz, addr, cstr)
                item[ct] = value
            out.append(item)
        return out, pos

    raw_dirs, pos = entries(pos)
    raw_files, pos = entries(pos)
    dirs = [v.get(_LNCT_path) if isinstance(v.get(_LNCT_path), str) else "" for v in raw_dirs]
    files = []
    for f in raw_files:
        name = f.get(_LNCT_path)
        di = f.get(_LNCT_directory_index, 0)
        files.append(join(dirs, name, di if isinstance(di, int) else 0) if isinstance(name, str) else None)
    return files


def _line_form(unit, data: bytes, pos: int, form: int, osz: int, addr: int, cstr):
    d = unit.dwarf
    sec = ".debug_line"
    e = d._e
    if form == dw.FORM_string:
        return cstr(pos)
    if form in (dw.FORM_line_strp, dw.FORM_strp):
        if pos + osz > len(data):
            raise MalformedInput("line table entry runs past the section", path=d.path, offset=pos, section=sec)
        off = struct.unpack_from(e + ("I" if osz == 4 else "Q"), data, pos)[0]
        return d.cstring(".debug_line_str" if form == dw.FORM_line_strp else ".debug_str", off), pos + osz
    if form in (dw.FORM_udata, dw.FORM_strx):
        v, pos = uleb(data, pos, sec)
        if form == dw.FORM_strx:
            return d.cstring(".debug_str", unit._str_offset(v)), pos
        return v, pos
    shape = dw.FORM_SHAPE.get(form)
    if isinstance(shape, int):
        if pos + shape > len(data):
            raise MalformedInput("line table entry runs past the section", path=d.path, offset=pos, section=sec)
        raw = data[pos:pos + shape]
        pos += shape
        if form in (dw.FORM_strx1, dw.FORM_strx2, dw.FORM_strx3, dw.FORM_strx4):
            idx = int.from_bytes(raw, "little" if d.little else "big")
            return d.cstring(".debug_str", unit._str_offset(idx)), pos
        if shape in (1, 2, 4, 8):
            return int.from_bytes(raw, "little" if d.little else "big"), pos
        return raw, pos
    if form == dw.FORM_block:
        n, pos = uleb(data, pos, sec)
        return data[pos:pos + n], pos + n
    raise MalformedInput(f"line table entry of form {form:#x}", path=d.path, offset=pos, section=sec)
