"""Typed, immutable views of single BTF types (built on demand from the raw table).

Named tuples (not dataclasses: importing those costs every command that reads BTF a few
milliseconds, and a tuple is made faster)."""

from __future__ import annotations

from collections import namedtuple


class Member(namedtuple("Member", "name type bit_offset bitfield_size")):
    """A struct or union member (``bitfield_size`` 0 when not a bitfield)."""

    __slots__ = ()


class EnumValue(namedtuple("EnumValue", "name value")):
    __slots__ = ()


class Param(namedtuple("Param", "name type")):
    __slots__ = ()


class ArrayInfo(namedtuple("ArrayInfo", "type index_type nelems")):
    __slots__ = ()


class DatasecVar(namedtuple("DatasecVar", "type offset size")):
    __slots__ = ()


class Type(namedtuple("Type", "id kind name kflag vlen size type members values params array vars "
                              "int_encoding int_offset int_bits linkage component_idx",
                      defaults=(0, 0, (), (), (), None, (), 0, 0, 0, 0, -1))):
    """One BTF type.  Fields that do not apply to a kind keep their empty default:

    - ``size``: INT STRUCT UNION ENUM ENUM64 DATASEC FLOAT;
    - ``type``: PTR TYPEDEF CV FUNC VAR DECL_TAG TYPE_TAG, FUNC_PROTO's return;
    - ``members`` (:class:`Member`), ``values`` (:class:`EnumValue`), ``params`` (:class:`Param`),
      ``array`` (:class:`ArrayInfo`), ``vars`` (:class:`DatasecVar`);
    - ``int_encoding``, ``int_offset``, ``int_bits``: INT;
    - ``linkage``: FUNC (its vlen) and VAR;
    - ``component_idx``: DECL_TAG (-1 for the type itself)."""

    __slots__ = ()
