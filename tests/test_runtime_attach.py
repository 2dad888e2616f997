"""The runtime's attach API (what `run` is built on): each attach returns a link that detaches on
close, checked against the kernel (bpftool's link list, tc's filter list, ip's XDP state)."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import BPFTOOL, needs_bpf
from runtime_util import BOOTSTRAP_OBJ, DATA, tracefs  # noqa: F401
from run_util import veth  # noqa: F401

pytestmark = needs_bpf
RUN_OBJ = DATA / "run_test.bpf.o"


def link_prog_ids() -> set[int]:
    p = subprocess.run([BPFTOOL, "-j", "link", "show"], capture_output=True, text=True, check=True)
    return {x.get("prog_id") for x in json.loads(p.stdout or "[]")}


@pytest.fixture
def loaded():
    from bpfinspect.runtime import Object
    with Object.open(str(RUN_OBJ)) as obj:
        obj.load()
        yield obj


def test_tracepoint_and_raw_tracepoint_links_detach_on_close(tracefs, loaded):
    for prog, attach in ((loaded.programs["on_getppid"], lambda p: p.attach_tracepoint("syscalls/sys_enter_getppid")),
                         (loaded.programs["on_getppid"], lambda p: p.attach_tracepoint("syscalls", "sys_exit_getppid")),
                         (loaded.programs["on_raw"], lambda p: p.attach_raw_tracepoint("sys_enter"))):
        pid = prog.info()["id"]
        link = attach(prog)
        assert pid in link_prog_ids()
        link.close()
        assert link.destroyed and pid not in link_prog_ids()


def test_wrong_program_type_is_refused_in_words(loaded):
    from bpfinspect.runtime import WrongProgramType
    with pytest.raises(WrongProgramType, match=r"program 'count_xdp' \(SEC\(\"xdp\"\)\) is of type xdp: "
                                               r"attach_tracepoint needs tracepoint"):
        loaded.programs["count_xdp"].attach_tracepoint("sched/sched_switch")
    with pytest.raises(WrongProgramType, match="attach_xdp needs xdp"):
        loaded.programs["count_tc"].attach_xdp("lo")


def test_xdp_and_tc_links(tracefs, loaded, veth):
    a, b = veth
    xdp = loaded.programs["count_xdp"].attach_xdp(b)
    tc = loaded.programs["count_tc"].attach_tc(b, ingress=False)
    assert "prog/xdp" in subprocess.run(["ip", "-d", "link", "show", b], capture_output=True, text=True).stdout
    filters = subprocess.run(["tc", "filter", "show", "dev", b, "egress"], capture_output=True, text=True).stdout
    assert "count_tc" in filters
    tc.close()
    xdp.close()
    assert "prog/xdp" not in subprocess.run(["ip", "-d", "link", "show", b], capture_output=True, text=True).stdout
    assert "clsact" not in subprocess.run(["tc", "qdisc", "show", "dev", b], capture_output=True, text=True).stdout


def test_typed_sections_and_record_type(tracefs):
    import ctypes

    from bpfinspect.runtime import Object
    with Object.open(str(BOOTSTRAP_OBJ), typed_sections=True) as obj:
        obj.section(".rodata").min_duration_ns = 5
        assert obj.section(".data").exit_code_mask == 0xffffffff
        event = obj.record_type("rb")
        # struct event of fixtures/src/bootstrap.h, from the object's DWARF
        assert [f[0] for f in event._fields_ if not f[0].startswith("__pad")][:4] == \
            ["pid", "ppid", "exit_code", "duration_ns"]
        assert ctypes.sizeof(event) == 168
        obj.load()
        assert obj.section(".rodata").min_duration_ns == 5
        assert obj.record_type("exec_start") is None
