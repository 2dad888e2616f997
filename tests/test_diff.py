"""`bpfinspect diff`: two builds compared as code, against clang builds and the reference tools
(llvm-objdump-19 shows the label noise the comparison must see through; bpftool reads the
types and maps of each build)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from hypothesis import given, settings, strategies as st

from conftest import BPFTOOL, FIXTURES, LLVM_OBJDUMP, bpfinspect
from bpfinspect.compare.code import FunctionCode, compare
from bpfinspect.compare.objects import diff_objects
from bpfinspect.obj import open_object

BASE = FIXTURES / "diff.bpf.o"
SOURCE = FIXTURES / "src" / "diff.bpf.c"


def diff_json(a, b, *extra):
    p = bpfinspect("diff", str(a), str(b), "--json", *extra)
    assert p.returncode in (0, 1), p.stderr
    return p.returncode, json.loads(p.stdout)


def _source_line(pattern: str) -> int:
    lines = SOURCE.read_text().splitlines()
    found = [i + 1 for i, ln in enumerate(lines) if pattern in ln]
    assert len(found) == 1, found
    return found[0]


@pytest.mark.skipif(LLVM_OBJDUMP is None, reason="llvm-objdump-19 is not installed")
@pytest.mark.parametrize("a,b,noisy", [("diff.bpf.o", "diff-clang19.bpf.o", True),
                                       ("bootstrap.bpf.o", "bootstrap-clang16.bpf.o", False)])
def test_two_clang_versions_are_equivalent_in_code(a, b, noisy):
    """clang 14 and clang 19 build diff.bpf.c into the same code that llvm-objdump shows
    differently (label names, jump annotations); clang 16 builds bootstrap the same way."""
    def objdump(name):
        out = subprocess.run([LLVM_OBJDUMP, "-d", "--no-show-raw-insn", str(FIXTURES / name)],
                             capture_output=True, text=True, check=True).stdout
        return [ln for ln in out.splitlines()[2:] if ln.strip()]
    assert (objdump(a) != objdump(b)) == noisy
    code, doc = diff_json(FIXTURES / a, FIXTURES / b)
    assert code == 0 and doc["equivalent"] is True
    assert {p["status"] for p in doc["programs"]} == {"same"}
    assert all(p["lines"] == [] and p["hunks"] == [] for p in doc["programs"])
    human = bpfinspect("diff", str(FIXTURES / a), str(FIXTURES / b))
    assert human.returncode == 0 and "verdict:      equivalent" in human.stdout


def test_an_object_against_itself():
    for name in ("calls.bpf.o", "core.bpf.o", "maps.bpf.o", "v4.bpf.o", "legacy_maps.bpf.o"):
        code, doc = diff_json(FIXTURES / name, FIXTURES / name)
        assert code == 0 and doc["equivalent"], name


def test_one_line_change_is_that_program_and_line():
    code, doc = diff_json(BASE, FIXTURES / "diff-line.bpf.o")
    assert code == 1 and doc["equivalent"] is False
    by = {p["name"]: p for p in doc["programs"]}
    assert by["count_short"]["status"] == "same"
    p = by["count_bytes"]
    assert p["status"] == "changed" and p["changed_functions"] == ["count_bytes"]
    line = _source_line("skb->len * SCALE")
    assert [(ln["function"], ln["line"]) for ln in p["lines"]] == [("count_bytes", line)]
    assert "SCALE" in p["lines"][0]["source"]
    a, b = p["lines"][0]["insns"]
    assert b - a == p["insns"][1] - p["insns"][0] == 3
    # nothing else differs
    assert all(x["status"] == "same" for x in doc["maps"] + doc["globals"] + doc["types"])
    assert doc["core"] == []


def _compile(src_dir, name, out, clang="clang"):
    cmd = [clang, "-O2", "-g", "-target", "bpfel", "-D__TARGET_ARCH_x86", "-I", str(src_dir),
           "-idirafter", "/usr/include/x86_64-linux-gnu", "-c", name, "-o", str(out)]
    subprocess.run(cmd, cwd=src_dir, check=True, capture_output=True)


@pytest.fixture(scope="module")
def edit_dir(tmp_path_factory):
    if shutil.which("clang") is None or BPFTOOL is None:
        pytest.skip("needs clang and bpftool (apt install clang bpftool)")
    vmlinux = subprocess.run([BPFTOOL, "btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "c"],
                             capture_output=True, text=True)
    if vmlinux.returncode != 0:
        pytest.skip(f"bpftool cannot dump this kernel's BTF: {vmlinux.stderr.strip()}")
    d = tmp_path_factory.mktemp("edit")
    (d / "vmlinux.h").write_text(vmlinux.stdout)
    (d / "diff.bpf.c").write_text(SOURCE.read_text())
    _compile(d, "diff.bpf.c", d / "a.o")
    return d


def _edited(d, old, new, out):
    text = SOURCE.read_text()
    assert text.count(old) == 1
    (d / "diff.bpf.c").write_text(text.replace(old, new))
    _compile(d, "diff.bpf.c", d / out)
    return d / out


def test_a_real_one_line_edit_compiled_here_is_that_program_and_line(edit_dir):
    """`& 0xff` before a byte store is no code; `& 0x7f` is one instruction, on that line."""
    b = _edited(edit_dir, "skb->protocol & 0xff;", "skb->protocol & 0x7f;", "b1.o")
    code, doc = diff_json(edit_dir / "a.o", b)
    assert code == 1
    by = {p["name"]: p for p in doc["programs"]}
    assert by["count_bytes"]["status"] == "same"
    p = by["count_short"]
    assert p["status"] == "changed" and p["changed_functions"] == ["count_short"]
    line = _source_line("skb->protocol & 0xff;")
    assert [(ln["function"], ln["line"]) for ln in p["lines"]] == [("count_short", line)]
    assert p["insns"][1] == p["insns"][0] + 1 and [len(h["added"]) for h in p["hunks"]] == [1]


def test_an_edit_in_a_subprogram_changes_the_programs_calling_it(edit_dir):
    """`weigh`'s threshold: only `count_short` calls it.  clang hoists the constant to the
    function's first instructions."""
    b = _edited(edit_dir, "if (len < 64)", "if (len < 100)", "b2.o")
    code, doc = diff_json(edit_dir / "a.o", b)
    assert code == 1
    by = {p["name"]: p for p in doc["programs"]}
    assert by["count_bytes"]["status"] == "same"
    p = by["count_short"]
    assert p["status"] == "changed" and p["changed_functions"] == ["weigh"]
    assert [s["name"] for s in doc["subprograms"] if s["status"] != "same"] == ["weigh"]
    [hunk] = p["hunks"]
    assert hunk["removed"] == ["r2 = 0x40"] and hunk["added"] == ["r2 = 0x64"]
    # BTF line info puts the function's first instructions on the line that names it (DWARF's
    # line table, as llvm-objdump -l shows, says the line of its opening brace)
    line = _source_line("weigh(__u32 len)")
    assert [(x["function"], x["line"]) for x in p["lines"]] == [("weigh", line)]


def _bpftool_struct(path, name):
    out = subprocess.run([BPFTOOL, "btf", "dump", "file", str(path)], capture_output=True, text=True,
                         check=True).stdout
    m = re.search(rf"^\[\d+\] STRUCT '{name}' size=(\d+) vlen=(\d+)$", out, re.M)
    return int(m.group(1)), int(m.group(2))


@pytest.mark.skipif(BPFTOOL is None, reason="bpftool is not installed")
def test_map_global_and_type_layout_changes_are_listed():
    b = FIXTURES / "diff-layout.bpf.o"
    code, doc = diff_json(BASE, b)
    assert code == 1
    maps = {m["name"]: m for m in doc["maps"]}
    assert maps["totals"]["status"] == "same"
    assert maps["flows"]["changes"] == {"value_size": [16, 24], "max_entries": [1024, 2048]}
    # the struct as bpftool reads each build's BTF
    (sa, na), (sb, nb) = _bpftool_struct(BASE, "flow_counts"), _bpftool_struct(b, "flow_counts")
    types = {t["name"]: t for t in doc["types"]}
    t = types["struct flow_counts"]
    assert t["status"] == "changed" and t["size"] == [sa, sb] == [16, 24] and (na, nb) == (2, 3)
    assert t["members"] == [{"name": "drops", "status": "added", "offset_bits": [None, 128],
                             "bitfield_size": [None, 0], "type": [None, "__u64"]}]
    assert "map flows value" in t["used_by"]
    # globals: the same as `globals --json` says of each build
    ga = {v["name"]: v for s in json.loads(bpfinspect("globals", str(BASE), "--json").stdout)["sections"]
          for v in s["variables"]}
    gb = {v["name"]: v for s in json.loads(bpfinspect("globals", str(b), "--json").stdout)["sections"]
          for v in s["variables"]}
    g = {x["name"]: x for x in doc["globals"] if x["name"]}
    for name, x in g.items():
        assert x["offset"] == [ga[name]["offset"], gb[name]["offset"]]
        assert x["size"] == [ga[name]["size"], gb[name]["size"]]
    assert g["seen_short"]["changes"] == ["moved"]
    assert g["seen_packets"]["changes"] == ["moved", "resized", "retyped"]
    assert g["min_len"]["changes"] == ["resized", "retyped"]
    assert g["last_proto"]["type"] == ["char[4]", "char[8]"]
    human = bpfinspect("diff", str(BASE), str(b)).stdout
    assert human.index("summary") < human.index("programs") < human.index("maps") < human.index("globals")
    assert re.search(r"^flows\s+changed\s+value_size 16 -> 24, max_entries 1024 -> 2048$", human, re.M)


def test_prog_limits_the_comparison():
    code, doc = diff_json(BASE, FIXTURES / "diff-line.bpf.o", "--prog", "count_short")
    assert code == 0 and [p["name"] for p in doc["programs"]] == ["count_short"]
    assert {m["name"] for m in doc["maps"]} == {"totals"}
    code, doc = diff_json(BASE, FIXTURES / "diff-layout.bpf.o", "--prog", "count_short")
    assert code == 1 and {m["name"] for m in doc["maps"]} == {"totals"}
    assert {g["name"] for g in doc["globals"]} == {"seen_short", "min_len", "last_proto"}


def test_errors_are_one_line_exit_2(tmp_path):
    p = bpfinspect("diff", str(BASE), "/bin/ls")
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "/bin/ls" in p.stderr
    p = bpfinspect("diff", str(BASE), str(BASE), "--prog", "nope")
    assert p.returncode == 2 and "no program named 'nope'" in p.stderr
    p = bpfinspect("diff", str(BASE))
    assert p.returncode == 2


def test_json_schema():
    code, doc = diff_json(BASE, FIXTURES / "diff-layout.bpf.o")
    assert doc["schema"] == 1
    assert {"equivalent", "programs", "maps", "globals", "types", "core"} <= set(doc)
    for p in doc["programs"]:
        assert {"name", "status", "insns", "lines"} <= set(p)
        assert p["status"] in ("same", "changed", "added", "removed")


def _fc(tokens, targets):
    n = len(tokens)
    return FunctionCode("f", tokens, targets, list(range(n)), [str(t) for t in tokens], [None] * n, n)


def test_jumps_must_land_on_aligned_targets():
    """Same tokens, but the jump goes to a different aligned instruction: a change."""
    toks = [("a",), ("jump", 1), ("b",), ("c",), ("d",)]
    assert compare(_fc(toks, [None, 3, None, None, None]), _fc(toks, [None, 3, None, None, None])) == []
    hunks = compare(_fc(toks, [None, 3, None, None, None]), _fc(toks, [None, 4, None, None, None]))
    assert [(h.a, h.b) for h in hunks] == [((1, 2), (1, 2))]
    # an instruction inserted before the target shifts the offset: no change for the jump
    toks_b = [("a",), ("jump", 1), ("b",), ("x",), ("c",), ("d",)]
    hunks = compare(_fc(toks, [None, 3, None, None, None]), _fc(toks_b, [None, 4, None, None, None, None]))
    assert [(h.a, h.b, h.added) for h in hunks] == [((3, 3), (3, 4), ["('x',)"])]
    # the target itself replaced by another instruction: the jump still lands on its place
    toks_c = [("a",), ("jump", 1), ("b",), ("y",), ("d",)]
    hunks = compare(_fc(toks, [None, 3, None, None, None]), _fc(toks_c, [None, 3, None, None, None]))
    assert [(h.a, h.b) for h in hunks] == [((3, 4), (3, 4))]


@given(st.lists(st.sampled_from("abcde"), max_size=40), st.lists(st.sampled_from("abcde"), max_size=40))
@settings(max_examples=300, deadline=None)
def test_hunks_turn_one_stream_into_the_other(a, b):
    """Replaying the hunks on A's instructions gives B's, and no hunk is empty."""
    fa = _fc([(x,) for x in a], [None] * len(a))
    fb = _fc([(x,) for x in b], [None] * len(b))
    hunks = compare(fa, fb)
    assert (hunks == []) == (a == b)
    out, pos = [], 0
    for h in hunks:
        assert h.removed or h.added
        assert h.a[0] >= pos
        out.extend(fa.texts[pos:h.a[0]])
        assert h.removed == fa.texts[h.a[0]:h.a[1]]
        out.extend(h.added)
        pos = h.a[1]
    out.extend(fa.texts[pos:])
    assert out == fb.texts


def test_a_header_bump_moving_fields_is_no_change(edit_dir, tmp_path):
    """bootstrap.bpf.c built against this kernel's vmlinux.h and against one whose task_struct
    starts with an extra member: every CO-RE access of task_struct gets another local offset
    (libbpf patches it on load), the code is the same."""
    src = FIXTURES / "src"
    for d, header in (("old", None), ("new", "struct task_struct {\n\tlong __bumped_for_test;\n")):
        out = tmp_path / d
        out.mkdir()
        text = (edit_dir / "vmlinux.h").read_text()
        if header:
            assert text.count("struct task_struct {\n") == 1
            text = text.replace("struct task_struct {\n", header)
        (out / "vmlinux.h").write_text(text)
        for name in ("bootstrap.bpf.c", "bootstrap.h"):
            (out / name).write_text((src / name).read_text())
        _compile(out, "bootstrap.bpf.c", out / "b.o")
    a, b = open_object(tmp_path / "old" / "b.o"), open_object(tmp_path / "new" / "b.o")
    offsets = lambda o: sorted(c.text for c in o.core_relos if "task_struct" in c.text)  # noqa: E731
    assert offsets(a) != offsets(b)                   # the local offsets moved
    code, doc = diff_json(tmp_path / "old" / "b.o", tmp_path / "new" / "b.o")
    assert code == 0 and doc["equivalent"], [p for p in doc["programs"] if p["status"] != "same"]
