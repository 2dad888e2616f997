"""`bpfinspect disasm`: JSON shape, coverage of every instruction, annotations, selection,
errors — on the fixtures, compared with llvm-objdump-19, bpftool and the object model."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from bpfinspect.cli.main import main
from bpfinspect.isa.helpers import helper_name
from conftest import FIXTURE_OBJECTS, FIXTURES, bpfinspect
from isa_util import LLVM_OBJDUMP, code_sections, enc, llvm_disasm, write_elf


def run_json(capsys, *args) -> dict:
    assert main(["disasm", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("path", FIXTURE_OBJECTS, ids=lambda p: p.name)
def test_json_lists_every_instruction_once(path, capsys):
    doc = run_json(capsys, str(path))
    assert doc["schema"] == 1
    seen: dict[str, list[int]] = {}
    for prog in doc["programs"]:
        assert set(prog) >= {"name", "section", "instructions"}
        for insn in prog["instructions"]:
            assert set(insn) >= {"index", "text", "annotations"}
            seen.setdefault(prog["section"], []).append(insn["index"])
    ref = llvm_disasm(str(path)) if LLVM_OBJDUMP else None
    for name, _, data, _ in code_sections(str(path)):
        indexes = seen.pop(name)
        assert indexes == sorted(set(indexes)), f"{name}: an instruction listed twice or out of order"
        if ref is not None:
            assert indexes == [i for i, _ in ref[name]], f"{name}: not the instructions llvm-objdump lists"
    assert not seen, f"sections that are not code: {sorted(seen)}"


@pytest.mark.parametrize("path", FIXTURE_OBJECTS, ids=lambda p: p.name)
def test_json_text_is_llvm_text_and_programs_match_model(path, capsys):
    from bpfinspect.obj import open_object

    doc = run_json(capsys, str(path))
    obj = open_object(str(path))
    names = {(p["name"], p["section"]) for p in doc["programs"]}
    for p in obj.programs:
        if p.size:
            assert (p.name, p.section) in names
    if LLVM_OBJDUMP:
        ref = {s: dict(v) for s, v in llvm_disasm(str(path)).items()}
        for prog in doc["programs"]:
            for insn in prog["instructions"]:
                expected = ref[prog["section"]][insn["index"]]
                if expected != "<unknown>" and "lock *(u32" not in expected:
                    assert insn["text"] == expected


def _notes(doc, kind):
    return [(p["name"], i["index"], a) for p in doc["programs"] for i in p["instructions"]
            for a in i["annotations"] if a["kind"] == kind]


def test_annotations_from_the_model(capsys):
    from bpfinspect.obj import open_object

    for fixture in ("calls.bpf.o", "externs.bpf.o", "bootstrap.bpf.o", "maps.bpf.o"):
        path = FIXTURES / fixture
        doc = run_json(capsys, str(path))
        obj = open_object(str(path))
        texts = {(p["section"], i["index"]): i for p in doc["programs"] for i in p["instructions"]}
        for r in obj.relocs:
            if r.kind in ("map_slot", "struct_ops_prog", "data_pointer"):
                continue
            notes = texts[(r.section, r.insn_index)]["annotations"]
            assert any(r.target in a["text"] for a in notes), (fixture, r)
        for c in obj.core_relos:
            notes = texts[(c.section, c.insn_index)]["annotations"]
            assert any(a["kind"] == "core" and c.text in a["text"] for a in notes)
        for name, idx, note in _notes(doc, "helper"):
            assert note["text"] == helper_name(note["id"])
    doc = run_json(capsys, str(FIXTURES / "externs.bpf.o"))
    assert {n["name"] for _, _, n in _notes(doc, "kfunc")} >= {"bpf_rcu_read_lock", "bpf_task_acquire"}
    assert {n["extern"] for _, _, n in _notes(doc, "extern")} == {"kconfig", "ksym"}
    doc = run_json(capsys, str(FIXTURES / "calls.bpf.o"))
    assert {n["name"] for _, _, n in _notes(doc, "subprog")} >= {"record_len", "bucket_of", "count_proto"}
    assert {n["name"] for _, _, n in _notes(doc, "callback")} >= {"loop_step", "sum_elem"}


def test_helper_table_is_the_uapi_enum():
    """The committed table is what scripts/gen_helper_table.py derives from linux/bpf.h."""
    import importlib.util

    from bpfinspect.isa.helper_table import HELPER_NAMES
    from conftest import ROOT

    spec = importlib.util.spec_from_file_location("gen_helper_table", ROOT / "scripts" / "gen_helper_table.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    names = gen.read_names(open("/usr/include/linux/bpf.h").read())
    names += [n for n in gen.LATER if n not in names]
    assert len(HELPER_NAMES) == len(names) >= 212
    for i, name in enumerate(names[1:], 1):
        assert helper_name(i) == "bpf_" + name
    text = open("/usr/include/linux/bpf.h").read()
    assert "FN(map_lookup_elem" in text and helper_name(1) == "bpf_map_lookup_elem"
    assert helper_name(0) is None and helper_name(10_000) is None


def test_line_info_on_stripped_object(capsys):
    stripped = FIXTURES / "bootstrap.stripped.bpf.o"
    out = subprocess.run(["llvm-readelf-19", "-S", str(stripped)], capture_output=True, text=True).stdout
    assert ".debug_info" not in out
    doc = run_json(capsys, str(stripped))
    lines = _notes(doc, "line")
    assert lines and all(n["file"].endswith("bootstrap.bpf.c") for _, _, n in lines)
    assert any("bpf_get_current_pid_tgid" in n["source"] for _, _, n in lines)
    full = run_json(capsys, str(FIXTURES / "bootstrap.bpf.o"))
    assert _notes(full, "line") == lines


def test_select_program_and_section(capsys):
    path = str(FIXTURES / "calls.bpf.o")
    doc = run_json(capsys, path, "--prog", "sock_ipv6")
    assert [p["name"] for p in doc["programs"]] == ["sock_ipv6"]
    doc = run_json(capsys, path, "--section", ".text")
    assert {p["section"] for p in doc["programs"]} == {".text"}
    assert len(doc["programs"]) >= 5
    doc = run_json(capsys, path, "--section", "socket", "--no-annotate")
    assert all(not i["annotations"] for p in doc["programs"] for i in p["instructions"])


def test_human_view_plain_when_piped():
    p = bpfinspect("disasm", str(FIXTURES / "calls.bpf.o"), check=True)
    assert "\x1b[" not in p.stdout
    assert re.search(r"^\s+\d+:\tcall 0x1\s+; bpf_map_lookup_elem$", p.stdout, re.M)
    assert "; ./calls.bpf.c:" in p.stdout
    assert re.search(r"^LBB\d+_\d+:$", p.stdout, re.M)


def test_human_view_coloured_on_a_terminal(tmp_path):
    script = tmp_path / "out.txt"
    cmd = f"python3 -m bpfinspect disasm {FIXTURES / 'calls.bpf.o'} --prog sock_ipv4"
    import sys
    res = subprocess.run(["script", "-qec", cmd.replace("python3", sys.executable), str(script)],
                         capture_output=True, text=True, cwd=str(FIXTURES.parent))
    if res.returncode != 0 and "script" in res.stderr:
        pytest.skip(f"script(1) unavailable: {res.stderr.strip()}")
    assert "\x1b[" in script.read_text(errors="replace")


def test_plain_output_has_no_annotations_and_reassembles(tmp_path):
    path = FIXTURES / "calls.bpf.o"
    p = bpfinspect("disasm", str(path), "--section", ".text", "--plain", check=True)
    assert ";" not in p.stdout and "section" not in p.stdout  # no notes, no source lines, no headers
    src = tmp_path / "t.s"
    src.write_text(p.stdout)
    out = tmp_path / "t.bin"
    bpfinspect("asm", str(src), "-o", str(out), check=True)
    (data,) = [d for name, _, d, _ in code_sections(str(path)) if name == ".text"]
    assert out.read_bytes() == data


def test_errors_are_one_line(tmp_path):
    p = bpfinspect("disasm", str(FIXTURES / "calls.bpf.o"), "--section", "nope")
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "no code section" in p.stderr
    p = bpfinspect("disasm", str(FIXTURES / "calls.bpf.o"), "--prog", "nope")
    assert p.returncode == 2 and p.stderr.count("\n") == 1
    # a code section whose size is not a multiple of 8
    bad = tmp_path / "odd.o"
    bad.write_bytes(write_elf([("xdp", enc(0x95) + b"\x00\x01\x02", 6)], [("f", 1, 0, 2, 1)]))
    p = bpfinspect("disasm", str(bad))
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "multiple of 8" in p.stderr
    assert "Traceback" not in p.stderr


def test_raw_data_is_shown_with_a_warning(tmp_path, capsys):
    obj = tmp_path / "raw.o"
    code = enc(0xB7, 0, 0, 0, 1) + enc(0x0F, 1, 2, 0, 5) + enc(0x00, 1, 2, 3, 4) + enc(0x95)
    obj.write_bytes(write_elf([("xdp", code, 6)], [("f", 1, 0, 2, 1)]))
    doc = run_json(capsys, str(obj))
    insns = doc["programs"][0]["instructions"]
    assert [i["index"] for i in insns] == [0, 1, 2, 3]
    assert insns[1]["text"].startswith(".insn op=0x0f")
    assert any(a["kind"] == "warning" and "imm" in a["text"] for a in insns[1]["annotations"])
    assert any(a["kind"] == "warning" and "unknown opcode" in a["text"] for a in insns[2]["annotations"])
    p = bpfinspect("disasm", str(obj), check=True)
    assert "raw data" in p.stdout
    p = bpfinspect("disasm", str(obj), "--plain", check=True)
    assert p.stdout.count(".insn") == 2 and "raw data" not in p.stdout
    assert p.stderr.count("warning: xdp:") == 2


@pytest.mark.parametrize("path", FIXTURE_OBJECTS, ids=lambda p: p.name)
def test_program_boundaries_agree_with_the_model(path, capsys):
    """disasm cuts sections by the model's functions; they must agree with obj.programs,
    and the listing without notes (--no-annotate) must list the same entries."""
    from bpfinspect.obj import open_object

    obj = open_object(str(path))
    doc = run_json(capsys, str(path))
    quick = run_json(capsys, str(path), "--no-annotate")
    listed = {(p["name"], p["section"]): (p["offset"], p["subprogram"]) for p in doc["programs"]}
    for p in obj.programs:
        if p.size:
            assert listed[(p.name, p.section)] == (p.offset, p.is_subprog)
    strip = lambda d: [(p["name"], p["section"], [(i["index"], i["text"], i.get("plain")) for i in p["instructions"]])
                       for p in d["programs"]]
    assert strip(doc) == strip(quick)


def test_json_layout_is_the_documented_document(capsys):
    from bpfinspect.obj import open_object
    from bpfinspect.views import disasm

    path = str(FIXTURES / "externs.bpf.o")
    listing = disasm.build_listing(open_object(path), need_plain=True)
    assert run_json(capsys, path) == json.loads(json.dumps(disasm.to_json(listing)))


def test_json_with_names_that_look_like_its_structure(capsys, tmp_path):
    """Names from the file that spell the document's own separators stay inside their strings:
    the layout is cut at structure only (the C encoder escapes every quote in a string)."""
    from bpfinspect.obj import open_object
    from bpfinspect.views import disasm

    weird = ['x"}, {"index": 1, "text": "', 'y"}]}, {"name": "z', '}, {"name": ', '\\"], ["\n']
    code = enc(0xB7) + enc(0x05, off=-2) + enc(0x95)  # r0 = 0; goto back (a label note); exit
    syms = [(name, 1, 8 * k, 2, 1) for k, name in enumerate(weird[:3])] + [(weird[3], 1, 16, 0, 0)]
    path = tmp_path / 'a", {"name": "b.bpf.o'
    path.write_bytes(write_elf([("xdp", code, 6)], syms))
    doc = run_json(capsys, str(path))
    assert doc == json.loads(json.dumps(disasm.to_json(disasm.build_listing(open_object(str(path)), need_plain=True))))
    assert doc["file"] == str(path) and [p["name"] for p in doc["programs"]] == weird[:3]


def test_source_line_from_disk_when_btf_has_no_text(tmp_path):
    """BTF line text wins; an empty one is filled from the source file when it exists."""
    from bpfinspect.btf.ext import LineInfo
    from bpfinspect.views import disasm

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "prog.bpf.c").write_text("int a;\nint b = 2;\n")

    class Stub:
        path = str(tmp_path / "prog.bpf.o")

        def line_info(self, section):
            return (LineInfo(0, "./prog.bpf.c", "", 2, 5), LineInfo(8, "./prog.bpf.c", "from btf", 1, 0),
                    LineInfo(16, "./missing.c", "", 3, 0))

    sources: dict = {}
    disasm._source_lines(Stub(), "xdp", sources)
    assert sources[("xdp", 0)][0]["source"] == "int b = 2;" and sources[("xdp", 0)][0]["origin"] == "disk"
    assert sources[("xdp", 1)][0]["source"] == "from btf" and sources[("xdp", 1)][0]["origin"] == "btf"
    assert sources[("xdp", 2)][0]["source"] == ""


def test_source_lines_come_only_from_regular_source_files(tmp_path):
    """The object names the files it wants read: a device, a FIFO, a file that is not source
    code, or one far too large for source is never opened for reading."""
    from bpfinspect.btf.ext import LineInfo
    from bpfinspect.views import disasm

    secret = tmp_path / "secret.txt"
    secret.write_text("password\n")
    fifo = tmp_path / "pipe.c"
    os.mkfifo(fifo)
    big = tmp_path / "big.c"
    with open(big, "wb") as f:
        f.truncate(disasm.MAX_SOURCE + 1)
    link = tmp_path / "zero.c"
    link.symlink_to("/dev/zero")
    names = [str(secret), str(fifo), str(big), str(link), "/dev/zero", "/etc/passwd"]

    class Stub:
        path = str(tmp_path / "prog.bpf.o")

        def line_info(self, section):
            return tuple(LineInfo(8 * k, name, "", 1, 0) for k, name in enumerate(names))

    sources: dict = {}
    disasm._source_lines(Stub(), "xdp", sources)  # returns at once: nothing blocks, nothing is read
    assert [sources[("xdp", k)][0]["source"] for k in range(len(names))] == [""] * len(names)
    assert all(sources[("xdp", k)][0]["origin"] == "btf" for k in range(len(names)))


@pytest.mark.skipif(LLVM_OBJDUMP is None, reason="llvm-objdump-19 is not installed")
def test_debian_objects_through_both_paths(capsys):
    """Every Debian-shipped object through the command, with and without the model: the same
    instructions as llvm-objdump-19 lists, in the same order, with its text."""
    from isa_util import DEBIAN_OBJECTS

    assert DEBIAN_OBJECTS
    for path in DEBIAN_OBJECTS:
        ref = llvm_disasm(path)
        for extra in ((), ("--no-annotate",)):
            doc = run_json(capsys, path, *extra)
            got: dict = {}
            for prog in doc["programs"]:
                got.setdefault(prog["section"], []).extend((i["index"], i["text"]) for i in prog["instructions"])
            assert set(got) == set(ref), path
            for sec, lines in ref.items():
                assert [i for i, _ in got[sec]] == [i for i, _ in lines], (path, sec)
                for (i, want), (_, have) in zip(lines, got[sec]):
                    if want != "<unknown>" and "lock *(u32" not in want:
                        assert have == want, (path, sec, i)
