"""Fuzz target: .BTF and .BTF.ext decoding, the type graph, CO-RE texts, the printers.

An input is ``u32 little-endian length of the BTF blob | BTF blob | BTF.ext blob``
(seeds are the sections of the fixtures and the Debian-shipped objects).

    python tests/fuzz/fuzz_btf.py -max_total_time=60 CORPUS_DIR

``BPFI_FUZZ_NO_PRINTERS=1`` leaves out the raw and C printers.
"""

from __future__ import annotations

import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _harness  # noqa: E402

_harness.import_package()

from bpfinspect.btf import parse_btf, parse_btf_ext  # noqa: E402
from bpfinspect.btf.c_dump import c_text  # noqa: E402
from bpfinspect.btf.core import core_relo_text  # noqa: E402
from bpfinspect.btf.raw import raw_text  # noqa: E402
from bpfinspect.errors import MalformedInput  # noqa: E402

PRINTERS = os.environ.get("BPFI_FUZZ_NO_PRINTERS") != "1"


def split(data: bytes) -> tuple[bytes, bytes]:
    if len(data) < 4:
        return data, b""
    n = struct.unpack_from("<I", data, 0)[0]
    return data[4:4 + n], data[4 + n:]


def join(btf: bytes, ext: bytes) -> bytes:
    return struct.pack("<I", len(btf)) + btf + ext


def one_input(data: bytes) -> None:
    raw_btf, raw_ext = split(data)
    btf = parse_btf(raw_btf, path="fuzz.BTF")
    for tid in range(0, btf.count + 1):
        btf.type(tid)
        btf.name(tid)
        btf.type_name(tid)
        btf.resolve(tid)
        for fn in (btf.sizeof, btf.alignof):
            try:
                fn(tid)
            except MalformedInput:
                pass
    if raw_ext:
        ext = parse_btf_ext(raw_ext, btf, path="fuzz.BTF.ext")
        for recs in ext.core_relos.values():
            for rec in recs:
                core_relo_text(btf, rec)
    if PRINTERS:
        raw_text(btf)
        c_text(btf)


def seeds() -> list[bytes]:
    from bpfinspect.elf import ElfFile

    out = []
    for p in _harness.all_objects():
        try:
            elf = ElfFile(p.read_bytes())
            btf = elf.section_by_name(".BTF")
            ext = elf.section_by_name(".BTF.ext")
        except MalformedInput:
            continue
        if btf is None or btf.size > 64 * 1024:
            continue
        s = join(btf.data(), ext.data() if ext is not None else b"")
        if s not in out:
            out.append(s)
    return out


if __name__ == "__main__":
    _harness.main("btf", one_input, seeds)
