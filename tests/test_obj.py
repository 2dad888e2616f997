"""The object model against references: llvm-readelf for the container, the kernel for what loads."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import uuid

import pytest
from elftools.elf.elffile import ELFFile

from bpfinspect.obj import open_object
from conftest import (ALL_OBJECTS, BPFTOOL, DEBIAN_OBJECTS, FIXTURE_OBJECTS, FIXTURES, LLVM_OBJDUMP, needs_bpf,
                      obj_id, run, tool)
from isa_util import llvm_disasm

READELF = tool("llvm-readelf-19")


def _ref_slots(data: bytes, little: bool) -> list[tuple[int, int, int, int, int]]:
    """(opcode, dst, src, off, imm) of every 8-byte slot, unpacked here from the raw bytes."""
    out = []
    for op, regs, off, imm in struct.iter_unpack("<BBhi" if little else ">BBhi", data):
        dst, src = (regs & 0xF, regs >> 4) if little else (regs >> 4, regs & 0xF)
        out.append((op, dst, src, off, imm))
    return out


@pytest.mark.parametrize("path", ALL_OBJECTS, ids=obj_id)
def test_programs_are_the_bytes_their_symbols_cover(path):
    """pyelftools reads the file on its own: every program's decoded instructions are the bytes
    its FUNC symbol covers (its size, or up to the next symbol when the size is 0), and every
    instruction of a code section belongs to exactly one function."""
    obj = open_object(path)
    with open(path, "rb") as f:
        ref = ELFFile(f)
        little = ref.little_endian
        syms = {}
        symtab = ref.get_section_by_name(".symtab")
        for sym in symtab.iter_symbols() if symtab is not None else ():
            if sym["st_info"]["type"] == "STT_FUNC" and isinstance(sym["st_shndx"], int):
                syms.setdefault((sym["st_shndx"], sym.name), []).append(sym)
        section_data = {i: s.data() for i, s in enumerate(ref.iter_sections())
                        if s["sh_flags"] & 0x4 and s["sh_type"] == "SHT_PROGBITS"}
    assert {p.section_index for p in obj.programs} <= set(section_data)
    for p in obj.programs:
        data = section_data[p.section_index]
        found = syms.get((p.section_index, p.name))
        if found:
            assert p.offset in [s["st_value"] for s in found], p.name
            sized = [s["st_size"] for s in found if s["st_value"] == p.offset and s["st_size"]]
            if sized and p.offset + sized[0] <= len(data):
                assert p.size == sized[0], p.name
        else:  # a code section without FUNC symbols is one function named after it
            assert (p.offset, p.size) == (0, len(data)), p.name
        assert p.size % 8 == 0 and p.insns == p.size // 8 == len(p.instructions), p.name
        want = _ref_slots(data[p.offset:p.offset + p.size], little)
        assert [(op, regs & 0xF, regs >> 4, off, imm) for op, regs, off, imm in p.instructions] == want, p.name
    for sec in obj.code_sections:
        size = obj.section(sec).size
        covered = sorted((p.offset, p.offset + p.size) for p in obj.programs_in(sec))
        end = 0
        for start, stop in covered:
            assert start >= end, f"{sec}: overlapping functions"
            end = stop
        assert end <= size


_BRANCH = re.compile(r"^(?:if .* goto|goto|gotol|may_goto) ([+-]0x[0-9a-f]+)")
_CALL = re.compile(r"^call (-?0x[0-9a-f]+)$")


@pytest.mark.skipif(LLVM_OBJDUMP is None, reason="llvm-objdump-19 is not installed")
@pytest.mark.parametrize("path", ALL_OBJECTS, ids=obj_id)
def test_instruction_predicates_agree_with_llvm_objdump(path):
    """The model's per-instruction questions against llvm-objdump-19's own decoding: exits,
    branches and where they go, calls and their immediates, two-slot loads; and a helper call
    never carries a relocation (calls that do are subprogram or kfunc calls)."""
    obj = open_object(path)
    ref = llvm_disasm(str(path))
    relocated = {(r.section, r.insn_index) for r in obj.relocs}
    codes = {c.name: c for c in obj.code.values()}
    checked = 0
    for sec, lines in ref.items():
        code = codes[sec]
        for i, text in lines:
            if text == "<unknown>" or text.startswith("lock *(u32"):
                continue  # llvm 19 cannot decode these (see the README): nothing to compare with
            checked += 1
            assert code.is_exit(i) == (text == "exit"), (sec, i, text)
            branch = _BRANCH.match(text)
            if branch:
                assert code.jump_target(i) == i + 1 + int(branch.group(1), 16), (sec, i, text)
            else:
                assert code.jump_target(i) is None, (sec, i, text)
            call = _CALL.match(text)
            kinds = [k for k in (code.helper(i), code.local_call(i), code.kfunc(i)) if k is not None]
            if call:
                assert len(kinds) == 1, (sec, i, text)
                assert code.insn(i).imm == int(call.group(1), 16), (sec, i, text)
                if code.helper(i) is not None:
                    assert (sec, i) not in relocated, (sec, i, text)
            else:
                assert not kinds, (sec, i, text)
            wide = text.endswith(" ll") or text.startswith("ld_pseudo")
            assert code.is_wide(i) == wide, (sec, i, text)
    assert checked or not ref


_SECTION = re.compile(r"^Disassembly of section (.*):$")
_RELOC = re.compile(r"^\t\t([0-9a-f]+):  (R_BPF_\w+)\t(.*)$")


def _llvm_relocs(path) -> dict[str, list[tuple[int, str, str]]]:
    """(byte offset, type, symbol) of every relocation llvm-objdump-19 -dr shows, per code section."""
    out = run([LLVM_OBJDUMP, "-dr", "--no-show-raw-insn", str(path)])
    assert out.returncode == 0, out.stderr
    found: dict[str, list] = {}
    sec = None
    for line in out.stdout.splitlines():
        m = _SECTION.match(line)
        if m:
            sec = m.group(1)
            continue
        m = _RELOC.match(line)
        if m and sec is not None:
            found.setdefault(sec, []).append((int(m.group(1), 16), m.group(2), m.group(3)))
    return found


@pytest.mark.skipif(LLVM_OBJDUMP is None, reason="llvm-objdump-19 is not installed")
@pytest.mark.parametrize("path", ALL_OBJECTS, ids=obj_id)
def test_map_and_global_loads_agree_with_llvm_objdump(path):
    """Every relocation llvm-objdump-19 -dr shows in a code section is the model's relocation of
    that instruction, with the same type and symbol; an ld_imm64 relocated against a symbol
    pyelftools places in .maps is a map load of that map, one against a data section's symbol a
    global-data load."""
    obj = open_object(path)
    with open(path, "rb") as f:
        ref = ELFFile(f)
        little = ref.little_endian
        sec_names = [s.name for s in ref.iter_sections()]
        data = {s.name: s.data() for s in ref.iter_sections() if s["sh_flags"] & 0x4}
        symtab = ref.get_section_by_name(".symtab")
        home, at = {}, {}
        for sym in symtab.iter_symbols() if symtab is not None else ():
            shndx = sym["st_shndx"]
            if sym.name and isinstance(shndx, int) and shndx < len(sec_names):
                home.setdefault(sym.name, sec_names[shndx])
                if sym["st_info"]["type"] == "STT_OBJECT":
                    at.setdefault((sec_names[shndx], sym["st_value"]), sym.name)
    index = {c.name: c.index for c in obj.code.values()}
    seen = 0
    for sec, relocs in _llvm_relocs(path).items():
        code = obj.code[index[sec]]
        for off, rtype, symbol in relocs:
            i = off // 8
            r = obj.reloc_at(index[sec], i)
            assert r is not None and r.offset == off and r.elf_type_name == rtype, (sec, off, r)
            # llvm names a section symbol after its section
            assert r.symbol == symbol or (not r.symbol and symbol in sec_names), (sec, off, r, symbol)
            where = symbol if not r.symbol else home.get(symbol)
            if code.is_wide(i) and where in (".maps", "maps"):
                imm = struct.unpack_from("<i" if little else ">i", data[sec], off + 4)[0]
                want = symbol if r.symbol else at.get((where, imm))
                assert obj.map_load(index[sec], i) == want and want, (sec, off)
            elif code.is_wide(i) and where is not None and where.startswith((".data", ".rodata", ".bss")):
                g = obj.global_load(index[sec], i)
                assert g is not None and g.target_section == where, (sec, off, g)
            else:
                assert obj.map_load(index[sec], i) is None and obj.global_load(index[sec], i) is None, (sec, off)
            seen += 1
    assert seen == sum(len(obj.relocs_in(i)) for i in index.values())


def test_real_world_objects_are_installed():
    assert len(DEBIAN_OBJECTS) >= 40, "libxdp1, xdp-tools and golang-github-cilium-ebpf-dev objects missing"
    assert any("-eb." in p.name for p in DEBIAN_OBJECTS)


@pytest.mark.skipif(READELF is None, reason="llvm-readelf-19 is not installed")
@pytest.mark.parametrize("path", ALL_OBJECTS, ids=obj_id)
def test_sections_and_symbols_match_llvm_readelf(path):
    out = run([READELF, "--sections", "--symbols", "--elf-output-style=JSON", str(path)])
    assert out.returncode == 0, out.stderr
    ref = json.loads(out.stdout)[0]
    ours = open_object(path)
    ref_secs = [s["Section"] for s in ref["Sections"]]
    assert [s.name for s in ours.sections] == [s["Name"]["Name"] for s in ref_secs]
    for s, r in zip(ours.sections, ref_secs):
        assert (s.size, s.offset, s.align) == (r["Size"], r["Offset"], r["AddressAlignment"]), s.name
        assert s.type == r["Type"]["Name"].removeprefix("SHT_"), s.name
    ref_syms = [x["Symbol"] for x in ref["Symbols"]]
    syms = ours.elf.symbols
    # llvm-readelf names section symbols after their section
    names = [s.name or (ours.elf.sections[s.shndx].name if s.type == "SECTION" else "") for s in syms]
    assert names == [r["Name"]["Name"] for r in ref_syms]
    assert [s.value for s in syms] == [r["Value"] for r in ref_syms]
    funcs = {(r["Name"]["Name"]) for r in ref_syms if r["Type"]["Name"] == "Function"
             and r["Section"]["Name"] not in ("Undefined",) and r["Size"] > 0}
    assert funcs <= {p.name for p in ours.programs}


def test_bootstrap_model():
    obj = open_object(FIXTURES / "bootstrap.bpf.o")
    progs = {p.name: p for p in obj.programs}
    assert progs["handle_exec"].type == "tracepoint"
    assert progs["handle_exec"].spec.target == "sched/sched_process_exec"
    assert set(progs["handle_exec"].maps) == {"exec_start", "rb"}
    assert "bpf_ringbuf_reserve" in progs["handle_exec"].helpers or "bpf_ringbuf_output" in progs["handle_exec"].helpers
    maps = {m.name: m for m in obj.maps}
    assert maps["rb"].type == "ringbuf" and maps["rb"].max_entries == 256 * 1024
    assert maps["exec_start"].type == "hash" and maps["exec_start"].key_size == 4 and maps["exec_start"].value_size == 8
    ds = {d.name: d for d in obj.datasecs}
    rodata = ds[".rodata"]
    assert rodata.map_name == "bootstra.rodata" and rodata.skel_name == "rodata"
    v = {x.name: x for x in rodata.variables}["min_duration_ns"]
    assert v.size == 8 and "unsigned long long" in v.type and v.initial == bytes(8)
    assert ds[".bss"].initial is None
    texts = {c.text for c in obj.core_relos}
    assert any(t.startswith("[") and "struct task_struct.tgid (0:" in t for t in texts)


def test_maps_fixture_inner_maps_slots_and_pinning():
    obj = open_object(FIXTURES / "maps.bpf.o")
    maps = {m.name: m for m in obj.maps}
    outer = maps["tenants"]
    assert outer.type == "array_of_maps" and outer.inner is not None and outer.inner.type == "array"
    slots = dict(outer.initial_slots)
    assert set(slots.values()) <= {"tenant_a", "tenant_b", "tenant_c"} and slots
    stages = maps["stages"]
    assert stages.type == "prog_array"
    assert set(dict(stages.initial_slots).values()) <= {p.name for p in obj.programs}
    assert any(m.pinning == "by_name" for m in obj.maps)
    assert {d.name for d in obj.datasecs} >= {".data.counters", ".rodata.cfg"}
    types = {m.type for m in obj.maps}
    for t in ("hash", "array", "percpu_hash", "percpu_array", "lru_hash", "lpm_trie", "ringbuf", "perf_event_array",
              "array_of_maps", "hash_of_maps", "prog_array", "queue", "stack", "bloom_filter", "devmap", "cpumap",
              "xskmap", "sockmap", "sockhash", "sk_storage", "task_storage", "stack_trace", "cgroup_array"):
        assert t in types, t


def test_calls_fixture_relocation_kinds():
    obj = open_object(FIXTURES / "calls.bpf.o")
    kinds = {r.kind for r in obj.relocs}
    assert {"map", "global_data", "subprog_call", "callback", "map_slot"} <= kinds
    subs = {p.name for p in obj.programs if p.is_subprog}
    for r in obj.relocs:
        if r.kind in ("subprog_call", "callback"):
            assert r.target in subs, r


def test_externs_fixture():
    obj = open_object(FIXTURES / "externs.bpf.o")
    kinds = {e.kind for e in obj.externs}
    assert kinds == {"kconfig", "ksym", "kfunc"}
    ksyms = [e for e in obj.externs if e.kind == "ksym"]
    assert any(e.typed for e in ksyms) and any(not e.typed for e in ksyms)
    assert any(e.weak for e in obj.externs) and any(not e.weak for e in obj.externs)
    rk = {r.kind for r in obj.relocs}
    assert {"kfunc", "kconfig", "ksym"} <= rk


def test_struct_ops_fixture_keeps_both_sections():
    obj = open_object(FIXTURES / "struct_ops.bpf.o")
    secs = {m.section for m in obj.maps}
    assert secs == {".struct_ops", ".struct_ops.link"}
    for m in obj.maps:
        assert m.type == "struct_ops" and m.initial_slots
        assert set(dict(m.initial_slots).values()) <= {p.name for p in obj.programs}


def test_legacy_maps_without_btf():
    obj = open_object(FIXTURES / "legacy_maps.bpf.o")
    assert obj.btf is None
    assert obj.maps and all(m.section == "maps" for m in obj.maps)


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.stripped.bpf.o")), ids=obj_id)
def test_stripped_variant_has_the_same_model(path):
    full = open_object(str(path).replace(".stripped", ""))
    stripped = open_object(path)
    assert not any(s.name.startswith(".debug") for s in stripped.sections)
    assert [(p.name, p.section, p.insns, p.maps) for p in stripped.programs] == \
           [(p.name, p.section, p.insns, p.maps) for p in full.programs]
    assert [(m.name, m.type) for m in stripped.maps] == [(m.name, m.type) for m in full.maps]
    assert stripped.line_info(stripped.programs[0].section) == full.line_info(full.programs[0].section)


# -- the kernel's view: what `bpftool prog loadall` creates must match the model ---------------

def _possible_cpus() -> int:
    text = open("/sys/devices/system/cpu/possible").read().strip()
    return max(int(part.split("-")[-1]) for part in text.split(",")) + 1


def _loadall(path, pin_dir, map_dir) -> subprocess.CompletedProcess:
    return run([BPFTOOL, "prog", "loadall", str(path), pin_dir, "pinmaps", map_dir], timeout=120)


def _bpftool_json(*args):
    out = run([BPFTOOL, "-j", *args])
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _pinned_by_name(path) -> list[str]:
    try:
        return [f"/sys/fs/bpf/{m.name}" for m in open_object(path).maps if m.pinning == "by_name"]
    except Exception:
        return []


@needs_bpf
@pytest.mark.skipif(BPFTOOL is None, reason="bpftool is not installed")
def test_kernel_agrees_with_model_for_every_loadable_object():
    loaded = []
    for path in ALL_OBJECTS:
        if "stripped" in path.name:
            continue
        tag = f"bpfi_{uuid.uuid4().hex[:8]}"
        pin_dir, map_dir = f"/sys/fs/bpf/{tag}_p", f"/sys/fs/bpf/{tag}_m"
        by_name = [p for p in _pinned_by_name(path) if not os.path.exists(p)]
        try:
            res = _loadall(path, pin_dir, map_dir)
            all_maps = res.returncode == 0
            if res.returncode != 0:
                # maps pinned by name cannot also be pinned under map_dir: load without pinmaps
                shutil.rmtree(pin_dir, ignore_errors=True)
                res = run([BPFTOOL, "prog", "loadall", str(path), pin_dir], timeout=120)
            if res.returncode != 0 or not os.path.isdir(pin_dir):
                continue
            obj = open_object(path)
            kprogs = {}
            for f in sorted(os.listdir(pin_dir)):
                kprogs[f] = _bpftool_json("prog", "show", "pinned", f"{pin_dir}/{f}")
            ours = {p.name: p for p in obj.programs if not p.is_subprog}
            if not ours:
                continue
            # bpftool pins each program under its full name
            assert set(kprogs) == set(ours), (path, set(kprogs), set(ours))
            for name, info in kprogs.items():
                # the kernel keeps 15 characters; bpftool restores the full name from BTF
                assert info["name"] in (name, name[:15]), (path, name)
                assert info["type"] == ours[name].type, (path, name, info["type"], ours[name].type)
            kmaps = {}
            if all_maps:
                for f in sorted(os.listdir(map_dir)) if os.path.isdir(map_dir) else ():
                    info = _bpftool_json("map", "show", "pinned", f"{map_dir}/{f}")
                    kmaps[info["name"]] = info
            else:
                for info in kprogs.values():
                    for mid in info.get("map_ids", []):
                        m = _bpftool_json("map", "show", "id", str(mid))
                        kmaps[m["name"]] = m
            expected = {}
            for m in obj.maps:
                if m.section in (".maps", "maps"):
                    expected[m.name[:15]] = (m.type, m.key_size, m.value_size, m.max_entries)
            for d in obj.datasecs:
                expected[d.map_name] = ("array", 4, d.size, 1)
            names = expected if all_maps else [n for n in kmaps if n in expected]
            if not all_maps:
                assert set(kmaps) <= set(expected), (path, set(kmaps) - set(expected))
            for name in names:
                want = expected[name]
                assert name in kmaps, (path, name, sorted(kmaps))
                k = kmaps[name]
                got = (k["type"], k["bytes_key"], k["bytes_value"], k["max_entries"])
                if want[0] in ("ringbuf",):
                    got = (k["type"], want[1], want[2], k["max_entries"])
                if want[0] == "perf_event_array" and want[3] == 0:
                    # libbpf sizes an unsized perf event array to the possible CPUs
                    want = want[:3] + (_possible_cpus(),)
                assert got == want, (path, name, got, want)
            loaded.append(obj_id(path))
        finally:
            shutil.rmtree(pin_dir, ignore_errors=True)
            shutil.rmtree(map_dir, ignore_errors=True)
            for p in by_name:
                if os.path.exists(p):
                    os.unlink(p)
    print("loaded and compared:", loaded)
    # the fixtures written to load here must have loaded
    for must in ("bootstrap.bpf.o", "kprobe.bpf.o", "calls.bpf.o", "maps.bpf.o", "sections.bpf.o", "uprobe.bpf.o",
                 "v4.bpf.o"):
        assert must in loaded, (must, loaded)
