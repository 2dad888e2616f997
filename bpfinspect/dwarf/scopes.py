"""Functions, their scopes and their local variables, by code address.

A BPF function's DWARF is a ``DW_TAG_subprogram`` whose ``low_pc`` is the
function's offset in its own ELF section (every program section starts at
address 0, so the section comes from the relocation of that address, see
:mod:`bpfinspect.dwarf.reader`).  Inside it, lexical blocks and inlined
subroutines (the body of ``BPF_KPROBE``'s ``____name`` is one) hold the local
variables; each has the code ranges it covers.  :func:`locals_at` lists the
variables and parameters of every scope that covers an address: what the source
had in scope at that instruction.  Variables of an inlined function that the
optimizer dropped are only in the abstract definition, so those are listed too.
"""

from __future__ import annotations

from dataclasses import dataclass

from bpfinspect.dwarf import constants as dw
from bpfinspect.dwarf.reader import Die, Dwarf

_SCOPES = frozenset({dw.TAG_subprogram, dw.TAG_lexical_block, dw.TAG_inlined_subroutine})
_VARS = frozenset({dw.TAG_variable, dw.TAG_formal_parameter})
MAX_ORIGIN_CHAIN = 16


@dataclass(frozen=True, slots=True)
class Local:
    name: str
    type: Die | None      # the variable's type DIE (None: void or unknown)
    depth: int            # 0 for the function's own scope, deeper for nested scopes
    parameter: bool


def functions(dwarf: Dwarf) -> dict[tuple[int, int], Die]:
    """(ELF section index, offset) -> the subprogram DIE of the function that starts there."""
    out: dict[tuple[int, int], Die] = {}
    for unit in dwarf.units:
        for i in range(len(unit)):
            if unit.tag(i) != dw.TAG_subprogram:
                continue
            low = unit.attrs(i).get(dw.AT_low_pc)
            if isinstance(low, tuple) and low[1] is not None:
                out.setdefault((low[1], low[0]), Die(unit, i))
    return out


def _origin(die: Die) -> Die:
    """The abstract definition behind a concrete DIE (through ``abstract_origin``/``specification``)."""
    for _ in range(MAX_ORIGIN_CHAIN):
        nxt = die.ref(dw.AT_abstract_origin) or die.ref(dw.AT_specification)
        if nxt is None:
            return die
        die = nxt
    return die


def _covers(die: Die, section_index: int, address: int) -> bool:
    ranges = die.unit.ranges(die.index)
    if not ranges:
        return die.tag == dw.TAG_lexical_block  # a block without ranges: the optimizer merged it
    return any(lo <= address < hi and sec in (None, section_index) for lo, hi, sec in ranges)


def locals_at(function: Die, section_index: int, address: int) -> list[Local]:
    """The variables and parameters in scope at ``address`` (a byte offset in the function's section)."""
    out: list[Local] = []
    seen: set[int] = set()
    todo: list[tuple[Die, int]] = [(function, 0)]
    while todo:
        scope, depth = todo.pop()
        abstract = _origin(scope) if scope.tag == dw.TAG_inlined_subroutine else None
        for child in scope.children():
            tag = child.tag
            if tag in _VARS:
                src = _origin(child)
                if src.offset in seen:
                    continue
                seen.add(src.offset)
                out.append(Local(src.name, src.ref(dw.AT_type), depth, tag == dw.TAG_formal_parameter))
            elif tag in _SCOPES and tag != dw.TAG_subprogram and _covers(child, section_index, address):
                todo.append((child, depth + 1))
        if abstract is not None and abstract.tag == dw.TAG_subprogram:
            for child in abstract.descendants():
                if child.tag in _VARS and child.offset not in seen:
                    seen.add(child.offset)
                    out.append(Local(child.name, child.ref(dw.AT_type), depth + _nesting(child, abstract),
                                     child.tag == dw.TAG_formal_parameter))
    return out


def _nesting(die: Die, top: Die) -> int:
    """How many scopes lie between ``die`` and ``top`` (its variables are at 0)."""
    n = 0
    p = die.parent
    while p is not None and p != top and n < 1000:
        n += 1
        p = p.parent
    return n
