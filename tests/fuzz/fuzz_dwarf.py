"""Fuzz target: DWARF of BPF objects, its types as BTF, and record-type inference.

An input is an object file (seeds: the fixtures whose DWARF is small).  Each run reads every
unit's DIEs, converts every named type and every variable's type to BTF, lays the records out as
ctypes classes, works out the record types of the ring buffers and perf event arrays, and
prints the ``maps`` and ``globals`` views.

    python tests/fuzz/fuzz_dwarf.py -max_total_time=60 CORPUS_DIR
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _harness  # noqa: E402

_harness.import_package()

import bpfinspect.obj  # noqa: E402
from bpfinspect.btf.ctypes_layout import CtypesLayout  # noqa: E402
from bpfinspect.dwarf import constants as dw  # noqa: E402
from bpfinspect.typesrc import TypeSource  # noqa: E402
from bpfinspect.views import globals as v_globals, maps  # noqa: E402
from bpfinspect.views.table import render_plain  # noqa: E402

MAX_TYPES = 400
SEEDS = ("kprobe.bpf.o", "uprobe.bpf.o", "perf_output.bpf.o", "legacy_dwarf.bpf.o")


def one_input(data: bytes) -> None:
    obj = bpfinspect.obj.from_bytes(data, path="fuzz.bpf.o")
    ts = TypeSource(obj)
    dt = ts.dwarf_types
    if dt is not None:
        done = 0
        for unit in dt.dwarf.units:
            for i in range(len(unit)):
                unit.attrs(i)
                if unit.tag(i) in (dw.TAG_structure_type, dw.TAG_union_type, dw.TAG_typedef) and done < MAX_TYPES:
                    ref = ts.from_dwarf(dt.dwarf.die(unit._dies[0][i]))
                    done += 1
                    layout = CtypesLayout(ts.btf)
                    layout.expr(ref.id)
                    ts.btf.type_name(ref.id)
        for name in list(dt.variables())[:MAX_TYPES]:
            ts.variable_type(name)
    for view in (maps, v_globals):
        view.to_json(obj, ts)
        render_plain(view.blocks(obj, ts))


def seeds() -> list[bytes]:
    return [(_harness.FIXTURES / n).read_bytes() for n in SEEDS]


if __name__ == "__main__":
    _harness.main("dwarf", one_input, seeds, elf_mutator=True)
