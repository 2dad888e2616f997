"""`bpfinspect gen min-core-btf`: byte for byte what `bpftool gen min_core_btf` (7.1) writes."""

from __future__ import annotations

import pytest

from conftest import FIXTURE_OBJECTS, FIXTURES, bpfinspect, obj_id
from core_util import CORE_OBJ, SYNTHETIC, VMLINUX, bpftool_reason, libbpf_log, vmlinux_reason

needs_bpftool = pytest.mark.skipif(bpftool_reason() is not None, reason=bpftool_reason() or "")

TARGETS = ([VMLINUX] if vmlinux_reason() is None else []) + SYNTHETIC
BIG_ENDIAN = {"bootstrap-eb.bpf.o": "bootstrap.bpf.o", "maps-eb.bpf.o": "maps.bpf.o"}


def _core_objects():
    from bpfinspect.obj import open_object

    out = []
    for p in FIXTURE_OBJECTS:
        if p.name.startswith("legacy_"):
            continue
        if open_object(str(p)).core_relos:
            out.append(p)
    return out


CORE_OBJECTS = _core_objects()


def _gen(tmp_path, target, *objs):
    out = tmp_path / "ours.btf"
    p = bpfinspect("gen", "min-core-btf", *map(str, objs), "--btf", str(target), "-o", str(out))
    return p, (out.read_bytes() if out.exists() else None)


def test_fixture_set_has_core_objects():
    assert {"core.bpf.o", "bootstrap.bpf.o", "sections.bpf.o"} <= {p.name for p in CORE_OBJECTS}


@needs_bpftool
@pytest.mark.parametrize("target", TARGETS, ids=lambda p: p.name)
@pytest.mark.parametrize("obj", CORE_OBJECTS, ids=obj_id)
def test_bytes_equal_bpftool(tmp_path, obj, target):
    rc, _log, ref = libbpf_log(target, FIXTURES / BIG_ENDIAN.get(obj.name, obj.name))
    p, mine = _gen(tmp_path, target, obj)
    if rc == 0:
        # big-endian objects: bpftool's libbpf cannot read their .BTF.ext; ours equals what
        # bpftool writes for the little-endian build of the same source
        assert p.returncode == 0, p.stderr
        assert mine == ref
    else:
        # bpftool refuses (an ambiguous relocation): so do we, with one line, exit 1
        assert p.returncode == 1 and mine is None
        assert p.stderr.count("\n") == 1 and "ambiguous" in p.stderr


@needs_bpftool
@pytest.mark.parametrize("target", [t for t in TARGETS if "flavours" not in t.name], ids=lambda p: p.name)
def test_several_objects_in_one_btf(tmp_path, target):
    objs = [CORE_OBJ, FIXTURES / "calls.bpf.o", FIXTURES / "kprobe.bpf.o", FIXTURES / "uprobe.bpf.o"]
    rc, _log, ref = libbpf_log(target, *objs)
    p, mine = _gen(tmp_path, target, *objs)
    assert rc == 0 and p.returncode == 0, p.stderr
    assert mine == ref


def test_output_is_readable_btf_and_resolves_like_the_target(tmp_path):
    from bpfinspect.btf import load_btf

    p, mine = _gen(tmp_path, SYNTHETIC[0], CORE_OBJ)
    assert p.returncode == 0
    btf = load_btf(tmp_path / "ours.btf")
    names = {btf.name(i) for i in btf.ids()}
    assert {"task_struct", "sk_buff", "filename"} <= names
    # the old kernel has no BPF_MAP_TYPE_RINGBUF: the enum is not needed
    assert "bpf_map_type" not in names
    # fields no relocation uses are gone; a pointer to a type nothing else needs points to void
    skb = btf.type(btf.find("sk_buff")[0])
    assert [m.name for m in skb.members] == ["dev", "tstamp"]
    assert btf.type(skb.members[0].type).type == 0
    # type_matches keeps every member of the matched struct (task_struct___old matches here)
    ts = btf.type(btf.find("task_struct")[0])
    assert len(ts.members) == 13


def test_errors(tmp_path):
    p, _ = _gen(tmp_path, tmp_path / "missing.btf", CORE_OBJ)
    assert p.returncode == 2 and p.stderr.count("\n") == 1
    p, _ = _gen(tmp_path, SYNTHETIC[0], FIXTURES / "legacy_maps.bpf.o")
    assert p.returncode == 2 and ".BTF" in p.stderr
    p = bpfinspect("gen", "min-core-btf", str(CORE_OBJ), "--btf", str(SYNTHETIC[0]))
    assert p.returncode == 2 and "-o" in p.stderr
