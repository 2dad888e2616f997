"""Typed, immutable views of single BTF types (built on demand from the raw table)."""

from __future__ import annotations

from dataclasses import dataclass

from bpfinspect.btf.kinds import Kind


@dataclass(frozen=True, slots=True)
class Member:
    name: str
    type: int
    bit_offset: int
    bitfield_size: int  # 0 when not a bitfield


@dataclass(frozen=True, slots=True)
class EnumValue:
    name: str
    value: int


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    type: int


@dataclass(frozen=True, slots=True)
class ArrayInfo:
    type: int
    index_type: int
    nelems: int


@dataclass(frozen=True, slots=True)
class DatasecVar:
    type: int
    offset: int
    size: int


@dataclass(frozen=True, slots=True)
class Type:
    """One BTF type.  Fields that do not apply to a kind keep their empty default."""

    id: int
    kind: Kind
    name: str
    kflag: bool
    vlen: int
    size: int = 0            # INT STRUCT UNION ENUM ENUM64 DATASEC FLOAT
    type: int = 0            # PTR TYPEDEF CV FUNC VAR DECL_TAG TYPE_TAG, FUNC_PROTO return
    members: tuple[Member, ...] = ()
    values: tuple[EnumValue, ...] = ()
    params: tuple[Param, ...] = ()
    array: ArrayInfo | None = None
    vars: tuple[DatasecVar, ...] = ()
    int_encoding: int = 0
    int_offset: int = 0
    int_bits: int = 0
    linkage: int = 0         # FUNC (vlen) and VAR
    component_idx: int = -1  # DECL_TAG
