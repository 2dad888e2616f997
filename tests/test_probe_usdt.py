"""`probe usdt`: notes against `readelf -n`, offsets and argument specs against libbpf's own USDT attach.

The fixture (tests/data/probes/usdt_*.c, built with gcc and sys/sdt.h) has probes without a
semaphore (register, memory, constant-free and RIP-relative arguments, none at all) and one
with a semaphore.  libbpf is the oracle twice: the uprobes its USDT attach creates
(`bpftool perf show`: one per probe site, with the file offset) and the argument specs it
writes into the object's __bpf_usdt_specs map; the values its bpf_usdt_arg() reads in the
running binary are what the C source passes.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time

import pytest

from conftest import ROOT
from probes_util import PROBE_OBJ, SDT_H, built, libbpf_oracle, own_uprobes, readelf_notes  # noqa: F401

from bpfinspect.probes.binary import open_binary
from bpfinspect.probes.usdt import parse_args, read_usdt_notes

pytestmark = pytest.mark.skipif(not SDT_H, reason="sys/sdt.h is missing (Debian systemtap-sdt-dev, "
                                                  "installed by scripts/setup.sh)")
BPFI = [sys.executable, "-m", "bpfinspect"]
USDT_BINARIES = ["usdt_test", "usdt_test_nopie"]


def notes_of(path):
    with open_binary(str(path)) as b:
        return read_usdt_notes(b)


@pytest.mark.parametrize("name", USDT_BINARIES)
def test_notes_match_readelf(built, name):
    want = readelf_notes(built[name])
    got = notes_of(built[name])
    assert len(got) == len(want) == 4
    for n, w in zip(got, want):
        assert (n.provider, n.name, n.address, n.base, n.semaphore) == (
            w["provider"], w["name"], w["location"], w["base"], w["semaphore"])
        assert n.args_text == w.get("arguments", "")
        assert " ".join(a.spec for a in n.args) == n.args_text
    by = {n.name: n for n in got}
    assert by["withsema"].semaphore and by["withsema"].semaphore_offset is not None
    assert by["nosema"].semaphore == 0 and by["nosema"].semaphore_offset is None
    assert by["noargs"].args == ()
    assert by["global"].args[0].kind == "rip_symbol" and not by["global"].libbpf_ok
    assert by["nosema"].libbpf_ok and by["withsema"].libbpf_ok


def test_offsets_through_segments(built):
    """The probe offset is the address less its executable segment's address-to-offset distance;
    the semaphore's goes through a writable segment (the non-PIE build shows the difference)."""
    with open_binary(str(built["usdt_test_nopie"])) as b:
        for n in read_usdt_notes(b):
            seg = b.segment_of(n.address)
            assert seg.executable and n.offset == n.address - seg.vaddr + seg.offset != n.address
            if n.semaphore:
                sseg = b.segment_of(n.semaphore)
                assert not sseg.executable
                assert n.semaphore_offset == n.semaphore - sseg.vaddr + sseg.offset != n.semaphore


# ---------------------------------------------------------------- libbpf's own USDT attach

ARG_CONST, ARG_REG, ARG_REG_DEREF = 0, 1, 2
_SPEC = struct.Struct("<Q I h ? b")   # struct __bpf_usdt_arg_spec: val_off, arg_type, reg_off, arg_signed, bitshift


def _libbpf_spec(obj) -> tuple[int, list[tuple]]:
    raw = obj.maps["__bpf_usdt_specs"].lookup(0)
    raw = bytes(raw) if not isinstance(raw, (bytes, bytearray)) else raw
    arg_cnt = struct.unpack_from("<h", raw, 12 * 16 + 8)[0]
    return arg_cnt, [_SPEC.unpack_from(raw, i * 16) for i in range(arg_cnt)]


def _our_spec(arg) -> tuple:
    kind = {"const": ARG_CONST, "reg": ARG_REG, "reg_deref": ARG_REG_DEREF}[arg.kind]
    val = arg.value if arg.kind == "const" else (arg.offset or 0)
    return (val & (1 << 64) - 1, kind, arg.pt_regs_offset or 0, arg.signed, 64 - 8 * arg.size)


@pytest.fixture(scope="module")
def usdt_obj(libbpf_oracle):  # noqa: F811 (needs root, bpf() and bpftool like the uprobe oracle)
    from bpfinspect.runtime import Object

    obj = Object.open(str(PROBE_OBJ))
    obj.load()
    yield obj
    obj.close()


@pytest.mark.parametrize("name", USDT_BINARIES)
def test_usdt_offsets_and_specs_equal_libbpf(built, usdt_obj, name):
    path = str(built[name])
    prog = usdt_obj.programs["probe_usdt"]
    for n in notes_of(path):
        before = {r["fd"] for r in own_uprobes()}
        if not n.libbpf_ok:
            with pytest.raises(Exception) as info:
                prog.attach_usdt(path, n.provider, n.name)
            assert getattr(info.value, "errno", None) == 22, info.value   # EINVAL: the spec does not parse
            continue
        link = prog.attach_usdt(path, n.provider, n.name)
        try:
            new = [r for r in own_uprobes() if r["fd"] not in before]
            assert [(r["filename"], r["offset"]) for r in new] == [(path, n.offset)], n
            arg_cnt, specs = _libbpf_spec(usdt_obj)
            assert arg_cnt == len(n.args)
            assert specs == [_our_spec(a) for a in n.args], n
        finally:
            link.destroy()


def test_usdt_values_read_by_libbpf(built, usdt_obj):
    """bpf_usdt_arg() in the running fixture reads what the source passes; the semaphore-guarded probe
    fires only while libbpf's attach holds the semaphore up."""
    path = str(built["usdt_test"])
    prog = usdt_obj.programs["probe_usdt"]
    hits = []
    rb = usdt_obj.maps["hits"].ring_buffer(lambda raw: hits.append(struct.unpack_from("<Q4qiI", raw)))
    links = [prog.attach_usdt(path, "fixture", name, cookie=i) for i, name in enumerate(("nosema", "withsema"))]
    try:
        p = subprocess.Popen([path, "3"], stdout=subprocess.DEVNULL)
        assert p.wait(timeout=30) == 0
        deadline = time.time() + 5
        while time.time() < deadline and sum(h[6] == p.pid for h in hits) < 6:
            rb.poll(100)
    finally:
        for link in links:
            link.destroy()
        rb.close()
    hits = [h for h in hits if h[6] == p.pid]
    nosema = [h[1:5] for h in hits if h[0] == 0]
    withsema = [h[1:3] for h in hits if h[0] == 1]
    assert nosema == [(i, -3 * i, 1234567890123, i + 200) for i in range(3)]
    assert withsema == [(i, -i) for i in range(3)]


# ---------------------------------------------------------------- the command

def test_usdt_json(built):
    p = subprocess.run(BPFI + ["probe", "usdt", str(built["usdt_test"]), "--json"], capture_output=True, text=True,
                       cwd=ROOT)
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["schema"] == 1 and doc["binary"] == str(built["usdt_test"])
    notes = {n["name"]: n for n in doc["notes"]}
    for n in doc["notes"]:
        assert set(n) >= {"provider", "name", "offset", "semaphore_offset", "args"}
    ws = notes["withsema"]
    assert ws["ftrace"].endswith(f"({ws['semaphore_offset']:#x}) arg1=%di:s32 arg2=%ax:s16")
    first = notes["nosema"]["args"][0]
    assert (first["spec"], first["size"], first["signed"], first["kind"], first["register"]) == (
        "-4@%ebx", 4, True, "reg", "ebx")
    assert notes["global"]["args"][0]["fetcharg"].startswith("@+0x")


def test_usdt_human(built):
    p = subprocess.run(BPFI + ["probe", "usdt", str(built["usdt_test"])], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0
    assert "fixture" in p.stdout and "withsema" in p.stdout and "pt_regs.bx" in p.stdout
    assert f"SEC(\"usdt/{built['usdt_test']}:fixture:nosema\")" in p.stdout


def test_binary_without_notes(built):
    assert notes_of(built["exe_pie"]) == []
    p = subprocess.run(BPFI + ["probe", "usdt", str(built["exe_pie"]), "--json"], capture_output=True, text=True,
                       cwd=ROOT)
    assert p.returncode == 0 and json.loads(p.stdout)["notes"] == []


# ---------------------------------------------------------------- argument syntax of other architectures

def test_other_architectures():
    a = parse_args("-4@[sp, 96] 8@x0 -4@5 8@[x19]", "aarch64")
    assert [(x.kind, x.register, x.pt_regs_offset, x.offset, x.value, x.signed, x.size) for x in a] == [
        ("reg_deref", "sp", 248, 96, None, True, 4), ("reg", "x0", 0, None, None, False, 8),
        ("const", None, None, None, 5, True, 4), ("reg_deref", "x19", 152, 0, None, False, 8)]
    assert [x.fetcharg for x in a] == ["+96(%sp):s32", "%x0:u64", "\\5:s32", "+0(%x19):u64"]
    r = parse_args("-8@-88(s0) 4@a1 2@7", "riscv")
    assert [(x.kind, x.register, x.pt_regs_offset, x.offset, x.value) for x in r] == [
        ("reg_deref", "s0", 64, -88, None), ("reg", "a1", 88, None, None), ("const", None, None, None, 7)]
    s = parse_args("-2@-28(%r15) -8@%r2 4@71", "s390x")
    assert [(x.kind, x.register, x.pt_regs_offset, x.offset, x.value) for x in s] == [
        ("reg_deref", "r15", 136, -28, None), ("reg", "r2", 32, None, None), ("const", None, None, None, 71)]
    x = parse_args("1@-96(%rbp,%rax,8) 4@%xmm0 3@%eax", "x86_64")
    assert x[0].kind == "sib" and x[0].scale == 8 and x[0].libbpf_error
    assert "unrecognized register" in x[1].libbpf_error
    assert "size" in x[2].libbpf_error
    assert parse_args("4@%eax", "mips")[0].libbpf_error


def test_hostile_notes_do_not_crash(built, tmp_path):
    """Damaged descriptors: each note reports its own error, nothing raises but MalformedInput."""
    from bpfinspect.errors import MalformedInput

    data = bytearray(built["usdt_test"].read_bytes())
    with open_binary(str(built["usdt_test"])) as b:
        sec = b.section_by_name(".note.stapsdt")
        notes = b.notes(sec)
    for i, note in enumerate(notes):
        start = note.offset + 12 + 8  # header, "stapsdt\0"
        for cut in (0, 10, 24, 30):
            bad = bytearray(data)
            bad[start + cut:start + len(note.desc)] = b"\xff" * (len(note.desc) - cut)
            path = tmp_path / f"bad{i}-{cut}"
            path.write_bytes(bytes(bad))
            try:
                for n in notes_of(path):
                    assert n.error or n.args is not None
            except MalformedInput:
                pass
