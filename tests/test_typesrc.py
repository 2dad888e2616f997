"""The type source (BTF, then DWARF) and the record types of ring buffers and perf event arrays,
against llvm-objdump-19 (the sizes in the instructions) and llvm-dwarfdump-19 (the types DWARF holds)."""

from __future__ import annotations

import ctypes
import json
import re
import subprocess

import pytest

from conftest import FIXTURES, LLVM_OBJDUMP, bpfinspect
from dwarf_util import DWARFDUMP, dump, member_bit_offset

from bpfinspect.errors import BpfInspectError, UsageError
from bpfinspect.obj import open_object
from bpfinspect.typesrc import TypeSource

needs_tools = pytest.mark.skipif(LLVM_OBJDUMP is None or DWARFDUMP is None,
                                 reason="llvm-objdump-19 and llvm-dwarfdump-19 are needed (apt install llvm-19)")

# fixture, map -> (record type, size, how); sizes and types are checked against the reference tools too
RECORDS = {
    ("bootstrap.bpf.o", "rb"): ("struct event", 168, "dwarf"),
    ("bootstrap-clang16.bpf.o", "rb"): ("struct event", 168, "dwarf"),
    ("bootstrap-eb.bpf.o", "rb"): ("struct event", 168, "dwarf"),
    ("perf_output.bpf.o", "samples"): ("struct pg_sample", 56, "dwarf"),
    ("perf_output.bpf.o", "results"): ("struct pg_result", 16, "dwarf"),
    ("uprobe.bpf.o", "lines"): ("struct line_event", 84, "dwarf"),
    ("maps.bpf.o", "ring_out"): ("__u64", 8, "dwarf"),
    ("maps.bpf.o", "perf_out"): ("__u32", 4, "dwarf"),
    ("legacy_dwarf.bpf.o", "flow_events"): ("struct flow_event", 40, "dwarf"),
    ("bootstrap.stripped.bpf.o", "rb"): (None, 168, None),
    ("legacy_maps.bpf.o", "events"): (None, 8, None),
    ("dwarf_shapes.bpf.o", "shapes"): (None, None, None),
}
HELPER_SIZE_REG = {"0x83": "r2", "0x82": "r3", "0x19": "r5"}  # ringbuf_reserve, ringbuf_output, perf_event_output


def _sizes_in_code(name: str) -> set[int]:
    """The constants loaded into the size register last before each record helper call (llvm-objdump-19)."""
    out = subprocess.run([LLVM_OBJDUMP, "-d", "--no-show-raw-insn", str(FIXTURES / name)], capture_output=True,
                         text=True, check=True).stdout
    sizes = set()
    for block in re.split(r"\n\n", out):
        lines = block.splitlines()
        for i, line in enumerate(lines):
            m = re.search(r"\bcall (0x[0-9a-f]+)$", line)
            if not m or m.group(1) not in HELPER_SIZE_REG:
                continue
            reg = HELPER_SIZE_REG[m.group(1)]
            for prev in reversed(lines[:i]):
                k = re.search(rf"\b{reg} = (0x[0-9a-f]+)$", prev)
                if k:
                    sizes.add(int(k.group(1), 16))
                    break
    return sizes


def _dwarf_size(name: str, type_name: str) -> int:
    """The byte size DWARF gives a struct or a typedef (through what it names), per llvm-dwarfdump-19."""
    d = dump(FIXTURES / name)
    bare = type_name.removeprefix("struct ")
    tag = "DW_TAG_structure_type" if type_name.startswith("struct ") else "DW_TAG_typedef"
    for x in d.values():
        if x.tag == tag and x.text("DW_AT_name") == bare and "DW_AT_declaration" not in x.attrs:
            for _ in range(16):
                if "DW_AT_byte_size" in x.attrs:
                    return x.num("DW_AT_byte_size")
                x = d[x.ref("DW_AT_type")]
    raise AssertionError(f"{type_name} not in {name}'s DWARF")


@needs_tools
@pytest.mark.parametrize("key", sorted(RECORDS), ids=lambda k: f"{k[0]}:{k[1]}")
def test_record_types(key):
    name, map_name = key
    want_type, want_size, how = RECORDS[key]
    rec = TypeSource(open_object(FIXTURES / name)).record_types()[map_name]
    assert (rec.name, rec.size, rec.how) == (want_type, want_size, how), rec.note
    if want_size is not None:
        assert want_size in _sizes_in_code(name)
    if want_type is not None:
        assert _dwarf_size(name, want_type) == want_size
        assert rec.note is None
        assert all(s.type == want_type and s.size == want_size for s in rec.sites)
    else:
        assert rec.note


def test_record_notes_say_why():
    rec = TypeSource(open_object(FIXTURES / "bootstrap.stripped.bpf.o")).record_types()["rb"]
    assert "no DWARF" in rec.note and "--type MAP=TYPE" in rec.note
    rec = TypeSource(open_object(FIXTURES / "dwarf_shapes.bpf.o")).record_types()["shapes"]
    assert rec.note.startswith("records of 11 sizes")
    # the record reserved in a static subprogram that gets the map as an argument
    rec = TypeSource(open_object(FIXTURES / "perf_output.bpf.o")).record_types()["results"]
    assert [(s.program, s.function, s.helper) for s in rec.sites] == [
        ("on_getpgid_exit", "send_result", "bpf_ringbuf_reserve")]


def test_maps_json_gives_record_types():
    for name, want in (("bootstrap.bpf.o", {"rb": "struct event", "exec_start": None}),
                       ("perf_output.bpf.o", {"samples": "struct pg_sample", "results": "struct pg_result"})):
        p = bpfinspect("maps", str(FIXTURES / name), "--json", check=True)
        doc = json.loads(p.stdout)
        assert {m["name"]: m["record_type"] for m in doc["maps"]} == want
        for m in doc["maps"]:
            assert set(m) >= {"record_type", "record_size", "record_source", "record_note"}
    p = bpfinspect("maps", str(FIXTURES / "bootstrap.bpf.o"), check=True)
    line = next(x for x in p.stdout.splitlines() if x.startswith("rb "))
    assert line.rstrip().endswith("record: struct event")


def test_type_overrides():
    p = bpfinspect("maps", str(FIXTURES / "bootstrap.stripped.bpf.o"), "--type", "rb=u64", "--json", check=True)
    rb = next(m for m in json.loads(p.stdout)["maps"] if m["name"] == "rb")
    assert (rb["record_type"], rb["record_source"]) == ("u64", "override")
    assert rb["record_note"] == "the programs send 168 bytes; u64 is 8"
    for args, words in (
            (["--type", "rb=struct event"], ["struct event: no such type in the object's BTF",
                                              "the object's DWARF (none"]),
            (["--type", "nope=u64"], ["no map 'nope'"]),
            (["--type", "exec_start=u64"], ["exec_start", "hash map, not a ring buffer"]),
            (["--type", "rb"], ["write MAP=TYPE"]),
            (["--type", "rb=struct"], ["not a type name"])):
        p = bpfinspect("maps", str(FIXTURES / "bootstrap.stripped.bpf.o"), *args)
        assert p.returncode == 2, p.stderr
        assert p.stderr.count("\n") == 1 and "Traceback" not in p.stderr
        for w in words:
            assert w in p.stderr, (w, p.stderr)


# ---------------------------------------------------------------------------- objects without BTF


@needs_tools
def test_globals_and_maps_of_an_object_without_btf_come_from_dwarf():
    name = "legacy_dwarf.bpf.o"
    doc = json.loads(bpfinspect("globals", str(FIXTURES / name), "--json", check=True).stdout)
    got = {v["name"]: v["type"] for s in doc["sections"] for v in s["variables"]}
    assert got == {"total_packets": "__u64", "last_stats": "struct flow_stats", "sample_every": "__u32",
                   "watched_port": "const volatile __u16"}
    # what DWARF says, through llvm-dwarfdump
    d = dump(FIXTURES / name)
    for x in d.values():
        if x.tag == "DW_TAG_variable" and x.text("DW_AT_name") in got:
            t = re.match(r'\(0x[0-9a-f]+ "(.*)"\)', x.attrs["DW_AT_type"]).group(1)
            assert got[x.text("DW_AT_name")].removeprefix("struct ") == t
    doc = json.loads(bpfinspect("maps", str(FIXTURES / name), "--json", check=True).stdout)
    maps = {m["name"]: m for m in doc["maps"]}
    assert (maps["flows"]["key_type"], maps["flows"]["value_type"]) == ("struct flow_key", "struct flow_stats")
    assert (maps["counters"]["key_type"], maps["counters"]["value_type"]) == (None, None)
    assert maps["flow_events"]["record_type"] == "struct flow_event"
    assert _dwarf_size(name, "struct flow_key") == maps["flows"]["key_size"]
    assert _dwarf_size(name, "struct flow_stats") == maps["flows"]["value_size"]
    text = bpfinspect("globals", str(FIXTURES / name), check=True).stdout
    assert re.search(r"\b8\s+24\s+last_stats\s+struct flow_stats\s+global", text)


# ---------------------------------------------------------------------------- the type source


@needs_tools
def test_a_type_only_dwarf_has_joins_the_objects_btf():
    obj = open_object(FIXTURES / "bootstrap.bpf.o")
    ts = TypeSource(obj)
    ref = ts.find("struct event")
    assert (ref.source, ref.where, ref.name) == ("dwarf", "bootstrap.h:9", "struct event")
    btf = ts.btf
    assert ref.id > obj.btf.count  # a split table on top of the object's BTF
    # members refer to the object's own types where it has them (int, unsigned int...)
    members = btf.type(ref.id).members
    assert btf.name(members[0].type) == "int" and members[0].type <= obj.btf.count
    # its layout as ctypes is DWARF's (llvm-dwarfdump)
    from bpfinspect.btf.ctypes_layout import ctype_for
    cls = ctype_for(btf, ref.id)
    d = dump(FIXTURES / "bootstrap.bpf.o")
    die = next(x for x in d.values() if x.tag == "DW_TAG_structure_type" and x.text("DW_AT_name") == "event")
    assert ctypes.sizeof(cls) == die.num("DW_AT_byte_size")
    for c in die.children:
        m = d[c]
        assert getattr(cls, m.text("DW_AT_name")).offset * 8 == member_bit_offset(m, d, True)
    # a type BTF has comes from BTF; a bare name finds the struct too
    assert ts.find("struct task_struct").source == "btf"
    assert ts.find("event") == ref
    # ids stay valid as the table grows
    before = ts.btf.type_name(ref.id)
    ts.find("struct trace_entry")
    assert ts.btf.type_name(ref.id) == before


def test_pointer_targets_become_declarations():
    ts = TypeSource(open_object(FIXTURES / "dwarf_shapes.bpf.o"))
    ref = ts.find("struct sh_ptrs")
    btf = ts.btf
    from bpfinspect.btf import Kind
    task = next(m for m in btf.type(ref.id).members if m.name == "task")
    target = btf.ref(task.type)
    assert (btf.kind(target), btf.name(target)) == (Kind.FWD, "task_struct")
    assert btf.count - ts.obj.btf.count < 30  # not the kernel's task_struct and all it reaches


def test_not_found_says_where_it_looked():
    ts = TypeSource(open_object(FIXTURES / "bootstrap.stripped.bpf.o"))
    with pytest.raises(UsageError) as e:
        ts.find("struct event")
    assert "the object's BTF and the object's DWARF (none: no .debug_info" in e.value.message
    ts = TypeSource(open_object(FIXTURES / "legacy_maps.bpf.o"))
    with pytest.raises(UsageError, match=r"the object's BTF \(none\)"):
        ts.find("u32")
    assert ts.lookup("struct nothing") is None


def test_layout_difference_names_the_first_difference():
    from bpfinspect.btf.writer import BtfBuilder
    from bpfinspect.btf import Kind
    from bpfinspect.typesrc.compare import layout_difference

    def record(fields, size=16, bitfield=None):
        b = BtfBuilder()
        i = b.add_int("int", 4, 1)
        c = b.add_int("char", 1, 1)
        arr = b.add_array(c, i, 8)
        s = b.add_composite(Kind.STRUCT, "ev", size)
        for name, off in fields:
            b.add_member(s, name, arr if name == "comm" else i, off, 0)
        if bitfield:
            b.add_member(s, "flag", i, bitfield[0], bitfield[1])
        return b.btf(), s

    a = record([("pid", 0), ("comm", 32)])
    assert layout_difference(*a, *record([("pid", 0), ("comm", 32)])) is None
    assert layout_difference(*a, *record([("pid", 0), ("comm", 64)])) == "member comm: offset 4 and 8"
    assert layout_difference(*a, *record([("pid", 0), ("comm", 32)], size=24)) == "size 16 and 24"
    assert layout_difference(*a, *record([("tid", 0), ("comm", 32)])) == "member pid: named pid and tid"
    assert layout_difference(*record([("pid", 0)], bitfield=(96, 3)), *record([("pid", 0)], bitfield=(96, 4))) == \
        "member flag: bitfield width 3 and 4"


# ---------------------------------------------------------------------------- hostile DWARF


def _patched(tmp_path, name, edits) -> str:
    data = bytearray((FIXTURES / name).read_bytes())
    for off, new in edits:
        data[off:off + len(new)] = new
    out = tmp_path / f"patched-{len(list(tmp_path.iterdir()))}.bpf.o"
    out.write_bytes(bytes(data))
    return str(out)


def _die_attr_offsets(name, die_name, tag):
    """File offsets of a DIE's attribute values (pyelftools) and of the .debug_info section."""
    from elftools.elf.elffile import ELFFile
    with open(FIXTURES / name, "rb") as f:
        elf = ELFFile(f)
        info = elf.get_section_by_name(".debug_info")["sh_offset"]
        dw = elf.get_dwarf_info(relocate_dwarf_sections=False)
        for cu in dw.iter_CUs():
            for d in cu.iter_DIEs():
                if d.tag == tag and d.attributes.get("DW_AT_name") and \
                        d.attributes["DW_AT_name"].value == die_name.encode():
                    return info, cu, d, {k: v.offset for k, v in d.attributes.items()}
    raise AssertionError(die_name)


def test_hostile_dwarf_is_one_line_and_exit_2(tmp_path):
    name = "legacy_dwarf.bpf.o"
    info, cu, td, attrs = _die_attr_offsets(name, "__u32", "DW_TAG_typedef")
    _i, _c, st, st_attrs = _die_attr_offsets(name, "flow_stats", "DW_TAG_structure_type")
    from elftools.elf.elffile import ELFFile
    with open(FIXTURES / name, "rb") as f:
        elf = ELFFile(f)
        abbrev = elf.get_section_by_name(".debug_abbrev")["sh_offset"]
        line = elf.get_section_by_name(".debug_line")["sh_offset"]
    cases = {
        "unit longer than the section": [(info, b"\xff\xff\xff\x0f")],
        "unknown abbreviation": [(info + cu.cu_die_offset + 0, b"\x7e")],
        "LEB128 without end": [(abbrev, b"\x80" * 12)],
        "typedef of itself": [(info + attrs["DW_AT_type"], (td.offset - cu.cu_offset).to_bytes(4, "little"))],
        "type reference outside the unit": [(info + attrs["DW_AT_type"], b"\xff\xff\xff\x7f")],
        "type reference to the unit DIE": [(info + attrs["DW_AT_type"],
                                            (cu.cu_die_offset - cu.cu_offset).to_bytes(4, "little"))],
        "struct size out of range": [(info + st_attrs["DW_AT_byte_size"], b"\xff")],
        "bad line table": [(line + 4, b"\x63\x00")],
    }
    for what, edits in cases.items():
        path = _patched(tmp_path, name, edits)
        for cmd in (["maps", path, "--json"], ["globals", path]):
            p = bpfinspect(*cmd)
            assert p.returncode in (0, 2), (what, cmd, p.stderr)
            assert "Traceback" not in p.stderr and "internal error" not in p.stderr, (what, p.stderr)
            if p.returncode == 2:
                assert p.stderr.count("\n") == 1, (what, p.stderr)


def test_hostile_dwarf_types_raise_our_errors(tmp_path):
    """Through the API: every path over a patched DIE ends in a BpfInspectError, never another exception."""
    from bpfinspect.btf.ctypes_layout import ctype_for

    name = "legacy_dwarf.bpf.o"
    info, cu, st, st_attrs = _die_attr_offsets(name, "flow_event", "DW_TAG_structure_type")
    # the first member's type -> the struct itself (a record containing itself by value)
    member = next(iter(st.iter_children()))
    own = (st.offset - cu.cu_offset).to_bytes(4, "little")
    path = _patched(tmp_path, name, [(info + member.attributes["DW_AT_type"].offset, own)])
    ts = TypeSource(open_object(path))
    ref = ts.find("struct flow_event")
    with pytest.raises(BpfInspectError):
        ctype_for(ts.btf, ref.id)
