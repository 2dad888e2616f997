"""`load --trace-syscalls`: the calls libbpf makes, recorded by the kernel's syscall tracepoints,
checked against strace's independent recording of the same process and of a run without the flag."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import BPFTOOL, FIXTURES, ROOT, bpfinspect, needs_bpf
from runtime_util import BOOTSTRAP_OBJ, REJECTED_OBJ, tracefs, wait_for  # noqa: F401

pytestmark = needs_bpf

STRACE = shutil.which("strace")
needs_strace = pytest.mark.skipif(STRACE is None, reason="strace is not installed (scripts/setup.sh installs it)")
TRACED = "bpf,perf_event_open,ioctl,mmap,munmap,close"


def _trace_json(*args):
    p = bpfinspect("load", *args, "--json")
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


@pytest.fixture(scope="module")
def bootstrap_doc(tracefs):
    return _trace_json("--attach", "--trace-syscalls", str(BOOTSTRAP_OBJ))


# ---------------------------------------------------------------- strace, the independent recording

_LINE = re.compile(r"^(?P<name>\w+)\((?P<args>.*)\)\s+= (?P<ret>-?\d+|0x[0-9a-f]+)(?: (?P<err>E[A-Z0-9]+))?")
_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^,{}]+)')


def _strace_calls(text: str) -> list[dict]:
    out = []
    for line in text.splitlines():
        m = _LINE.match(line)
        if m:
            args = m.group("args")
            out.append({"name": m.group("name"), "args": args, "fields": dict(_FIELD.findall(args)),
                        "ret": int(m.group("ret"), 0), "err": m.group("err")})
    return out


def _unquote(v: str) -> str:
    return v[1:-1] if v.startswith('"') else v


def _strace_steps(calls: list[dict]) -> list[tuple]:
    """The calls as comparable steps: what they asked and got, closes and mmaps of BPF fds only."""
    live: set[int] = set()
    maps: set[int] = set()
    steps = []
    for c in calls:
        name, f, ret = c["name"], c["fields"], c["ret"]
        result = c["err"] or ret
        if name == "bpf":
            cmd = c["args"].split(",", 1)[0]
            key: tuple = ()
            if cmd == "BPF_MAP_CREATE":
                key = (_unquote(f["map_name"]), f["map_type"][len("BPF_MAP_TYPE_"):].lower(), int(f["key_size"]),
                       int(f["value_size"]), int(f["max_entries"]), int(f["btf_fd"]))
            elif cmd == "BPF_PROG_LOAD":
                key = (_unquote(f.get("prog_name", '""')), f["prog_type"][len("BPF_PROG_TYPE_"):].lower(),
                       int(f["insn_cnt"]), _unquote(f["license"]))
            elif cmd == "BPF_LINK_CREATE":
                key = (int(f["prog_fd"]), int(f["target_fd"]), f["attach_type"][len("BPF_"):].lower())
            elif cmd in ("BPF_MAP_UPDATE_ELEM", "BPF_MAP_FREEZE"):
                key = (int(f["map_fd"]),)
            elif cmd == "BPF_OBJ_GET_INFO_BY_FD":
                key = (int(f["bpf_fd"]),)
            elif cmd == "BPF_BTF_LOAD":
                key = (int(f["btf_size"]),)
            steps.append(("bpf", cmd, key, result))
            if ret >= 0 and cmd in ("BPF_MAP_CREATE", "BPF_PROG_LOAD", "BPF_BTF_LOAD", "BPF_LINK_CREATE"):
                live.add(ret)
                if cmd == "BPF_MAP_CREATE":
                    maps.add(ret)
        elif name == "perf_event_open":
            steps.append(("perf_event_open", int(f["config"]), result))
            if ret >= 0:
                live.add(ret)
        elif name == "ioctl":
            fd, request = [a.strip() for a in c["args"].split(",")[:2]]
            if request.startswith("PERF_EVENT_IOC_"):
                steps.append(("ioctl", int(fd), request, result))
        elif name == "close":
            fd = int(c["args"])
            if fd in live:
                live.discard(fd)
                maps.discard(fd)
                steps.append(("close", fd, result))
        elif name == "mmap":
            parts = [a.strip() for a in c["args"].split(",")]
            if int(parts[4]) in maps and "MAP_SHARED" in parts[3]:
                steps.append(("mmap", int(parts[4]), int(parts[1])))
    return steps


def _our_steps(doc_calls: list[dict]) -> list[tuple]:
    steps = []
    for c in doc_calls:
        a = c["args"]
        result = c["errno"] or c["ret"]
        if c["syscall"] == "bpf":
            cmd = c["cmd"]
            key: tuple = ()
            if cmd == "BPF_MAP_CREATE":
                key = (a["map_name"], a["map_type"], a["key_size"], a["value_size"], a["max_entries"], a["btf_fd"])
            elif cmd == "BPF_PROG_LOAD":
                key = (a.get("prog_name", ""), a["prog_type"], a["insn_cnt"], a["license"])
            elif cmd == "BPF_LINK_CREATE":
                key = (a["prog_fd"], a["target_fd"], a["attach_type"])
            elif cmd in ("BPF_MAP_UPDATE_ELEM", "BPF_MAP_FREEZE"):
                key = (a["map_fd"],)
            elif cmd == "BPF_OBJ_GET_INFO_BY_FD":
                key = (a["bpf_fd"],)
            elif cmd == "BPF_BTF_LOAD":
                key = (a["btf_size"],)
            steps.append(("bpf", cmd, key, result))
        elif c["syscall"] == "perf_event_open":
            steps.append(("perf_event_open", a["config"], result))
        elif c["syscall"] == "ioctl":
            steps.append(("ioctl", a["fd"], c["cmd"], result))
        elif c["syscall"] == "close":
            steps.append(("close", a["fd"], result))
        elif c["syscall"] == "mmap":
            steps.append(("mmap", a["fd"], a["length"]))
    return steps


def _run_under_strace(*args: str, loads: str = "handle_exec") -> tuple[subprocess.CompletedProcess, list[dict]]:
    """Run `bpfinspect load ARGS` under strace -ff; the calls of the process that loaded the program ``loads``."""
    with tempfile.TemporaryDirectory(prefix=f"bpfinspect-strace-{os.getpid()}-") as d:
        prefix = os.path.join(d, "trace")
        cmd = [STRACE, "-f", "-ff", "-qq", "-v", "-s", "64", "-e", f"trace={TRACED}", "-e", "signal=none", "-o", prefix,
               sys.executable, "-m", "bpfinspect", "load", *args]
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
        mains = []
        for name in os.listdir(d):
            text = Path(d, name).read_text(errors="replace")
            if f'prog_name="{loads}"' in text:
                mains.append(text)
        assert len(mains) == 1, f"expected one process loading {loads}, found {len(mains)}"
        return p, _strace_calls(mains[0])


# ---------------------------------------------------------------- what the bootstrap load must show

def _by(calls, cmd=None, syscall="bpf", probe=None):
    return [c for c in calls if c["syscall"] == syscall and (cmd is None or c["cmd"] == cmd)
            and (probe is None or c["probe"] == probe)]


def _static_model():
    """The maps each program of the fixture uses, from our object model (progs and globals views)."""
    progs = json.loads(bpfinspect("progs", "--json", str(BOOTSTRAP_OBJ), check=True).stdout)["programs"]
    sections = json.loads(bpfinspect("globals", "--json", str(BOOTSTRAP_OBJ), check=True).stdout)["sections"]
    section_of = {v["name"]: s["map_name"] for s in sections for v in s["variables"]}
    uses = {p["name"]: set(p["maps"]) | {section_of[g] for g in p["globals"]} for p in progs}
    targets = {p["name"]: p["target"] for p in progs}
    internal = [s["map_name"] for s in sections]
    return uses, targets, internal


def test_bootstrap_load_in_order(bootstrap_doc):
    calls = bootstrap_doc["syscalls"]
    assert bootstrap_doc["syscalls_lost"] == 0
    assert [c["seq"] for c in calls] == list(range(1, len(calls) + 1))
    real = [c for c in calls if not c["probe"]]
    uses, targets, internal = _static_model()

    # the object's BTF first, then its maps, named as libbpf names them
    assert real[0]["cmd"] == "BPF_BTF_LOAD" and real[0]["object"]["kind"] == "btf"
    btf_fd = real[0]["fd"]
    creates = _by(real, "BPF_MAP_CREATE")
    names = [c["args"]["map_name"] for c in creates]
    assert names == ["exec_start", "rb", *internal]
    fd_of = {c["args"]["map_name"]: c["fd"] for c in creates}
    assert all(c["args"]["btf_fd"] == btf_fd and c["seq"] > real[0]["seq"] for c in creates)
    rb = next(c for c in creates if c["args"]["map_name"] == "rb")
    assert rb["args"]["map_type"] == "ringbuf" and rb["args"]["max_entries"] == 256 * 1024

    # the internal .rodata map is filled, then frozen; .bss and .data only filled
    rodata = fd_of["bootstra.rodata"]
    ops = [(c["cmd"], c["args"]["map_fd"]) for c in real if c["cmd"] in ("BPF_MAP_UPDATE_ELEM", "BPF_MAP_FREEZE")]
    assert ops.index(("BPF_MAP_UPDATE_ELEM", rodata)) + 1 == ops.index(("BPF_MAP_FREEZE", rodata))
    assert [fd for cmd, fd in ops if cmd == "BPF_MAP_FREEZE"] == [rodata]
    assert {fd for cmd, fd in ops if cmd == "BPF_MAP_UPDATE_ELEM"} == {fd_of[n] for n in internal}
    freeze = next(c for c in real if c["cmd"] == "BPF_MAP_FREEZE")

    # each program after the maps, with the fds of exactly the maps it uses
    loads = _by(real, "BPF_PROG_LOAD")
    assert [c["args"]["prog_name"] for c in loads] == ["handle_exec", "handle_exit"]
    for c in loads:
        assert c["seq"] > freeze["seq"] and c["args"]["prog_type"] == "tracepoint"
        assert c["args"]["prog_btf_fd"] == btf_fd and c["args"]["license"] == "Dual BSD/GPL"
        assert set(c["args"]["map_fds"]) == {fd_of[m] for m in uses[c["args"]["prog_name"]]}
        assert {r["name"] for r in c["refs"] if r["field"] == "insns"} == uses[c["args"]["prog_name"]]

    # each tracepoint: perf_event_open on its id, a perf link from the program, enabled
    prog_fd = {c["args"]["prog_name"]: c["fd"] for c in loads}
    links = _by(real, "BPF_LINK_CREATE")
    assert len(links) == 2
    for prog, link in zip(("handle_exec", "handle_exit"), links):
        tp_id = int(Path(tracefs_dir(), "events", targets[prog], "id").read_text())
        perf = next(c for c in real if c["syscall"] == "perf_event_open" and c["fd"] == link["args"]["target_fd"])
        assert perf["args"]["type"] == "tracepoint" and perf["args"]["config"] == tp_id
        assert perf["args"]["tracepoint"] == targets[prog] and perf["seq"] < link["seq"]
        assert link["args"]["prog_fd"] == prog_fd[prog] and link["args"]["attach_type"] == "perf_event"
        assert link["object"] == {"kind": "link", "name": prog}
        enable = next(c for c in real if c["syscall"] == "ioctl" and c["seq"] > link["seq"])
        assert enable["cmd"] == "PERF_EVENT_IOC_ENABLE" and enable["args"]["fd"] == perf["fd"]
    # the tracer's own set-up is not in the trace
    assert not any(c["args"].get("prog_name", "").startswith(("enter_", "exit_")) for c in calls)


def tracefs_dir() -> str:
    return "/sys/kernel/tracing" if os.path.isdir("/sys/kernel/tracing/events") else "/sys/kernel/debug/tracing"


def test_every_fd_referenced_was_returned_earlier_and_still_open(bootstrap_doc):
    """Recomputed from the JSON alone: fds are created by returns and retired by closes."""
    calls = bootstrap_doc["syscalls"]
    live: dict[int, int] = {}
    refs = 0
    for c in calls:
        for r in c["refs"]:
            if r["fd"] < 0:
                assert c["probe"], c   # only libbpf's perf-link probe passes an invalid fd on purpose
                continue
            assert r["fd"] in live, f"call {c['seq']} refers to fd {r['fd']}, which no earlier call returned"
            assert r["seq"] == live[r["fd"]] < c["seq"]
            refs += 1
        if c["syscall"] == "close":
            del live[c["args"]["fd"]]
        elif c["fd"] is not None:
            live[c["fd"]] = c["seq"]
    assert refs > 40
    assert not live   # load unloads everything: every fd it created was closed again


def test_feature_probes_are_marked(bootstrap_doc):
    calls = bootstrap_doc["syscalls"]
    named = [c for c in calls if c["cmd"] in ("BPF_MAP_CREATE", "BPF_PROG_LOAD")]
    for c in named:
        name = c["args"].get("map_name", c["args"].get("prog_name", ""))
        if name.startswith("libbpf_") or name == "":
            assert c["probe"], c
        else:
            assert not c["probe"], c
    btf = _by(calls, "BPF_BTF_LOAD")
    assert [c["probe"] for c in btf] == [c["args"]["btf_size"] < 512 for c in btf]
    assert sum(1 for c in btf if c["probe"]) >= 5
    # the perf-link probe: a two-instruction program linked to fd -1, which fails with EBADF
    bad = [c for c in _by(calls, "BPF_LINK_CREATE") if c["errno"]]
    assert bad and all(c["probe"] and c["errno"] == "EBADF" and c["args"]["target_fd"] == -1 for c in bad)
    # a probe's close is a probe too; the object's closes are not
    for c in calls:
        if c["syscall"] == "close":
            creator = next(x for x in calls if x["seq"] == c["refs"][0]["seq"])
            assert c["probe"] == creator["probe"]


@needs_strace
def test_same_calls_as_strace_sees_and_as_a_run_without_the_flag(tracefs):
    p, with_flag = _run_under_strace("--attach", "--trace-syscalls", "--json", str(BOOTSTRAP_OBJ))
    assert p.returncode == 0, p.stderr
    ours = _our_steps(json.loads(p.stdout)["syscalls"])
    seen = _strace_steps(with_flag)
    # everything strace saw this process do with BPF, from the first libbpf call to the last close
    first = next(i for i, s in enumerate(seen) if s[0] == "bpf")
    assert ours == seen[first:first + len(ours)]
    assert len(ours) > 60 and sum(1 for s in ours if s[0] == "bpf") > 40
    assert all(s[0] in ("close", "ioctl", "mmap") for s in seen[first + len(ours):])

    p2, without = _run_under_strace("--attach", "--json", str(BOOTSTRAP_OBJ))
    assert p2.returncode == 0, p2.stderr
    assert "syscalls" not in json.loads(p2.stdout)
    plain = _strace_steps(without)
    first2 = next(i for i, s in enumerate(plain) if s[0] == "bpf")
    # the same calls with the same fds: the recorder adds nothing to the recorded process
    assert plain[first2:first2 + len(ours)] == ours


@needs_strace
def test_uprobe_attach_names_file_and_offset_as_strace_sees_them(tracefs):
    """A uretprobe on bash's readline: the perf event's PMU, file, offset and return bit."""
    obj = str(FIXTURES / "uprobe.bpf.o")
    p, seen = _run_under_strace("--attach", "--prog", "bash_readline", "--trace-syscalls", "--json", obj,
                                loads="bash_readline")
    assert p.returncode == 0, p.stderr
    ours = [c for c in json.loads(p.stdout)["syscalls"] if c["syscall"] == "perf_event_open" and not c["probe"]]
    theirs = [c for c in seen if c["name"] == "perf_event_open"]
    assert len(ours) == len(theirs) == 1
    uprobe_type = int(Path("/sys/bus/event_source/devices/uprobe/type").read_text())
    a, f = ours[0]["args"], theirs[0]["fields"]
    assert int(f["type"].split()[0], 0) == uprobe_type and a["type"] == "uprobe"
    assert a["offset"] == int(f["config2"], 0) > 0 and a["config1"] == int(f["config1"], 0)
    assert a["path"] == "/usr/bin/bash" and a["retprobe"] is True and int(f["config"], 0) & 1
    assert ours[0]["fd"] == theirs[0]["ret"]
    assert ours[0]["object"] == {"kind": "perf_event", "name": f"uprobe (return) /usr/bin/bash+{a['offset']:#x}"}

def test_timeline_folds_probes_and_names_fds(tracefs):
    p = bpfinspect("load", "--attach", "--trace-syscalls", str(BOOTSTRAP_OBJ))
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert re.search(r"^\d+ system calls recorded, \d+ of them libbpf's feature probes \(folded; "
                     r"--trace-syscalls=all lists them\)$", out, re.M)
    assert re.search(r"^ *\d+-\d+ +feature probes +BPF_PROG_LOAD ×2, BPF_BTF_LOAD ×\d+, close ×\d+ +\d+ calls$",
                     out, re.M)
    assert re.search(r"^ *\d+ +BPF_MAP_CREATE +exec_start: hash, key 4, value 8, max_entries 8192, BTF fd (\d+): "
                     r"key type \d+, value type \d+ +fd \d+ = map exec_start$", out, re.M)
    assert re.search(r"^ *\d+ +BPF_MAP_FREEZE +fd (\d+) \(map bootstra\.rodata\) +ok$", out, re.M)
    m = re.search(r"^ *\d+ +BPF_PROG_LOAD +handle_exec: tracepoint, 74 insns, .*maps (.*?), log level 4 +"
                  r"fd \d+ = prog handle_exec$", out, re.M)
    assert m and {"exec_start", "rb", "bootstra.rodata", "bootstra.bss"} == \
        set(re.findall(r"fd \d+ ([\w.]+)", m.group(1)))
    assert re.search(r"^ *\d+ +perf_event_open +tracepoint sched/sched_process_exec \(id \d+\), pid -1, cpu 0 +"
                     r"fd \d+ = perf_event tracepoint sched/sched_process_exec$", out, re.M)
    assert re.search(r"^ *\d+ +BPF_LINK_CREATE +fd \d+ \(prog handle_exec\) → fd \d+ \(perf_event tracepoint "
                     r"sched/sched_process_exec\), attach perf_event +fd \d+ = link handle_exec$", out, re.M)
    assert "(probe)" not in out
    assert out.rstrip().endswith("everything was unloaded again")

    full = bpfinspect("load", "--attach", "--trace-syscalls=all", str(BOOTSTRAP_OBJ)).stdout
    assert "feature probes " not in full and "(folded" not in full
    assert re.search(r"^ *\d+ +BPF_MAP_CREATE \(probe\) +libbpf_global: array", full, re.M)
    assert re.search(r"^ *\d+ +BPF_LINK_CREATE \(probe\) +fd \d+ \(prog\) → fd -1, attach perf_event +EBADF$",
                     full, re.M)
    assert re.search(r"^ *\d+ +BPF_BTF_LOAD \(probe\) +\d+ bytes of BTF, 1 type \(ENUM64\)", full, re.M)


def test_rejected_object_shows_the_failed_load(tracefs):
    p = bpfinspect("load", "--trace-syscalls", "--json", str(REJECTED_OBJ))
    assert p.returncode == 1, p.stderr
    calls = json.loads(p.stdout)["syscalls"]
    failed = [c for c in _by(calls, "BPF_PROG_LOAD") if c["errno"]]
    assert failed and all(c["args"]["prog_name"] == "bad" and c["errno"] == "EACCES" for c in failed)
    assert any(c["args"]["prog_name"] == "good" and c["fd"] is not None for c in _by(calls, "BPF_PROG_LOAD"))


def test_without_privilege_or_tracefs_exit_3(tracefs, tmp_path):
    setpriv = shutil.which("setpriv")
    if setpriv is not None:
        cmd = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
               sys.executable, "-m", "bpfinspect", "load", "--trace-syscalls", str(BOOTSTRAP_OBJ)]
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "HOME": str(tmp_path)})
        assert p.returncode == 3, p.stderr
        assert p.stderr == (f"bpfinspect: {BOOTSTRAP_OBJ}: --trace-syscalls needs root (CAP_BPF and CAP_PERFMON, "
                            "or CAP_SYS_ADMIN): it attaches BPF programs to the syscalls tracepoints\n")
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare is missing: the tracefs half of this test needs a private mount namespace")
    script = ("umount -l /sys/kernel/tracing 2>/dev/null; umount -l /sys/kernel/debug 2>/dev/null; "
              f"exec {sys.executable} -m bpfinspect load --trace-syscalls {BOOTSTRAP_OBJ}")
    p = subprocess.run([unshare, "-m", "--propagation", "private", "sh", "-c", script], capture_output=True,
                       text=True, cwd=ROOT)
    assert p.returncode == 3, p.stderr
    assert p.stderr == ("bpfinspect: fixtures/bootstrap.bpf.o: --trace-syscalls needs tracefs, which is not "
                        "mounted; mount it with: mount -t tracefs tracefs /sys/kernel/tracing\n").replace(
                            "fixtures/bootstrap.bpf.o", str(BOOTSTRAP_OBJ))
    assert p.stdout == ""


def test_python_api_records_raw_calls_and_leaves_nothing(tracefs):
    """The recorder in this process: a map made with a raw bpf() call is seen, named and closed."""
    import ctypes

    from bpfinspect.runtime.systrace import SyscallRecorder

    libc = ctypes.CDLL(None, use_errno=True)
    nr = {"x86_64": 321, "aarch64": 280}[os.uname().machine]
    name = f"st{os.getpid() % 100000}".encode()
    attr = (ctypes.c_uint8 * 72)()
    ctypes.memmove(attr, (2).to_bytes(4, "little") + (4).to_bytes(4, "little") + (8).to_bytes(4, "little")
                   + (3).to_bytes(4, "little"), 16)          # array, key 4, value 8, 3 entries
    ctypes.memmove(ctypes.byref(attr, 28), name, len(name))
    before = set(os.listdir("/proc/self/fd"))
    with SyscallRecorder() as rec:
        fd = libc.syscall(nr, 0, attr, 72)
        assert fd >= 0, ctypes.get_errno()
        os.close(fd)
    assert set(os.listdir("/proc/self/fd")) == before
    calls = rec.trace.calls
    assert [(c.cmd or c.syscall) for c in calls] == ["BPF_MAP_CREATE", "close"]
    create, close = calls
    assert create.args["map_name"] == name.decode() and create.args["max_entries"] == 3
    assert create.fd == fd and create.object.label == f"map {name.decode()}" and not create.probe
    assert close.closes is create.object and close.refs[0].object is create.object



def _helpers_of(pid: int) -> list[int]:
    """Recorder helper processes started by process ``pid`` that still exist."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path("/proc", entry, "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(b"helper_main" in a for a in argv) and str(pid).encode() in argv:
            out.append(int(entry))
    return out


def test_interrupted_at_random_moments_leaves_no_recorder_behind(tracefs):
    import random
    import signal
    import time

    cmd = [sys.executable, "-m", "bpfinspect", "load", "--attach", "--trace-syscalls", str(BOOTSTRAP_OBJ)]
    start = time.monotonic()
    assert subprocess.run(cmd, capture_output=True, cwd=ROOT).returncode == 0
    duration = time.monotonic() - start
    rng = random.Random(int.from_bytes(os.urandom(4), "little"))
    interrupted = 0
    for _ in range(16):
        delay = rng.uniform(0.05, duration)
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                             start_new_session=True)
        time.sleep(delay)
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGINT)
        out, err = p.communicate(timeout=120)
        where = f"SIGINT after {delay * 1000:.0f} ms"
        assert "Traceback" not in err and len(err.splitlines()) <= 1, f"{where}:\n{err}"
        assert p.returncode in (0, 130), f"{where}: exit {p.returncode}\n{err}"
        interrupted += p.returncode == 130
        assert wait_for(lambda: not _helpers_of(p.pid), timeout=20), f"{where}: the recorder's helper is still there"
    assert interrupted >= 4, f"only {interrupted} of 16 runs were interrupted while running"



def test_program_map_fds_are_the_maps_the_kernel_says_each_program_uses(tracefs):
    """The kernel's own list (bpf_prog_info.map_ids, read by bpftool) against the map fds the
    recorded instructions name plus the maps bound to the program with BPF_PROG_BIND_MAP."""
    from bpfinspect.runtime import Object
    from bpfinspect.runtime.systrace import SyscallRecorder

    def map_ids_of_fds() -> dict[int, int]:
        out = {}
        for fd in os.listdir("/proc/self/fdinfo"):
            try:
                text = Path(f"/proc/self/fdinfo/{fd}").read_text()
            except OSError:
                continue
            m = re.search(r"^map_id:\s+(\d+)$", text, re.M)
            if m:
                out[int(fd)] = int(m.group(1))
        return out

    with SyscallRecorder() as rec:
        obj = Object.open(str(BOOTSTRAP_OBJ))
        try:
            obj.load()
            kernel = {}
            for name, prog in obj.programs.items():
                info = json.loads(subprocess.run([BPFTOOL, "-j", "prog", "show", "id", str(prog.info()["id"])],
                                                 capture_output=True, text=True, check=True).stdout)
                kernel[name] = set(info["map_ids"])
            id_of = map_ids_of_fds()
        finally:
            obj.close()
    calls = [c for c in rec.trace.calls if not c.probe]
    recorded = {c.args["prog_name"]: {id_of[fd] for fd in c.args["map_fds"]}
                for c in calls if c.cmd == "BPF_PROG_LOAD"}
    for c in calls:
        if c.cmd == "BPF_PROG_BIND_MAP":
            recorded[c.refs[0].object.name].add(id_of[c.args["map_fd"]])
    assert set(recorded) == set(kernel) == {"handle_exec", "handle_exit"}
    for prog in kernel:
        assert recorded[prog] == kernel[prog], prog
    assert len(kernel["handle_exit"]) == 5
