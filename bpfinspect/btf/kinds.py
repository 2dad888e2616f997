"""The BTF wire format, declared once: kinds, record shapes, headers and the names of things.

Everything else in ``bpfinspect.btf`` takes these facts from here; no module
compares a kind with a bare number.

Records (``.BTF`` type section)
-------------------------------
Every type record starts with three 32-bit words: ``name_off``, ``info``
(``vlen`` in bits 0-15, the kind in bits 24-28, ``kind_flag`` in bit 31) and a
third word that holds a size for the :data:`SIZED_KINDS` and a type id for the
others.  Then, per kind, :data:`EXTRA_WORDS` gives a number of fixed words and
a number of words per ``vlen`` item:

============  ======================================================
INT           one word: encoding bits 24-27, bit offset 16-23, bits 0-7
ARRAY         ``{type, index_type, nelems}``
STRUCT/UNION  ``vlen`` x ``{name_off, type, offset}``; with ``kind_flag``
              the offset word is ``bitfield_size << 24 | bit_offset``
ENUM          ``vlen`` x ``{name_off, s32 value}`` (``kind_flag``: signed)
ENUM64        ``vlen`` x ``{name_off, lo32, hi32}``
FUNC_PROTO    ``vlen`` x ``{name_off, type}``; a last ``{0, 0}`` is ``...``
VAR           one word: linkage
DATASEC       ``vlen`` x ``{type, offset, size}``
DECL_TAG      one word: s32 component index (-1: the whole declaration)
============  ======================================================

Headers
-------
``.BTF``: magic 0xEB9F (its byte order is the blob's), version 1, flags,
``hdr_len``, then type and string section offsets and lengths, relative to
the end of the header (:data:`BTF_HEADER`).  ``.BTF.ext``: magic, version,
flags, ``hdr_len``, then func_info and line_info offsets and lengths and, when
``hdr_len`` allows, the CO-RE relocation offset and length
(:data:`BTF_EXT_HEADER`, :data:`BTF_EXT_CORE_HEADER`).
"""

from __future__ import annotations

import sys

from enum import IntEnum


class Kind(IntEnum):
    UNKN = 0
    INT = 1
    PTR = 2
    ARRAY = 3
    STRUCT = 4
    UNION = 5
    ENUM = 6
    FWD = 7
    TYPEDEF = 8
    VOLATILE = 9
    CONST = 10
    RESTRICT = 11
    FUNC = 12
    FUNC_PROTO = 13
    VAR = 14
    DATASEC = 15
    FLOAT = 16
    DECL_TAG = 17
    TYPE_TAG = 18
    ENUM64 = 19


MAX_KIND = 19

# The kinds as plain ints, for loops that compare kinds millions of times (an IntEnum member
# is an attribute lookup on its class each time it is named).
(UNKN, INT, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, FUNC_PROTO,
 VAR, DATASEC, FLOAT, DECL_TAG, TYPE_TAG, ENUM64) = range(MAX_KIND + 1)

# -- record shapes ------------------------------------------------------------------------------

# Words of the common part of every record.
COMMON_WORDS = 3
# Extra 32-bit words after the common part: (fixed words, words per vlen item).
EXTRA_WORDS = {
    Kind.UNKN: (0, 0), Kind.INT: (1, 0), Kind.PTR: (0, 0), Kind.ARRAY: (3, 0),
    Kind.STRUCT: (0, 3), Kind.UNION: (0, 3), Kind.ENUM: (0, 2), Kind.FWD: (0, 0),
    Kind.TYPEDEF: (0, 0), Kind.VOLATILE: (0, 0), Kind.CONST: (0, 0), Kind.RESTRICT: (0, 0),
    Kind.FUNC: (0, 0), Kind.FUNC_PROTO: (0, 2), Kind.VAR: (1, 0), Kind.DATASEC: (0, 3),
    Kind.FLOAT: (0, 0), Kind.DECL_TAG: (1, 0), Kind.TYPE_TAG: (0, 0), Kind.ENUM64: (0, 3),
}
# As plain lists indexed by kind number, for the decoding loop.
EXTRA_FIXED = [EXTRA_WORDS[Kind(k)][0] for k in range(MAX_KIND + 1)]
EXTRA_PER_VLEN = [EXTRA_WORDS[Kind(k)][1] for k in range(MAX_KIND + 1)]

VLEN_MASK = 0xFFFF
KIND_SHIFT = 24
KIND_MASK = 0x1F
KFLAG_SHIFT = 31
# A member's offset word when kind_flag is set: bitfield size above, bit offset below.
BITFIELD_SHIFT = 24
BIT_OFFSET_MASK = 0xFFFFFF


# The kind is the low five bits of an info word's top byte (KIND_SHIFT is 24).
_TOP_BYTE_KIND = bytes(b & KIND_MASK for b in range(256))


def info_kinds(infos) -> bytes:
    """The kind of each info word of ``infos`` (an ``array('I')``), as bytes: the words' top
    bytes taken and masked in two C passes, no integer per word."""
    raw = infos.tobytes()
    top = raw[3::4] if sys.byteorder == "little" else raw[0::4]
    return top.translate(_TOP_BYTE_KIND)


def info_kind(info: int) -> int:
    return (info >> KIND_SHIFT) & KIND_MASK


# Kinds whose third common word is a size (the others hold a type id).
SIZED_KINDS = frozenset({Kind.INT, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.DATASEC, Kind.FLOAT,
                         Kind.ENUM64})
# Kinds that only refer to another type.
MODIFIER_KINDS = frozenset({Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG})
CV_KINDS = frozenset({Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG})
# What libbpf calls a "mod": the qualifiers and type tags a declarator may strip.
MOD_KINDS = frozenset({VOLATILE, CONST, RESTRICT, TYPE_TAG})
# The qualifiers C writes as words.
QUALIFIER_WORDS = {VOLATILE: "volatile", CONST: "const", RESTRICT: "restrict"}
# Records and enums (the kinds with a tag name space of their own in C).
RECORD_KINDS = frozenset({STRUCT, UNION})
ENUM_KINDS = frozenset({ENUM, ENUM64})

# INT encoding bits.
INT_SIGNED = 1
INT_CHAR = 2
INT_BOOL = 4
INT_ENCODING_SHIFT = 24
INT_OFFSET_SHIFT = 16

# -- headers ------------------------------------------------------------------------------------

BTF_MAGIC = 0xEB9F
# After the 2-byte magic: version, flags, hdr_len, type_off, type_len, str_off, str_len.
BTF_HEADER = "BBIIIII"
BTF_HEADER_SIZE = 24
# .BTF.ext: after the magic, version, flags, hdr_len; then func_info and line_info offsets and
# lengths; then (when hdr_len reaches 32) the CO-RE relocations' offset and length.
BTF_EXT_PREFIX = "BBI"
BTF_EXT_HEADER = "IIII"
BTF_EXT_HEADER_SIZE = 24
BTF_EXT_CORE_HEADER = "II"
BTF_EXT_CORE_HEADER_SIZE = 32

# -- names --------------------------------------------------------------------------------------

# bpftool's spelling of each kind in raw dumps (kind 0 is "UNKNOWN").
KIND_NAMES = ["UNKNOWN"] + [k.name for k in list(Kind)[1:]]
# libbpf's lower-case spelling in its logs (``[53] struct task_struct``).
KIND_WORDS = ["unknown"] + [k.name.lower() for k in list(Kind)[1:]]
# INT encodings as bpftool prints them (one value, not a set of bits).
INT_ENCODING_NAMES = {0: "(none)", INT_SIGNED: "SIGNED", INT_CHAR: "CHAR", INT_BOOL: "BOOL"}
UNKNOWN_INT_ENCODING = "UNKN"
# FUNC (vlen) and VAR linkage.
LINKAGE_NAMES = {0: "static", 1: "global", 2: "extern"}
UNKNOWN_LINKAGE = "(unknown)"
# FWD: kind_flag 0 declares a struct, 1 a union.
FWD_KIND_NAMES = ("struct", "union")
# Enum signedness (kind_flag).
ENUM_ENCODING_NAMES = ("UNSIGNED", "SIGNED")
# CO-RE relocation kinds (bpf_core_relo_kind).
CORE_KINDS = {
    0: "byte_off", 1: "byte_sz", 2: "field_exists", 3: "signed", 4: "lshift_u64", 5: "rshift_u64",
    6: "local_type_id", 7: "target_type_id", 8: "type_exists", 9: "type_size", 10: "enumval_exists",
    11: "enumval_value", 12: "type_matches",
}


def linkage_name(v: int) -> str:
    return LINKAGE_NAMES.get(v, UNKNOWN_LINKAGE)


def s32(v: int) -> int:
    return v - 0x100000000 if v & 0x80000000 else v


def s64(v: int) -> int:
    return v - (1 << 64) if v & (1 << 63) else v
