"""Fuzz target: C and Python skeleton generation on mutated objects.

``BPFI_FUZZ_NO_PRINTERS=1`` leaves out ``--types`` (the C type printer's definitions).

    python tests/fuzz/fuzz_skel.py -max_total_time=60 CORPUS_DIR
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _harness  # noqa: E402

_harness.import_package()

import bpfinspect.obj  # noqa: E402
from bpfinspect.skel import c as skel_c, python as skel_py  # noqa: E402


PRINTERS = os.environ.get("BPFI_FUZZ_NO_PRINTERS") != "1"


def one_input(data: bytes) -> None:
    obj = bpfinspect.obj.from_bytes(data, path="fuzz.bpf.o")
    skel_c.generate_with_warnings(obj)
    if PRINTERS:
        skel_c.generate_with_warnings(obj, types=True)
    if obj.endian == sys.byteorder:
        skel_py.generate(obj)


if __name__ == "__main__":
    _harness.main("skel", one_input, _harness.object_seeds, elf_mutator=True)
