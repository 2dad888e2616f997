"""How DIEs are encoded: LEB128 numbers, abbreviation tables and the size of each form.

A unit's DIEs are a stream of abbreviation codes (ULEB128), each followed by
the values of that abbreviation's attributes, each in its form
(``DW_FORM_*``; :data:`bpfinspect.dwarf.constants.FORM_SHAPE` says how long
each is: a fixed size, an address, an offset, a LEB128 number, a string, a
block...).  This module reads the numbers (:func:`uleb`, :func:`sleb`, at most
:data:`MAX_LEB_BYTES` bytes), parses abbreviation tables
(:func:`parse_abbrevs`) and steps over values without decoding them
(:func:`fixed_size` for an abbreviation whose forms all have fixed sizes,
:func:`skip` for one value); :mod:`bpfinspect.dwarf.reader` decodes the values
it is asked for.  Every failure is a :class:`MalformedInput` naming the
section and the offset.
"""

from __future__ import annotations

from bpfinspect.dwarf import constants as dw
from bpfinspect.errors import MalformedInput

MAX_LEB_BYTES = 10


def uleb(data: bytes, pos: int, section: str) -> tuple[int, int]:
    """(the unsigned LEB128 number at ``pos``, the position after it)."""
    result = 0
    shift = 0
    start = pos
    while True:
        if pos >= len(data):
            raise MalformedInput("LEB128 number runs past the end", offset=start, section=section)
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if pos - start >= MAX_LEB_BYTES:
            raise MalformedInput("LEB128 number longer than 10 bytes", offset=start, section=section)


def sleb(data: bytes, pos: int, section: str) -> tuple[int, int]:
    """(the signed LEB128 number at ``pos``, the position after it)."""
    start = pos
    value, pos = uleb(data, pos, section)
    bits = 7 * (pos - start)
    if data[pos - 1] & 0x40:
        value -= 1 << bits
    return value, pos


class Abbrev:
    """One abbreviation: the tag, whether children follow, and (attribute, form, implicit) triples."""

    __slots__ = ("code", "tag", "children", "attrs", "fixed", "implicit")

    def __init__(self, code: int, tag: int, children: bool, attrs: tuple) -> None:
        self.code = code
        self.tag = tag
        self.children = children
        self.attrs = attrs
        self.fixed: int | None = None   # total size of the values when every form has a fixed size


def fixed_size(ab: Abbrev, addr: int, osz: int, ref_addr: int) -> int:
    """The total size of an abbreviation's values when every form has a fixed size, else -1."""
    total = 0
    for _attr, form, _imp in ab.attrs:
        shape = dw.FORM_SHAPE[form]
        if isinstance(shape, int):
            total += shape
        elif shape == "addr":
            total += addr
        elif shape == "offset":
            total += osz
        elif shape == "ref_addr":
            total += ref_addr
        else:
            return -1
    return total


def skip(info: bytes, pos: int, form: int, addr: int, osz: int, ref_addr: int, path, little: bool) -> int:
    """The position after the value of ``form`` at ``pos`` of ``.debug_info`` (``addr``,
    ``osz``, ``ref_addr``: the unit's address, offset and reference sizes)."""
    shape = dw.FORM_SHAPE[form]
    if isinstance(shape, int):
        return pos + shape
    if shape == "addr":
        return pos + addr
    if shape == "offset":
        return pos + osz
    if shape == "ref_addr":
        return pos + ref_addr
    if shape in ("uleb", "sleb"):
        start = pos
        while pos < len(info) and info[pos] & 0x80:
            pos += 1
            if pos - start >= MAX_LEB_BYTES:
                raise MalformedInput("LEB128 number longer than 10 bytes", path=path, offset=start,
                                     section=".debug_info")
        return pos + 1
    if shape == "string":
        stop = info.find(b"\0", pos)
        if stop < 0:
            raise MalformedInput("string runs past the section", path=path, offset=pos, section=".debug_info")
        return stop + 1
    if shape == "block":
        n, pos = uleb(info, pos, ".debug_info")
        return pos + n
    if shape in ("block1", "block2", "block4"):
        w = int(shape[5:])
        if pos + w > len(info):
            raise MalformedInput("block length runs past the section", path=path, offset=pos, section=".debug_info")
        n = int.from_bytes(info[pos:pos + w], "little" if little else "big")
        return pos + w + n
    if shape == "indirect":
        real, pos = uleb(info, pos, ".debug_info")
        if real not in dw.FORM_SHAPE or real in (dw.FORM_indirect, dw.FORM_implicit_const):
            raise MalformedInput(f"indirect form {real:#x}", path=path, offset=pos, section=".debug_info")
        return skip(info, pos, real, addr, osz, ref_addr, path, little)
    raise MalformedInput(f"unknown form {form:#x}", path=path, offset=pos, section=".debug_info")


def parse_abbrevs(data: bytes, offset: int, unit_offset: int, path) -> dict[int, Abbrev]:
    """The abbreviation table at ``offset`` of ``.debug_abbrev`` (``data``), for the unit at
    ``unit_offset``: code -> :class:`Abbrev`."""
    sec = ".debug_abbrev"
    if offset >= len(data):
        raise MalformedInput(f"unit at {unit_offset:#x} names abbreviations at {offset:#x}, past the end",
                             path=path, section=sec)
    table: dict[int, Abbrev] = {}
    pos = offset
    while True:
        code, pos = uleb(data, pos, sec)
        if code == 0:
            return table
        tag, pos = uleb(data, pos, sec)
        if pos >= len(data):
            raise MalformedInput("abbreviation truncated", path=path, offset=pos, section=sec)
        children = data[pos] == 1
        pos += 1
        attrs = []
        while True:
            attr, pos = uleb(data, pos, sec)
            form, pos = uleb(data, pos, sec)
            if attr == 0 and form == 0:
                break
            implicit = 0
            if form == dw.FORM_implicit_const:
                implicit, pos = sleb(data, pos, sec)
            elif form not in dw.FORM_SHAPE:
                raise MalformedInput(f"abbreviation {code} uses unknown form {form:#x}", path=path,
                                     offset=pos, section=sec)
            attrs.append((attr, form, implicit))
        if code in table:
            raise MalformedInput(f"abbreviation {code} defined twice", path=path, offset=pos, section=sec)
        table[code] = Abbrev(code, tag, children, tuple(attrs))
