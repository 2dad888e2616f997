"""`bpfinspect run`: load, attach and watch, as a user runs it (a new process, JSON Lines read as
they come), checked against what the test itself makes happen: processes it starts, calls a
test program makes, packets it sends; and against the kernel (bpftool's lists of programs
and maps, tracefs, the stats sysctl, tc's qdisc list) for what must be gone afterwards."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time

import pytest

from conftest import BPFTOOL, ROOT, bpfinspect, needs_bpf
from run_util import Caller, Run, attached, build_caller, own_instances, read_small, veth  # noqa: F401
from runtime_util import BOOTSTRAP_OBJ, DATA, tracefs  # noqa: F401

pytestmark = needs_bpf

RUN_OBJ = DATA / "run_test.bpf.o"
RUN_PROGS = {"on_getppid", "on_func", "on_raw", "on_kprobe", "count_xdp", "count_tc"}
RUN_MAPS = {"hist", "by_kind", "events", "pkts", "run_test.rodata", "run_test.data", "run_test.bss", ".rodata.str1.1"}
STATS = "/proc/sys/kernel/bpf_stats_enabled"
PRINTK_ENABLE = "/sys/kernel/tracing/events/bpf_trace/bpf_trace_printk/enable"
N = 10


@pytest.fixture(scope="module")
def caller_bin(tmp_path_factory):
    return build_caller(tmp_path_factory.mktemp("run"))


def bpftool_json(*args):
    p = subprocess.run([BPFTOOL, "-j", *args], capture_output=True, text=True, check=True)
    return json.loads(p.stdout or "[]")


def max_ids() -> tuple[int, int]:
    progs = [p["id"] for p in bpftool_json("prog", "show")]
    maps = [m["id"] for m in bpftool_json("map", "show")]
    return max(progs, default=0), max(maps, default=0)


def left_behind(before: tuple[int, int], progs=RUN_PROGS, maps=RUN_MAPS) -> list[str]:
    """Programs and maps of the test object created after ``before`` that still exist."""
    out = [f"prog {p['id']} {p.get('name')}" for p in bpftool_json("prog", "show")
           if p["id"] > before[0] and p.get("name") in progs]
    out += [f"map {m['id']} {m.get('name')}" for m in bpftool_json("map", "show")
            if m["id"] > before[1] and m.get("name") in {n[:15] for n in maps}]
    return out


def run_getppid(caller_bin, *extra, n=N):
    """A run of on_getppid for a test program that calls getppid() n times; the finished Run."""
    caller = Caller(caller_bin, n)
    run = Run(str(RUN_OBJ), "--prog", "on_getppid", "--set", f"target_pid={caller.pid}", *extra)
    assert run.wait_for(attached(1)), run.lines
    assert caller.go() == 0
    assert run.wait_for(lambda r: len(r.of("event")) >= n and len(r.of("printk")) >= n, 30), run.records
    run.interrupt()
    assert run.finish() == 0, run.stderr
    return caller, run


# ---------------------------------------------------------------- the bootstrap fixture


def test_bootstrap_exec_and_exit_events_of_processes_the_test_starts(tracefs):
    run = Run(str(BOOTSTRAP_OBJ))
    assert run.wait_for(attached(2)), run.lines
    assert all(a["ok"] for a in run.of("attach")), run.of("attach")
    started = time.monotonic()
    child = subprocess.Popen(["/bin/sh", "-c", "sleep 0.2; exit 3"])
    assert child.wait(10) == 3
    lifetime = time.monotonic() - started

    def mine(r):
        return [e["data"] for e in r.of("event") if e["data"]["pid"] == child.pid]
    assert run.wait_for(lambda r: len(mine(r)) >= 2, 30), run.records
    run.interrupt()
    assert run.finish() == 0, run.stderr
    execs = [e for e in mine(run) if not e["exit_event"]]
    exits = [e for e in mine(run) if e["exit_event"]]
    assert execs and exits
    e = execs[0]
    assert e["ppid"] == os.getpid() and e["comm"] == "sh" and e["filename"] == "/bin/sh"
    assert e["exit_code"] == 0 and e["duration_ns"] == 0
    x = exits[-1]
    assert x["exit_code"] == 3 and x["ppid"] == os.getpid() and x["filename"] == ""
    assert 0.2e9 <= x["duration_ns"] <= lifetime * 1e9 + 1e8
    # every field of struct event, named, in order (the type comes from the object's DWARF)
    assert list(e) == ["pid", "ppid", "exit_code", "duration_ns", "comm", "filename", "exit_event"]
    assert [r["type"] for r in run.records][:3] == ["start", "attach", "attach"]
    assert run.records[0] == {"type": "start", "schema": 1, "file": str(BOOTSTRAP_OBJ)}
    kinds = [r["type"] for r in run.records]
    assert kinds[-1] == "end" and run.records[-1]["reason"] == "interrupted"
    stats = {s["program"]: s for s in run.of("stats")}
    assert set(stats) == {"handle_exec", "handle_exit"} and stats["handle_exec"]["run_cnt"] >= 1
    glob = {g["section"]: g["values"] for g in run.of("globals")}
    assert glob[".bss"]["seen_exec"] >= 1 and glob[".data"]["exit_code_mask"] == 0xffffffff


# ---------------------------------------------------------------- events, printk, maps, --set


def test_events_printk_maps_histogram_and_globals(tracefs, caller_bin):
    caller, run = run_getppid(caller_bin)
    events = [e["data"] for e in run.of("event")]
    assert len(events) == N
    for i, e in enumerate(events, 1):
        assert e == {"pid": caller.pid, "kind": "KIND_CALL", "comm": "run_caller", "in": {"a": 0x1234, "b": [1, 2, 3]},
                     "value": 7, "arr": [i, 2 * i]}
    printk = [p for p in run.of("printk") if p["pid"] == caller.pid]
    assert len(printk) == N
    assert all(p["text"] == f"run_test pid={caller.pid} value=7 tag=dflt" and p["comm"] == "run_caller"
               for p in printk)
    # printk timestamps are CLOCK_MONOTONIC, as event timestamps: the two streams interleave
    assert abs(printk[0]["ts"] - run.of("event")[0]["ts"]) < 5
    maps = {m["name"]: m for m in run.of("map")}
    assert set(maps) == {"hist", "by_kind", "pkts"}        # the ring buffer and data sections are not maps here
    hist = maps["hist"]
    # calls 1..10 fall in log2 buckets 0:1, 1:2-3, 2:4-7, 3:8-10
    assert hist["histogram"] == [{"low": 0, "high": 2, "count": 1}, {"low": 2, "high": 4, "count": 2},
                                 {"low": 4, "high": 8, "count": 4}, {"low": 8, "high": 16, "count": 3}]
    assert len(hist["entries"]) == 32 and hist["entries"][3] == {"key": 3, "value": 3}
    assert maps["by_kind"]["entries"] == [{"key": "KIND_CALL", "value": N}]
    assert "histogram" not in maps["pkts"]                   # a counter array without hist/slot in its name
    assert all(set(e["value"]) == {"per_cpu", "sum"} for e in maps["pkts"]["entries"])
    glob = {g["section"]: g["values"] for g in run.of("globals")}
    assert glob[".rodata"] == {"target_pid": caller.pid, "mode": "KIND_CALL", "verbose": True, "tag": "dflt"}
    assert glob[".bss"]["calls"] == N and glob[".data"] == {"report_value": 7}
    stats = run.of("stats")
    assert [s["program"] for s in stats] == ["on_getppid"] and stats[0]["run_cnt"] >= N


def test_set_changes_what_the_program_reports(tracefs, caller_bin):
    caller, run = run_getppid(caller_bin, "--set", "report_value=0x42", "--set", "tag=hello",
                              "--set", "mode=KIND_OTHER")
    events = [e["data"] for e in run.of("event")]
    assert {e["value"] for e in events} == {0x42} and {e["kind"] for e in events} == {"KIND_OTHER"}
    assert {p["text"] for p in run.of("printk") if p["pid"] == caller.pid} == \
        {f"run_test pid={caller.pid} value=66 tag=hello"}
    maps = {m["name"]: m for m in run.of("map")}
    assert maps["by_kind"]["entries"] == [{"key": "KIND_OTHER", "value": N}]


def test_set_verbose_false_silences_printk(tracefs, caller_bin):
    caller = Caller(caller_bin, 3)
    run = Run(str(RUN_OBJ), "--prog", "on_getppid", "--set", f"target_pid={caller.pid}", "--set", "verbose=false")
    assert run.wait_for(attached(1))
    assert caller.go() == 0
    assert run.wait_for(lambda r: len(r.of("event")) >= 3, 30)
    time.sleep(0.3)
    run.interrupt()
    assert run.finish() == 0
    assert not [p for p in run.of("printk") if p["pid"] == caller.pid]


def test_set_mistakes_exit_2_listing_the_settable_variables():
    p = bpfinspect("run", str(RUN_OBJ), "--set", "nosuch=1")
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and "no such variable" in p.stderr
    for name in ("target_pid (const volatile __u32, .rodata)", "mode", "tag", "report_value", "calls"):
        assert name in p.stderr
    for bad, why in (("target_pid=-1", "does not fit"), ("target_pid=0x100000000", "does not fit"),
                     ("mode=KIND_NOPE", "not an enumerator of enum kind (have: KIND_NONE, KIND_CALL"),
                     ("verbose=maybe", "a bool is true or false"), ("tag=123456789", "do not fit"),
                     ("report_value=abc", "not an integer")):
        p = bpfinspect("run", str(RUN_OBJ), "--set", bad)
        assert p.returncode == 2 and why in p.stderr, (bad, p.stderr)
        assert "Traceback" not in p.stderr


# ---------------------------------------------------------------- --attach


def test_uprobe_attached_with_attach_to_a_function_of_a_test_binary(tracefs, caller_bin):
    caller = Caller(caller_bin, N)
    run = Run(str(RUN_OBJ), "--prog", "on_func", "--attach", f"on_func={caller_bin}:target_func")
    assert run.wait_for(attached(1))
    a = run.of("attach")[0]
    assert a == {"type": "attach", "program": "on_func", "target": f"{caller_bin}:target_func", "ok": True,
                 "error": None}
    assert caller.go() == 0
    assert run.wait_for(lambda r: len([e for e in r.of("event") if e["data"]["pid"] == caller.pid]) >= N, 30)
    run.interrupt()
    assert run.finish() == 0, run.stderr
    mine = [e["data"] for e in run.of("event") if e["data"]["pid"] == caller.pid]
    assert len(mine) == N and all(e["kind"] == "KIND_PROBE" and e["comm"] == "run_caller" for e in mine)


def test_uprobe_by_file_offset_and_pid(tracefs, caller_bin):
    from bpfinspect.probes import resolve_uprobe
    off = resolve_uprobe(str(caller_bin), "target_func").offset
    other = Caller(caller_bin, 4)
    caller = Caller(caller_bin, N)
    run = Run(str(RUN_OBJ), "--prog", "on_func", "--attach", f"on_func={caller_bin}:{off:#x},pid={caller.pid}")
    assert run.wait_for(attached(1)) and run.of("attach")[0]["ok"], run.records
    assert other.go() == 0 and caller.go() == 0
    assert run.wait_for(lambda r: len(r.of("event")) >= N, 30)
    time.sleep(0.3)
    run.interrupt()
    assert run.finish() == 0
    assert {e["data"]["pid"] for e in run.of("event")} == {caller.pid}     # pid=N: only that process


def test_raw_tracepoint_with_attach(tracefs, caller_bin):
    caller = Caller(caller_bin, N)
    run = Run(str(RUN_OBJ), "--prog", "on_raw", "--attach", "on_raw=sys_enter", "--set", f"target_pid={caller.pid}")
    assert run.wait_for(attached(1)) and run.of("attach")[0]["ok"], run.records
    assert caller.go() == 0
    run.interrupt()
    assert run.finish() == 0
    glob = {g["section"]: g["values"] for g in run.of("globals")}
    assert glob[".bss"]["raw_calls"] >= N + 1       # every sys_enter after the attach: N getppid(), exit_group()


def test_attach_failures_are_diagnosed_in_words(tracefs):
    p = bpfinspect("run", str(RUN_OBJ), "--prog", "on_getppid", "--attach", "on_getppid=sched/sched_swich",
                   "--duration", "0", "--json")
    assert p.returncode == 1, p.stderr
    att = [json.loads(x) for x in p.stdout.splitlines() if '"attach"' in x][0]
    assert att["ok"] is False and "no such tracepoint sched/sched_swich; closest: sched/sched_switch" in att["error"]
    assert p.stderr.count("\n") == 1 and "no such tracepoint" in p.stderr
    p = bpfinspect("run", str(RUN_OBJ), "--prog", "on_func", "--attach", "on_func=/bin/true:no_such_function_here",
                   "--duration", "0")
    assert p.returncode == 1
    assert "FAILED" in p.stdout and "no such function no_such_function_here in /bin/true" in p.stdout
    p = bpfinspect("run", str(RUN_OBJ), "--prog", "on_raw", "--attach", "on_raw=sched_swich", "--duration", "0")
    assert p.returncode == 1 and "no such raw tracepoint sched_swich; closest: sched_switch" in p.stdout
    p = bpfinspect("run", str(RUN_OBJ), "--prog", "count_xdp", "--iface", "nosuch0", "--duration", "0")
    assert p.returncode == 1 and "no such network interface 'nosuch0'" in p.stdout
    p = bpfinspect("run", str(RUN_OBJ), "--attach", "nosuchprog=x", "--duration", "0")
    assert p.returncode == 2 and "no program named 'nosuchprog'" in p.stderr


def test_kprobe_on_this_kernel(tracefs):
    from bpfinspect.runtime.attachdiag import kprobes_supported
    p = bpfinspect("run", str(RUN_OBJ), "--prog", "on_kprobe", "--attach", "on_kprobe=do_sys_openat2",
                   "--duration", "0")
    if kprobes_supported():   # a kernel with kprobes: a function that is not there is named
        q = bpfinspect("run", str(RUN_OBJ), "--prog", "on_kprobe", "--attach", "on_kprobe=no_such_kfunc_x",
                       "--duration", "0")
        assert q.returncode == 1 and "no such function no_such_kfunc_x in /proc/kallsyms" in q.stdout
        return
    assert p.returncode == 3, p.stderr
    assert "this kernel has no kprobe support" in p.stderr and p.stderr.count("\n") == 1
    assert "FAILED" in p.stdout


def test_programs_without_a_target_are_reported_not_attached(tracefs):
    p = bpfinspect("run", str(RUN_OBJ), "--duration", "0", "--json", "--no-maps")
    assert p.returncode == 0, p.stderr
    att = {r["program"]: r for r in map(json.loads, p.stdout.splitlines()) if r["type"] == "attach"}
    assert set(att) == RUN_PROGS
    assert att["on_getppid"]["ok"] and att["on_getppid"]["target"] == "syscalls/sys_enter_getppid"
    for name in ("on_func", "on_raw", "on_kprobe", "count_xdp", "count_tc"):
        assert not att[name]["ok"] and att[name]["error"].startswith("not attached")
    assert not [r for r in map(json.loads, p.stdout.splitlines()) if r["type"] in ("map", "globals")]


# ---------------------------------------------------------------- XDP and tc on a veth pair


def send_frames(dev: str, n: int) -> None:
    """n Ethernet frames of a local experimental ethertype (0x88b5) out of ``dev``."""
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    try:
        s.bind((dev, 0))
        frame = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + b"\x88\xb5" + b"bpfinspect run test".ljust(46, b"\0")
        for _ in range(n):
            s.send(frame)
    finally:
        s.close()


def test_xdp_and_tc_count_packets_the_test_sends(tracefs, veth):
    a, b = veth
    run = Run(str(RUN_OBJ), "--prog", "count_xdp", "--prog", "count_tc", "--iface", b)
    assert run.wait_for(attached(2))
    assert all(x["ok"] and x["target"] == b for x in run.of("attach")), run.of("attach")
    qdisc = subprocess.run(["tc", "qdisc", "show", "dev", b], capture_output=True, text=True).stdout
    assert "clsact" in qdisc
    send_frames(a, 25)
    time.sleep(0.5)
    run.p.terminate()            # SIGTERM stops a run as Ctrl-C does, clean-up included
    assert run.finish() == 0, run.stderr
    assert run.records[-1] == {"type": "end", "reason": "interrupted"}
    pkts = {e["key"]: e["value"]["sum"] for m in run.of("map") if m["name"] == "pkts" for e in m["entries"]}
    assert pkts == {0: 25, 1: 25}
    # detached at exit: the qdisc this run created is gone, and no XDP program is left on the device
    assert "clsact" not in subprocess.run(["tc", "qdisc", "show", "dev", b], capture_output=True, text=True).stdout
    link = subprocess.run(["ip", "-d", "link", "show", b], capture_output=True, text=True).stdout
    assert "xdp" not in link.split("\n")[0] and "prog/xdp" not in link


# ---------------------------------------------------------------- stopping and leaving nothing behind


def test_sigint_mid_stream_exits_0_and_leaves_nothing(tracefs, caller_bin):
    before = max_ids()
    stats_before = read_small(STATS)
    printk_before = read_small(PRINTK_ENABLE)
    options_before = {f: read_small(f"/sys/kernel/tracing/{f}") for f in ("trace_clock", "tracing_on", "trace_options")}
    caller = Caller(caller_bin, 200)
    run = Run(str(RUN_OBJ), "--set", f"target_pid={caller.pid}", "--attach", f"on_func={caller_bin}:target_func",
              json_lines=False)
    assert run.wait_for(lambda r: any(x.startswith("watching") for x in r.lines), 60), run.lines
    # statistics are on through a BPF_ENABLE_STATS descriptor: the sysctl keeps showing its own setting
    assert own_instances(run.p.pid)                    # its tracefs instance
    assert caller.go() == 0
    assert run.wait_for(lambda r: sum(" events " in x for x in r.lines) >= 20, 30)
    t0 = time.monotonic()
    run.interrupt()
    assert run.finish(10) == 0, run.stderr
    assert time.monotonic() - t0 < 5
    assert "Traceback" not in run.stderr and run.stderr == ""
    assert run.lines[-1] == "stopped: interrupted\n"
    stats = [x.split() for x in run.lines if x.startswith("on_getppid ")]
    assert stats and int(stats[-1][1]) >= 200            # run count of the program, from the kernel
    hist = run.lines[run.lines.index("@hist:\n"):]
    # 200 calls: slots 0..7 ([0, 2) ... [128, 256)), the fullest (73 calls in [128, 256)) with the full bar
    assert hist[1].startswith("[0, 2)") and hist[8].startswith("[128, 256)")
    assert hist[8].rstrip("\n").endswith("|" + "@" * 52 + "|")
    assert left_behind(before) == []
    assert own_instances(run.p.pid) == []
    assert read_small(STATS) == stats_before
    assert read_small(PRINTK_ENABLE) == printk_before
    assert {f: read_small(f"/sys/kernel/tracing/{f}") for f in options_before} == options_before


def test_a_hundred_runs_leave_nothing_behind(tracefs):
    """In one process (the command's own clean-up, without the process exit to help): 100 runs."""
    import contextlib
    import io

    from bpfinspect.cli.main import main
    from runtime_util import open_fds
    before = max_ids()
    stats_before = read_small(STATS)
    fds_before = set(open_fds())
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for _ in range(100):
            assert main(["run", str(RUN_OBJ), "--prog", "on_getppid", "--duration", "0", "--json"]) == 0
    assert out.getvalue().count('"type": "end"') == 100
    assert set(open_fds()) - fds_before == set()
    assert left_behind(before) == []
    assert own_instances(os.getpid()) == []
    assert read_small(STATS) == stats_before


# ---------------------------------------------------------------- the command line


def test_usage_mistakes_exit_2():
    for args, why in ((["--count", "0"], "--count must be 1 or more"),
                      (["--duration", "-1"], "--duration must be"),
                      (["--attach", "on_getppid"], "write PROG=TARGET"),
                      (["--prog", "nope"], "no program named nope"),
                      (["--type", "hist=struct event"], "not a ring buffer or perf event array")):
        p = bpfinspect("run", str(RUN_OBJ), *args)
        assert p.returncode == 2 and why in p.stderr, (args, p.stderr)
        assert p.stderr.count("\n") == 1
    p = bpfinspect("run", str(ROOT / "README.md"))
    assert p.returncode == 2 and "Traceback" not in p.stderr


def test_load_attach_takes_the_same_targets_and_diagnosis(tracefs, caller_bin):
    p = bpfinspect("load", str(RUN_OBJ), "--json", "--attach", f"on_func={caller_bin}:target_func",
                   "--attach", "on_raw=sched_swich", "--attach", "on_getppid=syscalls/sys_enter_getppid",
                   "--iface", "lo")
    assert p.returncode == 1, p.stderr
    progs = {x["name"]: x["attach"] for x in json.loads(p.stdout)["programs"]}
    assert progs["on_func"] == {"attached": True, "skipped": False, "error": None, "errno": None,
                                "target": f"{caller_bin}:target_func"}
    assert progs["on_getppid"]["attached"] and progs["count_xdp"]["attached"] and progs["count_tc"]["attached"]
    assert progs["count_xdp"]["target"] == "lo"
    assert not progs["on_raw"]["attached"]
    assert "no such raw tracepoint sched_swich; closest: sched_switch" in progs["on_raw"]["error"]
    assert progs["on_kprobe"]["skipped"]
    p = bpfinspect("load", str(RUN_OBJ), "--prog", "on_kprobe", "--attach", "on_kprobe=do_sys_open")
    from bpfinspect.runtime.attachdiag import kprobes_supported
    if not kprobes_supported():
        assert p.returncode == 3 and "this kernel has no kprobe support" in p.stderr


def test_without_tracefs_exit_3_says_how_to_mount(tracefs):
    import shutil
    import sys
    if shutil.which("unshare") is None:
        pytest.skip("unshare(1) is not installed")
    cmd = ["unshare", "-m", "sh", "-c",
           f"umount {tracefs} && exec {sys.executable} -m bpfinspect run {RUN_OBJ} --prog on_getppid --duration 0"]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if "umount" in p.stderr and p.returncode != 3:
        pytest.skip(f"cannot unmount tracefs in a private namespace: {p.stderr.strip()}")
    assert p.returncode == 3, p.stdout + p.stderr
    assert "needs tracefs, which is not mounted; mount it with: mount -t tracefs" in p.stderr
    assert p.stderr.count("\n") == 1


def test_hostile_strings_from_the_kernel_are_escaped_in_the_human_view(tracefs, tmp_path):
    """A process named with terminal escapes: its exec event's comm and filename reach the screen
    escaped, never as control characters (JSON keeps the exact text)."""
    import shutil
    evil = tmp_path / "ev\x1b[31mil\x07"
    shutil.copy("/bin/true", evil)
    run = Run(str(BOOTSTRAP_OBJ), json_lines=False)
    assert run.wait_for(lambda r: any(x.startswith("watching") for x in r.lines), 60), run.lines
    child = subprocess.Popen([str(evil)])
    child.wait(10)
    assert run.wait_for(lambda r: any(f" {child.pid} " in x for x in r.lines), 30), run.lines
    run.interrupt()
    assert run.finish() == 0
    mine = [x for x in run.lines if f" {child.pid} " in x]
    assert mine and all("\x1b" not in x and "\x07" not in x for x in run.lines)
    assert any("ev\\x1b[31mil\\x07" in x for x in mine)


def test_header_gives_the_stripped_object_its_record_type(tracefs):
    # the stripped bootstrap has no DWARF: struct event comes from the source's header, parsed by libclang
    header = ROOT / "fixtures" / "src" / "bootstrap.h"
    run = Run(str(BOOTSTRAP_OBJ.with_name("bootstrap.stripped.bpf.o")), "--no-maps", "--header", str(header),
              "--type", "rb=struct event")
    assert run.wait_for(attached(2)), run.lines
    child = subprocess.Popen(["/bin/sh", "-c", "exit 5"])
    assert child.wait(10) == 5

    def mine(r):
        return [e["data"] for e in r.of("event") if "data" in e and e["data"]["pid"] == child.pid]
    assert run.wait_for(lambda r: any(e["exit_event"] for e in mine(r)), 30), run.records
    run.interrupt()
    assert run.finish() == 0, run.stderr
    x = [e for e in mine(run) if e["exit_event"]][-1]
    assert list(x) == ["pid", "ppid", "exit_code", "duration_ns", "comm", "filename", "exit_event"]
    assert x["exit_code"] == 5 and x["ppid"] == os.getpid()


def test_header_mistakes_exit_2_in_one_line(tmp_path):
    bad = tmp_path / "broken.h"
    bad.write_text("struct event { int x }\n")
    # (read when a type is looked for there: the stripped object has no DWARF to find it in first)
    p = bpfinspect("run", str(BOOTSTRAP_OBJ.with_name("bootstrap.stripped.bpf.o")), "--header", str(bad),
                   "--type", "rb=struct event", "--duration", "0")
    assert p.returncode == 2 and "--header broken.h: clang reports" in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    p = bpfinspect("run", str(BOOTSTRAP_OBJ), "-I", str(tmp_path), "--duration", "0")
    assert p.returncode == 2 and "-I, -D and --arch are for --header" in p.stderr, p.stderr


def test_unknown_record_type_is_hex_and_type_overrides(tracefs, caller_bin):
    # the stripped bootstrap has no DWARF: struct event is nowhere, records come as hex
    run = Run(str(BOOTSTRAP_OBJ.with_name("bootstrap.stripped.bpf.o")), "--no-maps")
    assert run.wait_for(attached(2))
    child = subprocess.Popen(["/bin/true"])
    child.wait(10)
    pid = child.pid.to_bytes(4, "little").hex()
    assert run.wait_for(lambda r: any(e.get("hex", "").startswith(pid) for e in r.of("event")), 30)
    run.interrupt()
    assert run.finish() == 0
    e = next(e for e in run.of("event") if e["hex"].startswith(pid))
    assert "data" not in e and len(e["hex"]) == 2 * 168
    # --type gives the records another type: here the first 8 bytes of struct event as struct inner
    caller, run = run_getppid(caller_bin, "--type", "events=struct inner", n=3)
    pid = caller.pid.to_bytes(4, "little")
    # bytes 0-1: the pid's low half; 2-3: its high half; 4: struct event's kind (KIND_CALL)
    assert [e["data"] for e in run.of("event")] == [{"a": caller.pid & 0xffff, "b": [pid[2], pid[3], 1]}] * 3


def test_without_privilege_exit_3():
    import shutil
    import sys
    import tempfile
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv(1) is not installed")
    with tempfile.TemporaryDirectory(prefix="bpfinspect-run-") as d:   # readable by the user "nobody"
        os.chmod(d, 0o755)
        obj = os.path.join(d, "run_test.bpf.o")
        shutil.copy(RUN_OBJ, obj)
        os.chmod(obj, 0o644)
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
               sys.executable, "-m", "bpfinspect", "run", obj, "--duration", "0"]
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 3, p.stderr
    assert "needs privilege for bpf(): run as root" in p.stderr and p.stderr.count("\n") == 1


def test_trace_syscalls_shows_what_run_asked_the_kernel(tracefs):
    p = bpfinspect("run", str(RUN_OBJ), "--prog", "on_getppid", "--duration", "0", "--no-maps", "--json",
                   "--trace-syscalls")
    assert p.returncode == 0, p.stderr
    recs = [json.loads(x) for x in p.stdout.splitlines()]
    assert [r["type"] for r in recs][-2:] == ["syscalls", "end"]
    calls = json.dumps(recs[-2]["syscalls"])
    for word in ("BPF_PROG_LOAD", "BPF_ENABLE_STATS", "BPF_LINK_CREATE", "sys_enter_getppid"):
        assert word in calls


def test_perf_buffer_records_with_packed_enum_bitfields_and_union(tracefs):
    import sys
    child = subprocess.Popen([sys.executable, "-c", "import os, sys; sys.stdin.read(1); "
                              "[os.getpgid(0) for _ in range(3)]"], stdin=subprocess.PIPE)
    run = Run(str(BOOTSTRAP_OBJ.with_name("perf_output.bpf.o")), "--set", f"target_pid={child.pid}")
    assert run.wait_for(attached(2))
    child.stdin.write(b"x")
    child.stdin.close()
    assert child.wait(10) == 0
    assert run.wait_for(lambda r: len([e for e in r.of("event") if e["map"] == "samples"]) >= 3, 30)
    run.interrupt()
    assert run.finish() == 0, run.stderr
    samples = [e["data"] for e in run.of("event") if e["map"] == "samples"]
    assert samples[0] == {"hdr": {"version": 1, "kind": "PG_ENTER", "flags": 0x8001}, "pid": child.pid, "arg": 0,
                          "comm": "python", "prio": 3, "cpu_lo": 1000, "delta": -5, "ratio": 2.5,
                          "tag": {"as_u32": 0x11223344, "bytes": [0x44, 0x33, 0x22, 0x11]}}


def test_fifty_interrupts_of_run_at_random_moments_leave_nothing(tracefs):
    """SIGINT at 50 random moments of a run, from the interpreter's start to the event loop and
    its end: never a traceback or "Exception ignored"; exit 0 (Ctrl-C is how a run stops) or,
    before the command has started its work, 130 with the one line; afterwards none of the
    run's programs, maps or tracefs instances exist and the stats sysctl is as it was."""
    import random
    import signal
    import sys

    rng = random.Random(int.from_bytes(os.urandom(4), "little"))
    cmd = [sys.executable, "-m", "bpfinspect", "run", str(RUN_OBJ), "--prog", "on_getppid", "--duration", "1",
           "--json"]
    before = max_ids()
    stats_before = read_small(STATS)
    start = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 0, p.stderr
    whole = time.monotonic() - start                 # start-up, load, attach, 1 s of watching, the end
    pids, stopped, interrupted = [], 0, 0
    for _ in range(50):
        delay = rng.uniform(0, whole)
        # started with SIGINT blocked, as the load test does: the few milliseconds of the interpreter's
        # own start-up are beyond any program (bpfinspect unblocks it once its handler is in place)
        q = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                             preexec_fn=lambda: signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGINT]))
        time.sleep(delay)
        q.send_signal(signal.SIGINT)
        out, err = q.communicate(timeout=60)
        where = f"SIGINT after {delay * 1000:.0f} ms"
        assert "Traceback" not in err and "Exception ignored" not in err, f"{where}:\n{err}"
        assert q.returncode in (0, 130), f"{where}: exit {q.returncode}\n{err}"
        if q.returncode == 130:
            assert err.splitlines() == ["bpfinspect: interrupted"], f"{where}:\n{err}"
            interrupted += 1
        else:
            assert err == "", f"{where}:\n{err}"
            ends = [json.loads(line) for line in out.splitlines() if '"type": "end"' in line]
            assert len(ends) == 1, f"{where}:\n{out[-2000:]}"
            stopped += ends[0]["reason"] == "interrupted"
        pids.append(q.pid)
    assert left_behind(before) == []
    assert [i for pid in pids for i in own_instances(pid)] == []
    assert read_small(STATS) == stats_before
    print(f"{stopped} runs stopped by Ctrl-C while watching, {interrupted} interrupted before")
    assert stopped + interrupted >= 30
