"""Raw and C renderings of BTF, byte for byte against the installed bpftool (7.1)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest

from btf_util import DUP_C, STRESS_C, VMLINUX, bpftool_dump, bpftool_dump_or_skip, compile_bpf, has_btf
from conftest import ALL_OBJECTS, BPFTOOL, obj_id

from bpfinspect.btf import load_btf
from bpfinspect.btf.c_dump import CDumper
from bpfinspect.btf.table import Table
from bpfinspect.btf.raw import raw_records, raw_text

pytestmark = pytest.mark.skipif(BPFTOOL is None, reason="bpftool (the reference) is not installed")

BTF_OBJECTS = [p for p in ALL_OBJECTS if has_btf(p)]


def bpftool_records(raw_json: bytes) -> list[dict]:
    """bpftool's JSON type records, with its one known slip undone: it writes the value of an
    unsigned 32-bit enumerator through a signed int, so 0xfffffffb comes out as 2**64 - 5."""
    types = json.loads(raw_json)["types"]
    for t in types:
        if t["kind"] == "ENUM" and t["encoding"] == "UNSIGNED":
            for v in t["values"]:
                v["val"] &= 0xFFFFFFFF
    return types


def ours(path, fmt: str, **kw) -> bytes:
    btf = load_btf(path, **kw)
    text = raw_text(btf) if fmt == "raw" else CDumper(btf).dump()
    return text.encode("utf-8", "surrogateescape")


def test_there_are_objects_to_compare():
    assert len(BTF_OBJECTS) >= 10


@pytest.mark.parametrize("fmt", ["raw", "c"])
@pytest.mark.parametrize("path", BTF_OBJECTS, ids=obj_id)
def test_objects_match_bpftool(path, fmt):
    text = ours(path, fmt)   # whatever bpftool says, we render it
    assert text
    assert text == bpftool_dump_or_skip(path, fmt)


@pytest.mark.parametrize("path", BTF_OBJECTS, ids=obj_id)
def test_json_records_match_bpftool(path):
    records = raw_records(load_btf(path))
    assert records
    assert records == bpftool_records(bpftool_dump_or_skip(path, "raw", json_out=True))


@pytest.fixture(scope="module")
def stress_objects(tmp_path_factory):
    """The stress source built by every clang here, plus a linked object with clashing names."""
    d = tmp_path_factory.mktemp("btfstress")
    out = []
    for cc in ("clang", "clang-16", "clang-19"):
        if shutil.which(cc) is None:
            continue
        a = compile_bpf(cc, STRESS_C, d / f"stress-{cc}.o")
        b = compile_bpf(cc, DUP_C, d / f"dup-{cc}.o")
        out += [a, b]
        linked = d / f"linked-{cc}.o"
        subprocess.run([BPFTOOL, "gen", "object", str(linked), str(a), str(b)], check=True, capture_output=True)
        out.append(linked)
    assert out, "no clang to build the printer stress objects"
    return out


@pytest.mark.parametrize("fmt", ["raw", "c"])
def test_stress_objects_match_bpftool(stress_objects, fmt):
    for path in stress_objects:
        ref = bpftool_dump(path, fmt)
        assert ref is not None, path
        assert ours(path, fmt) == ref, path


def test_stress_covers_the_hard_shapes(stress_objects):
    linked = [p for p in stress_objects if p.name.startswith("linked-clang-19")]
    if not linked:
        pytest.skip("clang-19 missing: type tags and enum64 need it")
    text = ours(linked[0], "c").decode()
    for needle in ("struct dup___2 {", "__attribute__((packed))", "btf_type_tag(\"tag1\")", "ULL,", "LL,",
                   "typedef void (*fnptrs[4])(void);", "typedef int arr3[2][3][4];", "int (* (*fret)(int))[3];",
                   "typedef const char * const * volatile weird;", "typedef char * restrict rptr;",
                   ": 0;", "long: 64;", "struct recur_a;", "enum {", "union {", "struct empty {};", "union uempty {};"):
        assert needle in text, needle


@pytest.fixture(scope="module")
def vmlinux_table():
    if not VMLINUX.exists():
        pytest.skip("this kernel has no /sys/kernel/btf/vmlinux")
    btf = load_btf(VMLINUX)
    return btf, Table(btf)


def test_vmlinux_raw_matches_bpftool(vmlinux_table):
    btf, table = vmlinux_table
    assert raw_text(btf, table=table).encode() == bpftool_dump(VMLINUX, "raw")


def test_vmlinux_c_matches_bpftool(vmlinux_table):
    btf, table = vmlinux_table
    assert CDumper(btf, table).dump().encode() == bpftool_dump(VMLINUX, "c")


def test_vmlinux_json_matches_bpftool(vmlinux_table):
    btf, table = vmlinux_table
    ref = bpftool_records(bpftool_dump(VMLINUX, "raw", json_out=True))
    recs = raw_records(btf, table=table)
    assert len(recs) == len(ref)
    # Compare a spread of records (the whole list is large to compare at once).
    for i in range(0, len(ref), 97):
        assert recs[i] == ref[i]


@pytest.mark.skipif(shutil.which("clang") is None, reason="clang is needed to compile against vmlinux.h")
def test_vmlinux_h_compiles(vmlinux_table, tmp_path):
    btf, table = vmlinux_table
    (tmp_path / "vmlinux.h").write_text(CDumper(btf, table).dump())
    (tmp_path / "prog.c").write_text(
        '#include "vmlinux.h"\n'
        "int x(struct task_struct *t) { return t->pid + sizeof(struct sk_buff) + BPF_MAP_TYPE_HASH; }\n")
    subprocess.run(["clang", "-target", "bpf", "-O2", "-g", "-c", str(tmp_path / "prog.c"), "-o",
                    str(tmp_path / "prog.o")], check=True, capture_output=True)
    assert (tmp_path / "prog.o").stat().st_size > 0


def test_sorted_order_has_every_definition_once(vmlinux_table):
    btf, table = vmlinux_table
    plain = CDumper(btf, table).dump()
    d = CDumper(btf, table)
    ordered = d.dump(sort=True)
    assert ordered != plain
    # The same definitions in another order; ___N suffixes follow the order names are first
    # printed, so compare with them removed.  Forward declarations may differ.
    unsuffixed = lambda text: sorted(re.sub(r"___\d+\b", "", b) for b in text.split("\n\n")
                                     if b.endswith("};") or b.startswith("typedef"))
    assert unsuffixed(ordered) == unsuffixed(plain)
    # Anonymous enums first, then named enums, then (ints and) structs.
    first_named_enum = re.search(r"\nenum \w", ordered).start()
    first_struct = ordered.index("\nstruct ")
    assert ordered.rfind("\nenum {", 0, first_struct) < first_named_enum < first_struct
    # The roots: every id once; named structs/unions by name (their dependencies come first).
    roots = d.sorted_ids()
    assert sorted(roots) == list(range(1, table.count + 1))
    names = [d.raw_name(i).encode() for i in roots if table.kind[i] in (4, 5) and d.raw_name(i)]
    assert names == sorted(names)
    # Sorted output is the dump with those roots, in that order.
    assert CDumper(btf, table).dump(roots) == ordered


def test_split_btf_against_base(tmp_path, vmlinux_table):
    """Split BTF (what kernel modules have): raw lists only its own ids, C includes the base."""
    if shutil.which("pahole") is None or shutil.which("gcc") is None:
        pytest.skip("pahole and gcc are needed to make split BTF")
    src = tmp_path / "mod.c"
    src.write_text("#include <linux/bpf.h>\nstruct my_mod { union bpf_attr a; struct my_mod *next; int x: 3; };\n"
                   "struct my_mod m; struct bpf_insn insn;\n")
    obj = tmp_path / "mod.o"
    subprocess.run(["gcc", "-g", "-c", str(src), "-o", str(obj)], check=True)
    split = tmp_path / "mod.btf"
    r = subprocess.run(["pahole", f"--btf_base={VMLINUX}", f"--btf_encode_detached={split}", str(obj)],
                       capture_output=True, text=True)
    if r.returncode != 0 or not split.exists():
        pytest.skip(f"pahole cannot make split BTF here: {r.stderr.strip()[:200]}")
    btf = load_btf(split, base=VMLINUX)
    assert btf.start_id > 1
    for fmt in ("raw", "c"):
        ref = bpftool_dump(split, fmt, base=VMLINUX)
        assert ref is not None
        text = raw_text(btf) if fmt == "raw" else CDumper(btf).dump()
        assert text.encode() == ref, fmt
        r = subprocess.run([sys.executable, "-m", "bpfinspect", "btf", str(split), "--base", str(VMLINUX),
                            "--format", fmt], capture_output=True, timeout=120)
        assert r.returncode == 0 and r.stdout == ref, fmt


FIXTURE_BUILD_SAMPLE = ["kprobe.bpf.o", "bootstrap.bpf.o", "struct_ops.bpf.o", "btf_shapes.bpf.o"]


@pytest.mark.skipif(shutil.which("clang") is None or shutil.which("clang-19") is None,
                    reason="the fixture build needs clang and clang-19")
def test_fixtures_build_with_our_vmlinux_h(tmp_path, vmlinux_table):
    """fixtures/build.sh with our vmlinux.h: the objects build, and reproduce the committed bytes
    when the committed ones were made from the same vmlinux.h with the same compilers."""
    import hashlib
    from conftest import FIXTURES
    cmd = f"{sys.executable} -m bpfinspect btf {VMLINUX} --format c"
    r = subprocess.run(["sh", str(FIXTURES / "build.sh"), "-o", str(tmp_path / "out"), "-b", str(tmp_path / "b"),
                        *FIXTURE_BUILD_SAMPLE],
                       env={**__import__("os").environ, "VMLINUX_H_CMD": cmd, "BPFINSPECT_NO_CACHE": "1"},
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    ours_h = (tmp_path / "b" / "vmlinux.h").read_bytes()
    assert ours_h == bpftool_dump(VMLINUX, "c")
    from conftest import fixture_vmlinux_sha
    info = (FIXTURES / "build-info.txt")
    same_compilers = info.exists()
    for cc in ("clang", "clang-19"):
        version = subprocess.run([cc, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
        same_compilers = same_compilers and f"{cc}: {version}" in info.read_text()
    ours_sha = hashlib.sha256(ours_h).hexdigest()
    for name in FIXTURE_BUILD_SAMPLE:
        built = (tmp_path / "out" / name).read_bytes()
        assert has_btf(tmp_path / "out" / name)
        if same_compilers and fixture_vmlinux_sha(name) == ours_sha and (FIXTURES / name).exists():
            assert built == (FIXTURES / name).read_bytes(), name
