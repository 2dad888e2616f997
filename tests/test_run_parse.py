"""`run`'s pure parts: attach targets, trace_pipe lines, the log2 histogram (no kernel needed)."""

from __future__ import annotations

import pytest

from bpfinspect.errors import UsageError
from bpfinspect.runtime.session import histogram_of, log2_buckets
from bpfinspect.runtime.targets import parse_target
from bpfinspect.runtime.tracepipe import parse_line
from bpfinspect.views.run import histogram_text

KPROBE, SCHED_CLS, TRACEPOINT, XDP, RAW_TP = 2, 3, 5, 6, 17


@pytest.mark.parametrize("text,prog_type,section,expect", [
    ("/bin/bash:readline", KPROBE, "uprobe", dict(kind="uprobe", binary="/bin/bash", func="readline", offset=0)),
    ("libc.so.6:malloc+0x4,pid=42", KPROBE, "uprobe", dict(kind="uprobe", binary="libc.so.6", func="malloc",
                                                           offset=4, pid=42)),
    ("/x/y:0x1130 pid=7", KPROBE, "uretprobe", dict(kind="uprobe", func=None, offset=0x1130, pid=7,
                                                     retprobe=True)),
    ("do_sys_openat2+8", KPROBE, "kprobe", dict(kind="kprobe", func="do_sys_openat2", offset=8)),
    ("do_exit", KPROBE, "kretprobe", dict(kind="kprobe", func="do_exit", retprobe=True)),
    ("uretprobe:/bin/sh:main", KPROBE, "kprobe", dict(kind="uprobe", binary="/bin/sh", func="main",
                                                      retprobe=True)),
    ("sched/sched_switch", TRACEPOINT, "tp", dict(kind="tracepoint", tracepoint="sched/sched_switch")),
    ("sched_switch", RAW_TP, "raw_tp", dict(kind="raw_tracepoint", tracepoint="sched_switch")),
    ("eth0", XDP, "xdp", dict(kind="xdp", ifname="eth0")),
    ("eth0:egress", SCHED_CLS, "tc", dict(kind="tc", ifname="eth0", ingress=False)),
    ("eth0", SCHED_CLS, "tc", dict(kind="tc", ifname="eth0", ingress=True)),
])
def test_targets(text, prog_type, section, expect):
    t = parse_target("p", text, prog_type, section)
    for k, v in expect.items():
        assert getattr(t, k) == v, (k, t)
    assert t.text == text


@pytest.mark.parametrize("text,prog_type,section,why", [
    ("nocolon", KPROBE, "uprobe", "BIN:FUNC"),
    ("/bin/sh:f+zz", KPROBE, "uprobe", "not an offset"),
    ("/bin/sh:f,pid=x", KPROBE, "uprobe", "pid 'x' is not a number"),
    ("sched", TRACEPOINT, "tp", "CATEGORY/NAME"),
    ("eth0:sideways", SCHED_CLS, "tc", "IFNAME:egress"),
    ("x", 1, "socket", "cannot be given a target"),
])
def test_target_mistakes(text, prog_type, section, why):
    with pytest.raises(UsageError, match=why):
        parse_target("p", text, prog_type, section)


def test_trace_pipe_lines():
    # as this kernel writes them (captured from instances/*/trace_pipe), with and without the tgid column
    line = parse_line("          python-31010   [000] ...21 12624.577910: bpf_trace_printk: run_test pid=31010 x")
    assert (line.comm, line.pid, line.cpu, line.ts, line.text) == ("python", 31010, 0, 12624.57791,
                                                                   "run_test pid=31010 x")
    line = parse_line(" my-task-name-7 (   7) [003] d..2. 5.000001: bpf_trace_printk: a: b")
    assert (line.comm, line.pid, line.cpu, line.text) == ("my-task-name", 7, 3, "a: b")
    assert parse_line("  sh-1 [000] ..... 1.0: sched_switch: prev=x") is None
    assert parse_line("garbage") is None


def test_log2_histogram_like_bpftrace():
    counts = [1, 2, 4, 3] + [0] * 28
    buckets = log2_buckets(counts)
    assert buckets[0] == {"low": 0, "high": 2, "count": 1} and buckets[-1] == {"low": 8, "high": 16, "count": 3}
    assert log2_buckets([0] * 8) == []
    assert log2_buckets([0, 0, 5, 0, 1])[0] == {"low": 4, "high": 8, "count": 5}
    text = histogram_text("hist", log2_buckets([0] * 10 + [8] + [0] * 9 + [4]))
    lines = text.splitlines()
    assert lines[0] == "@hist:"
    assert lines[1] == "[1K, 2K)" + " " * 12 + "       8 |" + "@" * 52 + "|"
    assert lines[-1].startswith("[1M, 2M)") and lines[-1].endswith("|" + "@" * 26 + " " * 26 + "|")
    assert len(lines) == 12


def test_histogram_recognition_rule():
    from bpfinspect.obj import open_object
    from runtime_util import DATA
    obj = open_object(str(DATA / "run_test.bpf.o"))
    btf = obj.btf
    maps = {m.name: m for m in obj.maps}

    def ids(name):
        m = maps[name]
        return m.key_type_id, m.value_type_id
    k, v = ids("hist")
    assert histogram_of("hist", "array", btf, k, v, 32)
    assert histogram_of("lat_slots", "percpu_array", btf, k, v, 64)
    assert not histogram_of("counters", "array", btf, k, v, 32)       # no hist/slot in the name
    assert not histogram_of("hist", "hash", btf, k, v, 32)            # not an array
    assert not histogram_of("hist", "array", btf, k, v, 65)           # more slots than 64-bit values have
