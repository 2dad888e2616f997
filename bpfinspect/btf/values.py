"""Values in memory read through their BTF type: bytes in, JSON-ready Python values out.

The one reader of typed bytes for every view that shows live data (``run``'s events, map
entries and globals).  Offsets, sizes and bitfield positions are BTF's own (the member
records), never computed again here; what this module adds is how each kind reads:

==============  ==================================================================
integer         ``int`` (signedness and width from BTF; ``_Bool`` gives ``bool``)
bitfield        ``int`` of its bits (BTF's bit offset and size)
enum            the enumerator's name, or the number when no enumerator has it
char array      ``str``: the bytes up to the first NUL, UTF-8 (undecodable bytes
                as ``\\xNN``)
other array     ``list`` of its elements
struct          ``dict`` of member name to value; an anonymous struct or union
                member's fields appear as the parent's, as in C
union           ``dict`` of every member read from the same bytes
pointer         ``int`` (the address)
float           ``float``
anything else   the bytes in hex (``str``)
==============  ==================================================================

Bounds: nesting deeper than :data:`MAX_DEPTH`, and arrays with more than
:data:`MAX_ELEMENTS` elements, read as hex (so the output of a value is never larger than
a small multiple of its bytes).
"""

from __future__ import annotations

import struct

from bpfinspect.btf.btf import Btf
from bpfinspect.btf.kinds import INT_BOOL, INT_CHAR, INT_SIGNED, Kind

MAX_DEPTH = 32
MAX_ELEMENTS = 4096


def is_char(btf: Btf, tid: int) -> bool:
    """Whether ``tid`` is a one-byte character type (``char``, ``signed char``, ``unsigned char``,
    qualified or not; a typedef such as ``__u8`` or ``uint8_t`` says the bytes are numbers)."""
    t = btf.type(btf.strip_cv(tid))
    return t.kind == Kind.INT and t.size == 1 and (bool(t.int_encoding & INT_CHAR) or "char" in t.name)


def c_string(data: bytes) -> str:
    """A C string's text: up to the first NUL, UTF-8 with undecodable bytes escaped."""
    end = data.find(b"\0")
    if end >= 0:
        data = data[:end]
    return data.decode("utf-8", "backslashreplace")


def read(btf: Btf, tid: int, data: bytes, *, byteorder: str | None = None):
    """The value of type ``tid`` at the start of ``data`` (missing bytes read as zero)."""
    order = byteorder or getattr(btf, "endian", "little")
    size = _size(btf, tid)
    if size is not None and len(data) < size:
        data = bytes(data).ljust(size, b"\0")
    return _read(btf, tid, bytes(data), 0, order, 0)


def _size(btf: Btf, tid: int) -> int | None:
    try:
        return btf.sizeof(tid)
    except Exception:
        return None


def _hex(data: bytes, off: int, size: int | None) -> str:
    return data[off:off + size].hex() if size is not None else ""


def _read(btf: Btf, tid: int, data: bytes, off: int, order: str, depth: int):
    tid = btf.resolve(tid)
    t = btf.type(tid)
    k = t.kind
    if depth > MAX_DEPTH:
        return _hex(data, off, _size(btf, tid))
    if k == Kind.INT:
        return _int(t, data, off, order)
    if k in (Kind.ENUM, Kind.ENUM64):
        signed = t.kflag
        v = int.from_bytes(data[off:off + t.size], order, signed=signed)
        for ev in t.values:
            if ev.value == v or (not signed and ev.value < 0 and ev.value % (1 << (8 * t.size)) == v):
                return ev.name
        return v
    if k == Kind.PTR:
        return int.from_bytes(data[off:off + 8], order)
    if k == Kind.FLOAT and t.size in (4, 8):
        fmt = ("<" if order == "little" else ">") + ("f" if t.size == 4 else "d")
        return struct.unpack_from(fmt, data, off)[0]
    if k == Kind.ARRAY:
        a = t.array
        esize = _size(btf, a.type)
        if esize is None or a.nelems > MAX_ELEMENTS:
            return _hex(data, off, _size(btf, tid))
        if esize == 1 and is_char(btf, a.type):
            return c_string(data[off:off + a.nelems])
        return [_read(btf, a.type, data, off + i * esize, order, depth + 1) for i in range(a.nelems)]
    if k in (Kind.STRUCT, Kind.UNION):
        out: dict = {}
        _members(btf, t, data, off, order, depth, out)
        return out
    return _hex(data, off, _size(btf, tid))


def _int(t, data: bytes, off: int, order: str, bit_off: int = 0, bits: int = 0):
    signed = bool(t.int_encoding & INT_SIGNED)
    if bits == 0 and t.int_offset == 0 and t.int_bits == t.size * 8:
        v = int.from_bytes(data[off:off + t.size], order, signed=signed)
    else:
        bits = bits or t.int_bits
        bit_off += t.int_offset
        v = _bits(data, off, bit_off, bits, order)
        if signed and v & (1 << (bits - 1)):
            v -= 1 << bits
    if t.int_encoding & INT_BOOL:
        return bool(v)
    return v


def _bits(data: bytes, off: int, bit_off: int, bits: int, order: str) -> int:
    """``bits`` bits starting ``bit_off`` bits after byte ``off`` (BTF numbers bits in memory order:
    from the least significant bit on little-endian targets, the most significant on big-endian)."""
    first = off + bit_off // 8
    last = off + (bit_off + bits + 7) // 8
    chunk = int.from_bytes(data[first:last], order)
    width = (last - first) * 8
    shift = bit_off % 8 if order == "little" else width - bit_off % 8 - bits
    return (chunk >> shift) & ((1 << bits) - 1)


def _members(btf: Btf, t, data: bytes, off: int, order: str, depth: int, out: dict) -> None:
    for m in t.members:
        moff = off + m.bit_offset // 8
        if m.bitfield_size:
            mt = btf.type(btf.resolve(m.type))
            if mt.kind == Kind.INT:
                value = _int(mt, data, off, order, m.bit_offset, m.bitfield_size)
            else:  # an enum bitfield
                value = _bits(data, off, m.bit_offset, m.bitfield_size, order)
                for ev in getattr(mt, "values", ()):
                    if ev.value == value:
                        value = ev.name
                        break
        elif m.bit_offset % 8:
            value = _hex(data, moff, _size(btf, m.type))
        else:
            value = _read(btf, m.type, data, moff, order, depth + 1)
        if not m.name and isinstance(value, dict):
            for key, v in value.items():
                out.setdefault(key, v)
            continue
        out[m.name or f"__anon{len(out)}"] = value


def fields(btf: Btf, tid: int) -> list[str]:
    """The field names :func:`read` gives a struct or union (anonymous members flattened), in order;
    [] for other kinds."""
    t = btf.type(btf.resolve(tid))
    if t.kind not in (Kind.STRUCT, Kind.UNION):
        return []
    out: list[str] = []
    for m in t.members:
        if not m.name and not m.bitfield_size:
            for name in fields(btf, m.type):
                if name not in out:
                    out.append(name)
            continue
        name = m.name or f"__anon{len(out)}"
        if name not in out:
            out.append(name)
    return out


def text(value) -> str:
    """One compact line for a value :func:`read` gave: ``{a=1, b="x"}``, ``[1, 2]``."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(text(v) for v in value) + "]"
    if isinstance(value, str):
        shown = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in value)
        if _needs_quotes(value):
            return '"' + shown.replace('"', '\\"') + '"'
        return shown
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _needs_quotes(s: str) -> bool:
    return s == "" or any(not (c.isalnum() or c in "_-./:") for c in s)
