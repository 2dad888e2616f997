"""Turning Python values into map keys/values and back.

A codec knows the byte size of one key or value and, when known, the ctypes
type that describes it.  Encoding accepts a ctypes instance of the right
size, a bytes-like object of the right size, or a plain int when the type is
an integer (or, with no type known, when the size is that of an integer).
Decoding gives an int for integer types, a ctypes instance for structs,
unions and arrays, and bytes when nothing is known about the layout.
"""

from __future__ import annotations

import ctypes

from bpfinspect.errors import UsageError

_INT_CODES = set("bBhHiIlLqQ?")
_UNSIGNED_BY_SIZE = {1: ctypes.c_uint8, 2: ctypes.c_uint16, 4: ctypes.c_uint32, 8: ctypes.c_uint64}


def is_int_ctype(ctype) -> bool:
    return (isinstance(ctype, type) and issubclass(ctype, ctypes._SimpleCData)
            and getattr(ctype, "_type_", "") in _INT_CODES)


class Codec:
    """Encode/decode one map key or value of ``size`` bytes."""

    def __init__(self, size: int, ctype=None, *, what: str = "value") -> None:
        self.size = int(size)
        self.what = what
        if ctype is not None and ctypes.sizeof(ctype) != self.size:
            raise UsageError(f"{what} type {getattr(ctype, '__name__', ctype)} is {ctypes.sizeof(ctype)} bytes, "
                             f"the map's {what} is {self.size}")
        self.ctype = ctype
        if ctype is None:
            self.int_type = _UNSIGNED_BY_SIZE.get(self.size)
        elif is_int_ctype(ctype):
            self.int_type = ctype
        else:
            self.int_type = None

    def to_bytes(self, value) -> bytes:
        if isinstance(value, bool) and self.int_type is not None:
            value = int(value)
        if isinstance(value, int):
            if self.int_type is None:
                raise UsageError(f"an int cannot be a {self.what} of type "
                                 f"{getattr(self.ctype, '__name__', self.ctype)}")
            try:
                inst = self.int_type(value)
            except (TypeError, OverflowError) as exc:
                raise UsageError(f"{self.what} {value!r}: {exc}") from None
            if inst.value != value and not (self.int_type is ctypes.c_bool):
                raise UsageError(f"{self.what} {value} does not fit in {self.size} bytes")
            return bytes(inst)
        if isinstance(value, (ctypes.Structure, ctypes.Union, ctypes.Array, ctypes._SimpleCData)):
            if ctypes.sizeof(value) != self.size:
                raise UsageError(f"{self.what} {type(value).__name__} is {ctypes.sizeof(value)} bytes, "
                                 f"the map wants {self.size}")
            return bytes(value)
        if isinstance(value, (bytes, bytearray, memoryview)):
            data = bytes(value)
            if len(data) != self.size:
                raise UsageError(f"{self.what} is {len(data)} bytes, the map wants {self.size}")
            return data
        if hasattr(value, "_as_parameter_") or hasattr(value, "__bytes__"):
            return self.to_bytes(bytes(value))
        raise UsageError(f"cannot use {type(value).__name__} as a map {self.what} "
                         f"(give a ctypes instance, {self.size} bytes or an int)")

    def decode(self, data: bytes):
        if len(data) != self.size:
            data = bytes(data[:self.size]).ljust(self.size, b"\0")
        if self.int_type is not None:
            return self.int_type.from_buffer_copy(data).value
        if self.ctype is not None:
            return self.ctype.from_buffer_copy(data)
        return bytes(data)
