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
import subprocess
import sys
import time

import pytest

from conftest import ROOT
from probes_util import TRACEFS, _write, built, gcc, uprobe_events_reason  # noqa: F401

from bpfinspect.probes.hits import HitReader, read_args, value_of

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
    hit_lines = [ln for ln in lines if f"exe_nopie-{child.pid} h1 " in ln]
    assert [ln.split(") ", 1)[1] for ln in hit_lines] == ["a=0 b=0x7", "a=1 b=0x7"]
    assert lines[-1].startswith("2 hits (h1 2); --duration over; definitions removed")
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
    for args in (["-:g/e"], [f"p:g/e {built['exe_pie']}:func_1", f"p:h/e {built['exe_pie']}:func_1"],
                 [f"p:g/e {built['exe_pie']}:func_1", "--count", "0"],
                 [f"p:g/e {built['exe_pie']}:func_1", "--duration", "nan"]):
        p = subprocess.run(BPFI + ["probe", "trace", *args], capture_output=True, text=True, cwd=ROOT)
        assert p.returncode == 2, (args, p.stderr)
        assert p.stderr.count("\n") == 1 or p.stderr.startswith("usage:"), p.stderr


HOSTILE_C = r"""
#include <string.h>
#include <sys/prctl.h>
__attribute__((noinline)) long show(const char *s, long n) { __asm__ volatile("" ::: "memory"); return strlen(s) + n; }
int main(void) {
    prctl(PR_SET_NAME, "x-9 [7] q: r:", 0, 0, 0);
    long t = show("a\" n=0x5 x\nCPU:1 [LOST 3 EVENTS] y\n  q-1 [000] .... s=\"", 42);
    t += show("\xff\xfe plain", -3);
    return t == 0;
}
"""


@needs_uprobes
def test_hostile_comm_and_strings_read_back(tmp_path):
    """A task name and strings made to look like parts of trace lines are read as what they are.
    (Not covered: a string holding a newline and then a whole line shaped as a hit of a traced event
    reads as that hit; trace_pipe's text cannot tell them apart.)"""
    src = tmp_path / "hostile.c"
    src.write_text(HOSTILE_C)
    exe = gcc(tmp_path / "hostile", "-O1", str(src))
    g = group()
    t = Trace(f"p:{g}/hs {exe}:show s=+0(%di):string n=%si:s64")
    t.start()
    child = subprocess.Popen([str(exe)])
    child.wait()
    time.sleep(0.5)
    code, records, err = t.finish(signal.SIGINT)
    assert code == 0, err
    hits = [r for r in records if r["type"] == "hit" and r["pid"] == child.pid]
    assert [h["args"] for h in hits] == [
        {"s": 'a" n=0x5 x\nCPU:1 [LOST 3 EVENTS] y\n  q-1 [000] .... s="', "n": 42},
        {"s": "\\xff\\xfe plain", "n": -3}]
    assert {h["comm"] for h in hits} == {"x-9 [7] q: r:"}
    assert not [r for r in records if r["type"] == "lost"]
    assert ours(g) == []


# ---------------------------------------------------------------- reading trace_pipe text (no kernel needed)

def test_values():
    assert value_of("0x1f") == 31 and value_of("-12") == -12 and value_of('"x y"') == "x y"
    assert value_of("{1,2,0x3}") == [1, 2, 3] and value_of("(fault)") is None and value_of("'c'") == "c"
    assert value_of("do_sys_open+0x0/0x10") == "do_sys_open+0x0/0x10"


def test_args_follow_the_definition():
    assert read_args(' a="q" b=" b="z" c=1', ["a", "b", "c"]) == {"a": '"q" b="', "b": '"z"', "c": "1"}
    assert read_args(" a=1 b=2", ["a"]) == {"a": "1 b=2"}
    assert read_args(" a=1", ["a", "b"]) is None
    many = " a=" + '" b="' * 400 + ' b=1'   # bounded tries, whatever the text
    assert read_args(many, ["a", "b", "c"]) is None


def test_reader_joins_continuations_and_reads_lost():
    r = HitReader({"fs": ["s", "n"]})
    got = r.feed(b'  a-b c-9-12 [001] d..1. 1.5: fs: (0x10) s="x\n" n=0x5" n=9\nCPU:1 [LOST 3 EVENTS]\n'
                 b' other-1 [000] ..... 2.0: notours: (0x1) q=1\n')
    got += r.flush()
    assert got[0].args == {"s": 'x\n" n=0x5', "n": 9} and got[0].comm == "a-b c-9" and got[0].pid == 12
    assert (got[1].cpu, got[1].count) == (1, 3) and len(got) == 2
    r = HitReader({"e": []})
    assert r.feed(b"  t-1 [000] ..... 3.0: e: (0x1)") == [] and r.flush()[0].ip == 1
