"""The values libbpf patches in for one spec (``bpf_core_calc_*_relo``).

:func:`calc_relo` gives, for a local spec and a target spec (``None``: nothing
matched), the original and new values, whether the instruction is poisoned, whether
libbpf checks the instruction against the original value, and the memory sizes that
decide whether a load/store may change width.
"""

from __future__ import annotations

from dataclasses import dataclass

from bpfinspect.btf.kinds import Kind
from bpfinspect.core.spec import (BYTE_OFF, BYTE_SZ, ENUMVAL_EXISTS, ENUMVAL_KINDS, ENUMVAL_VALUE, FIELD_EXISTS,
                                  FIELD_KINDS, LSHIFT_U64, RSHIFT_U64, SIGNED, TARGET_TYPE_ID, TYPE_EXISTS,
                                  TYPE_KINDS, TYPE_MATCHES, TYPE_SIZE, Spec)
from bpfinspect.core.types import ENUM_KINDS, CoreError, int_encoding, resolve_size, skip_mods

U64 = (1 << 64) - 1


class Poison(Exception):
    """libbpf's -EUCLEAN: the instruction is to be poisoned."""


@dataclass(slots=True)
class RelocValue:
    orig_val: int = 0
    new_val: int = 0
    poison: bool = False
    validate: bool = True
    fail_memsz_adjust: bool = False
    orig_sz: int = 0
    new_sz: int = 0
    orig_type_id: int = 0
    new_type_id: int = 0


def _field(kind: int, spec: Spec | None) -> tuple[int, int, int, bool]:
    """(value, memory size, field type id, validate) for a field kind."""
    if kind == FIELD_EXISTS:
        return (1 if spec is not None else 0), 0, 0, True
    if spec is None:
        raise Poison()
    btf = spec.btf
    acc = spec.accessors[-1]
    if acc.name is None:
        # an array element
        if kind == BYTE_OFF:
            return spec.bit_offset // 8, resolve_size(btf, acc.type_id), acc.type_id, True
        if kind == BYTE_SZ:
            return resolve_size(btf, acc.type_id), 0, 0, True
        raise CoreError("EINVAL", "this relocation kind cannot apply to an array element")
    t = btf.type(acc.type_id)
    m = t.members[acc.idx]
    ftid = skip_mods(btf, m.type)
    bit_off = spec.bit_offset
    bit_sz = m.bitfield_size
    bitfield = bit_sz > 0
    if bitfield:
        byte_sz = btf.size(ftid) if btf.kind(ftid) in (Kind.INT, Kind.ENUM, Kind.ENUM64) else 0
        if byte_sz <= 0:
            raise CoreError("EINVAL", "bitfield of a type without a size")
        byte_off = bit_off // 8 // byte_sz * byte_sz
        while bit_off + bit_sz - byte_off * 8 > byte_sz * 8:
            if byte_sz >= 8:
                raise CoreError("E2BIG", "the bitfield cannot be read with one 64-bit load")
            byte_sz *= 2
            byte_off = bit_off // 8 // byte_sz * byte_sz
    else:
        byte_sz = resolve_size(btf, ftid)
        byte_off = bit_off // 8
        bit_sz = byte_sz * 8
    validate = not bitfield
    mem_sz, mem_tid = 0, 0
    if kind == BYTE_OFF:
        val = byte_off
        if not bitfield:
            mem_sz, mem_tid = byte_sz, ftid
    elif kind == BYTE_SZ:
        val = byte_sz
    elif kind == SIGNED:
        mk = btf.kind(ftid)
        val = int((mk in ENUM_KINDS and btf.kflag(ftid)) or bool(int_encoding(btf, ftid) & 1))
        validate = True
    elif kind == LSHIFT_U64:
        val = 64 - (bit_off + bit_sz - byte_off * 8) if spec.btf.endian == "little" else \
            (8 - byte_sz) * 8 + (bit_off - byte_off * 8)
    elif kind == RSHIFT_U64:
        val = 64 - bit_sz
        validate = True
    else:
        raise CoreError("EOPNOTSUPP", f"unknown field relocation kind {kind}")
    return val & U64, mem_sz, mem_tid, validate


def _type(kind: int, spec: Spec | None) -> int:
    if spec is None:
        return 0
    if kind == TARGET_TYPE_ID:
        return spec.root_type_id
    if kind in (TYPE_EXISTS, TYPE_MATCHES):
        return 1
    if kind == TYPE_SIZE:
        return resolve_size(spec.btf, spec.root_type_id)
    raise CoreError("EOPNOTSUPP", f"unsupported type relocation kind {kind}")


def _enum(kind: int, spec: Spec | None) -> int:
    if kind == ENUMVAL_EXISTS:
        return 1 if spec is not None else 0
    if kind == ENUMVAL_VALUE:
        if spec is None:
            raise Poison()
        acc = spec.accessors[0]
        return spec.btf.type(acc.type_id).values[acc.idx].value & U64
    raise CoreError("EOPNOTSUPP", f"unsupported enum relocation kind {kind}")


def calc_relo(kind: int, local: Spec, targ: Spec | None) -> RelocValue:
    """libbpf's ``bpf_core_calc_relo``."""
    res = RelocValue()
    try:
        if kind in FIELD_KINDS:
            res.orig_val, res.orig_sz, res.orig_type_id, res.validate = _field(kind, local)
            res.new_val, res.new_sz, res.new_type_id, _ = _field(kind, targ)
            if res.orig_sz != res.new_sz:
                lb, tb = local.btf, targ.btf  # type: ignore[union-attr]
                ok = (lb.kind(res.orig_type_id) == Kind.PTR and tb.kind(res.new_type_id) == Kind.PTR) or (
                    lb.kind(res.orig_type_id) == Kind.INT and tb.kind(res.new_type_id) == Kind.INT
                    and int_encoding(lb, res.orig_type_id) != 1 and int_encoding(tb, res.new_type_id) != 1)
                res.fail_memsz_adjust = not ok
        elif kind in TYPE_KINDS:
            res.orig_val = _type(kind, local)
            res.validate = kind != TARGET_TYPE_ID
            res.new_val = _type(kind, targ)
        elif kind in ENUMVAL_KINDS:
            res.orig_val = _enum(kind, local)
            res.new_val = _enum(kind, targ)
        else:
            raise CoreError("EOPNOTSUPP", f"unknown relocation kind {kind}")
    except Poison:
        res.poison = True
    return res
