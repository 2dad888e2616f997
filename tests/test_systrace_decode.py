"""The decoder of recorded system calls, without the kernel: its tables against the installed UAPI
headers (compiled with gcc) and libbpf's own names, records built by hand (pairing, fds, probes),
hostile records, the timeline view, and the tracer object rebuilt from its source."""

from __future__ import annotations

import ctypes
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ROOT
from bpfinspect import uapi
from bpfinspect.systrace import decode_records
from bpfinspect.systrace import records as R
from bpfinspect.systrace import uapi as U
from bpfinspect.views import syscalls as view

BPF_H = Path("/usr/include/linux/bpf.h")
GCC = shutil.which("gcc")
needs_gcc = pytest.mark.skipif(GCC is None or not BPF_H.exists(),
                               reason="gcc and /usr/include/linux/bpf.h are needed to read the UAPI numbers")


# ---------------------------------------------------------------- the tables against the headers

def _c_values(tmp_path: Path, includes: list[str], exprs: dict[str, str]) -> dict[str, int]:
    """Evaluate C expressions with gcc against the installed headers; names the headers lack are dropped."""
    exprs = dict(exprs)
    for _ in range(len(exprs) + 1):
        lines = [f"#include <{h}>" for h in ("stdio.h", "stddef.h", *includes)] + ["int main(void) {"]
        keys = list(exprs)
        for i, k in enumerate(keys):
            lines.append(f'  printf("%d %lld\\n", {i}, (long long)({exprs[k]}));')
        lines.append("  return 0;\n}")
        src = tmp_path / "probe.c"
        src.write_text("\n".join(lines) + "\n")
        p = subprocess.run([GCC, "-o", str(tmp_path / "probe"), str(src)], capture_output=True, text=True)
        if p.returncode == 0:
            out = subprocess.run([str(tmp_path / "probe")], capture_output=True, text=True, check=True).stdout
            return {keys[int(i)]: int(v) for i, v in (ln.split() for ln in out.splitlines())}
        bad = {int(m) for m in re.findall(r"probe\.c:(\d+):\d+: error", p.stderr)}
        if not bad:
            raise AssertionError(p.stderr)
        first = len(includes) + 4   # line number of the first printf
        for line in bad:
            if line - first in range(len(keys)):
                exprs.pop(keys[line - first], None)
    raise AssertionError("could not compile the probe program")


def _enumerators(name: str) -> list[str]:
    text = BPF_H.read_text()
    body = re.search(r"enum %s \{(.*?)\n\};" % name, text, re.S).group(1)
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    out = []
    for m in re.finditer(r"^\s*(\w+)\s*(=\s*([^,\n]+))?,?", body, re.M):
        if m.group(1).startswith("__MAX"):
            continue
        if m.group(3) and not m.group(3).strip()[0].isdigit():
            continue  # an alias of another enumerator (BPF_PROG_RUN = BPF_PROG_TEST_RUN)
        out.append(m.group(1))
    return out


@needs_gcc
@pytest.mark.parametrize("enum, table, prefix", [
    ("bpf_cmd", uapi.BPF_CMDS, None), ("bpf_prog_type", uapi.PROG_TYPES, "BPF_PROG_TYPE_"),
    ("bpf_map_type", uapi.MAP_TYPES, "BPF_MAP_TYPE_"), ("bpf_attach_type", uapi.ATTACH_TYPES, "BPF_"),
])
def test_enum_tables_match_the_installed_header(tmp_path, enum, table, prefix):
    names = _enumerators(enum)
    assert len(names) > 20
    values = _c_values(tmp_path, ["linux/bpf.h"], {n: n for n in names})
    assert set(values) == set(names)
    for name, value in values.items():
        ours = name if prefix is None else name[len(prefix):].lower().removesuffix("_deprecated")
        assert table[value] == ours, (name, value)
    assert len(table) >= max(values.values()) + 1   # newer kernels' entries may follow


@needs_gcc
def test_attr_layouts_match_the_installed_header(tmp_path):
    prefix = {"BPF_MAP_LOOKUP_BATCH": "batch.", "BPF_MAP_LOOKUP_AND_DELETE_BATCH": "batch.",
              "BPF_MAP_UPDATE_BATCH": "batch.", "BPF_MAP_DELETE_BATCH": "batch.", "BPF_PROG_TEST_RUN": "test.",
              "BPF_OBJ_GET_INFO_BY_FD": "info.", "BPF_PROG_QUERY": "query.",
              "BPF_RAW_TRACEPOINT_OPEN": "raw_tracepoint.", "BPF_TASK_FD_QUERY": "task_fd_query.",
              "BPF_LINK_CREATE": "link_create.", "BPF_LINK_UPDATE": "link_update.",
              "BPF_LINK_DETACH": "link_detach.", "BPF_ENABLE_STATS": "enable_stats.",
              "BPF_ITER_CREATE": "iter_create.", "BPF_PROG_BIND_MAP": "prog_bind_map.",
              "BPF_TOKEN_CREATE": "token_create.", "BPF_PROG_STREAM_READ_BY_FD": "prog_stream_read.",
              "BPF_PROG_ASSOC_STRUCT_OPS": "prog_assoc_struct_ops."}
    exprs = {}
    for cmd, layout in U.ATTR_LAYOUTS.items():
        assert cmd in uapi.BPF_CMDS
        for f in layout:
            path = prefix.get(cmd, "") + f.name
            exprs[f"{cmd} {f.name} off"] = f"offsetof(union bpf_attr, {path})"
            exprs[f"{cmd} {f.name} size"] = f"sizeof(((union bpf_attr *)0)->{path})"
    for attach, layout in U.LINK_CREATE_TAIL.items():
        assert attach in uapi.ATTACH_TYPES
        for f in layout:
            exprs[f"BPF_LINK_CREATE {f.name} off"] = f"offsetof(union bpf_attr, link_create.{f.name})"
            exprs[f"BPF_LINK_CREATE {f.name} size"] = f"sizeof(((union bpf_attr *)0)->link_create.{f.name})"
    values = _c_values(tmp_path, ["linux/bpf.h"], exprs)
    checked = 0
    for cmd, layout in [*U.ATTR_LAYOUTS.items(), *(("BPF_LINK_CREATE", t) for t in U.LINK_CREATE_TAIL.values())]:
        for f in layout:
            off = values.get(f"{cmd} {f.name} off")
            if off is None:
                continue   # a field newer than the installed header
            assert (off, values[f"{cmd} {f.name} size"]) == (f.offset, f.size), (cmd, f)
            checked += 1
    assert checked > 150
    assert set(U.ATTR_LAYOUTS) == set(uapi.BPF_CMDS)   # every command has a layout


@needs_gcc
def test_perf_and_flag_numbers_match_the_installed_headers(tmp_path):
    exprs = {f"attr {name}": f"offsetof(struct perf_event_attr, {name})" for name, _, _ in U.PERF_ATTR
             if name != "attr_flags"}
    exprs["attr config1"] = "offsetof(struct perf_event_attr, config1)"
    exprs.update({f"ioctl {name}": name for name in U.PERF_IOCTLS.values()})
    exprs.update({f"map {n}": f"BPF_F_{n.upper()}" for n in U.MAP_FLAGS})
    exprs.update({f"prog {n}": f"BPF_F_{n.upper()}" for n in U.PROG_FLAGS.values()})
    exprs.update({f"perf {n}": f"PERF_FLAG_{n.upper()}" for n in U.PERF_FLAGS})
    exprs.update({f"attach {n}": f"BPF_F_{n.upper()}" for n in U.ATTACH_FLAGS})
    exprs.update({f"type {n}": f"PERF_TYPE_{n.upper()}" for n in U.PERF_TYPES})
    exprs["stats run_time"] = "BPF_STATS_RUN_TIME"
    values = _c_values(tmp_path, ["linux/bpf.h", "linux/perf_event.h"], exprs)
    for name, off, _ in U.PERF_ATTR:
        if name != "attr_flags":
            assert values[f"attr {name}"] == off, name
    assert values["attr wakeup_events"] == 48   # the flag bits fill 40..47
    for request, name in U.PERF_IOCTLS.items():
        assert values[f"ioctl {name}"] == request, name
    for bit, name in enumerate(U.MAP_FLAGS):
        if f"map {name}" in values:
            assert values[f"map {name}"] == 1 << bit, name
    for bit, name in U.PROG_FLAGS.items():
        if f"prog {name}" in values:
            assert values[f"prog {name}"] == 1 << bit, name
    for bit, name in enumerate(U.PERF_FLAGS):
        assert values[f"perf {name}"] == 1 << bit
    for bit, name in enumerate(U.ATTACH_FLAGS):
        if f"attach {name}" in values:
            assert values[f"attach {name}"] == 1 << bit, name
    assert sum(1 for k in values if k.startswith("attach ")) >= 3
    for number, name in enumerate(U.PERF_TYPES):
        assert values[f"type {name}"] == number
    assert U.ENABLE_STATS_TYPES[values["stats run_time"]] == "run_time"
    assert sum(1 for k in values if k.startswith("map ")) >= 12


def test_names_match_libbpfs_own():
    try:
        lib = ctypes.CDLL("libbpf.so.1")
    except OSError as exc:
        pytest.skip(f"libbpf.so.1 cannot be loaded: {exc}")
    checked = 0
    for fn_name, table in (("libbpf_bpf_prog_type_str", uapi.PROG_TYPES), ("libbpf_bpf_map_type_str", uapi.MAP_TYPES),
                           ("libbpf_bpf_attach_type_str", uapi.ATTACH_TYPES)):
        fn = getattr(lib, fn_name)
        fn.restype = ctypes.c_char_p
        fn.argtypes = [ctypes.c_int]
        for i, ours in enumerate(table):
            theirs = fn(i)
            if theirs is not None:   # libbpf 1.1 knows fewer than the newest kernel
                assert theirs.decode() == ours, (fn_name, i)
                checked += 1
    assert checked > 100


# ---------------------------------------------------------------- records made by hand

def head(kind, call, tid, ts=0):
    return struct.pack("<HHIQ", kind, call, tid, ts)


def enter(call, tid, *args, ts=0):
    return head(R.REC_ENTER, call, tid, ts) + struct.pack("<6Q", *(list(args) + [0] * (6 - len(args))))


def exit_(call, tid, ret):
    return head(R.REC_EXIT, call, tid) + struct.pack("<q", ret)


def data(call, tid, tag, payload, err=0, off=0):
    return head(R.REC_DATA, call, tid) + struct.pack("<HHiII", tag, 0, err, len(payload), off) + payload


SC_BPF, SC_PERF, SC_IOCTL, SC_MMAP, SC_MUNMAP, SC_CLOSE = 1, 2, 3, 4, 5, 6


def bpf(cmd, attr, ret, *extra, tid=100):
    number = uapi.BPF_CMDS.index(cmd)
    return [enter(SC_BPF, tid, number, 0x1000, len(attr)), data(SC_BPF, tid, R.D_ATTR, attr), *extra,
            exit_(SC_BPF, tid, ret)]


def close(fd, ret=0, tid=100):
    return [enter(SC_CLOSE, tid, fd), exit_(SC_CLOSE, tid, ret)]


def map_attr(name, map_type=2, key=4, value=8, entries=1, flags=0, btf_fd=0, key_id=0, value_id=0):
    a = bytearray(72)
    struct.pack_into("<5I", a, 0, map_type, key, value, entries, flags)
    a[28:28 + len(name)] = name.encode()
    struct.pack_into("<III", a, 48, btf_fd, key_id, value_id)
    return bytes(a)


def prog_attr(name, insn_cnt, prog_type=5, btf_fd=0):
    a = bytearray(128)
    struct.pack_into("<II", a, 0, prog_type, insn_cnt)
    a[48:48 + len(name)] = name.encode()
    struct.pack_into("<I", a, 72, btf_fd)
    return bytes(a)


def insns(*slots):
    return b"".join(struct.pack("<BBhi", *s) for s in slots)


def ld_map(src, fd):
    return [(0x18, 0x01 | src << 4, 0, fd), (0, 0, 0, 0)]


EXIT = [(0x95, 0, 0, 0)]


def btf_blob(size):
    return b"\x9f\xeb" + bytes(size - 2)


def load(name, fds, ret, extra_insns=0, btf_fd=0, tid=100):
    code = b"".join(insns(*ld_map(1, fd)) for fd in fds) + insns(*EXIT) * (1 + extra_insns)
    return bpf("BPF_PROG_LOAD", prog_attr(name, len(code) // 8, btf_fd=btf_fd), ret,
               data(SC_BPF, tid, R.D_LICENSE, b"GPL\0"), data(SC_BPF, tid, R.D_INSNS, code), tid=tid)


def decode(recs, **kw):
    flat = [r for group in recs for r in (group if isinstance(group, list) else [group])]
    return decode_records(flat, **kw)


def test_calls_pair_per_thread_and_unmatched_records_drop():
    recs = [enter(SC_BPF, 1, 0, 0x10, 72), enter(SC_BPF, 2, 22, 0x20, 4),   # two threads at once
            data(SC_BPF, 2, R.D_ATTR, struct.pack("<I", 9)), data(SC_BPF, 1, R.D_ATTR, map_attr("m1")),
            exit_(SC_BPF, 2, -1), exit_(SC_IOCTL, 1, 0),                     # an ioctl exit: not ours
            exit_(SC_BPF, 1, 7), enter(SC_BPF, 3, 18, 0x30, 28)]            # the last one never returns
    trace = decode([recs])
    cmds = [(c.cmd, c.tid, c.ret, c.errno) for c in trace.calls]
    assert cmds == [("BPF_MAP_CREATE", 1, 7, None), ("BPF_MAP_FREEZE", 2, -1, "EPERM"),
                    ("BPF_BTF_LOAD", 3, None, None)]
    assert trace.calls[0].object.label == "map m1"
    assert trace.calls[1].refs[0].fd == 9 and trace.calls[1].refs[0].object is None   # fd 9: never returned
    assert "no result recorded" in trace.calls[2].notes[0]
    assert [c.seq for c in trace.calls] == [1, 2, 3]


def test_fd_reuse_and_refs_name_the_object_of_the_moment():
    trace = decode([bpf("BPF_MAP_CREATE", map_attr("first", entries=16), 5), close(5),
                    bpf("BPF_MAP_CREATE", map_attr("second", entries=16), 5),
                    bpf("BPF_MAP_CREATE", map_attr("other", map_type=27, entries=4096), 6),
                    load("prog", [5, 6], 7, extra_insns=20),
                    bpf("BPF_MAP_FREEZE", struct.pack("<I", 5), 0),
                    close(5), close(5, ret=-9), close(99)])
    calls = trace.calls
    assert [c.cmd or c.syscall for c in calls] == ["BPF_MAP_CREATE", "close", "BPF_MAP_CREATE", "BPF_MAP_CREATE",
                                                     "BPF_PROG_LOAD", "BPF_MAP_FREEZE", "close"]
    load_call = calls[4]
    assert load_call.args["map_fds"] == [5, 6] and load_call.args["license"] == "GPL"
    assert [(r.field, r.object.name) for r in load_call.refs] == [("insns", "second"), ("insns", "other")]
    assert calls[3].args["map_type"] == "ringbuf"
    assert calls[5].refs[0].object.name == "second"
    assert calls[6].closes.name == "second" and calls[6].closes.closed_by == 7
    assert not any(c.probe for c in calls)   # the maps are used by a program: not probes


def test_program_map_fds_through_fd_array_and_module_btf():
    fd_array = struct.pack("<4i", 0, 11, 12, 13)
    code = insns(*ld_map(5, 1), *ld_map(6, 2), (0x85, 0x20, 3, 77), *EXIT)   # map_idx 1, 2; kfunc btf idx 3
    trace = decode([bpf("BPF_MAP_CREATE", map_attr("a"), 11), bpf("BPF_MAP_CREATE", map_attr("b"), 12),
                    bpf("BPF_BTF_LOAD", struct.pack("<QQIII", 0, 0, 4000, 0, 0), 13),
                    bpf("BPF_PROG_LOAD", prog_attr("p", len(code) // 8), 14,
                        data(SC_BPF, 100, R.D_INSNS, code), data(SC_BPF, 100, R.D_FD_ARRAY, fd_array))])
    p = trace.calls[-1]
    assert p.args["map_fds"] == [11, 12]
    assert [(r.field, r.fd) for r in p.refs] == [("fd_array", 11), ("fd_array", 12), ("kfunc_btf", 13)]


def test_link_targets_interface_index_or_fd():
    def link(attach, target):
        return struct.pack("<IIII", 3, target, uapi.ATTACH_TYPES.index(attach), 0)

    trace = decode([load("x", [], 3, extra_insns=30), bpf("BPF_LINK_CREATE", link("xdp", 2), 4),
                    bpf("BPF_LINK_CREATE", link("perf_event", 9), 5)])
    xdp, perf = trace.calls[1], trace.calls[2]
    attach = decode([bpf("BPF_PROG_ATTACH", struct.pack("<IIII", 7, 3, uapi.ATTACH_TYPES.index("cgroup_inet_ingress"),
                                                        2), 0)]).calls[0]
    assert attach.args["attach_type"] == "cgroup_inet_ingress" and attach.args["attach_flags_names"] == ["allow_multi"]
    assert [(r.field, r.fd) for r in attach.refs] == [("attach_bpf_fd", 3), ("target_fd", 7)]
    assert xdp.args["target_ifindex"] == 2 and "target_fd" not in xdp.args
    assert [r.field for r in xdp.refs] == ["prog_fd"] and xdp.object.label == "link x"
    assert [(r.field, r.fd) for r in perf.refs] == [("prog_fd", 3), ("target_fd", 9)]


def test_perf_events_ioctls_and_map_memory():
    attr = bytearray(128)
    struct.pack_into("<IIQ", attr, 0, 8, 128, 1)        # uprobe PMU, retprobe bit
    struct.pack_into("<QQ", attr, 56, 0x5000, 0x1234)   # config1 = path pointer, config2 = offset
    tp = bytearray(128)
    struct.pack_into("<IIQ", tp, 0, 2, 128, 365)
    recs = [enter(SC_PERF, 100, 0x9000, 0xFFFFFFFF, 0, 0xFFFFFFFF, 8), data(SC_PERF, 100, R.D_PERF_ATTR, bytes(attr)),
            data(SC_PERF, 100, R.D_STRING, b"/usr/bin/bash\0"), exit_(SC_PERF, 100, 20),
            enter(SC_PERF, 100, 0x9000, 0xFFFFFFFF, 0, 0xFFFFFFFF, 8), data(SC_PERF, 100, R.D_PERF_ATTR, bytes(tp)),
            exit_(SC_PERF, 100, 21),
            *load("p", [], 22, extra_insns=30),
            enter(SC_IOCTL, 100, 20, 0x40042408, 22), exit_(SC_IOCTL, 100, 0),
            enter(SC_IOCTL, 100, 20, 0x2400, 0), exit_(SC_IOCTL, 100, 0),
            enter(SC_IOCTL, 100, 55, 0x2400, 0), exit_(SC_IOCTL, 100, -9),        # fd 55: not traced
            *bpf("BPF_MAP_CREATE", map_attr("rb", map_type=27, entries=4096), 23),
            enter(SC_MMAP, 100, 0, 4096, 3, 1, 23, 0), exit_(SC_MMAP, 100, 0x7F0000000000),
            enter(SC_MMAP, 100, 0, 4096, 1, 1, 3, 0), exit_(SC_MMAP, 100, 0x7F0000100000),   # a file: dropped
            enter(SC_MUNMAP, 100, 0x7F0000000000, 4096), exit_(SC_MUNMAP, 100, 0),
            enter(SC_MUNMAP, 100, 0x7F0000200000, 4096), exit_(SC_MUNMAP, 100, 0)]         # not a map: dropped
    trace = decode([recs], tracepoints={365: "sched/sched_process_exec"}, pmus={8: "uprobe"})
    names = [(c.syscall, c.cmd) for c in trace.calls]
    assert names == [("perf_event_open", None), ("perf_event_open", None), ("bpf", "BPF_PROG_LOAD"),
                     ("ioctl", "PERF_EVENT_IOC_SET_BPF"), ("ioctl", "PERF_EVENT_IOC_ENABLE"),
                     ("bpf", "BPF_MAP_CREATE"), ("mmap", None), ("munmap", None)]
    up, tp_call = trace.calls[0], trace.calls[1]
    assert up.args["path"] == "/usr/bin/bash" and up.args["offset"] == 0x1234 and up.args["retprobe"]
    assert up.object.label == "perf_event uprobe (return) /usr/bin/bash+0x1234"
    assert up.args["pid"] == -1 and up.args["group_fd"] == -1 and up.args["flags_names"] == ["fd_cloexec"]
    assert tp_call.args["tracepoint"] == "sched/sched_process_exec"
    set_bpf = trace.calls[3]
    assert [(r.field, r.object.label) for r in set_bpf.refs] == [("fd", up.object.label), ("arg", "prog p")]
    assert trace.calls[6].args["prot_names"] == ["read", "write"] and trace.calls[6].refs[0].object.name == "rb"
    assert trace.calls[7].args["map"] == "rb"


def test_probe_episodes():
    small_btf = struct.pack("<QQIII", 0, 0, 45, 0, 0)
    big_btf = struct.pack("<QQIII", 0, 0, 27000, 0, 0)
    bind = struct.pack("<III", 6, 5, 0)
    link = struct.pack("<IiII", 7, -1, uapi.ATTACH_TYPES.index("perf_event"), 0)
    trace = decode([
        load("", [], 3), close(3),                                               # 1-2 probe
        bpf("BPF_BTF_LOAD", small_btf, 3, data(SC_BPF, 100, R.D_BTF, btf_blob(45))), close(3),   # 3-4 probe
        bpf("BPF_BTF_LOAD", small_btf, -22),                                     # 5 failed probe
        bpf("BPF_BTF_LOAD", big_btf, 3),                                         # 6 the object's BTF
        bpf("BPF_MAP_CREATE", map_attr("libbpf_det_bind", value=32), 5), load("", [], 6),
        bpf("BPF_PROG_BIND_MAP", bind, 0), close(5), close(6),                   # 7-11 probe
        bpf("BPF_MAP_CREATE", map_attr("counts", entries=64, btf_fd=3), 4),      # 12 real (refers to BTF)
        bpf("BPF_MAP_CREATE", map_attr("tiny", btf_fd=3), 5), close(5),          # 13-14 refers to BTF: real
        load("", [], 7), bpf("BPF_LINK_CREATE", link, -9), close(7),             # 15-17 perf link probe
        load("", [4], 7), close(7),                                              # 18-19 uses a real map: real
        load("big", [], 8, extra_insns=40), close(8),                            # 20-21 too big for a probe
        bpf("BPF_MAP_CREATE", map_attr("x"), 9), *[bpf("BPF_MAP_FREEZE", struct.pack("<I", 9), 0)] * 4,
        close(9),                                                                # 22-27 too many calls
    ])
    probes = [c.seq for c in trace.calls if c.probe]
    assert probes == [1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 15, 16, 17]
    assert trace.probes == 13


def test_timeline_folds_probes_and_closes():
    trace = decode([load("", [], 3), close(3), bpf("BPF_MAP_CREATE", map_attr("counts", entries=64), 4),
                    load("prog", [4], 5, extra_insns=20), close(5), close(4)])
    plain = view.timeline(trace)
    assert plain.rows[0] == ["1-2", "feature probes", "BPF_PROG_LOAD, close", "2 calls"]
    assert plain.rows[1] == ["3", "BPF_MAP_CREATE", "counts: array, key 4, value 8, max_entries 64",
                             "fd 4 = map counts"]
    assert plain.rows[2] == ["4", "BPF_PROG_LOAD", 'prog: tracepoint, 23 insns, license "GPL", maps fd 4 counts',
                             "fd 5 = prog prog"]
    assert plain.rows[3] == ["5-6", "close", "fd 5 (prog prog), fd 4 (map counts)", "ok"]
    full = view.timeline(trace, show_probes=True)
    assert [r[1] for r in full.rows[:2]] == ["BPF_PROG_LOAD (probe)", "close (probe)"]
    assert view.summary(trace) == ("6 system calls recorded, 2 of them libbpf's feature probes "
                                   "(folded; --trace-syscalls=all lists them)")


# ---------------------------------------------------------------- hostile records

record = st.one_of(
    st.binary(max_size=80),
    st.builds(lambda k, c, t, rest: head(k, c, t) + rest, st.integers(0, 4), st.integers(0, 7), st.integers(0, 3),
              st.binary(max_size=64)),
    st.builds(lambda c, t, tag, n, payload: head(R.REC_DATA, c, t) + struct.pack("<HHiII", tag, 0, 0, n, 0) + payload,
              st.integers(1, 6), st.integers(0, 3), st.integers(0, 12), st.integers(0, 2**32 - 1),
              st.binary(max_size=300)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(record, max_size=60))
def test_hostile_records_never_break_the_decoder(recs):
    trace = decode_records(recs)
    assert len(trace.calls) <= len(recs)
    for c in trace.calls:
        view.details(c), view.result(c), c.to_json()


def test_instruction_chunks_out_of_order_keep_the_prefix():
    code = insns(*EXIT) * 4
    trace = decode([bpf("BPF_PROG_LOAD", prog_attr("p", 4), 3, data(SC_BPF, 100, R.D_INSNS, code[:16]),
                        data(SC_BPF, 100, R.D_INSNS, code[24:], off=24))])
    assert trace.calls[0].notes == ["only the first 2 of 4 instructions were recorded"]


# ---------------------------------------------------------------- the tracer object

def test_tracer_object_rebuilds_byte_for_byte(tmp_path):
    for tool in ("clang-19", "llvm-strip-19", "gcc"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is missing: the tracer object cannot be rebuilt here")
    out = tmp_path / "syscalls.bpf.o"
    subprocess.run([str(ROOT / "scripts" / "build-tracer.sh"), str(out)], check=True, capture_output=True)
    assert out.read_bytes() == (ROOT / "bpfinspect" / "runtime" / "tracer" / "syscalls.bpf.o").read_bytes()


def test_names_from_the_object_are_printable():
    trace = decode([bpf("BPF_MAP_CREATE", map_attr("a\x1b[2Jb\x9b", entries=16), -22),
                    bpf("BPF_PROG_LOAD", prog_attr("p\x07", 90), -22,
                        data(SC_BPF, 100, R.D_LICENSE, "GPL\x1b]0;x\x07\0".encode()))])
    create, load_call = trace.calls
    assert create.args["map_name"] == "a\\x1b[2Jb\\x9b" and create.attempted == "map" and create.fd is None
    assert load_call.args["prog_name"] == "p\\x07" and load_call.args["license"] == "GPL\\x1b]0;x\\x07"
    text = view.details(create) + view.details(load_call)
    assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in text)
