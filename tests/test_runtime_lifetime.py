"""Lifetime of runtime objects: dropped without close() they free everything at once, and the
pins `load` makes are removed again.

Counted against the kernel: this process's own fds (/proc/self/fd), and the ids of the
programs and maps the test itself created, looked up with bpftool afterwards; never global
counts (other tests load BPF objects at the same time).  Pins are checked in a private mount
namespace with a fresh bpffs, so what it holds is exactly what the run left.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from conftest import FIXTURES, ROOT, needs_bpf
from runtime_util import RT_TEST_OBJ, bpftool_ids, generate_skeleton, open_fds, tracefs, wait_for  # noqa: F401

pytestmark = needs_bpf


def kernel_fds() -> set[tuple[int, str]]:
    """(fd, target) of this process's fds on kernel objects (programs, maps, links, BTF, perf events, epoll)."""
    return {(fd, t) for fd, t in open_fds().items() if t.startswith("anon_inode:")}


def _skeleton_class(module):
    from bpfinspect.runtime.skeleton import Skeleton
    return next(v for v in vars(module).values()
                if isinstance(v, type) and issubclass(v, Skeleton) and v is not Skeleton)


def _attach_and_use(cls):
    """An attached skeleton with a ring buffer and a perf buffer that have delivered records;
    returns it with the ids of its programs and maps."""
    skel = cls.open()
    skel.rodata.target_pid = os.getpid()
    skel.load()
    skel.attach()
    got = []
    rb = skel.maps.rb.ring_buffer(got.append)
    pb = skel.maps.events.perf_buffer(lambda cpu, rec: got.append(rec))
    os.getppid()
    assert wait_for(lambda: rb.poll(10) >= 0 and pb.poll(10) >= 0 and len(got) >= 2, timeout=5)
    assert skel.bss.hits >= 1
    progs = {skel.progs[m].info()["id"] for m in skel.progs if skel.progs[m].fd >= 0}
    maps = {skel.maps[m].info()["id"] for m in skel.maps if skel.maps[m].fd >= 0}
    return skel, progs, maps


@pytest.mark.parametrize("collect", [False, True], ids=["refcount-only", "gc.collect"])
def test_dropped_attached_skeletons_leave_nothing(tmp_path, tracefs, collect):
    cls = _skeleton_class(generate_skeleton(RT_TEST_OBJ, tmp_path, module_name=f"lifetime_skel_{collect}"))
    before = kernel_fds()
    prog_ids: set[int] = set()
    map_ids: set[int] = set()
    enabled = gc.isenabled()
    gc.disable()   # without gc.collect(): reference counting alone must free them
    try:
        for _ in range(3):
            skel, progs, maps = _attach_and_use(cls)
            prog_ids |= progs
            map_ids |= maps
            assert kernel_fds() - before   # it did hold kernel objects
            del skel                       # attached, buffers open, never closed
        if collect:
            gc.collect()
        leftover = kernel_fds() - before
        assert not leftover, f"fds left open: {sorted(leftover)}"
    finally:
        if enabled:
            gc.enable()
    assert prog_ids and map_ids
    # the kernel frees programs and maps after an RCU grace period
    assert wait_for(lambda: not prog_ids & bpftool_ids("prog") and not map_ids & bpftool_ids("map"),
                    timeout=15, interval=0.25), "programs or maps of the dropped skeletons are still loaded"


def test_dropped_object_and_its_parts():
    from bpfinspect.errors import UsageError
    from bpfinspect.runtime import Object

    before = kernel_fds()
    enabled = gc.isenabled()
    gc.disable()
    try:
        obj = Object.open(RT_TEST_OBJ.read_bytes(), name="lifetime")
        obj.load()
        stats = obj.maps["stats"]
        prog = obj.programs["on_getppid"]
        prog_id = prog.info()["id"]
        del obj
        assert kernel_fds() == before    # freed although a map and a program are still referenced
        with pytest.raises(UsageError, match="its BPF object was dropped"):
            stats.get(b"\0" * 8)
        with pytest.raises(UsageError, match="its BPF object was dropped"):
            prog.fd
    finally:
        if enabled:
            gc.enable()
    assert wait_for(lambda: prog_id not in bpftool_ids("prog"), timeout=15, interval=0.25)


UNSHARE = shutil.which("unshare")
MAPS_OBJ = FIXTURES / "maps.bpf.o"
PINNED = "/sys/fs/bpf/fixture_pinned_cfg"   # the map fixtures/src/maps.bpf.c pins by name


def _in_private_bpffs(script: str) -> dict:
    """Run ``script`` (Python) in a private mount namespace with a fresh bpffs on /sys/fs/bpf;
    it prints one JSON document, returned here."""
    code = textwrap.dedent("""
        import json, os, subprocess, sys
        assert subprocess.run(["mount", "-t", "bpf", "bpf", "/sys/fs/bpf"]).returncode == 0
        def load(*args):
            p = subprocess.run([sys.executable, "-m", "bpfinspect", "load", *args, "--json"],
                               capture_output=True, text=True)
            return p.returncode, json.loads(p.stdout), p.stderr
        def pinned_id(path):
            from bpfinspect.runtime import lib
            from bpfinspect.runtime.info import map_info
            fd = lib().bpf_obj_get(path.encode())
            try:
                return map_info(fd)["id"] if fd >= 0 else None
            finally:
                if fd >= 0:
                    os.close(fd)
    """) + textwrap.dedent(script)
    p = subprocess.run([UNSHARE, "-m", "--propagation", "private", sys.executable, "-c", code],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


@pytest.mark.skipif(UNSHARE is None, reason="unshare(1) is not installed")
def test_load_removes_the_pins_it_made():
    out = _in_private_bpffs(f"""
        before = sorted(os.listdir("/sys/fs/bpf"))
        rc, doc, err = load({str(MAPS_OBJ)!r})
        print(json.dumps({{"before": before, "after": sorted(os.listdir("/sys/fs/bpf")), "rc": rc,
                           "pins": doc["pins"], "err": err}}))
    """)
    assert out["rc"] == 0, out["err"]
    assert out["pins"] == [{"map": "fixture_pinned_cfg", "path": PINNED, "kept": False}]
    assert out["after"] == out["before"]


@pytest.mark.skipif(UNSHARE is None, reason="unshare(1) is not installed")
def test_load_keeps_a_pin_that_existed_and_says_so():
    # libbpf itself pins the map (an object loaded and closed with libbpf's default behaviour),
    # then `load` reuses that pin: it must stay, holding the same map.
    out = _in_private_bpffs(f"""
        from bpfinspect.runtime import Object
        with Object.open({str(MAPS_OBJ)!r}) as obj:   # keep_pins=True: libbpf's behaviour
            obj.load()
        first = pinned_id({PINNED!r})
        rc, doc, err = load({str(MAPS_OBJ)!r})
        human = subprocess.run([sys.executable, "-m", "bpfinspect", "load", {str(MAPS_OBJ)!r}],
                               capture_output=True, text=True).stdout
        print(json.dumps({{"first": first, "after": pinned_id({PINNED!r}), "rc": rc, "pins": doc["pins"],
                           "human": human, "err": err}}))
    """)
    assert out["rc"] == 0, out["err"]
    assert out["first"] is not None and out["after"] == out["first"]
    assert out["pins"] == [{"map": "fixture_pinned_cfg", "path": PINNED, "kept": True}]
    assert (f"kept: {PINNED} (map fixture_pinned_cfg) was pinned before this run; libbpf reused that map, "
            f"and the pin stays") in out["human"]
