"""Helpers for the runtime, load and Python skeleton tests."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import BPF_REASON, BPFTOOL, FIXTURES, ROOT

DATA = Path(__file__).resolve().parent / "data"
RT_TEST_OBJ = DATA / "runtime_test.bpf.o"
REJECTED_OBJ = DATA / "runtime_rejected.bpf.o"
BOOTSTRAP_OBJ = FIXTURES / "bootstrap.bpf.o"
TRACEFS = "/sys/kernel/tracing"


def tracefs_reason() -> str | None:
    """Mount tracefs when root and missing; None when tracepoints can be attached, else why not."""
    if os.path.isdir(os.path.join(TRACEFS, "events")):
        return None
    if os.geteuid() != 0:
        return f"tracefs is not mounted at {TRACEFS} and mounting it needs root"
    p = subprocess.run(["mount", "-t", "tracefs", "tracefs", TRACEFS], capture_output=True, text=True)
    if p.returncode != 0 or not os.path.isdir(os.path.join(TRACEFS, "events")):
        return f"tracefs could not be mounted at {TRACEFS}: {p.stderr.strip()}"
    return None


@pytest.fixture(scope="session")
def tracefs():
    if BPF_REASON is not None:
        pytest.skip(BPF_REASON)
    reason = tracefs_reason()
    if reason is not None:
        pytest.skip(reason)
    return TRACEFS


def open_fds() -> dict[int, str]:
    out = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            out[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            pass
    return out


def bpf_fds() -> set[int]:
    return {fd for fd, target in open_fds().items() if target.startswith("anon_inode:") and "bpf" in target
            or target.startswith("anon_inode:[perf_event]") or target == "anon_inode:[eventpoll]"
            or target.startswith("anon_inode:btf")}


def bpftool_ids(kind: str) -> set[int]:
    """Ids of the programs ('prog') or maps ('map') the kernel has, from bpftool."""
    p = subprocess.run([BPFTOOL, "-j", kind, "show"], capture_output=True, text=True, check=True)
    return {item["id"] for item in json.loads(p.stdout or "[]")}


def own_map_ids() -> set[int]:
    """Map ids this process holds fds for (from /proc/self/fdinfo)."""
    ids = set()
    for fd, target in open_fds().items():
        if target == "anon_inode:bpf-map":
            try:
                with open(f"/proc/self/fdinfo/{fd}") as f:
                    for line in f:
                        if line.startswith("map_id:"):
                            ids.add(int(line.split()[1]))
            except OSError:
                pass
    return ids


def import_module_from(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def generate_skeleton(obj_path: Path, out_dir: Path, *, types=(), module_name: str | None = None):
    """Generate the Python skeleton of ``obj_path`` into ``out_dir`` through the library and import it."""
    from bpfinspect.obj import open_object
    from bpfinspect.skel.python import generate

    obj = open_object(str(obj_path))
    name = module_name or f"{obj.name}_skel"
    path = out_dir / f"{name}.py"
    path.write_text(generate(obj, types=list(types), module_name=name))
    return import_module_from(path, name)


def wait_for(predicate, timeout: float = 5.0, interval: float = 0.02) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


__all__ = ["BOOTSTRAP_OBJ", "DATA", "REJECTED_OBJ", "ROOT", "RT_TEST_OBJ", "TRACEFS", "bpf_fds", "bpftool_ids",
           "generate_skeleton", "import_module_from", "open_fds", "own_map_ids", "tracefs", "tracefs_reason",
           "wait_for"]
