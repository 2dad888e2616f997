"""Fuzz target: the disassembler listing (with and without notes) and its outputs.

    python tests/fuzz/fuzz_disasm.py -max_total_time=60 CORPUS_DIR
"""

from __future__ import annotations

import io
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _harness  # noqa: E402

_harness.import_package()

import bpfinspect.obj  # noqa: E402
from bpfinspect.views import disasm  # noqa: E402


def one_input(data: bytes) -> None:
    obj = bpfinspect.obj.from_bytes(data, path="fuzz.bpf.o")
    for annotate in (False, True):
        listing = disasm.build_listing(obj, annotate=annotate, need_plain=True)
        disasm.to_json(listing)
        disasm.write_json(listing, io.StringIO())
        disasm.plain_lines(listing, True)
        disasm.write_human(listing, io.StringIO(), False)
    listing = disasm.build_listing(obj, annotate=False, plain_only=True)
    disasm.plain_lines(listing, False)


if __name__ == "__main__":
    _harness.main("disasm", one_input, _harness.object_seeds, elf_mutator=True)
