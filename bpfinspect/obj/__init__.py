"""The BPF object model: built once from bytes, immutable, the single source for every view."""

from bpfinspect.obj.model import (CodeSection, CoreReloInfo, DataSection, Extern, Function, Map, Program, Reloc,
                                  SectionInfo, Var)
from bpfinspect.obj.object import BpfObject, build, from_bytes, open_object

__all__ = ["BpfObject", "CodeSection", "CoreReloInfo", "DataSection", "Extern", "Function", "Map", "Program", "Reloc",
           "SectionInfo", "Var", "build", "from_bytes", "open_object"]
