"""Hostile input: truncated and corrupted objects never crash `disasm` (in any mode)."""

from __future__ import annotations

import random

import pytest

from bpfinspect.cli.main import main
from conftest import FIXTURES, bpfinspect

MODES = (["disasm"], ["disasm", "--no-annotate"], ["disasm", "--json"], ["disasm", "--plain"])


def _variants(data: bytes, count: int):
    rnd = random.Random(4)
    shoff = int.from_bytes(data[0x28:0x30], "little")
    for k in range(count):
        b = bytearray(data)
        kind = k % 3
        if kind == 0:                       # truncated anywhere
            b = b[:rnd.randrange(len(b))]
        elif kind == 1:                     # a few bytes changed anywhere
            for _ in range(6):
                b[rnd.randrange(len(b))] = rnd.randrange(256)
        else:                               # the section header table damaged
            for _ in range(3):
                p = rnd.randrange(shoff, len(b))
                b[p] = rnd.randrange(256)
        yield bytes(b)


def test_corrupted_objects_fail_cleanly(tmp_path, capsys):
    data = (FIXTURES / "calls.bpf.o").read_bytes()
    path = tmp_path / "x.o"
    failures = 0
    for blob in _variants(data, 45):
        path.write_bytes(blob)
        for mode in MODES:
            rc = main([*mode, str(path)])  # anything but a BpfInspectError would propagate here
            assert rc in (0, 2)
            failures += rc == 2
            err = capsys.readouterr().err
            assert err.count("\n") == (1 if rc else err.count("\n"))
    assert failures > 0


@pytest.mark.parametrize("content", [b"", b"not an elf at all", b"\x7fELF\x02\x01\x01" + bytes(9)])
def test_not_an_object(content, tmp_path):
    path = tmp_path / "bad.o"
    path.write_bytes(content)
    for mode in MODES:
        p = bpfinspect(*mode, str(path))
        assert p.returncode == 2 and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr


def test_missing_file(tmp_path):
    p = bpfinspect("disasm", str(tmp_path / "none.o"), "--no-annotate")
    assert p.returncode == 2 and "no such file" in p.stderr
