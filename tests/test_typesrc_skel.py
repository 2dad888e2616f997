"""Types from DWARF and headers in the skeletons: every struct and union of every fixture's DWARF laid out as
llvm-dwarfdump-19 reads it (ctypes classes, and C headers compiled by gcc and clang with their asserts);
--header as a type source (libclang's layout against the compiler's DWARF, stripped objects, conflicts);
typed ring-buffer and perf-buffer records from the kernel for a process the test starts."""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from conftest import FIXTURES, ROOT, bpfinspect
from dwarf_util import DWARF_FIXTURES, DWARFDUMP, dump, member_bit_offset
from runtime_util import import_module_from, tracefs  # noqa: F401  (a fixture)

from bpfinspect.obj import open_object

needs_dwarfdump = pytest.mark.skipif(DWARFDUMP is None, reason="llvm-dwarfdump-19 is needed (apt install llvm-19)")
SRC = FIXTURES / "src"
C_FLAGS = ["-std=gnu11", "-Wall", "-Wextra", "-Wpedantic", "-Werror"]
_THROUGH = ("DW_TAG_typedef", "DW_TAG_const_type", "DW_TAG_volatile_type", "DW_TAG_atomic_type")


# -- what llvm-dwarfdump says -------------------------------------------------------------------

def dwarf_records(path) -> dict:
    """``struct NAME``/``union NAME`` -> the DIE of its first definition, for every named record."""
    out = {}
    for die in dump(path).values():
        kw = {"DW_TAG_structure_type": "struct", "DW_TAG_union_type": "union"}.get(die.tag)
        name = die.text("DW_AT_name")
        if kw and name and "DW_AT_declaration" not in die.attrs and die.num("DW_AT_byte_size") is not None:
            out.setdefault(f"{kw} {name}", die)
    return out


def _target(die, dies):
    ref = die.ref("DW_AT_type")
    t = dies.get(ref) if ref is not None else None
    while t is not None and t.tag in _THROUGH:
        ref = t.ref("DW_AT_type")
        t = dies.get(ref) if ref is not None else None
    return t


def dwarf_members(die, dies, little: bool, base: int = 0) -> list[tuple[str, int, int]]:
    """(name, bit offset, bitfield width or 0) of a record's named members, those of anonymous members
    included (at their place in the outer record), as C reaches them."""
    out = []
    for off in die.children:
        m = dies[off]
        if m.tag != "DW_TAG_member":
            continue
        bit = base + member_bit_offset(m, dies, little)
        name = m.text("DW_AT_name")
        if name:
            out.append((name, bit, m.num("DW_AT_bit_size") or 0))
            continue
        inner = _target(m, dies)
        if inner is not None and inner.tag in ("DW_TAG_structure_type", "DW_TAG_union_type"):
            out += dwarf_members(inner, dies, little, bit)
    return out


# -- ctypes classes -----------------------------------------------------------------------------

def _py_name(obj, name: str) -> str:
    for candidate in (name, name + "_"):
        if hasattr(obj, candidate):
            return candidate
    raise AssertionError(f"{type(obj).__name__} has no field {name}")


def _check_class(cls, die, dies, spec: str) -> None:
    assert ctypes.sizeof(cls) == die.num("DW_AT_byte_size"), spec
    inst = cls()
    for name, bit, width in dwarf_members(die, dies, little=True):
        attr = _py_name(inst, name)
        if width:
            probe = cls()
            setattr(probe, attr, 1)
            value = int.from_bytes(bytes(probe), "little")
            assert value == 1 << bit, f"{spec}.{name}: bit {value.bit_length() - 1}, DWARF says {bit}"
        else:
            assert bit % 8 == 0, f"{spec}.{name}"
            assert getattr(cls, attr).offset == bit // 8, f"{spec}.{name}"


# -- C headers ----------------------------------------------------------------------------------

_ASSERT = re.compile(r"__ASSERT\((?:sizeof\(((?:struct|union) \w+)\) == (\d+)|"
                     r"offsetof\(((?:struct|union) \w+), (\w+)\) == (\d+)),")


def _c_asserts(text: str) -> tuple[dict, dict]:
    """(type -> size, (type, member) -> offset) from the C spellings of the header's asserts."""
    sizes, offsets = {}, {}
    for m in _ASSERT.finditer(text):
        if m.group(1):
            sizes[m.group(1)] = int(m.group(2))
        else:
            offsets[(m.group(3), m.group(4))] = int(m.group(5))
    return sizes, offsets


def _compilers() -> list[str]:
    return [cc for cc in ("gcc", "clang") if shutil.which(cc)]


_TESTED: set = set()


@needs_dwarfdump
@pytest.mark.parametrize("path", DWARF_FIXTURES, ids=lambda p: p.name)
def test_every_dwarf_record_has_dwarfs_layout_in_both_skeletons(path, tmp_path):
    """Every named struct and union of the fixture's DWARF (the kernel's included): the ctypes class of the
    Python skeleton has DWARF's size, member offsets and bit positions (little-endian objects: a Python
    skeleton runs where the object loads), and the C skeleton's header, with each of them asserted, compiles
    under gcc and clang -Wall -Wextra -Wpedantic -Werror with DWARF's sizes and offsets in its asserts."""
    from bpfinspect.skel.c import generate_with_warnings
    from bpfinspect.skel.python import generate
    from bpfinspect.typesrc import TypeSource

    records = dwarf_records(path)
    if not records:
        pytest.skip(f"{path.name}: its DWARF holds no named struct or union (llvm-dwarfdump lists none)")
    dies = dump(path)
    obj = open_object(str(path))
    source = TypeSource(obj)    # one source for both skeletons: DWARF is converted once
    little = obj.endian == "little"
    # a record described exactly as in a fixture tested before (the kernel's, from the same vmlinux.h) is
    # not tested again: the same description is the same test
    specs = []
    for spec in sorted(records):
        described = (spec, records[spec].num("DW_AT_byte_size"), little,
                     tuple(dwarf_members(records[spec], dies, little)))
        if described not in _TESTED:
            _TESTED.add(described)
            specs.append(spec)
    if not specs:
        return   # every record was tested with an earlier fixture

    if obj.endian == sys.byteorder:
        name = "dw_" + re.sub(r"\W", "_", path.name)
        (tmp_path / f"{name}.py").write_text(generate(obj, types=specs, module_name=name, source=source))
        mod = import_module_from(tmp_path / f"{name}.py", name)
        for spec, cname in zip(specs, mod.__all__[1:1 + len(specs)]):
            _check_class(getattr(mod, cname), records[spec], dies, spec)

    text, warnings = generate_with_warnings(obj, type_specs=specs, source=source)
    provided = {m.group(1) for w in warnings for m in [re.match(r"--type (.*?): the skeleton's includes", w)] if m}
    # a type whose name the includes give a type of another size is defined under another name, and said so
    renamed = {m.group(1): f"{m.group(1).split()[0]} {m.group(2)}" for w in warnings
               for m in [re.match(r"--type (.*?): written as (\w+) in the C and C\+\+ texts", w)] if m}
    sizes, offsets = _c_asserts(text)
    for spec in specs:
        if spec in provided:
            continue
        die = records[spec]
        written = renamed.get(spec, spec)
        assert sizes.get(written) == die.num("DW_AT_byte_size"), spec
        for member, bit, width in dwarf_members(die, dies, little):
            if not width and (written, member) in offsets:
                assert offsets[(written, member)] * 8 == bit, f"{spec}.{member}"
    # the fixture's own records (not the kernel's) are all asserted
    own = [s for s in specs if s.split()[1].startswith(("sh_", "pg_", "event", "flow_", "line_", "shape_"))]
    assert all(s in sizes for s in own), [s for s in own if s not in sizes]
    (tmp_path / "skel.h").write_text(text)
    (tmp_path / "use.c").write_text('#include "skel.h"\nint main(void) { return 0; }\n')
    for cc in _compilers():
        p = subprocess.run([cc, *C_FLAGS, "-fsyntax-only", "use.c"], cwd=tmp_path, capture_output=True, text=True,
                           timeout=900)
        assert p.returncode == 0 and not p.stderr.strip(), f"{cc}: {p.stderr[:3000]}"


def test_long_double_and_long_are_written_host_safe():
    from bpfinspect.skel.c import generate

    text = generate(open_object(str(FIXTURES / "dwarf_shapes.bpf.o")), type_specs=["struct sh_ld"])
    body = text[text.index("struct sh_ld {"):]
    body = body[:body.index("};")]
    assert "\t__bpf_a8_double ld;" in body and "long double" not in body
    assert "\t__bpf_a8_long_long l;" in body and "\t__bpf_a8_unsigned_long_long ul;" in body
    assert "typedef long long __bpf_a8_long_long __attribute__((aligned(8)));" in text
    assert "Host-safe layouts" in text


def _m32_flags(tmp_path) -> list[str] | None:
    """Flags that let the host compilers check a header for i386 (-fsyntax-only needs no 32-bit libraries; glibc's
    gnu/stubs-32.h, only a list of unimplemented functions, is stood in for by an empty file)."""
    stubs = tmp_path / "m32" / "gnu"
    stubs.mkdir(parents=True)
    (stubs / "stubs-32.h").write_text("")
    multiarch = subprocess.run(["gcc", "-print-multiarch"], capture_output=True, text=True).stdout.strip()
    flags = ["-m32", f"-I{tmp_path / 'm32'}", "-idirafter", f"/usr/include/{multiarch}"]
    (tmp_path / "probe.c").write_text("#include <stddef.h>\n#include <stdio.h>\nint main(void) { return 0; }\n")
    ok = subprocess.run(["gcc", *flags, "-fsyntax-only", "probe.c"], cwd=tmp_path, capture_output=True)
    return flags if ok.returncode == 0 else None


# the fixtures' own records; on i386 every one but those with pointers (4 bytes there) and __int128 (not a type there)
I386 = {"dwarf_shapes.bpf.o": ["struct sh_ld", "struct sh_bits", "struct sh_packed", "struct sh_packed_bits",
                               "struct sh_pmember", "struct sh_holds_aligned", "struct sh_amember", "struct sh_enums",
                               "union sh_union", "union sh_ubits", "struct sh_anon", "struct sh_arrays",
                               "struct sh_flex", "struct sh_quals", "struct sh_nest", "struct sh_empty"],
        "bootstrap.bpf.o": ["struct event"], "perf_output.bpf.o": ["struct pg_sample", "struct pg_result"]}


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="checks i386 layouts with an x86-64 host's compilers")
@pytest.mark.parametrize("fixture", sorted(I386))
def test_c_types_keep_bpfs_layout_on_a_32_bit_host(fixture, tmp_path):
    """-m32: long is 4 bytes, long long and double are 4-aligned in records, long double is 12 bytes; the header
    compiles with its asserts true all the same."""
    from bpfinspect.skel.c import generate

    flags = _m32_flags(tmp_path)
    if flags is None:
        pytest.skip("gcc -m32 cannot even parse <stdio.h> here")
    (tmp_path / "skel.h").write_text(generate(open_object(str(FIXTURES / fixture)), type_specs=I386[fixture]))
    (tmp_path / "use.c").write_text('#include "skel.h"\nint main(void) { return 0; }\n')
    for cc in _compilers():
        p = subprocess.run([cc, *flags, *C_FLAGS, "-fsyntax-only", "use.c"], cwd=tmp_path, capture_output=True,
                           text=True, timeout=600)
        assert p.returncode == 0 and not p.stderr.strip(), f"{cc}: {p.stderr[:3000]}"


GLOBALS_OF_ANONYMOUS_RECORDS = """\
typedef unsigned long long __u64;
struct { int a; __u64 b; unsigned long c; long d: 40; } anon_g;
const volatile struct { char x; __u64 y[2]; } anon_ro = {1, {2, 3}};
int prog(void *ctx) { return anon_g.a + anon_ro.x; }
"""


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="checks i386 layouts with an x86-64 host's compilers")
@pytest.mark.skipif(shutil.which("clang-19") is None, reason="clang-19 builds the BPF object")
def test_globals_of_anonymous_records_keep_bpfs_layout_on_a_32_bit_host(tmp_path):
    """Anonymous records written inline in the skeleton's section structs get the aligned typedefs too
    (defined after the type definitions): their sizes and offsets asserted under -m32 and natively."""
    flags = _m32_flags(tmp_path)
    if flags is None:
        pytest.skip("gcc -m32 cannot even parse <stdio.h> here")
    (tmp_path / "anon.c").write_text(GLOBALS_OF_ANONYMOUS_RECORDS)
    subprocess.run(["clang-19", "-O2", "-g", "-target", "bpf", "-c", "anon.c", "-o", "anon.bpf.o"], cwd=tmp_path,
                   check=True)
    p = bpfinspect("gen-skel", str(tmp_path / "anon.bpf.o"), "--types", check=True)
    assert "\t\t\t__bpf_a8_u64 b;" in p.stdout and "typedef __u64 __bpf_a8_u64_2[2] __attribute__" in p.stdout
    (tmp_path / "skel.h").write_text(p.stdout)
    (tmp_path / "use.c").write_text('#include "skel.h"\nint main(void) { return 0; }\n')
    for cc in _compilers():
        for extra in (flags, []):
            r = subprocess.run([cc, *extra, *C_FLAGS, "-fsyntax-only", "use.c"], cwd=tmp_path, capture_output=True,
                               text=True, timeout=600)
            assert r.returncode == 0 and not r.stderr.strip(), f"{cc} {extra}: {r.stderr[:3000]}"


@pytest.mark.parametrize("fixture", sorted(I386))
def test_c_types_compile_as_cxx(fixture, tmp_path):
    """The same definitions and asserts in C++ (g++ and clang++ -Wall -Wextra -Werror)."""
    from bpfinspect.skel.c import generate

    specs = I386[fixture] + (["struct sh_ptrs", "struct sh_wide"] if fixture == "dwarf_shapes.bpf.o" else [])
    (tmp_path / "skel.h").write_text(generate(open_object(str(FIXTURES / fixture)), type_specs=specs))
    (tmp_path / "use.cc").write_text('#include "skel.h"\nint main(void) { return 0; }\n')
    for cxx in [c for c in ("g++", "clang++") if shutil.which(c)]:
        p = subprocess.run([cxx, "-Wall", "-Wextra", "-Werror", "-fsyntax-only", "use.cc"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=600)
        assert p.returncode == 0 and not p.stderr.strip(), f"{cxx}: {p.stderr[:3000]}"


# -- --header -----------------------------------------------------------------------------------

HEADER_PAIRS = [("dwarf_shapes.bpf.o", "dwarf_shapes.bpf.c"), ("btf_shapes.bpf.o", "btf_shapes.bpf.c"),
                ("bootstrap.bpf.o", "bootstrap.h"), ("perf_output.bpf.o", "perf_output.bpf.c")]


@pytest.mark.parametrize("obj_name,header", HEADER_PAIRS)
def test_header_types_have_the_compilers_layout(obj_name, header):
    """libclang's layout of every record a source declares equals the one the compiler wrote to DWARF."""
    from bpfinspect.btf import Kind
    from bpfinspect.typesrc import TypeSource
    from bpfinspect.typesrc.compare import layout_difference
    from bpfinspect.typesrc.headers import HeaderOptions, parse_headers

    hbtf, where, _calls = parse_headers(HeaderOptions([str(SRC / header)], include_dirs=[str(SRC)]))
    ts = TypeSource(open_object(str(FIXTURES / obj_name)))
    compared = 0
    for tid in hbtf.ids():
        k = hbtf.kind(tid)
        if k not in (Kind.STRUCT, Kind.UNION) or not hbtf.name(tid) or not where.get(tid, "").startswith(header):
            continue
        spec = f"{'struct' if k == Kind.STRUCT else 'union'} {hbtf.name(tid)}"
        dies = ts.dwarf_types.find(hbtf.name(tid), spec.split()[0])
        if not dies:
            continue
        ref = ts.from_dwarf(dies[0])
        assert layout_difference(ts.btf, ref.id, hbtf, tid) is None, spec
        compared += 1
    assert compared >= {"bootstrap.h": 1, "perf_output.bpf.c": 3}.get(header, 10)


def test_stripped_copy_gets_its_record_type_from_a_header(tmp_path):
    stripped = FIXTURES / "bootstrap.stripped.bpf.o"
    header = SRC / "bootstrap.h"
    p = bpfinspect("maps", str(stripped), "--json")
    rb = next(m for m in json.loads(p.stdout)["maps"] if m["name"] == "rb")
    assert rb["record_type"] is None and rb["record_size"] == 168
    p = bpfinspect("maps", str(stripped), "--json", "--header", str(header), "--type", "rb=struct event")
    assert p.returncode == 0, p.stderr
    rb = next(m for m in json.loads(p.stdout)["maps"] if m["name"] == "rb")
    assert rb["record_type"] == "struct event" and rb["record_source"] == "override"

    out = tmp_path / "stripped_skel.py"
    p = bpfinspect("gen-skel", str(stripped), "--lang", "python", "--header", str(header), "--type", "rb=struct event",
                   "-o", str(out))
    assert p.returncode == 0, p.stderr
    mod = import_module_from(out, "stripped_skel")
    cls = dict(mod.BootstrapStrippedBpf.RECORDS)["rb"]
    # the same layout as the unstripped object's DWARF, as llvm-dwarfdump reads it
    full = FIXTURES / "bootstrap.bpf.o"
    if DWARFDUMP is not None:
        _check_class(cls, dwarf_records(full)["struct event"], dump(full), "struct event")
    assert "--header bootstrap.h" in out.read_text()

    p = bpfinspect("gen-skel", str(stripped), "--header", str(header), "--type", "struct event",
                   "-o", str(tmp_path / "s.h"))
    assert p.returncode == 0, p.stderr
    (tmp_path / "use.c").write_text('#include "s.h"\nint main(void) { return 0; }\n')
    for cc in _compilers():
        c = subprocess.run([cc, *C_FLAGS, "-fsyntax-only", "use.c"], cwd=tmp_path, capture_output=True, text=True)
        assert c.returncode == 0 and not c.stderr, c.stderr
    assert "sizeof(struct event) == 168" in (tmp_path / "s.h").read_text()


@pytest.mark.skipif(shutil.which("llvm-objcopy-19") is None, reason="llvm-objcopy-19 is needed (apt install llvm-19)")
def test_record_types_from_the_calls_in_a_source(tmp_path):
    def records(path, *args):
        p = bpfinspect("maps", str(path), "--json", *args)
        assert p.returncode == 0, p.stderr
        return {m["name"]: (m["record_type"], m["record_source"]) for m in json.loads(p.stdout)["maps"]
                if m["type"] in ("ringbuf", "perf_event_array")}

    assert records(FIXTURES / "bootstrap.stripped.bpf.o", "--header", str(SRC / "bootstrap.bpf.c")) == \
        {"rb": ("struct event", "header")}
    stripped = tmp_path / "perf_output_nodebug.bpf.o"
    subprocess.run(["llvm-objcopy-19", "--strip-debug", str(FIXTURES / "perf_output.bpf.o"), str(stripped)], check=True)
    # the ring buffer reaches bpf_ringbuf_reserve through a parameter of send_result(): found through its caller
    assert records(stripped, "--header", str(SRC / "perf_output.bpf.c")) == \
        {"samples": ("struct pg_sample", "header"), "results": ("struct pg_result", "header")}
    assert records(stripped) == {"samples": (None, None), "results": (None, None)}
    # DWARF first: with it, the source is not needed and does not change the answer
    assert records(FIXTURES / "perf_output.bpf.o", "--header", str(SRC / "perf_output.bpf.c")) == \
        {"samples": ("struct pg_sample", "dwarf"), "results": ("struct pg_result", "dwarf")}


def test_a_header_contradicting_dwarf_is_refused(tmp_path):
    bad = tmp_path / "bad_event.h"
    bad.write_text("struct event {\n\tint pid;\n\tlong ppid;\n};\n")
    for args in (("maps", "--type", "rb=struct event"), ("gen-skel", "--type", "struct event"),
                 ("gen-skel", "--lang", "python", "--type", "struct event")):
        p = bpfinspect(args[0], str(FIXTURES / "bootstrap.bpf.o"), *args[1:], "--header", str(bad))
        assert p.returncode == 2 and p.stdout == ""
        assert p.stderr.count("\n") == 1, p.stderr
        assert "struct event: the object's DWARF (bootstrap.h:9) and --header bad_event.h (bad_event.h:1) disagree" \
            in p.stderr


def test_a_header_contradicting_btf_is_refused(tmp_path):
    bad = tmp_path / "bad_rec.h"
    p = bpfinspect("btf", str(FIXTURES / "maps.bpf.o"), "--format", "c")
    m = re.search(r"^struct (\w+) \{\n\t(?:__u|unsigned int|int)", p.stdout, re.M)
    assert m, p.stdout[:2000]
    bad.write_text(f"struct {m.group(1)} {{ char only; }};\n")
    p = bpfinspect("gen-skel", str(FIXTURES / "maps.bpf.o"), "--type", f"struct {m.group(1)}", "--header", str(bad))
    assert p.returncode == 2
    assert f"struct {m.group(1)}: the object's BTF and --header bad_rec.h (bad_rec.h:1) disagree" in p.stderr


def test_not_found_says_where_it_looked_and_suggests_header(tmp_path):
    p = bpfinspect("gen-skel", str(FIXTURES / "bootstrap.stripped.bpf.o"), "--type", "struct event")
    assert p.returncode == 2
    assert "--type struct event: no such type in the object's BTF and the object's DWARF (none: " in p.stderr
    assert "give the header that defines it with --header FILE" in p.stderr
    empty = tmp_path / "empty.h"
    empty.write_text("struct other { int x; };\n")
    p = bpfinspect("gen-skel", str(FIXTURES / "bootstrap.stripped.bpf.o"), "--type", "struct event",
                   "--header", str(empty))
    assert p.returncode == 2 and "and --header empty.h" in p.stderr and "give the header" not in p.stderr


def test_header_that_clang_rejects_is_one_line(tmp_path):
    broken = tmp_path / "broken.h"
    broken.write_text("struct event { int pid; char name[; };\n")
    p = bpfinspect("maps", str(FIXTURES / "bootstrap.stripped.bpf.o"), "--header", str(broken),
                   "--type", "rb=struct event")
    assert p.returncode == 2 and p.stderr.count("\n") == 1
    assert "--header broken.h: clang reports" in p.stderr and "broken.h:1:" in p.stderr
    p = bpfinspect("maps", str(FIXTURES / "bootstrap.stripped.bpf.o"), "--header", str(tmp_path / "missing.h"))
    assert p.returncode == 2 and "no such file" in p.stderr
    p = bpfinspect("maps", str(FIXTURES / "bootstrap.bpf.o"), "-I", str(tmp_path))
    assert p.returncode == 2 and "-I, -D and --arch are for --header" in p.stderr


def test_header_macro_bomb_is_bounded(tmp_path):
    bomb = tmp_path / "bomb.h"
    lines = ["#define A0 x x x x x x x x x x"] + [f"#define A{i} A{i - 1} A{i - 1} A{i - 1} A{i - 1}"
                                                   for i in range(1, 16)]
    bomb.write_text("\n".join(lines) + "\nint v = sizeof((char[]){A15});\n")
    env = dict(os.environ, BPFINSPECT_EXPAND_MEMORY_MB="512", BPFINSPECT_EXPAND_CPU_SECONDS="5")
    p = subprocess.run([sys.executable, "-m", "bpfinspect", "gen-skel", str(FIXTURES / "bootstrap.stripped.bpf.o"),
                        "--type", "struct event", "--header", str(bomb)], capture_output=True, text=True, env=env,
                       cwd=ROOT, timeout=120)
    assert p.returncode == 2 and p.stderr.count("\n") == 1, p.stderr[-2000:]
    assert "parsing --header bomb.h" in p.stderr


@pytest.mark.skipif(shutil.which("llvm-objcopy-19") is None, reason="llvm-objcopy-19 is needed (apt install llvm-19)")
def test_globals_of_an_object_without_btf_or_dwarf_from_its_source(tmp_path):
    """The legacy object (no BTF) stripped of its DWARF: --header with its source gives every global the type
    the unstripped object's DWARF gives it."""
    stripped = tmp_path / "legacy_nodebug.bpf.o"
    subprocess.run(["llvm-objcopy-19", "--strip-debug", str(FIXTURES / "legacy_dwarf.bpf.o"), str(stripped)],
                   check=True)

    def types(*args):
        p = bpfinspect("globals", *args, "--json")
        assert p.returncode == 0, p.stderr
        return {v["name"]: v["type"] for s in json.loads(p.stdout)["sections"] for v in s["variables"]}

    from_dwarf = types(str(FIXTURES / "legacy_dwarf.bpf.o"))
    assert set(types(str(stripped)).values()) == {None}
    assert types(str(stripped), "--header", str(SRC / "legacy_dwarf.bpf.c")) == from_dwarf
    assert from_dwarf["last_stats"] == "struct flow_stats"


# -- typed records from the kernel ------------------------------------------------------------

def _poll_until(buf, done, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not done():
        buf.poll(timeout_ms=100)


def test_ring_buffer_records_arrive_typed(tracefs, tmp_path):  # noqa: F811
    from bpfinspect.skel.python import generate

    mod_name = f"typed_boot_{os.getpid()}"
    path = tmp_path / f"{mod_name}.py"
    path.write_text(generate(open_object(str(FIXTURES / "bootstrap.bpf.o")), module_name=mod_name))
    mod = import_module_from(path, mod_name)
    event = dict(mod.BootstrapBpf.RECORDS)["rb"]
    assert event is mod.event
    seen = []
    with mod.BootstrapBpf.open_and_load() as skel:
        skel.attach()
        with skel.maps.rb.ring_buffer(seen.append) as rb:
            child = subprocess.Popen(["/bin/sh", "-c", "exit 7"])
            child.wait()
            mine = lambda: [e for e in seen if not isinstance(e, bytes) and e.pid == child.pid]  # noqa: E731
            _poll_until(rb, lambda: any(e.exit_event for e in mine()))
    records = mine()
    assert all(type(e) is event for e in seen)
    execs = [e for e in records if not e.exit_event]
    exits = [e for e in records if e.exit_event]
    assert execs and exits, seen[:5]
    assert execs[0].ppid == os.getpid() and execs[0].comm == b"sh" and execs[0].filename == b"/bin/sh"
    assert exits[0].exit_code == 7 and exits[0].ppid == os.getpid() and exits[0].comm == b"sh"


def test_perf_buffer_and_ring_buffer_records_arrive_typed(tracefs, tmp_path):  # noqa: F811
    from bpfinspect.skel.python import generate

    mod_name = f"typed_pg_{os.getpid()}"
    path = tmp_path / f"{mod_name}.py"
    path.write_text(generate(open_object(str(FIXTURES / "perf_output.bpf.o")), module_name=mod_name))
    mod = import_module_from(path, mod_name)
    records = dict(mod.PerfOutputBpf.RECORDS)
    assert set(records) == {"samples", "results"}
    me = os.getpid()
    samples, results = [], []
    with mod.PerfOutputBpf.open() as skel:
        skel.rodata.target_pid = me
        skel.load()
        skel.attach()
        with skel.maps.samples.perf_buffer(lambda cpu, rec: samples.append(rec)) as pb, \
                skel.maps.results.ring_buffer(results.append) as rb:
            os.getpgid(me)
            _poll_until(pb, lambda: samples)
            _poll_until(rb, lambda: results)
    s = samples[0]
    assert type(s) is records["samples"]
    assert (s.hdr.version, s.hdr.kind, s.hdr.flags, s.pid, s.arg) == (1, 1, 0x8001, me, me)
    assert (s.prio, s.cpu_lo, s.delta, s.ratio, s.tag.as_u32) == (3, 1000, -5, 2.5, 0x11223344)
    assert s.comm == open(f"/proc/{me}/comm", "rb").read().strip()[:15]
    r = results[0]
    assert type(r) is records["results"] and r.pid == me and r.ret == os.getpgid(me)
