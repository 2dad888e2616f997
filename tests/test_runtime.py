"""bpfinspect.runtime against the real kernel: load, maps, buffers, data sections, errors, cleanup.

Reference points: bpftool (program and map info, map contents), the kernel's
own counters (/proc/self/fd, /proc/self/fdinfo), and the program in
tests/data/runtime_test.bpf.c whose behaviour is known.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import BPFTOOL, needs_bpf
from runtime_util import REJECTED_OBJ, RT_TEST_OBJ, bpftool_ids, open_fds, tracefs, wait_for  # noqa: F401


def anon_fds() -> dict[int, str]:
    """This process's fds on kernel objects (bpf-prog, bpf-map, btf, perf_event, eventpoll, bpf_link)."""
    return {fd: t for fd, t in open_fds().items() if t.startswith("anon_inode:")}

pytestmark = needs_bpf


def possible_cpus() -> int:
    text = open("/sys/devices/system/cpu/possible").read().strip()
    n = 0
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        n = max(n, int(hi or lo) + 1)
    return n


def bpftool_json(*args):
    p = subprocess.run([BPFTOOL, "-j", *args], capture_output=True, text=True, check=True)
    return json.loads(p.stdout)


@pytest.fixture
def rt():
    from bpfinspect.runtime import Object
    with Object.open(RT_TEST_OBJ.read_bytes(), name="rt_test") as obj:
        yield obj


def test_open_lists_programs_and_maps_like_the_object_model(rt):
    from bpfinspect.obj import open_object
    model = open_object(str(RT_TEST_OBJ))
    assert list(rt.programs) == [p.name for p in model.programs if not p.is_subprog]
    assert {m.name for m in model.maps} <= set(rt.maps)
    assert rt.programs["on_getppid"].type_name == "tracepoint"
    assert rt.programs["bare"].section == "kprobe"
    for m in model.maps:
        if m.section != ".maps":
            continue
        got = rt.maps[m.name]
        assert got.type_name == m.type
        assert (got.key_size, got.value_size) == (m.key_size, m.value_size) or m.type in ("ringbuf",
                                                                                            "perf_event_array")
    assert sorted(rt.data_sections) == ["rt_test.bss", "rt_test.data", "rt_test.rodata"]
    assert not rt.loaded and rt.programs["on_getppid"].fd < 0


def test_open_from_path_is_the_same_object():
    from bpfinspect.runtime import Object
    with Object.open(str(RT_TEST_OBJ)) as obj:
        assert obj.name == "runtime_test"  # libbpf: the file name up to its first dot
        assert "on_getppid" in obj.programs


def test_program_info_matches_bpftool(rt):
    rt.load()
    prog = rt.programs["on_getppid"]
    info = prog.info()
    ref = bpftool_json("prog", "show", "id", str(info["id"]))
    assert ref["name"] == "on_getppid"
    assert ref["tag"] == info["tag"]
    assert ref["bytes_xlated"] == info["xlated_bytes"] == info["insns_xlated"] * 8
    assert ref["bytes_jited"] == info["jited_bytes"]
    assert set(ref["map_ids"]) == {rt.maps[n].info()["id"] for n in ("rb", "events", "stats", "pcpu", "arr",
                                                                     "rt_test.rodata", "rt_test.bss",
                                                                     "rt_test.data")}
    assert 0 < info["verified_insns"] <= 1_000_000
    m = rt.maps["stats"].info()
    mref = bpftool_json("map", "show", "id", str(m["id"]))
    assert (mref["type"], mref["bytes_key"], mref["bytes_value"], mref["max_entries"]) == \
        ("hash", 8, 32, 128)


def test_map_dict_behaviour_and_flags(rt):
    from bpfinspect.errors import UsageError
    from bpfinspect.runtime import BPF_EXIST, BPF_NOEXIST, LibbpfError
    rt.load()
    arr = rt.maps["arr"]
    rec_t = type(arr[0])            # struct rec from BTF
    assert rec_t.__name__ == "rec" and ctypes.sizeof(rec_t) == 16
    r = rec_t(pid=7, seq=8, cookie=9)
    arr[1] = r
    assert bytes(arr[1]) == bytes(r) and arr[1].cookie == 9
    arr[2] = bytes(r)               # bytes of the right size
    assert arr[2].seq == 8
    with pytest.raises(UsageError):
        arr[3] = b"short"
    with pytest.raises(UsageError):
        arr[3] = 5                  # an int is not a struct rec
    assert len(arr) == 8 and list(arr.keys()) == list(range(8))

    stats = rt.maps["stats"]
    key_t, val_t = stats.key_type or rt._btf_ctype(stats.btf_key_type_id), rt._btf_ctype(stats.btf_value_type_id)
    k = key_t(pid=1, tag=2)
    v = val_t(count=5)
    v.flags, v.mode = 7, 31
    assert k not in stats and stats.get(k) is None and len(stats) == 0
    stats.update(k, v, BPF_NOEXIST)
    with pytest.raises(LibbpfError) as ei:
        stats.update(k, v, BPF_NOEXIST)
    assert ei.value.errno == errno.EEXIST and ei.value.errno_name == "EEXIST"
    with pytest.raises(KeyError):
        stats.update(key_t(pid=3, tag=3), v, BPF_EXIST)
    got = stats[k]
    assert (got.count, got.flags, got.mode) == (5, 7, 31)
    assert [(kk.pid, vv.count) for kk, vv in stats.items()] == [(1, 5)]
    del stats[k]
    assert k not in stats
    with pytest.raises(KeyError):
        del stats[k]

    # What we wrote is what bpftool reads, and the other way round.
    arr[4] = rec_t(pid=0x01020304, seq=0, cookie=0xAABB)
    mid = arr.info()["id"]
    ref = bpftool_json("map", "lookup", "id", str(mid), "key", "4", "0", "0", "0")
    raw = bytes(int(x, 16) for x in ref["value"]) if isinstance(ref["value"], list) else None
    if raw is None:  # bpftool with BTF prints a formatted value
        assert ref["formatted"]["value"]["pid"] == 0x01020304
    else:
        assert raw == bytes(rec_t(pid=0x01020304, seq=0, cookie=0xAABB))
    subprocess.run([BPFTOOL, "map", "update", "id", str(mid), "key", "5", "0", "0", "0", "value",
                    *["0x%02x" % b for b in bytes(rec_t(pid=42, seq=43, cookie=44))]], check=True)
    assert (arr[5].pid, arr[5].seq, arr[5].cookie) == (42, 43, 44)


def test_percpu_values_are_one_per_possible_cpu(rt):
    rt.load()
    pcpu = rt.maps["pcpu"]
    assert pcpu.is_percpu
    n = possible_cpus()
    assert pcpu[0] == [0] * n
    pcpu[1] = list(range(10, 10 + n))
    assert pcpu[1] == list(range(10, 10 + n))
    pcpu[2] = 3                      # one value for every CPU
    assert pcpu[2] == [3] * n
    ref = bpftool_json("map", "lookup", "id", str(pcpu.info()["id"]), "key", "1", "0", "0", "0")
    vals = ref.get("values") or ref.get("formatted", {}).get("values")
    assert len(vals) == n
    with pytest.raises(Exception):
        pcpu[3] = [1] * (n + 1)


def test_tracepoint_ring_perf_bss_data_and_frozen_rodata(rt, tracefs):
    from bpfinspect.runtime import FrozenSectionError
    ro, bss, data = (rt.data_sections[n] for n in ("rt_test.rodata", "rt_test.bss", "rt_test.data"))
    ro[0:4] = list(os.getpid().to_bytes(4, "little"))     # const volatile __u32 target_pid
    rt.load()
    with pytest.raises(FrozenSectionError):
        ro[0] = 1
    assert int.from_bytes(bytes(ro), "little") == os.getpid()
    links = rt.attach()
    assert list(links) == ["on_getppid"]                    # the bare kprobe is skipped
    ring, perf = [], []
    rb = rt.maps["rb"].ring_buffer(ring.append)
    pb = rt.maps["events"].perf_buffer(lambda cpu, rec: perf.append((cpu, rec)))
    for _ in range(3):
        os.getppid()
    assert rb.poll(1000) >= 1
    rb.consume()
    deadline = time.monotonic() + 5
    while len(perf) < 3 and time.monotonic() < deadline:
        pb.poll(100)
    assert [int.from_bytes(r[4:8], "little") for r in ring] == [1, 2, 3]
    assert {int.from_bytes(r[0:4], "little") for r in ring} == {os.getpid()}
    assert [int.from_bytes(r[8:16], "little") for r in ring] == [0x1122334455667788] * 3
    assert sorted(int.from_bytes(r[4:8], "little") for _, r in perf) == [1, 2, 3]
    assert all(0 <= cpu < possible_cpus() for cpu, _ in perf)
    # .bss is live; writes to .data reach the program
    assert int.from_bytes(bytes(bss)[0:8], "little") == 3
    data[0:8] = list((0xCAFE).to_bytes(8, "little"))
    os.getppid()
    rb.poll(1000)
    assert int.from_bytes(ring[-1][8:16], "little") == 0xCAFE
    assert int.from_bytes(bytes(bss)[0:8], "little") == 4
    stats = rt.maps["stats"]
    ((key, val),) = list(stats.items())
    comm = open("/proc/self/comm", "rb").read().strip()[:15]
    assert (key.pid, key.tag, val.count, val.flags, val.mode) == (os.getpid(), 1, 4, 3, 5)
    assert val.comm == comm
    assert sum(rt.maps["pcpu"][0]) == 4


def test_callback_exception_is_raised_from_poll(rt, tracefs):
    rt.data_sections["rt_test.rodata"][0:4] = list(os.getpid().to_bytes(4, "little"))
    rt.load()
    rt.attach()
    seen = []

    def cb(rec):
        seen.append(rec)
        raise ValueError("boom")

    rb = rt.maps["rb"].ring_buffer(cb)
    os.getppid()
    os.getppid()
    with pytest.raises(ValueError, match="boom"):
        rb.poll(1000)
    assert len(seen) == 1          # the poll stopped at the failing record
    rb.close()
    assert rb.closed


def test_ctrl_c_during_poll_interrupts_and_cleans_up(tracefs):
    from bpfinspect.runtime import Object
    before = anon_fds()
    obj = Object.open(RT_TEST_OBJ.read_bytes(), name="rt_test")
    # aimed at the main thread: a process-wide kill may land on the timer's own thread, which
    # would leave the main thread waiting in epoll until its timeout
    main = threading.main_thread().ident
    timer = threading.Timer(0.3, lambda: signal.pthread_kill(main, signal.SIGINT))
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        with obj:
            obj.load()
            obj.attach()
            rb = obj.maps["rb"].ring_buffer(lambda r: None)
            timer.start()
            while time.monotonic() - start < 10:
                rb.poll(5000)
    assert time.monotonic() - start < 5
    assert obj.closed and rb.closed
    assert anon_fds() == before


def test_rejection_raises_with_log_and_libbpf_message(capfd):
    from bpfinspect.runtime import LibbpfError, Object
    with Object.open(REJECTED_OBJ.read_bytes(), name="runtime_rejected") as obj:
        with pytest.raises(LibbpfError) as ei:
            obj.load()
    exc = ei.value
    assert exc.errno == errno.EACCES and exc.errno_name == "EACCES"
    assert exc.program == "bad"
    assert "invalid mem access 'map_value_or_null'" in exc.log
    assert exc.reason == "R0 invalid mem access 'map_value_or_null'"
    assert "BPF program load failed" in exc.libbpf_message
    assert exc.exit_code == 1
    out, err = capfd.readouterr()
    assert "libbpf" not in err and "invalid mem access" not in err   # captured, not printed


def test_autoload_controls_what_loads():
    from bpfinspect.errors import UsageError
    from bpfinspect.runtime import Object
    with Object.open(str(REJECTED_OBJ)) as obj:
        obj.programs["bad"].autoload = False
        obj.load()
        assert obj.programs["good"].fd >= 0 and obj.programs["bad"].fd < 0
        with pytest.raises(UsageError):
            obj.programs["bad"].autoload = True


def test_bare_section_is_not_auto_attachable(rt):
    rt.load()
    with pytest.raises(Exception) as ei:
        rt.programs["bare"].attach()
    assert getattr(ei.value, "not_auto_attachable", False)
    assert ei.value.errno_name == "EOPNOTSUPP"


def test_tracefs_detection(tmp_path):
    from bpfinspect.runtime import tracefs_mounted
    assert not tracefs_mounted([str(tmp_path)])
    (tmp_path / "events").mkdir()
    assert tracefs_mounted([str(tmp_path)])


def test_missing_libbpf_is_an_environment_problem(tmp_path):
    code = ("from bpfinspect.runtime import Object\n"
            "from bpfinspect.errors import EnvironmentProblem\n"
            "try:\n    Object.open(b'')\nexcept EnvironmentProblem as e:\n    print('ENV', e.exit_code, e)\n")
    env = dict(os.environ, LIBBPF_SO=str(tmp_path / "libbpf.so.404"))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert p.stdout.startswith("ENV 3 cannot load libbpf"), p.stdout + p.stderr


def test_200_cycles_leave_nothing_behind(tracefs):
    """open/load/close (with attach, buffers, exceptions, rejections) 200 times: no program, map or fd left.

    Other processes may load BPF objects meanwhile, so the check is on the ids
    this test created: none of them may still exist according to bpftool.
    """
    from bpfinspect.runtime import LibbpfError, Object
    data = RT_TEST_OBJ.read_bytes()
    rejected = REJECTED_OBJ.read_bytes()
    fds0 = anon_fds()
    prog_ids, map_ids = set(), set()

    def remember(obj):
        prog_ids.update(p.info()["id"] for p in obj.programs.values() if p.fd >= 0)
        map_ids.update(m.info()["id"] for m in obj.maps.values() if m.fd >= 0)

    for i in range(200):
        if i % 10 == 9:
            with Object.open(rejected, name="rej") as obj, pytest.raises(LibbpfError):
                obj.load()
            continue
        try:
            with Object.open(data, name="rt_test") as obj:
                obj.load()
                remember(obj)
                if i % 4 == 0:
                    obj.attach()
                    obj.maps["rb"].ring_buffer(lambda r: None)
                    obj.maps["events"].perf_buffer(lambda c, r: None)
                    obj.data_sections["rt_test.bss"][0]
                if i % 7 == 0:
                    raise KeyboardInterrupt
        except KeyboardInterrupt:
            pass
    # objects dropped without close() are finalized too
    for _ in range(5):
        remember(Object.open(data, name="rt_test").load())
    import gc
    gc.collect()
    assert len(prog_ids) == 2 * 185 and len(map_ids) == 8 * 185
    assert anon_fds() == fds0
    # The kernel frees programs and maps after an RCU grace period once the last
    # reference is gone, so give it a moment before asking bpftool.
    assert wait_for(lambda: not prog_ids & bpftool_ids("prog") and not map_ids & bpftool_ids("map"),
                    timeout=15, interval=0.25), \
        f"left behind: progs {sorted(prog_ids & bpftool_ids('prog'))} maps {sorted(map_ids & bpftool_ids('map'))}"


def test_errno_names_follow_the_kernel_headers():
    """Every errno in the UAPI headers gets one of its own names (aliases like ENOTSUP/EOPNOTSUPP allowed)."""
    import re
    from bpfinspect.runtime import errno_name
    names: dict[int, set[str]] = {}
    aliases: dict[str, str] = {}
    for header in ("/usr/include/asm-generic/errno-base.h", "/usr/include/asm-generic/errno.h"):
        if not os.path.exists(header):
            pytest.skip(f"{header} is not installed")
        for m in re.finditer(r"^#define\s+(E\w+)\s+(\w+)", open(header).read(), re.M):
            if m.group(2).isdigit():
                names.setdefault(int(m.group(2)), set()).add(m.group(1))
            else:
                aliases[m.group(1)] = m.group(2)
    for alias, target in aliases.items():
        for n, ns in names.items():
            if target in ns:
                ns.add(alias)
    assert len(names) > 100
    for n, ns in names.items():
        assert errno_name(n) in ns | {"ENOTSUP"}, (n, ns)
    assert errno_name(95) == "EOPNOTSUPP"      # the name the kernel and libbpf print
