"""The BTF printers' ways of producing a whole dump give the same bytes.

A whole dump of a large BTF (a kernel's) settles clashing ``___N`` names at the end,
renders definitions ahead in bulk, and walks the type graph in a forked child while the
parent renders; small inputs take the same path without the fork; names that could hide a
placeholder are settled one by one, as printed.  Here every strategy is forced on every
object and compared with bpftool, and the fork's failure paths are driven on purpose.
"""

from __future__ import annotations

import os

import pytest

from btf_util import BtfBuilder, VMLINUX, bpftool_dump, has_btf
from conftest import ALL_OBJECTS, BPFTOOL, obj_id
from test_btf_dump import stress_objects  # noqa: F401  (the fixture)

from bpfinspect.btf import c_dump, load_btf, parallel, parse_btf
from bpfinspect.btf.c_dump import CDumper
from bpfinspect.btf.c_table import Table
from bpfinspect.btf.raw import raw_text
from bpfinspect.errors import MalformedInput

BTF_OBJECTS = [p for p in ALL_OBJECTS if has_btf(p)]
needs_bpftool = pytest.mark.skipif(BPFTOOL is None, reason="bpftool (the reference) is not installed")
needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="this platform has no fork()")


@pytest.fixture
def forced_fork(monkeypatch):
    """Every whole dump forks its walk, whatever its size; yields the list of forks made."""
    monkeypatch.setattr(parallel, "MIN_TYPES", 0)
    monkeypatch.setattr(parallel, "allowed", lambda: True)
    forks = []
    real_fork = os.fork

    def counting_fork():
        pid = real_fork()
        if pid:
            forks.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", counting_fork)
    return forks


@pytest.fixture
def in_order(monkeypatch):
    """Names settled as printed, one definition after the other (no deferral, no fork)."""
    monkeypatch.setattr(CDumper, "_start_deferred", lambda self: False)


def render(path) -> bytes:
    return CDumper(load_btf(path)).dump().encode("utf-8", "surrogateescape")


def all_reaped(pids) -> bool:
    """Every one of the forked children has been waited for (none left running or zombie)."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            continue
        return False
    return True


@needs_bpftool
@needs_fork
@pytest.mark.parametrize("fmt", ["c", "raw"])
@pytest.mark.parametrize("path", BTF_OBJECTS, ids=obj_id)
def test_forked_dump_matches_bpftool(path, fmt, forced_fork, monkeypatch):
    monkeypatch.setattr(c_dump, "_CHILD_RECORDS", 0.5)   # a good share of the records in the child
    ref = bpftool_dump(path, fmt)
    if ref is None:
        return
    btf = load_btf(path)
    text = CDumper(btf).dump() if fmt == "c" else raw_text(btf)
    assert text.encode("utf-8", "surrogateescape") == ref
    assert len(forced_fork) == 1
    assert all_reaped(forced_fork)


@needs_bpftool
@pytest.mark.parametrize("path", BTF_OBJECTS, ids=obj_id)
def test_in_order_dump_matches_bpftool(path, in_order):
    ref = bpftool_dump(path, "c")
    if ref is None:
        return
    assert render(path) == ref


@needs_bpftool
def test_stress_objects_every_strategy(stress_objects, monkeypatch):
    """The objects with clashing names (``___2``), bitfields, packing and tags."""
    stress = stress_objects
    refs = [bpftool_dump(p, "c") for p in stress]
    for label in ("default", "in order", "forked"):
        with monkeypatch.context() as m:
            if label == "in order":
                m.setattr(CDumper, "_start_deferred", lambda self: False)
            elif label == "forked":
                if not hasattr(os, "fork"):
                    continue
                m.setattr(parallel, "MIN_TYPES", 0)
                m.setattr(parallel, "allowed", lambda: True)
            for path, ref in zip(stress, refs):
                assert render(path) == ref, (label, path)


@needs_fork
def test_child_failure_falls_back_to_walking_here(monkeypatch, forced_fork):
    """A child that dies after its walk: the parent walks itself, the output is unchanged."""
    path = next(p for p in BTF_OBJECTS if p.name == "btf_shapes.bpf.o")
    monkeypatch.setattr(parallel, "MIN_TYPES", 10 ** 9)
    expected = render(path)
    monkeypatch.setattr(parallel, "MIN_TYPES", 0)

    def boom(self, items, dups):
        raise RuntimeError("child failure on purpose")

    monkeypatch.setattr(CDumper, "_render_small_items", boom)
    monkeypatch.setattr(c_dump, "_CHILD_RECORDS", 0.5)   # the records the child would have done
    assert render(path) == expected
    assert forced_fork
    assert all_reaped(forced_fork)


@needs_fork
def test_hostile_btf_in_the_forked_walk_raises_here(forced_fork):
    """A cycle found by the child's walk is raised by the parent, with no child left behind."""
    b = BtfBuilder()
    i = b.int_("int")
    b.struct("a", 8, [("x", i, 0), ("b", 3, 32)])   # [2] holds [3] by value
    b.struct("b", 8, [("y", i, 0), ("a", 2, 32)])   # [3] holds [2] by value
    with pytest.raises(MalformedInput):
        CDumper(parse_btf(b.blob())).dump()
    assert forced_fork
    assert all_reaped(forced_fork)


def test_names_with_placeholder_bytes_are_settled_as_printed():
    """A name holding the placeholders' delimiter bytes turns deferral off; output is exact."""
    b = BtfBuilder()
    i = b.int_("int")
    s1 = b.struct("odd\x01name", 4, [("x", i, 0)])
    b.struct("dup", 4, [("p", s1, 0)])
    b.struct("dup", 4, [("q", i, 0)])
    text = CDumper(parse_btf(b.blob())).dump(guards=False)
    assert "struct odd\x01name {" in text
    assert "struct dup {\n\tstruct odd\x01name p;\n};" in text
    assert "struct dup___2 {\n\tint q;\n};" in text


def test_jobs_1_keeps_one_process(monkeypatch):
    monkeypatch.setenv("BPFINSPECT_JOBS", "1")
    assert not parallel.allowed()


@pytest.mark.skipif(not VMLINUX.exists(), reason="this kernel has no /sys/kernel/btf/vmlinux")
@needs_bpftool
def test_vmlinux_without_the_fork_matches_bpftool(monkeypatch):
    monkeypatch.setenv("BPFINSPECT_JOBS", "1")
    btf = load_btf(VMLINUX)
    assert CDumper(btf, Table(btf)).dump().encode() == bpftool_dump(VMLINUX, "c")


# -- the raw rendering in two processes ---------------------------------------------------------

@needs_fork
def test_raw_child_failure_falls_back(monkeypatch, forced_fork):
    path = next(p for p in BTF_OBJECTS if p.name == "btf_shapes.bpf.o")
    btf = load_btf(path)
    monkeypatch.setattr(parallel, "MIN_TYPES", 10 ** 9)
    expected = raw_text(btf)
    monkeypatch.setattr(parallel, "MIN_TYPES", 0)
    monkeypatch.setattr(os, "_exit", lambda status, real=os._exit: real(7))   # every child fails
    assert raw_text(load_btf(path)) == expected
    assert forced_fork
    assert all_reaped(forced_fork)


@needs_fork
def test_sorted_dump_is_the_same_with_the_fork(stress_objects, monkeypatch, forced_fork):
    """--sorted: the child works out the order itself; the text is that of one process."""
    with monkeypatch.context() as m:
        m.setattr(parallel, "MIN_TYPES", 10 ** 9)
        expected = [CDumper(load_btf(p)).dump(sort=True) for p in stress_objects]
    assert not forced_fork
    assert [CDumper(load_btf(p)).dump(sort=True) for p in stress_objects] == expected
    assert len(forced_fork) == len(stress_objects)
    assert all_reaped(forced_fork)
