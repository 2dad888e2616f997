"""Python skeletons: the generated module, its contract, and the full path through the kernel."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
import time

import pytest

from conftest import ROOT, bpfinspect, needs_bpf
from runtime_util import (BOOTSTRAP_OBJ, REJECTED_OBJ, RT_TEST_OBJ, generate_skeleton, import_module_from,
                          tracefs)  # noqa: F401


def gen(path, **kw) -> str:
    from bpfinspect.obj import open_object
    from bpfinspect.skel.python import generate
    return generate(open_object(str(path)), **kw)


class BootstrapEvent(ctypes.Structure):
    """struct event of fixtures/src/bootstrap.h (its BTF is not in the object: the ring buffer is untyped)."""

    _fields_ = [("pid", ctypes.c_int), ("ppid", ctypes.c_int), ("exit_code", ctypes.c_uint),
                ("duration_ns", ctypes.c_ulonglong), ("comm", ctypes.c_char * 16),
                ("filename", ctypes.c_char * 127), ("exit_event", ctypes.c_bool)]


# ---------------------------------------------------------------- the module itself


def test_output_is_deterministic_and_embeds_the_object_exactly(tmp_path):
    a = gen(RT_TEST_OBJ, types=["struct rec"])
    b = gen(RT_TEST_OBJ, types=["struct rec"])
    assert a == b
    assert str(ROOT) not in a and "/tmp" not in a
    mod = import_module_from(_write(tmp_path, "rt_skel_a", a), "rt_skel_a")
    assert mod.ELF_BYTES == RT_TEST_OBJ.read_bytes()
    # the same object under another path gives the same module
    other = tmp_path / "sub"
    other.mkdir()
    shutil.copy(RT_TEST_OBJ, other / RT_TEST_OBJ.name)
    assert gen(other / RT_TEST_OBJ.name, types=["struct rec"]) == a


def _write(d, name, text):
    p = d / f"{name}.py"
    p.write_text(text)
    return p


def test_class_is_named_in_camel_case_after_the_object(tmp_path):
    obj = tmp_path / "h_boot.bpf.o"
    shutil.copy(BOOTSTRAP_OBJ, obj)
    mod = generate_skeleton(obj, tmp_path, module_name="h_boot_skel")
    assert mod.HBootBpf.OBJECT_NAME == "h_boot_bpf"
    assert [m[0] for m in mod.HBootBpf.DATA_SECTIONS] == ["rodata", "bss", "data"]
    from bpfinspect.obj import open_object
    bss = {d.name: d for d in open_object(obj).datasecs}[".bss"]
    want = {v.name: v.offset for v in bss.variables}
    assert mod.h_boot_bpf__bss.seen_exec.offset == want["seen_exec"]
    assert ctypes.sizeof(mod.h_boot_bpf__bss) == bss.size


def test_types_for_maps_globals_and_requested(tmp_path):
    from bpfinspect.obj import open_object
    mod = generate_skeleton(RT_TEST_OBJ, tmp_path, types=["struct rec"], module_name="rt_skel_types")
    btf = open_object(str(RT_TEST_OBJ)).btf
    for name in ("rec", "key_t", "val_t"):
        (tid,) = btf.find(name)
        cls = getattr(mod, name)
        assert ctypes.sizeof(cls) == btf.sizeof(tid)
        for m in btf.type(tid).members:
            if not m.bitfield_size:
                assert getattr(cls, m.name).offset * 8 == m.bit_offset
    v = mod.val_t()
    v.flags, v.mode, v.rest = 7, 31, (1 << 24) - 1
    assert bytes(v)[24:28] == b"\xff\xff\xff\xff"
    assert mod.val_t.comm.size == 16 and isinstance(v.comm, bytes)
    skel_cls = mod.RuntimeTestBpf
    maps = {m[0]: m for m in skel_cls.MAPS}
    assert maps["stats"][2] is mod.key_t and maps["stats"][3] is mod.val_t
    assert maps["arr"][3] is mod.rec and maps["rb"][2:] == (None, None)
    assert [p[1] for p in skel_cls.PROGRAMS] == ["on_getppid", "bare"]


def test_layout_mismatch_is_refused_at_import(tmp_path):
    text = gen(RT_TEST_OBJ)
    broken = text.replace("_layout(rec, 16,", "_layout(rec, 24,", 1)
    assert broken != text
    with pytest.raises(ImportError, match="rec: ctypes size 16 != BTF size 24"):
        import_module_from(_write(tmp_path, "rt_skel_broken", broken), "rt_skel_broken")
    damaged = text.replace("ELF_BYTES = _base64.b64decode(\n    'f0VMR", "ELF_BYTES = _base64.b64decode(\n    'f0VMS", 1)
    assert damaged != text
    with pytest.raises(ImportError, match="damaged"):
        import_module_from(_write(tmp_path, "rt_skel_damaged", damaged), "rt_skel_damaged")


def test_unknown_type_is_a_usage_error():
    from bpfinspect.errors import UsageError
    with pytest.raises(UsageError, match="--type nope"):
        gen(RT_TEST_OBJ, types=["nope"])


def test_cli_gen_skel_lang_python(tmp_path):
    out = tmp_path / "rt_cli_skel.py"
    p = bpfinspect("gen-skel", str(RT_TEST_OBJ), "--lang", "python", "--type", "rec", "-o", str(out))
    assert p.returncode == 0, p.stderr
    # the module is named after the file it is written to
    assert out.read_text() == gen(RT_TEST_OBJ, types=["rec"], module_name="rt_cli_skel")
    assert "from rt_cli_skel import RuntimeTestBpf" in out.read_text()
    mod = import_module_from(out, "rt_cli_skel")
    assert mod.ELF_BYTES == RT_TEST_OBJ.read_bytes() and ctypes.sizeof(mod.rec) == 16


# ---------------------------------------------------------------- through the kernel


@needs_bpf
def test_bootstrap_skeleton_end_to_end(tmp_path, tracefs):
    from bpfinspect.runtime import FrozenSectionError
    mod = generate_skeleton(BOOTSTRAP_OBJ, tmp_path, module_name="bootstrap_e2e_skel")
    with mod.BootstrapBpf.open() as skel:
        assert skel.rodata.min_duration_ns == 0 and skel.data.exit_code_mask == 0xFFFFFFFF
        skel.rodata.min_duration_ns = 0
        skel.load()
        with pytest.raises(FrozenSectionError):
            skel.rodata.min_duration_ns = 1
        assert skel.rodata.min_duration_ns == 0
        assert skel.links.handle_exec is None
        skel.attach()
        assert skel.links.handle_exec.fd >= 0 and skel.links.handle_exit.fd >= 0
        assert skel.progs.handle_exec.name == "handle_exec"
        events = []
        rb = skel.maps.rb.ring_buffer(lambda data: events.append(BootstrapEvent.from_buffer_copy(data)))
        exec0 = skel.bss.seen_exec
        child = subprocess.Popen(["/bin/sh", "-c", "exit 7"])
        child.wait()
        deadline = time.monotonic() + 5
        mine = []
        while time.monotonic() < deadline:
            rb.poll(timeout_ms=100)
            mine = [e for e in events if e.pid == child.pid]
            if any(e.exit_event for e in mine):
                break
        kinds = [(e.exit_event, e.filename, e.exit_code) for e in mine]
        assert (False, b"/bin/sh", 0) in kinds
        assert (True, b"", 7) in kinds
        assert all(e.ppid == os.getpid() for e in mine)
        assert skel.bss.seen_exec >= exec0 + 1 and skel.bss.seen_exit >= 1   # live counters
        # the hash map, as a dict (the program deletes the child's entry on exit)
        start = skel.maps.exec_start
        assert child.pid not in start
        start[42] = 7
        assert start.get(42) == 7 and start[42] == 7 and 42 in start
        assert (42, 7) in list(start.items())
        del start[42]
        assert start.get(42) is None
        with pytest.raises(KeyError):
            del start[42]
    assert skel.obj.closed and skel.links.handle_exec is None


@needs_bpf
def test_runtime_test_skeleton_typed_members(tmp_path, tracefs):
    mod = generate_skeleton(RT_TEST_OBJ, tmp_path, module_name="rt_typed_skel")
    with mod.RuntimeTestBpf.open() as skel:
        skel.rodata.target_pid = os.getpid()
        skel.load()
        links = skel.attach()
        assert links.on_getppid is not None and links.bare is None     # SEC("kprobe") has no target
        records = []
        rb = skel.maps.rb.ring_buffer(records.append, record_type=mod.rec)
        os.getppid()
        skel.data.cookie = 99
        os.getppid()
        rb.poll(1000)
        rb.consume()
        assert [(r.seq, r.cookie) for r in records] == [(1, 0x1122334455667788), (2, 99)]
        assert skel.bss.hits == 2
        assert (skel.bss.last.pid, skel.bss.last.seq, skel.bss.last.cookie) == (os.getpid(), 2, 99)
        key = mod.key_t(pid=os.getpid(), tag=1)
        val = skel.maps.stats[key]
        assert isinstance(val, mod.val_t) and (val.count, val.flags, val.mode) == (2, 3, 5)
        assert skel.maps.arr[0].seq == 2
        skel.maps.stats[mod.key_t(pid=1, tag=1)] = mod.val_t(count=10)
        assert sorted(k.pid for k in skel.maps.stats.keys()) == sorted({1, os.getpid()})
        assert skel.maps.rodata.map_flags & 0x80      # BPF_F_RDONLY_PROG
        bss = skel.bss
    with pytest.raises(Exception, match="closed"):
        bss.hits


@needs_bpf
def test_rejected_load_raises_with_log(tmp_path):
    from bpfinspect.runtime import LibbpfError
    mod = generate_skeleton(REJECTED_OBJ, tmp_path, module_name="rejected_skel")
    with mod.RuntimeRejectedBpf.open() as skel:
        with pytest.raises(LibbpfError) as ei:
            skel.load()
        assert "R0 invalid mem access 'map_value_or_null'" in ei.value.log
        assert ei.value.program == "bad"
    with mod.RuntimeRejectedBpf.open() as skel:
        skel.progs.bad.autoload = False
        skel.load()
        assert skel.progs.good.fd >= 0


@needs_bpf
@pytest.mark.parametrize("args", [[], ["--object", str(ROOT / "fixtures" / "bootstrap.stripped.bpf.o"),
                                       "--header", str(ROOT / "fixtures" / "src" / "bootstrap.h")]],
                         ids=["dwarf", "stripped-header"])
def test_bootstrap_example_prints_exec_and_exit_lines(tracefs, args):
    example = ROOT / "examples" / "bootstrap.py"
    proc = subprocess.Popen([sys.executable, str(example), "--timeout", "20", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        header = proc.stdout.readline()
        assert header.split() == ["TIME", "EVENT", "COMM", "PID", "PPID", "FILENAME/EXIT", "CODE"], \
            header + proc.stderr.read()
        child = subprocess.Popen(["/bin/sh", "-c", "exit 3"])
        child.wait()
        exec_line = exit_line = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (exec_line and exit_line):
            line = proc.stdout.readline()
            if not line:
                break
            f = line.split()
            if len(f) >= 6 and f[3] == str(child.pid):
                if f[1] == "EXEC":
                    exec_line = f
                elif f[1] == "EXIT":
                    exit_line = f
        assert exec_line is not None and exec_line[2] == "sh" and exec_line[4] == str(os.getpid())
        assert exec_line[5] == "/bin/sh"
        assert exit_line is not None and exit_line[5] == "[3]"
    finally:
        proc.terminate()
        proc.wait(10)
    assert proc.returncode == 0, proc.stderr.read()
