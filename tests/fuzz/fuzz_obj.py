"""Fuzz target: the whole object model, then every inspection view.

    python tests/fuzz/fuzz_obj.py -max_total_time=60 CORPUS_DIR
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _harness  # noqa: E402

_harness.import_package()

import bpfinspect.obj  # noqa: E402
from bpfinspect.views import globals as v_globals, info, maps, progs, relocs, sections  # noqa: E402
from bpfinspect.views.table import render_plain  # noqa: E402

VIEWS = (sections, progs, maps, v_globals, relocs, info)


def one_input(data: bytes) -> None:
    obj = bpfinspect.obj.from_bytes(data, path="fuzz.bpf.o")
    for view in VIEWS:
        view.to_json(obj)
        render_plain(view.blocks(obj))
    obj.core_relos  # noqa: B018
    for p in obj.programs:
        obj.line_info(p.section)


if __name__ == "__main__":
    _harness.main("obj", one_input, _harness.object_seeds, elf_mutator=True)
