"""`probe offsets` and the uprobe offset resolution, against readelf and libbpf's own attach.

The oracle for offsets is libbpf itself: the test attaches a uprobe by function name with
bpf_program__attach_uprobe_opts(func_name=...) and reads the file offset the kernel received
from `bpftool perf show` (this process's perf events only), for every function name of a
PIE and a non-PIE executable and a shared library with versioned, weak and same-named
symbols, stripped and not, plus names that must fail.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT
from probes_util import (ERRNO_OF_REASON, built, libbpf_oracle, readelf_symbols)  # noqa: F401

from bpfinspect.probes.binary import open_binary
from bpfinspect.probes.paths import ld_cache_lookup, libbpf_resolve, read_ld_cache, resolve_binary
from bpfinspect.probes.uprobe import UprobeTargetError, find_func_offset, list_functions

BPFI = [sys.executable, "-m", "bpfinspect"]
BINARIES = ["exe_pie", "exe_nopie", "libprobes.so", "libprobes_stripped.so", "exe_pie_stripped"]


def run(*args, check=None):
    p = subprocess.run(BPFI + list(args), capture_output=True, text=True, cwd=ROOT)
    if check is not None:
        assert p.returncode == check, (p.returncode, p.stdout, p.stderr)
    return p


def ours(path, query, rules="1.1"):
    with open_binary(str(path)) as b:
        try:
            return "ok", find_func_offset(b, query, rules).offset
        except UprobeTargetError as exc:
            return "error", ERRNO_OF_REASON[exc.reason]


def queries_for(path) -> list[str]:
    """Every function name readelf shows (bare and as written), and names that must not match."""
    names = set()
    for row in readelf_symbols(path):
        if row["type"] not in ("FUNC", "IFUNC") or not row["name"]:
            continue
        name = row["name"].split(" (")[0]
        names.add(name)
        names.add(name.split("@")[0])
    bare = sorted(n for n in names if "@" not in n)
    extra = ["no_such_function", "printf", "__libc_start_main", "func_1", "main", "lib_plain"]
    extra += [n[:-1] for n in bare if len(n) > 3][:3]                 # prefixes match nothing
    extra += ["foo@@VERS", "foo@VERS", "foo@@VERS_2", "foo@VERS_1", "bar@VERS_1", "bar@@VERS_2", "foo@VERS_3"]
    return sorted(names) + extra


# ---------------------------------------------------------------- the symbol tables against readelf

@pytest.mark.parametrize("name", BINARIES + ["usdt_test"])
def test_symbols_match_readelf(built, name):
    path = built[name]
    rows = readelf_symbols(path)
    assert rows, "readelf printed no symbols"
    with open_binary(str(path)) as b:
        tables = {".dynsym": b.dynsym or (), ".symtab": b.symtab or ()}
        for row in rows:
            sym = tables[row["table"]][row["index"]]
            assert (sym.value, sym.size) == (row["value"], row["size"]), row
            assert sym.bind_name.upper() == row["bind"] or (row["bind"] == "UNIQUE" and sym.bind == 10), row
            assert sym.type_name.upper() == row["type"] or row["type"] not in ("FUNC", "OBJECT", "NOTYPE",
                                                                                  "IFUNC", "FILE", "SECTION"), row
            shown = row["name"].split(" (")[0]
            want = sym.versioned_name if row["table"] == ".dynsym" else sym.raw_name
            if sym.name == sym.version:  # readelf shows a version's own definition symbol by its name alone
                want = sym.name
            assert want == shown, row
        assert len(tables[".dynsym"]) == sum(r["table"] == ".dynsym" for r in rows)
        assert len(tables[".symtab"]) == sum(r["table"] == ".symtab" for r in rows)


def test_pie_and_non_pie_offsets_differ_from_addresses(built):
    """Non-PIE: the offset is the address less the segment's base; PIE: the same as the address here."""
    with open_binary(str(built["exe_nopie"])) as b:
        r = find_func_offset(b, "func_1")
        assert b.kind == "executable" and r.symbol.value != r.offset
        seg = b.segment_of(r.symbol.value)
        assert r.offset == r.symbol.value - seg.vaddr + seg.offset
    with open_binary(str(built["exe_pie"])) as b:
        assert b.kind == "PIE executable"
    with open_binary(str(built["libprobes.so"])) as b:
        assert b.kind == "shared library"


# ---------------------------------------------------------------- libbpf's own attach

@pytest.mark.parametrize("name", BINARIES)
def test_offsets_equal_libbpf_attach(built, libbpf_oracle, name):
    path = str(built[name])
    results = {}
    for q in queries_for(built[name]):
        want = libbpf_oracle.offset(path, q)
        got = ours(path, q)
        results[q] = (got, want)
    wrong = {q: r for q, r in results.items() if r[0] != r[1]}
    assert not wrong, wrong
    # the cases the fixture exists for really happened
    oks = {q for q, ((k, _), _) in results.items() if k == "ok"}
    errors = {q: v for q, ((k, v), _) in results.items() if k == "error"}
    assert "no_such_function" in errors
    if name == "exe_pie_stripped":
        assert errors["func_1"] == errors["main"] == ERRNO_OF_REASON["not_found"]
    elif name.startswith("exe"):
        assert "func_1" in oks and "main" in oks
        assert errors["dup"] == ERRNO_OF_REASON["ambiguous"]        # two static dup
        assert "wl" in oks                                            # the weak wl loses
    else:
        assert errors["foo"] == ERRNO_OF_REASON["ambiguous"]        # foo@VERS_1 and foo@@VERS_2
        assert errors["bar"] == ERRNO_OF_REASON["ambiguous"]        # libbpf 1.1: even at the same offset
        assert "wk" in oks and "lib_plain" in oks and "lib_alias" in oks
        if "stripped" not in name:
            assert {"foo@VERS_1", "foo@@VERS_2", "bar@VERS_1", "bar@@VERS_2"} <= oks
            assert errors["same"] == ERRNO_OF_REASON["ambiguous"]


def test_libc_offsets_equal_libbpf_attach(libbpf_oracle):
    where = resolve_binary("libc.so.6")
    names = ["malloc", "free", "calloc", "strlen", "memcpy", "pthread_cond_wait", "realpath", "getpid",
             "fopen", "nosuchfunction_xyz", "malloc@@GLIBC_2.2.5"]
    for q in names:
        assert ours(where.path, q) == libbpf_oracle.offset(where.path, q), q
        # a bare library name goes through libbpf's own search, to the same file
        assert libbpf_oracle.offset("libc.so.6", q) == libbpf_oracle.offset(where.path, q), q


@pytest.mark.parametrize("name", ["exe_pie", "exe_nopie", "libprobes.so"])
def test_listing_queries_attach_where_listed(built, libbpf_oracle, name):
    """Each row's func_name makes libbpf attach at the row's offset; a row without one is out of reach."""
    listing = list_functions(resolve_binary(str(built[name])))
    assert listing.functions
    for f in listing.functions:
        if f.query is not None:
            assert libbpf_oracle.offset(str(built[name]), f.query) == ("ok", f.offset), f
        else:
            kind, value = libbpf_oracle.offset(str(built[name]), f.name)
            assert kind == "error" or value != f.offset, f


# ---------------------------------------------------------------- libbpf 1.3's rules (not installed: by reading)

def test_newer_rules(built):
    lib = str(built["libprobes.so"])
    stripped = str(built["libprobes_stripped.so"])
    with open_binary(lib) as b:
        foo1 = next(s for s in b.dynsym if s.versioned_name == "foo@VERS_1")
        foo2 = next(s for s in b.dynsym if s.versioned_name == "foo@@VERS_2")
        bar = next(s for s in b.dynsym if s.name == "bar")
    # the same offset twice is one answer from 1.3 on
    assert ours(lib, "bar", "1.3") == ("ok", bar.value)
    assert ours(lib, "bar", "1.1")[0] == "error"
    # versions come from .gnu.version in 1.3: a stripped library still answers foo@VERS_1
    assert ours(stripped, "foo@VERS_1", "1.3") == ("ok", foo1.value)
    assert ours(stripped, "foo@@VERS_2", "1.3") == ("ok", foo2.value)
    assert ours(stripped, "foo@VERS_1", "1.1")[0] == "error"
    # 1.1 matches "foo@@VERS" as a prefix of foo@@VERS_2; 1.3 compares whole versions
    assert ours(lib, "foo@@VERS", "1.1") == ("ok", foo2.value)
    assert ours(lib, "foo@@VERS", "1.3")[0] == "error"


# ---------------------------------------------------------------- the command

def test_offsets_json(built):
    p = run("probe", "offsets", str(built["libprobes.so"]), "foo", "wk", "--json", check=0)
    doc = json.loads(p.stdout)
    assert doc["schema"] == 1 and doc["binary"] == str(built["libprobes.so"])
    rows = {(f["name"], f["version"], f["binding"]): f for f in doc["functions"]}
    for f in doc["functions"]:
        assert set(f) >= {"name", "version", "binding", "value", "size", "section", "offset", "sec", "ftrace"}
    foo1, foo2 = rows[("foo", "VERS_1", "global")], rows[("foo", "VERS_2", "global")]
    assert foo1["offset"] != foo2["offset"]
    assert foo1["query"] == "foo@VERS_1" and foo1["sec"] is None          # no '@' in libbpf 1.1's SEC()
    assert foo2["ftrace"] == f"p:foo_VERS_2 {built['libprobes.so']}:{foo2['offset']:#x}"
    assert rows[("wk", "VERS_1", "weak")]["sec"] == f"uprobe/{built['libprobes.so']}:wk"
    assert rows[("wk", None, "local")]["query"] is None                    # the local wk is not reached
    assert doc["unmatched"] == []


def test_offsets_human_and_patterns(built):
    p = run("probe", "offsets", str(built["exe_nopie"]), "func_*", "d?p", "printf", check=0)
    assert "func_1" in p.stdout and "func_str" in p.stdout and "ambiguous" in p.stdout
    assert re.search(r"printf\s+GLIBC_2\.2\.5\s+libc\.so\.6", p.stdout)     # an import: its library
    assert f"SEC(\"uprobe/{built['exe_nopie']}:func_1\")" in p.stdout


def test_stripped_binary_error(built):
    p = run("probe", "offsets", str(built["exe_pie_stripped"]), "func_1", "main")
    assert p.returncode == 2
    assert "stripped" in p.stdout
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and "only .dynsym is left (stripped)" in err[0]
    assert "'func_1'" in err[0] and "'main'" in err[0]
    # what is left is listed: the imports of .dynsym
    p = run("probe", "offsets", str(built["exe_pie_stripped"]), "--json")
    doc = json.loads(p.stdout)
    assert doc["stripped"] and doc["functions"] == [] and {i["name"] for i in doc["imports"]} >= {"printf"}


def test_bad_inputs_are_one_line_exit_2(tmp_path):
    (tmp_path / "notelf").write_bytes(b"hello world, not an ELF file at all" * 3)
    (tmp_path / "short").write_bytes(b"\x7fELF\x02\x01\x01")
    for target in (str(tmp_path / "notelf"), str(tmp_path / "short"), str(tmp_path / "missing"), str(tmp_path),
                   "no-such-program-anywhere"):
        p = run("probe", "offsets", target)
        assert p.returncode == 2, (target, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr


# ---------------------------------------------------------------- finding binaries like libbpf

def test_library_and_program_search(tmp_path, monkeypatch):
    r = resolve_binary("libc.so.6")
    assert r.how == "library search" and os.path.exists(r.path) and r.sec_binary == "libc.so.6"
    assert r.path == libbpf_resolve("libc.so.6")
    r = resolve_binary("ls")
    assert r.how == "PATH search" and os.access(r.path, os.X_OK)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mytool").write_bytes(b"x")
    r = resolve_binary("mytool")
    assert r.how == "current directory" and r.libbpf_path is None and r.note
    lib = tmp_path / "libonly_here.so.1"
    lib.write_bytes(b"x")
    assert libbpf_resolve("libonly_here.so.1", env={"LD_LIBRARY_PATH": str(tmp_path)}) == str(lib)
    assert libbpf_resolve("libonly_here.so.1", env={}) is None


def test_ld_so_cache_equals_ldconfig():
    p = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip("ldconfig -p failed: " + p.stderr.strip())
    want = []
    for line in p.stdout.splitlines()[1:]:
        m = re.match(r"\s*(\S+) \(([^)]*)\) => (\S+)", line)
        if m:
            want.append((m.group(1), m.group(3)))
    got = [(lib, file) for _flags, lib, file in read_ld_cache()]
    assert got == want
    name, file = want[0]
    assert ld_cache_lookup(name) == file
