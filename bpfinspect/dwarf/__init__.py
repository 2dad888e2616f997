"""DWARF of BPF objects: the DIE tree (``reader``) and its types as BTF (``types``)."""

from __future__ import annotations

from bpfinspect.dwarf.reader import Die, Dwarf, Unit, read_dwarf

__all__ = ["Die", "Dwarf", "Unit", "read_dwarf"]
