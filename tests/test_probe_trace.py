"""`probe trace`: probe events defined in uprobe_events, hits read from our own tracefs instance,
every definition removed at exit (end of --duration, --count, Ctrl-C, SIGTERM, errors).

The references are the kernel itself: the test binaries call their functions a known number of
times with known arguments, so each call must give exactly one hit with those values; and
uprobe_events read before and after must hold the same lines of this test's own events (named
with this process's pid: other tests write tracefs at the same time, their lines are ignored).
"""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ROOT
from probes_util import TRACEFS, _write, built, gcc, uprobe_events_reason  # noqa: F401

from bpfinspect.probes.hits import Lost, RecordDecoder, read_format, read_page

BPFI = [sys.executable, "-m", "bpfinspect"]
REASON = uprobe_events_reason()
needs_uprobes = pytest.mark.skipif(REASON is not None, reason=REASON or "")
UPROBE_EVENTS = os.path.join(TRACEFS, "uprobe_events")
_seq = [0]


def group() -> str:
    _seq[0] += 1
    return f"bpfit_{os.getpid()}_{_seq[0]}"


def ours(token: str) -> list[str]:
    with open(UPROBE_EVENTS) as f:
        return [ln for ln in f.read().splitlines() if token in ln]


def instances() -> set[str]:
    return {n for n in os.listdir(os.path.join(TRACEFS, "instances")) if n.startswith("bpfinspect_")}


class Trace:
    """`probe trace` running in the background; records() once it ends."""

    def __init__(self, *args: str, json_out: bool = True) -> None:
        cmd = BPFI + ["probe", "trace", *args] + (["--json"] if json_out else [])
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        self.first = self.p.stdout.readline()  # the start record: everything is defined and enabled

    def start(self) -> dict:
        assert self.first, self.p.communicate()
        return json.loads(self.first)

    def finish(self, sig: int | None = signal.SIGINT, timeout: float = 60) -> tuple[int, list[dict], str]:
        if sig is not None:
            self.p.send_signal(sig)
        out, err = self.p.communicate(timeout=timeout)
        return self.p.returncode, [json.loads(x) for x in out.splitlines() if x.strip()], err


def run_exe(path, n: int) -> None:
    subprocess.run([str(path), str(n)], capture_output=True, text=True, check=True)


@needs_uprobes
@pytest.mark.parametrize("exe", ["exe_pie", "exe_nopie"])
def test_one_hit_per_call_with_arguments(built, exe):
    g = group()
    path = built[exe]
    before = ours(g)
    t = Trace(f"p:{g}/f1 {path}:func_1 a=%di:s32 b=%si:u32",
              f"r:{g}/f1r {path}:func_1 ret=$retval:s32 c=$comm",
              f"p:{g}/fs {path}:func_str s=+0(%di):string n=%si:s64")
    start = t.start()
    assert start["type"] == "start" and start["schema"] == 1
    assert [e["event"] for e in start["events"]] == ["f1", "f1r", "fs"]
    assert start["instance"] and os.path.isdir(start["instance"])
    assert len(ours(g)) == 3   # defined while tracing
    child = subprocess.Popen([str(path), "5"], stdout=subprocess.PIPE)
    child.communicate()
    time.sleep(0.5)
    code, records, err = t.finish(signal.SIGINT)
    assert code == 0, err
    hits = [r for r in records if r["type"] == "hit" and r["pid"] == child.pid]
    f1 = [h for h in hits if h["event"] == "f1"]
    assert [h["args"] for h in f1] == [{"a": i, "b": 7} for i in range(5)]
    assert [h["args"] for h in hits if h["event"] == "f1r"] == [{"ret": i + 7, "c": exe} for i in range(5)]
    assert [h["args"] for h in hits if h["event"] == "fs"] == [{"s": "hello probe", "n": i} for i in range(5)]
    assert all(h["comm"] == exe and h["group"] == g for h in hits)
    end = records[-1]
    assert end["type"] == "end" and end["stopped"] == "interrupt" and end["leftovers"] == []
    assert end["hits"] == len([r for r in records if r["type"] == "hit"])
    assert ours(g) == before == []
    assert not os.path.exists(start["instance"])


@needs_uprobes
def test_count_stops_and_cleans_up(built):
    g = group()
    t = Trace(f"p:{g}/c1 {built['exe_pie']}:func_1 a=%di:s32", "--count", "3")
    t.start()
    run_exe(built["exe_pie"], 6)
    code, records, err = t.finish(None)
    assert code == 0, err
    hits = [r for r in records if r["type"] == "hit"]
    assert [h["args"]["a"] for h in hits] == [0, 1, 2]
    assert records[-1]["stopped"] == "count"
    assert ours(g) == []


@needs_uprobes
def test_human_lines(built):
    g = group()
    p = subprocess.Popen(BPFI + ["probe", "trace", f"p:{g}/h1 {built['exe_nopie']}:func_1 a=%di:s32 b=%si",
                                 "--duration", "4"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         cwd=ROOT)
    head = [p.stdout.readline(), p.stdout.readline()]
    assert head[0].startswith("tracing 1 event in instance ")
    assert head[1].strip().startswith(f"p:{g}/h1 {built['exe_nopie']}:0x")
    child = subprocess.Popen([str(built["exe_nopie"]), "2"], stdout=subprocess.PIPE)
    child.communicate()
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    lines = out.splitlines()
    hit_lines = [ln for ln in lines if f"exe_nopie-{child.pid} {g}/h1 " in ln]
    assert [ln.split(") ", 1)[1] for ln in hit_lines] == ["a=0 b=0x7", "a=1 b=0x7"]
    assert lines[-1] == f"2 hits ({g}/h1 2); --duration over; definitions removed"
    assert ours(g) == []


@needs_uprobes
def test_sigterm_ends_like_ctrl_c(built):
    g = group()
    t = Trace(f"p:{g}/t1 {built['exe_pie']}:func_1")
    inst = t.start()["instance"]
    code, records, err = t.finish(signal.SIGTERM)
    assert code == 0, err
    assert records[-1]["stopped"] == "interrupt"
    assert ours(g) == [] and not os.path.exists(inst)


@needs_uprobes
def test_error_after_a_definition_removes_it(built):
    """The second event exists already (made here, as another user would): the first one, already
    defined by probe trace, is removed again; the existing one is left alone; exit 1."""
    g = group()
    theirs = f"p:{g}/taken {built['exe_pie']}:0x1000"
    assert _write(UPROBE_EVENTS, theirs + "\n") is None
    try:
        before_inst = instances()
        p = subprocess.run(BPFI + ["probe", "trace", f"p:{g}/mine {built['exe_pie']}:func_1",
                                   f"p:{g}/taken {built['exe_pie']}:func_str"],
                           capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert p.returncode == 1, p.stderr
        assert p.stderr.count("\n") == 1 and f"{g}/taken exists already" in p.stderr
        assert [ln.split()[0] for ln in ours(g)] == [f"p:{g}/taken"]
        assert instances() <= before_inst
    finally:
        _write(UPROBE_EVENTS, f"-:{g}/taken\n")
    assert ours(g) == []


def test_kprobe_lines_are_exit_3_without_kprobe_events():
    if os.path.exists(os.path.join(TRACEFS, "kprobe_events")):
        pytest.skip("this kernel has kprobe events: the exit-3 path cannot be shown here")
    if not os.path.isdir(TRACEFS):
        pytest.skip(f"{TRACEFS} is not mounted")
    p = subprocess.run(BPFI + ["probe", "trace", "p:kp/do_sys_open do_sys_open dfd=%di"], capture_output=True,
                       text=True, cwd=ROOT)
    assert p.returncode == 3
    assert p.stderr == ("bpfinspect: this kernel has no kprobe events (/sys/kernel/tracing/kprobe_events is "
                        "missing: CONFIG_KPROBE_EVENTS is off), kprobe lines can be checked (probe line) but not "
                        "traced here\n")


@needs_uprobes
def test_no_tracefs_is_exit_3(built):
    """In a private mount namespace without tracefs (or debugfs): one line, exit 3."""
    script = ("umount -l /sys/kernel/tracing; umount -l /sys/kernel/debug 2>/dev/null; "
              f"exec {sys.executable} -m bpfinspect probe trace 'p:{group()}/x {built['exe_pie']}:func_1'")
    p = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, cwd=ROOT)
    if "unshare failed" in p.stderr or "Operation not permitted" in p.stderr and p.returncode != 3:
        pytest.skip("unshare -m is not allowed here: " + p.stderr.strip())
    assert p.returncode == 3, p.stderr
    assert p.stderr == "bpfinspect: tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing)\n"


def test_bad_lines_are_exit_2_before_anything_is_written(built):
    p = subprocess.run(BPFI + ["probe", "trace", f"p:g/ok {built['exe_pie']}:func_1", "p:g/bad /bin/sh:0x10 x=%zz"],
                       capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 2
    assert p.stderr == "bpfinspect: line 2, column 24: Invalid register name\n"
    for args in (["-:g/e"], [f"p:g/e {built['exe_pie']}:func_1", f"p:g/e {built['exe_pie']}:func_str"],
                 [f"p:g/e {built['exe_pie']}:func_1", "--count", "0"],
                 [f"p:g/e {built['exe_pie']}:func_1", "--duration", "nan"]):
        p = subprocess.run(BPFI + ["probe", "trace", *args], capture_output=True, text=True, cwd=ROOT)
        assert p.returncode == 2, (args, p.stderr)
        assert p.stderr.count("\n") == 1 or p.stderr.startswith("usage:"), p.stderr


HOSTILE_C = r"""
#include <string.h>
#include <sys/prctl.h>
__attribute__((noinline)) long show(const char *s, long n) { __asm__ volatile("" ::: "memory"); return strlen(s) + n; }
int main(int argc, char **argv) {
    prctl(PR_SET_NAME, argv[1], 0, 0, 0);
    long t = show(argv[2], 42);
    t += show("\xff\xfe plain\x01", -3);
    return t == 0;
}
"""


@needs_uprobes
def test_hostile_comm_and_strings_read_back(tmp_path):
    """A task name and a string made to look like other hits (newlines, quotes, a whole forged line of
    the same event) are read back byte for byte: the binary buffers hold what the kernel stored."""
    src = tmp_path / "hostile.c"
    src.write_text(HOSTILE_C)
    exe = gcc(tmp_path / "hostile", "-O1", str(src))
    g = group()
    forged = (f'a" n=0x5\nCPU:1 [LOST 3 EVENTS]\n          hostile-1 [000] ..... 1.000000: hs: (0x1) s="x" n=7\n'
              '  x-9 [7] q: r:')
    comm = "x-9 [7]\n q: r:"
    t = Trace(f"p:{g}/hs {exe}:show s=+0(%di):string n=%si:s64")
    t.start()
    child = subprocess.Popen([str(exe), comm, forged])
    child.wait()
    time.sleep(0.5)
    code, records, err = t.finish(signal.SIGINT)
    assert code == 0, err
    hits = [r for r in records if r["type"] == "hit"]
    assert [h["args"] for h in hits if h["pid"] == child.pid] == [{"s": forged, "n": 42},
                                                                   {"s": "\\xff\\xfe plain\x01", "n": -3}]
    assert len(hits) == 2 and {h["comm"] for h in hits} == {comm[:15]}
    assert not [r for r in records if r["type"] == "lost"]
    assert ours(g) == []


# ---------------------------------------------------------------- the binary buffers (no kernel needed)

FORMAT = """name: ev
ID: 77
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:unsigned long __probe_ip;\toffset:8;\tsize:8;\tsigned:0;
\tfield:s32 a;\toffset:16;\tsize:4;\tsigned:1;
\tfield:__data_loc char[] s;\toffset:20;\tsize:4;\tsigned:1;
\tfield:u8 arr[];\toffset:24;\tsize:2;\tsigned:0;
\tfield:u64 x;\toffset:26;\tsize:8;\tsigned:0;

print fmt: "(%lx) a=%d s=\\"%s\\" arr={%u,%u} x=0x%Lx", REC->__probe_ip, REC->a, __get_str(s), REC->arr[0], REC->arr[1], REC->x
"""


def record(pid: int, a: int, s: bytes | None, x: int) -> bytes:
    body = struct.pack("=HBBiQi", 77, 0, 0, pid, 0x401000, a)
    tail = b"" if s is None else s + b"\0"
    loc = 0 if s is None else (36 << 0) | (len(tail) << 16)
    body += struct.pack("=I", loc) + bytes([1, 2]) + struct.pack("=Q", x) + b"\0\0"
    assert len(body) == 36
    return body + tail


def event(delta: int, data: bytes) -> bytes:
    padded = data + b"\0" * (-len(data) % 4)
    return struct.pack("=II", delta << 5, len(padded) + 4) + padded


def page(ts: int, events: list[bytes], lost: int | None = None, size: int = 4096) -> bytes:
    data = b"".join(events)
    commit = len(data) | ((1 << 31) if lost is not None else 0) | ((1 << 30) if lost else 0)
    out = struct.pack("=QQ", ts, commit) + data + (struct.pack("=Q", lost) if lost else b"")
    return out + b"\0" * (size - len(out))


def decoder() -> RecordDecoder:
    fmt = read_format(FORMAT)
    assert fmt.hex == {"x"} and fmt.id == 77
    return RecordDecoder({77: (fmt, ["a", "s", "arr", "x"], "grp")}, proc="/nonexistent")


def test_page_records_times_and_lost():
    small = struct.pack("=I", (5 << 5) | 10) + record(3, -1, None, 1) + b"\0" * 4  # type_len 10: 40 bytes
    extend = struct.pack("=II", (7 << 5) | 30, 1)  # + (1 << 27) + 7 ns
    padding = struct.pack("=II", (9 << 5) | 29, 8) + b"\0" * 4
    p = page(1_000_000_000, [event(100, record(5, -7, b'he said "hi"\nCPU:0 [LOST 1 EVENTS]', 255)),
                             extend, padding, small, event(1, record(6, 9, None, 0))], lost=4)
    got = read_page(p, 1, decoder())
    assert got[0] == Lost(1, 4)
    hits = got[1:]
    assert [h.args for h in hits] == [
        {"a": -7, "s": 'he said "hi"\nCPU:0 [LOST 1 EVENTS]', "arr": [1, 2], "x": 255},
        {"a": -1, "s": None, "arr": [1, 2], "x": 1},
        {"a": 9, "s": None, "arr": [1, 2], "x": 0}]
    assert [h.ns for h in hits] == [1_000_000_100, 1_000_000_100 + (1 << 27) + 7 + 5,
                                    1_000_000_100 + (1 << 27) + 7 + 5 + 1]
    assert [h.pid for h in hits] == [5, 3, 6] and hits[0].ip == 0x401000 and hits[0].group == "grp"
    assert hits[0].comm == "<...>"
    assert read_page(page(0, [], lost=0), 0, decoder()) == [Lost(0, None)]


def test_damaged_pages_stop_without_reading_past_the_data():
    d = decoder()
    good = event(1, record(5, 1, b"abc", 2))
    p = bytearray(page(0, [good, good]))
    p[8:16] = struct.pack("=Q", 10_000)  # commit says more than the page holds
    assert len(read_page(bytes(p), 0, d)) == 2
    cut = page(0, [good])[:40]
    assert read_page(cut, 0, d) == []
    bad_loc = bytearray(record(5, 1, b"abc", 2))
    bad_loc[20:24] = struct.pack("=I", (60000 << 0) | (9 << 16))  # a string outside the record
    assert read_page(page(0, [event(1, bytes(bad_loc))]), 0, d)[0].args["s"] is None
    assert read_page(b"", 0, d) == []


@needs_uprobes
@pytest.mark.parametrize("delay", [0.3, 0.6, 0.9, 1.2, 1.6, 2.2])
def test_ctrl_c_at_any_moment_leaves_nothing(built, delay):
    """Ctrl-C while the lines are checked, the definitions written, the instance made or the hits read:
    exit 0 (tracing had started) or 130 (it had not), and nothing of this run is left in tracefs."""
    g = group()
    exe = built["exe_pie"]
    p = subprocess.Popen(BPFI + ["probe", "trace", f"p:{g}/a {exe}:func_1 x=%di", f"r:{g}/b {exe}:func_1",
                                 f"p:{g}/c {exe}:func_str s=+0(%di):string", "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    time.sleep(delay)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    started = not ("init_import_site" in err or p.returncode == -signal.SIGINT)  # Python itself was starting
    assert p.returncode in (0, 130) or not started, err
    if not started:
        pass
    elif p.returncode == 130:
        assert err == "bpfinspect: interrupted\n"
    else:
        assert json.loads(out.splitlines()[-1])["stopped"] == "interrupt"
    assert ours(g) == []
    assert not [n for n in instances() if n.startswith(f"bpfinspect_{p.pid}_")]


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=0, max_size=600), st.integers(0, (1 << 64) - 1))
def test_any_page_bytes_read_without_error(body, commit):
    """Whatever a page holds, reading it neither fails nor reads past it."""
    data = struct.pack("=QQ", 5, commit) + body
    for r in read_page(data, 0, decoder()):
        assert isinstance(r, Lost) or r.event == "ev"
