"""Fuzz target: the assembler (lark grammar, field checks, encoder) on instruction text.

Seeds are ``bpfinspect disasm --plain`` texts of the fixtures (a few hundred
lines each); inputs are decoded as UTF-8 with replacement characters.

    python tests/fuzz/fuzz_asm.py -max_total_time=60 CORPUS_DIR
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _harness  # noqa: E402

_harness.import_package()

from bpfinspect.errors import BpfInspectError  # noqa: E402
from bpfinspect.isa.asm import assemble  # noqa: E402


def one_input(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    little = assemble(text, little=True)
    big = assemble(text, little=False)
    if len(little) != len(big) or len(little) % 8:
        raise AssertionError("encodings of different sizes")


def seeds() -> list[bytes]:
    import bpfinspect.obj
    from bpfinspect.views import disasm

    out = []
    for p in _harness.all_objects():
        data = _harness.small_object_bytes(p)
        if data is None:
            continue
        try:
            listing = disasm.build_listing(bpfinspect.obj.from_bytes(data), annotate=False, plain_only=True)
        except BpfInspectError:
            continue
        lines = disasm.plain_lines(listing, False)
        for start in range(0, len(lines), 200):
            chunk = ("\n".join(lines[start:start + 200]) + "\n").encode()
            if chunk not in out:
                out.append(chunk)
    return out


if __name__ == "__main__":
    _harness.main("asm", one_input, seeds, max_len=16 * 1024)
