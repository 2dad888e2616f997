"""The inspection commands as a user runs them: JSON contracts, plain output, and bad input."""

from __future__ import annotations

import json
import os
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpfinspect.errors import BpfInspectError
from bpfinspect.obj import from_bytes
from conftest import FIXTURE_OBJECTS, FIXTURES, bpfinspect

COMMANDS = ["sections", "progs", "maps", "globals", "relocs", "info"]

CONTRACT = {
    "progs": ("programs", {"name", "section", "type", "attach_type", "target", "sleepable", "autoload", "insns",
                           "size", "subprograms", "maps", "helpers", "kfuncs"}),
    "maps": ("maps", {"name", "type", "key_size", "value_size", "max_entries", "map_flags", "pinning", "key_type",
                      "value_type", "inner", "initial_slots", "section"}),
    "globals": ("sections", {"name", "size", "variables"}),
    "sections": ("sections", {"index", "name", "type", "flags", "size", "offset", "kind", "program_type"}),
}


@pytest.mark.parametrize("cmd", COMMANDS)
@pytest.mark.parametrize("path", FIXTURE_OBJECTS, ids=lambda p: p.name)
def test_json_contract(cmd, path):
    p = bpfinspect(cmd, str(path), "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["schema"] == 1
    if cmd in CONTRACT:
        key, fields = CONTRACT[cmd]
        for item in doc[key]:
            assert fields <= set(item), (cmd, fields - set(item))
    if cmd == "globals":
        for sec in doc["sections"]:
            for v in sec["variables"]:
                assert {"name", "offset", "size", "type", "linkage", "initial"} <= set(v)
                if sec["name"].startswith(".bss"):
                    assert v["initial"] is None
                else:
                    assert v["initial"] is None or all(c in "0123456789abcdef" for c in v["initial"])
        for e in doc["externs"]:
            assert {"name", "kind", "type", "weak"} <= set(e) and e["kind"] in ("kconfig", "ksym", "kfunc")
    if cmd == "maps":
        for m in doc["maps"]:
            assert m["pinning"] in ("none", "by_name", "object_ns", "global_ns")
            assert isinstance(m["initial_slots"], dict)


def test_progs_json_values_for_bootstrap():
    doc = json.loads(bpfinspect("progs", str(FIXTURES / "bootstrap.bpf.o"), "--json", check=True).stdout)
    progs = {p["name"]: p for p in doc["programs"]}
    exec_ = progs["handle_exec"]
    assert exec_["type"] == "tracepoint" and exec_["attach_type"] is None
    assert exec_["target"] == "sched/sched_process_exec"
    assert exec_["autoload"] is True and exec_["sleepable"] is False
    assert exec_["insns"] * 8 == exec_["size"]


@pytest.mark.parametrize("cmd", COMMANDS)
def test_plain_output_when_piped(cmd):
    p = bpfinspect(cmd, str(FIXTURES / "maps.bpf.o"))
    assert p.returncode == 0, p.stderr
    assert "\x1b[" not in p.stdout and p.stdout.strip()


def _assert_clean_error(p, code=2):
    assert p.returncode == code, (p.returncode, p.stdout[-500:], p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("bpfinspect: ") and "Traceback" not in p.stderr


def test_missing_file(tmp_path):
    p = bpfinspect("sections", str(tmp_path / "nope.o"))
    _assert_clean_error(p)
    assert "nope.o" in p.stderr and "no such file" in p.stderr


def test_directory(tmp_path):
    _assert_clean_error(bpfinspect("progs", str(tmp_path)))


def test_not_elf(tmp_path):
    f = tmp_path / "x.o"
    f.write_bytes(b"hello world, not an object\n" * 10)
    p = bpfinspect("maps", str(f))
    _assert_clean_error(p)
    assert "not an ELF file" in p.stderr and "offset 0x0" in p.stderr


def test_not_bpf():
    p = bpfinspect("info", "/bin/true")
    _assert_clean_error(p)
    assert "not a BPF object" in p.stderr and "/bin/true" in p.stderr


def test_empty_file(tmp_path):
    f = tmp_path / "empty.o"
    f.write_bytes(b"")
    _assert_clean_error(bpfinspect("sections", str(f)))


@pytest.mark.parametrize("cut", [16, 64, 100, 1000, 5000])
def test_truncated_object_cli(tmp_path, cut):
    data = (FIXTURES / "kprobe.bpf.o").read_bytes()
    f = tmp_path / "cut.o"
    f.write_bytes(data[:cut])
    p = bpfinspect("info", str(f))
    _assert_clean_error(p)
    assert "cut.o" in p.stderr


def _model_everything(data: bytes) -> None:
    """Build the model and touch every derived field a view would."""
    try:
        obj = from_bytes(data, path="fuzz.o")
        for v in ("sections", "progs", "maps", "globals", "relocs", "info"):
            import importlib
            m = importlib.import_module(f"bpfinspect.views.{v}")
            json.dumps(m.to_json(obj))
            m.blocks(obj)
    except BpfInspectError:
        pass


SMALL = [p for p in FIXTURE_OBJECTS if p.stat().st_size < 64 * 1024]


def test_every_truncation_of_a_small_object():
    data = (FIXTURES / "kprobe.bpf.o").read_bytes()
    for cut in range(0, len(data), 7):
        _model_everything(data[:cut])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_corrupted_objects_never_crash(data):
    path = data.draw(st.sampled_from(SMALL))
    blob = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 12))):
        pos = data.draw(st.integers(0, len(blob) - 1))
        kind = data.draw(st.integers(0, 2))
        if kind == 0:
            blob[pos] = data.draw(st.integers(0, 255))
        elif kind == 1:
            blob[pos:pos + 4] = data.draw(st.sampled_from([b"\xff\xff\xff\xff", b"\x00\x00\x00\x80", b"\x01\x00\x00\x00"]))
        else:
            blob[pos:pos + 2] = b"\xff\xff"
    _model_everything(bytes(blob))


def test_btf_corruption_never_crashes():
    """Flip bytes only inside .BTF and .BTF.ext, where counts and offsets live."""
    rng = random.Random(1234)
    for path in SMALL:
        from bpfinspect.elf import ElfFile
        elf = ElfFile.from_path(path)
        for name in (".BTF", ".BTF.ext", ".maps", ".symtab"):
            sec = elf.section_by_name(name)
            if sec is None or not sec.size:
                continue
            for _ in range(60):
                blob = bytearray(elf.data)
                for _ in range(rng.randint(1, 4)):
                    pos = sec.offset + rng.randrange(sec.size)
                    blob[pos] = rng.randrange(256)
                _model_everything(bytes(blob))
