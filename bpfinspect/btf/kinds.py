"""BTF kinds and the fixed facts about their records."""

from __future__ import annotations

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

# Extra 32-bit words after the 12-byte common part: (fixed words, words per vlen item).
EXTRA_WORDS = {
    Kind.UNKN: (0, 0), Kind.INT: (1, 0), Kind.PTR: (0, 0), Kind.ARRAY: (3, 0),
    Kind.STRUCT: (0, 3), Kind.UNION: (0, 3), Kind.ENUM: (0, 2), Kind.FWD: (0, 0),
    Kind.TYPEDEF: (0, 0), Kind.VOLATILE: (0, 0), Kind.CONST: (0, 0), Kind.RESTRICT: (0, 0),
    Kind.FUNC: (0, 0), Kind.FUNC_PROTO: (0, 2), Kind.VAR: (1, 0), Kind.DATASEC: (0, 3),
    Kind.FLOAT: (0, 0), Kind.DECL_TAG: (1, 0), Kind.TYPE_TAG: (0, 0), Kind.ENUM64: (0, 3),
}
# As a plain list indexed by kind number, for the hot decoding loop.
EXTRA_FIXED = [EXTRA_WORDS[Kind(k)][0] for k in range(MAX_KIND + 1)]
EXTRA_PER_VLEN = [EXTRA_WORDS[Kind(k)][1] for k in range(MAX_KIND + 1)]

# Kinds whose third common word is a size (the others hold a type id).
SIZED_KINDS = frozenset({Kind.INT, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.DATASEC, Kind.FLOAT,
                         Kind.ENUM64})
# Kinds that only refer to another type.
MODIFIER_KINDS = frozenset({Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG})
CV_KINDS = frozenset({Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG})

INT_SIGNED = 1
INT_CHAR = 2
INT_BOOL = 4

LINKAGE_NAMES = {0: "static", 1: "global", 2: "extern"}
