"""`bpfinspect core`: CO-RE resolution checked against libbpf itself.

The oracle is libbpf's debug log, printed by `bpftool -d gen min_core_btf TARGET OUT OBJ`
(bpftool 7.1, libbpf 1.1): for every relocation the local spec, every candidate with
"matching"/"non-matching" and its spec text, and "no matching targets found".  The kernel
is the oracle for the values (a tracepoint program stores what libbpf patched in) and for
the verdict (each program loaded with the target as libbpf's custom BTF).
"""

from __future__ import annotations

import json
import lzma
import os
import re
import shutil
import tarfile

import pytest

from conftest import BPF_REASON, FIXTURE_OBJECTS, FIXTURES, bpfinspect, obj_id
from core_util import CORE_OBJ, SYNTHETIC, VMLINUX, bpftool_reason, libbpf_log, ours, vmlinux_reason

needs_bpftool = pytest.mark.skipif(bpftool_reason() is not None, reason=bpftool_reason() or "")
needs_vmlinux = pytest.mark.skipif(vmlinux_reason() is not None, reason=vmlinux_reason() or "")


def core_json(obj, *targets: str, extra: tuple[str, ...] = ()) -> tuple[int, dict]:
    args = ["core", str(obj), "--json", *extra]
    for t in targets:
        args += ["--btf", str(t)]
    p = bpfinspect(*args)
    assert p.returncode in (0, 1), p.stderr
    return p.returncode, json.loads(p.stdout)


def _with_core(objs):
    out = []
    for p in objs:
        if p.name.startswith(("legacy_", "core-target")) or "-eb" in p.name:
            continue
        out.append(p)
    return out


# ------------------------------------------------------------------------ oracle: libbpf's log

def _compare(obj, target):
    rc, log, _ = libbpf_log(target, obj)
    code, doc = core_json(obj, str(target))
    mine = ours(doc["targets"][0])
    if rc == 0:
        assert set(mine) == set(log), (sorted(set(mine) ^ set(log)))
        for k in log:
            assert mine[k] == log[k], k
    else:
        # libbpf stops at the first relocation it cannot decide: everything before it agrees,
        # and that one is ambiguous (or an error) here too.
        assert log, "bpftool failed before resolving anything"
        last = max(log, key=lambda k: list(mine).index(k))
        for k in log:
            if k != last:
                assert mine[k] == log[k], k
        stopped = [r for r in doc["targets"][0]["relocations"] if (r["section"], r["index"]) == last][0]
        assert stopped["result"]["status"] in ("ambiguous", "error")
        assert mine[last]["candidates"] == log[last]["candidates"]
        assert code == 1
    return doc


@needs_bpftool
@needs_vmlinux
@pytest.mark.parametrize("target", [VMLINUX, *SYNTHETIC], ids=lambda p: p.name)
def test_every_kind_against_libbpf_log(target):
    doc = _compare(CORE_OBJ, target)
    kinds = {r["kind"] for r in doc["targets"][0]["relocations"]}
    assert kinds == {"byte_off", "byte_sz", "field_exists", "signed", "lshift_u64", "rshift_u64", "local_type_id",
                     "target_type_id", "type_exists", "type_size", "type_matches", "enumval_exists",
                     "enumval_value"}


@needs_bpftool
@needs_vmlinux
@pytest.mark.parametrize("obj", _with_core(FIXTURE_OBJECTS), ids=obj_id)
def test_fixtures_against_libbpf_log_on_this_kernel(obj):
    _compare(obj, VMLINUX)


@needs_bpftool
@pytest.mark.parametrize("obj", [FIXTURES / "bootstrap.bpf.o", FIXTURES / "sections.bpf.o"], ids=obj_id)
@pytest.mark.parametrize("target", SYNTHETIC, ids=lambda p: p.name)
def test_other_fixtures_against_synthetic_targets(obj, target):
    _compare(obj, target)


# ------------------------------------------------------------------------ what the fixture shows

@needs_vmlinux
def test_not_found_cases_and_guards_on_this_kernel():
    code, doc = core_json(CORE_OBJ)
    assert code == 0
    t = doc["targets"][0]
    by = {}
    for r in t["relocations"]:
        by.setdefault((r["kind"], r["local"].split("] ", 1)[1]), []).append(r)
    # a type and an enumerator that exist nowhere: *_exists give 0, not poisoned
    (nowhere,) = by[("type_exists", "struct nowhere_at_all")]
    assert nowhere["result"] == {"status": "not_found", "value": 0, "poisoned": False, "guarded": None,
                                 "reason": "no struct nowhere_at_all in this target"}
    assert nowhere["candidates"] == []
    enum_missing = by[("enumval_exists", "enum bpf_map_type___local::BPF_MAP_TYPE_NOWHERE___local = 4242")]
    assert all(r["result"]["value"] == 0 for r in enum_missing)
    assert enum_missing[0]["candidates"][0]["name"] == "enum bpf_map_type"
    # the flavour finds task_struct by its essential name, which has no 'state' member
    old = by[("byte_off", "struct task_struct___old.state (0:0 @ offset 0)")]
    assert {r["program"] for r in old} == {"record", "old_state", "global_old_state"}
    for r in old:
        assert r["candidates"][0]["name"] == "struct task_struct"
        assert r["result"]["poisoned"] and r["result"]["guarded"]
        assert r["result"]["reason"] == "task_struct has no member state in this target"
    # the enumerator value poisons, guarded by its _exists check
    (val,) = by[("enumval_value", "enum bpf_map_type___local::BPF_MAP_TYPE_NOWHERE___local = 4242")]
    assert val["result"]["poisoned"] and val["result"]["guarded"]
    s = t["summary"]
    assert (s["poisoned"], s["guarded"], s["would_fail"], s["rejected_programs"]) == (5, 5, 0, [])
    # the bitfield: offset and shifts as libbpf computes them from the target's bit offset
    bits = {r["kind"]: r["result"]["value"] for r in t["relocations"] if "in_execve" in r["local"]}
    spec = [r for r in t["relocations"] if "in_execve" in r["local"]][0]["candidates"][0]["spec"]
    bit_off = float(spec.rsplit("offset ", 1)[1].rstrip(")"))
    byte, bit = str(bit_off).split(".")
    bit_pos = int(byte) * 8 + int(bit)
    assert bits["byte_sz"] == 4 and bits["byte_off"] == bit_pos // 32 * 4
    assert bits["lshift_u64"] == 64 - (bit_pos + 1 - bits["byte_off"] * 8) and bits["rshift_u64"] == 63


def test_synthetic_targets_values():
    code, doc = core_json(CORE_OBJ, str(SYNTHETIC[1]))
    assert code == 1
    t = doc["targets"][0]
    vals = {(r["kind"], r["local"].split("] ", 1)[1]): r["result"] for r in t["relocations"]}
    # in_execve:2 at bit 47 of a packed struct: a 2-byte load at byte 4 would straddle its
    # end, libbpf widens it to a 4-byte load at byte 4
    key = "struct task_struct.in_execve (0:77 @ offset 1192.3)"
    assert vals[("byte_sz", key)]["value"] == 4
    assert vals[("byte_off", key)]["value"] == 4
    assert vals[("lshift_u64", key)]["value"] == 64 - (47 + 2 - 32)
    assert vals[("rshift_u64", key)]["value"] == 62
    # ENUM64 target for a 4-byte local enum: by name, with the target's value
    assert vals[("enumval_value", "enum bpf_map_type::BPF_MAP_TYPE_RINGBUF = 27")]["value"] == 31
    # the renamed field makes `record` fail, guards do not cover it
    parent = vals[("byte_off", "struct task_struct.real_parent (0:95 @ offset 1280)")]
    assert parent["poisoned"] and parent["guarded"] is False
    assert parent["reason"] == "task_struct has no member real_parent in this target"
    assert t["summary"]["rejected_programs"] == ["record"]
    # an array index past the end of a fixed array
    iname = vals[("byte_off", "struct filename.iname[3] (0:4:3 @ offset 35)")]
    assert iname["status"] == "not_found" and "out of bounds" in iname["reason"]


def test_flavours_ambiguity_and_pruned_candidates():
    code, doc = core_json(CORE_OBJ, str(SYNTHETIC[2]))
    assert code == 1
    rs = {(r["section"], r["index"]): r for r in doc["targets"][0]["relocations"]}
    first = rs[("tp/syscalls/sys_enter_getppid", 0)]
    assert [c["matched"] for c in first["candidates"]] == [True, True, False]
    # the cache keeps only the two that matched for the next relocation of the same root
    second = rs[("tp/syscalls/sys_enter_getppid", 1)]
    assert [c["type_id"] for c in second["candidates"]] == [c["type_id"] for c in first["candidates"][:2]]
    amb = rs[("tp/syscalls/sys_enter_getppid", 2)]
    assert amb["result"]["status"] == "ambiguous"
    assert "disagree" in amb["result"]["reason"]
    assert doc["targets"][0]["summary"]["works"] is False


# ------------------------------------------------------------------------ the kernel: values

def _tracefs_reason():
    from runtime_util import tracefs_reason
    return tracefs_reason()


@pytest.mark.skipif(BPF_REASON is not None, reason=BPF_REASON or "")
@needs_vmlinux
def test_values_are_what_libbpf_patched_in_the_kernel():
    from bpfinspect.runtime.object import Object

    reason = _tracefs_reason()
    if reason:
        pytest.skip(reason)
    # slot -> (kind, local spec text without its id) as in fixtures/src/core.bpf.c's enum slot
    slots = {
        0: ("byte_off", "struct task_struct.real_parent (0:95 @ offset 1280)"),
        1: ("byte_sz", "struct task_struct.comm (0:125 @ offset 1752)"),
        2: ("field_exists", "struct task_struct.pid (0:92 @ offset 1264)"),
        3: ("field_exists", "struct task_struct___old.state (0:0 @ offset 0)"),
        4: ("signed", "struct task_struct.pid (0:92 @ offset 1264)"),
        5: ("lshift_u64", "struct task_struct.in_execve (0:77 @ offset 1192.3)"),
        6: ("rshift_u64", "struct task_struct.in_execve (0:77 @ offset 1192.3)"),
        7: ("target_type_id", "struct task_struct"),
        8: ("local_type_id", "struct task_struct"),
        9: ("type_exists", "struct task_struct"),
        10: ("type_exists", "struct nowhere_at_all"),
        11: ("type_size", "struct task_struct"),
        12: ("type_matches", "struct list_head"),
        13: ("type_matches", "struct task_struct___old"),
        14: ("enumval_exists", "enum bpf_map_type::BPF_MAP_TYPE_RINGBUF = 27"),
        15: ("enumval_value", "enum bpf_map_type::BPF_MAP_TYPE_RINGBUF = 27"),
        16: ("enumval_exists", "enum bpf_map_type___local::BPF_MAP_TYPE_NOWHERE___local = 4242"),
        19: ("byte_off", "struct task_struct.comm[1] (0:125:1 @ offset 1753)"),
        20: ("byte_off", "struct sk_buff.dev (0:0:0:2:0 @ offset 16)"),
        21: ("byte_sz", "struct sk_buff.tstamp (0:2:0 @ offset 32)"),
        22: ("byte_off", "struct filename.iname[3] (0:4:3 @ offset 35)"),
        25: ("byte_off", "struct task_struct.in_execve (0:77 @ offset 1192.3)"),
        26: ("byte_sz", "struct task_struct.in_execve (0:77 @ offset 1192.3)"),
    }
    _code, doc = core_json(CORE_OBJ)
    predicted: dict = {}
    for r in doc["targets"][0]["relocations"]:
        if r["program"] == "record":
            predicted.setdefault((r["kind"], r["local"].split("] ", 1)[1]), set()).add(r["result"]["value"])
    with Object.open(str(CORE_OBJ)) as o:
        o.programs["bitfield_direct"].autoload = False
        o.load()
        values = o.maps["values"]
        link = o.programs["record"].attach()
        try:
            for _ in range(3):
                os.getppid()
            got = {k: values.lookup(k) for k in range(32)}
        finally:
            link.destroy()
    got = {k: int.from_bytes(v, "little") if isinstance(v, (bytes, bytearray)) else int(v) for k, v in got.items()}
    assert got[11] > 0, "the program did not run"
    for slot, key in slots.items():
        (value,) = predicted[key]
        assert got[slot] == value, (slot, key, got[slot], value)
    # the guarded paths: nothing stored for the missing field, the subprograms took their guards
    assert got[18] == 0 and got[28] == 0
    assert got[23] == (-1) & 0xFFFFFFFFFFFFFFFF and got[24] == (-3) & 0xFFFFFFFFFFFFFFFF


# ------------------------------------------------------------------------ the kernel: verdicts

@pytest.mark.skipif(BPF_REASON is not None, reason=BPF_REASON or "")
@pytest.mark.parametrize("target", [VMLINUX, SYNTHETIC[0], SYNTHETIC[1]], ids=lambda p: p.name)
def test_would_fail_is_the_verifiers_verdict(target):
    """Each program loaded alone with the target as libbpf's custom BTF: the kernel rejects
    exactly the programs `core` says would be rejected, at the poisoned instruction."""
    from bpfinspect.errors import BpfInspectError
    from bpfinspect.runtime.object import Object

    _code, doc = core_json(CORE_OBJ, str(target))
    predicted = set(doc["targets"][0]["summary"]["rejected_programs"])
    would_fail = {(r["kind"], r["local"]) for r in doc["targets"][0]["relocations"]
                  if r["result"]["poisoned"] and not r["result"]["guarded"]}
    rejected = set()
    for name in ("record", "bitfield_direct"):
        with Object.open(str(CORE_OBJ), btf_custom_path=str(target)) as o:
            for p in o.programs.values():
                p.autoload = p.name == name
            try:
                o.load()
            except BpfInspectError:
                rejected.add(name)
                # libbpf rewrites the verifier's "invalid func unknown#195896080" into the
                # relocation it could not resolve: one that `core` says would fail
                log = o.programs[name].log
                m = re.search(r"failed to resolve CO-RE relocation <(\w+)> (.*)", log)
                assert m, log[-500:]
                assert (m.group(1), m.group(2).strip()) in would_fail
    assert rejected == predicted
    if target != VMLINUX:
        assert predicted == {"record"}


# ------------------------------------------------------------------------ targets and errors

@needs_vmlinux
def test_directory_and_archive_targets(tmp_path):
    d = tmp_path / "kernels"
    d.mkdir()
    shutil.copy(SYNTHETIC[0], d / "a-old.o")
    shutil.copy(SYNTHETIC[1], d / "b-new.o")
    (d / "c-broken.btf").write_bytes(b"\x9f\xeb\x01\x00garbage")
    raw = bpfinspect("gen", "min-core-btf", str(CORE_OBJ), "--btf", str(VMLINUX), "-o", str(tmp_path / "min.btf"))
    assert raw.returncode == 0, raw.stderr
    arch = d / "d-kernel.btf.tar.xz"
    with tarfile.open(arch, "w:xz") as tar:
        tar.add(tmp_path / "min.btf", arcname="6.18.0.btf")
    code, doc = core_json(CORE_OBJ, str(d))
    assert code == 1
    paths = [t["path"] for t in doc["targets"]]
    assert paths == [str(d / "a-old.o"), str(d / "b-new.o"), str(d / "c-broken.btf"), f"{arch}:6.18.0.btf"]
    assert doc["targets"][2]["error"] and doc["targets"][2]["summary"] is None
    # the minimal BTF resolves every relocation exactly as the whole kernel BTF does
    _c, full = core_json(CORE_OBJ)
    strip = lambda t: [(r["section"], r["index"], r["result"]["status"], r["result"]["value"])  # noqa: E731
                       for r in t["relocations"] if r["kind"] != "target_type_id"]
    assert strip(doc["targets"][3]) == strip(full["targets"][0])
    assert doc["summary"] == {"targets": 4, "works_on": 1}
    text = bpfinspect("core", str(CORE_OBJ), "--btf", str(d))
    assert "works on: 1 of 4 kernels" in text.stdout


def test_hostile_archives(tmp_path, monkeypatch):
    from bpfinspect.core import targets
    from bpfinspect.errors import MalformedInput

    bomb = tmp_path / "bomb.btf.tar.xz"
    with tarfile.open(bomb, "w:xz") as tar:
        info = tarfile.TarInfo("big.btf")
        data = b"\0" * (1 << 20)
        info.size = len(data)
        import io
        tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("link.btf")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tar.addfile(link)
    monkeypatch.setattr(targets, "MAX_MEMBER", 4096)
    with pytest.raises(MalformedInput, match="larger than"):
        list(targets.iter_targets([str(bomb)]))
    notxz = tmp_path / "x.btf.tar.xz"
    notxz.write_bytes(lzma.compress(b"not a tar") [:20])
    p = bpfinspect("core", str(CORE_OBJ), "--btf", str(notxz))
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "archive" in p.stderr


def test_bad_input_exit_codes(tmp_path):
    p = bpfinspect("core", str(CORE_OBJ), "--btf", str(tmp_path / "missing"))
    assert p.returncode == 2 and "no such file" in p.stderr
    junk = tmp_path / "junk.btf"
    junk.write_bytes(b"\x9f\xeb\x01\x00" + b"\xff" * 40)
    p = bpfinspect("core", str(CORE_OBJ), "--btf", str(junk))
    assert p.returncode == 2 and p.stderr.count("\n") == 1
    p = bpfinspect("core", str(CORE_OBJ), "--btf", str(SYNTHETIC[0]), "--prog", "nope")
    assert p.returncode == 2 and "no program 'nope'" in p.stderr


def test_prog_filter_keeps_its_subprograms():
    _code, doc = core_json(CORE_OBJ, str(SYNTHETIC[0]), extra=("--prog", "record"))
    progs = {r["program"] for r in doc["targets"][0]["relocations"]}
    assert progs == {"record", "old_state", "global_old_state"}
    _code, doc = core_json(CORE_OBJ, str(SYNTHETIC[0]), extra=("--prog", "bitfield_direct"))
    t = doc["targets"][0]
    assert {r["program"] for r in t["relocations"]} == {"bitfield_direct"}
    assert t["summary"]["works"] is True


def _split_over(base_path, tmp_path):
    """A split BTF over ``base_path`` adding `struct nowhere_at_all { int field; }` (ids and
    string offsets continue the base's)."""
    import struct as st

    from bpfinspect.btf import Kind, load_btf
    from bpfinspect.btf.writer import BtfBuilder

    base = load_btf(base_path)
    int_id = [i for i in base.ids() if base.kind(i) == Kind.INT and base.name(i) == "int"][0]
    b = BtfBuilder()
    b.types.append([b.add_str("nowhere_at_all"), (Kind.STRUCT << 24) | 1, 4, b.add_str("field"), int_id, 0])
    raw = b.raw()
    types_len = st.unpack_from("<I", raw, 12)[0]
    base_strs = base.string_table()[1]
    rec = list(st.unpack_from("<6I", raw, 24))
    rec[0] += len(base_strs)
    rec[3] += len(base_strs)
    out = raw[:24] + st.pack("<6I", *rec) + raw[24 + types_len:]
    path = tmp_path / "module.btf"
    path.write_bytes(out)
    return path, base.count + 1


def test_split_btf_with_base(tmp_path):
    split, new_id = _split_over(SYNTHETIC[0], tmp_path)
    code, doc = core_json(CORE_OBJ, str(split), extra=("--base", str(SYNTHETIC[0])))
    t = doc["targets"][0]
    nowhere = [r for r in t["relocations"] if r["kind"] == "type_exists" and "nowhere_at_all" in r["local"]][0]
    assert nowhere["result"]["value"] == 1
    assert nowhere["candidates"] == [{"type_id": new_id, "name": "struct nowhere_at_all", "matched": True,
                                      "spec": f"[{new_id}] struct nowhere_at_all"}]
    field = [r for r in t["relocations"] if r["kind"] == "byte_off" and "nowhere_at_all.field" in r["local"]][0]
    assert field["result"]["value"] == 0 and field["result"]["status"] == "resolved"
    # the base's types are candidates too (libbpf searches a split BTF from id 1)
    parent = [r for r in t["relocations"] if "real_parent" in r["local"]][0]
    assert parent["result"]["status"] == "resolved"
    # without its base, its names point past its own strings: nothing is found, nothing breaks
    p = bpfinspect("core", str(CORE_OBJ), "--btf", str(split), "--summary")
    assert p.returncode == 1 and "internal error" not in p.stderr
