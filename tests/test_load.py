"""`bpfinspect load`: the kernel's verdict per program, as a user runs it (a new process, output piped)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, bpfinspect, needs_bpf
from runtime_util import REJECTED_OBJ, RT_TEST_OBJ, bpftool_ids, tracefs, wait_for  # noqa: F401

pytestmark = needs_bpf


def load_json(*args):
    p = bpfinspect("load", *args, "--json")
    return p, json.loads(p.stdout)


def test_rejected_program_exits_1_with_the_verifiers_reason():
    p = bpfinspect("load", str(REJECTED_OBJ))
    assert p.returncode == 1, p.stderr
    out = p.stdout
    assert re.search(r"^good\s+loaded\s+tracepoint\s.*\stp/syscalls/sys_enter_getpid$", out, re.M)
    assert re.search(r"^bad\s+rejected\s+tracepoint\s.*\stp/syscalls/sys_enter_getppid$", out, re.M)
    assert "bad: rejected by the verifier (EACCES): R0 invalid mem access 'map_value_or_null'" in out
    assert "7: (79) r1 = *(u64 *)(r0 +0)" in out           # the log around the failing instruction
    assert "everything was unloaded again" in out


def test_log_tail_by_default_whole_log_with_v():
    short = bpfinspect("load", str(REJECTED_OBJ), "--tail", "3").stdout
    full = bpfinspect("load", str(REJECTED_OBJ), "-v").stdout
    assert "verifier log (last 3 of" in short
    assert short.count("R0 invalid mem access 'map_value_or_null'") == 2   # reason line + log line
    n_shown = int(re.search(r"last 3 of (\d+) lines", short).group(1))
    body = full.split("verifier log:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert body[0].startswith("    ") and body[-1].startswith("    processed ")
    assert len(body) == n_shown + 3     # -v also shows the statistics lines at the end


def test_json_document():
    p, doc = load_json(str(REJECTED_OBJ))
    assert p.returncode == 1
    assert doc["schema"] == 1 and "runtime_rejected".startswith(doc["object"])  # libbpf keeps 15 characters
    progs = {x["name"]: x for x in doc["programs"]}
    for x in progs.values():
        assert {"name", "type", "loaded", "error", "insns_xlated", "insns_jited", "verified_insns", "log"} <= set(x)
    good, bad = progs["good"], progs["bad"]
    assert good["loaded"] is True and good["error"] is None and good["type"] == "tracepoint"
    assert good["insns_xlated"] >= good["insns"] - 1 and good["insns_jited"] > 0
    # the verifier's statistics line counts what bpf_prog_info reports
    assert good["stats"] == re.search(r"^processed \d+ insns.*$", good["log"], re.M).group(0)
    assert int(good["stats"].split()[1]) == good["verified_insns"]
    assert bad["loaded"] is False and bad["errno"] == "EACCES"
    assert bad["reason"] == "R0 invalid mem access 'map_value_or_null'"
    assert bad["insns_xlated"] is None and "invalid mem access" in bad["log"]
    assert doc["maps"] == [{"name": "counters", "type": "array", "key_size": 4, "value_size": 8, "max_entries": 4,
                            "map_flags": 0, "created": True, "id": doc["maps"][0]["id"]}]


def test_everything_loads_exit_0_and_maps_are_listed():
    p, doc = load_json(str(RT_TEST_OBJ))
    assert p.returncode == 0, p.stderr
    assert doc["strategy"] == "whole" and doc["loaded"] is True
    assert [x["name"] for x in doc["programs"]] == ["on_getppid", "bare"]
    assert all(x["loaded"] and x["id"] for x in doc["programs"])
    maps = {m["name"]: m for m in doc["maps"]}
    assert maps["stats"]["type"] == "hash" and maps["stats"]["key_size"] == 8
    assert maps["runtime_.rodata"]["map_flags"] & 0x80
    assert all(m["created"] for m in doc["maps"])
    # and nothing is left in the kernel afterwards (freed after an RCU grace period)
    ids = {x["id"] for x in doc["programs"]}
    map_ids = {m["id"] for m in doc["maps"]}
    assert wait_for(lambda: not ids & bpftool_ids("prog") and not map_ids & bpftool_ids("map"), timeout=15,
                    interval=0.25)


def test_prog_selects_programs():
    p, doc = load_json(str(REJECTED_OBJ), "--prog", "good")
    assert p.returncode == 0
    progs = {x["name"]: x for x in doc["programs"]}
    assert progs["good"]["loaded"] and not progs["bad"]["selected"] and not progs["bad"]["loaded"]
    p = bpfinspect("load", str(REJECTED_OBJ), "--prog", "nope")
    assert p.returncode == 2 and "no program named 'nope'" in p.stderr and "Traceback" not in p.stderr


def test_attach_reports_each_program(tracefs):
    p, doc = load_json(str(RT_TEST_OBJ), "--attach")
    assert p.returncode == 0, p.stderr
    progs = {x["name"]: x for x in doc["programs"]}
    assert progs["on_getppid"]["attach"] == {"attached": True, "skipped": False, "error": None, "errno": None,
                                             "target": None}
    assert progs["bare"]["attach"]["skipped"] is True


@pytest.mark.skipif(shutil.which("unshare") is None, reason="unshare(1) is not installed")
def test_missing_tracefs_exits_3_and_says_how_to_mount(tracefs):
    # A private mount namespace: tracefs disappears for this command only.
    cmd = ["unshare", "-m", "sh", "-c",
           f"umount {tracefs} && exec {sys.executable} -m bpfinspect load {RT_TEST_OBJ} --attach"]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if "umount" in p.stderr and p.returncode != 3:
        pytest.skip(f"cannot unmount tracefs in a private namespace: {p.stderr.strip()}")
    assert p.returncode == 3, p.stdout + p.stderr
    assert "mount -t tracefs tracefs /sys/kernel/tracing" in p.stderr


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv(1) is not installed")
def test_no_privilege_exits_3():
    import tempfile
    with tempfile.TemporaryDirectory(dir="/tmp") as d:   # readable by the unprivileged user
        os.chmod(d, 0o755)
        obj = os.path.join(d, "o.bpf.o")
        shutil.copy(RT_TEST_OBJ, obj)
        os.chmod(obj, 0o644)
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m",
                            "bpfinspect", "load", obj], capture_output=True, text=True, cwd="/", env=env)
    if open("/proc/sys/kernel/unprivileged_bpf_disabled").read().strip() == "0":
        pytest.skip("unprivileged BPF is enabled on this machine")
    assert p.returncode == 3, p.stdout + p.stderr
    assert "EPERM" in p.stderr and "no privilege" in p.stderr


def test_not_an_object_exits_2(tmp_path):
    f = tmp_path / "x.o"
    f.write_bytes(b"hello")
    p = bpfinspect("load", str(f))
    assert p.returncode == 2 and "not an ELF file" in p.stderr
    p = bpfinspect("load", str(tmp_path / "missing.o"))
    assert p.returncode == 2 and "no such file" in p.stderr


def test_missing_libbpf_exits_3():
    env = dict(os.environ, LIBBPF_SO="/nonexistent/libbpf.so.1")
    p = subprocess.run([sys.executable, "-m", "bpfinspect", "load", str(RT_TEST_OBJ)], capture_output=True,
                       text=True, env=env, cwd=ROOT)
    assert p.returncode == 3 and "cannot load libbpf" in p.stderr
