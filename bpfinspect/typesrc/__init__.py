"""Types for every consumer, from the object's BTF and its DWARF (see :mod:`.source`),
and the record types of ring buffers and perf event arrays (:mod:`.records`)."""

from __future__ import annotations

from bpfinspect.typesrc.source import TypeRef, TypeSource, parse_spec

__all__ = ["TypeRef", "TypeSource", "parse_spec"]
