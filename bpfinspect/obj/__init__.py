"""The BPF object model: built once from bytes, immutable, the single source for every view."""

from bpfinspect.obj.build import build, from_bytes, open_object
from bpfinspect.obj.model import (BpfObject, CoreReloInfo, DataSection, Extern, Map, Program, Reloc, SectionInfo,
                                  Var)

__all__ = ["BpfObject", "CoreReloInfo", "DataSection", "Extern", "Map", "Program", "Reloc", "SectionInfo", "Var",
           "build", "from_bytes", "open_object"]
