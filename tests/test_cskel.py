"""C skeletons (gen-skel --lang c): compile strictly, match bpftool's API, run for real."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cskel_util import (C_FLAGS, CXX_FLAGS, DATA, FIXTURES, ROOT, bpftool_header, compile_many, fixture_objects,
                        generate, record_fields, run_cli)

FIXTURE_IDS = [p.name for p in fixture_objects()]
MAIN_C = '#include "{h}"\nint main(void) {{ return 0; }}\n'


def _strict_jobs(tmp_path, header_name: str) -> list:
    c = tmp_path / "use.c"
    cc = tmp_path / "use.cc"
    c.write_text(MAIN_C.format(h=header_name))
    cc.write_text(MAIN_C.format(h=header_name))
    jobs = [(["gcc", *C_FLAGS, "-fsyntax-only", "use.c"], tmp_path),
            (["g++", *CXX_FLAGS, "-fsyntax-only", "use.cc"], tmp_path)]
    if shutil.which("clang"):
        jobs.append((["clang", *C_FLAGS, "-fsyntax-only", "use.c"], tmp_path))
    if shutil.which("clang++"):
        jobs.append((["clang++", *CXX_FLAGS, "-fsyntax-only", "use.cc"], tmp_path))
    return jobs


def _assert_compiled(results) -> None:
    bad = [(argv[0], err) for argv, rc, err in results if rc != 0 or err.strip()]
    assert not bad, "\n".join(f"{cc}: {err[:3000]}" for cc, err in bad)


# -- every fixture, --types: compiles alone, C and C++, strict flags ---------------------------

@pytest.mark.parametrize("fixture", FIXTURE_IDS)
def test_types_header_compiles_strict(fixture, tmp_path):
    text, _ = generate(FIXTURES / fixture, types=True)
    (tmp_path / "skel.h").write_text(text)
    _assert_compiled(compile_many(_strict_jobs(tmp_path, "skel.h")))



FORWARD_ENUM_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
enum only_declared;
enum declared_then_defined;
struct holder { enum only_declared *p; enum declared_then_defined *q; int x; };
enum declared_then_defined { DTD_A = 1 };
struct holder h SEC(".data");
enum declared_then_defined d SEC(".data");
SEC("xdp") int prog(struct xdp_md *c) { return h.x + d; }
char LICENSE[] SEC("license") = "GPL";
"""


def test_an_enum_only_declared_compiles_in_c_and_cxx(tmp_path):
    """clang writes ``enum e;`` as an enum without enumerators and of size 0: the skeleton takes
    it (no size refused) and its --types header compiles as C and as C++, where an enum only
    declared needs an underlying type (``enum e : int;``)."""
    src = tmp_path / "fwd.bpf.c"
    src.write_text(FORWARD_ENUM_C)
    _build_bpf(src, tmp_path / "fwd.bpf.o")
    text, _ = generate(tmp_path / "fwd.bpf.o", types=True)
    assert "enum only_declared : int;" in text and "enum declared_then_defined : int;" not in text
    (tmp_path / "skel.h").write_text(text)
    _assert_compiled(compile_many(_strict_jobs(tmp_path, "skel.h")))
    plain, _ = generate(tmp_path / "fwd.bpf.o")
    assert "struct holder h;" in plain   # (the default header declares, bpftool-like)


POINTER_GLOBALS_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
typedef unsigned char my_u8;
typedef unsigned short lonely_u16;   /* its integer type is reached through this pointer only */
typedef struct opaque opaque_t;
struct pointee { int a; };
my_u8 *bytes_ptr;
const my_u8 *ptrs[4];
opaque_t *handle;
struct pointee *pointee_ptr;
lonely_u16 *lonely;
typedef unsigned long long only_here_u64;
typedef signed char only_here_s8;
struct { only_here_u64 *q; } anon_struct;              /* written inline: what it names, first */
union { only_here_s8 *r; int x; } anon_union;
typedef const int cint_t;
typedef cint_t (*returns_cint_t)(int);               /* a qualified return type, through a typedef */
returns_cint_t callback;
SEC("xdp") int prog(struct xdp_md *c)
{
	return (bytes_ptr != 0) + (ptrs[1] != 0) + (handle != 0) + (pointee_ptr != 0) + (lonely != 0) +
	       (anon_struct.q != 0) + (anon_union.x) + (callback != 0);
}
char LICENSE[] SEC("license") = "GPL";
"""


def test_globals_that_are_pointers_to_typedefs_compile(tmp_path):
    """A global whose type reaches a typedef only through a pointer: the --types header defines
    the typedef (a dump of the pointer alone writes nothing, as libbpf's does; found by fuzz_skel:
    ``u8 *unused_bits;`` with no ``u8``), and a struct reached through a pointer is declared."""
    src = tmp_path / "ptrs.bpf.c"
    src.write_text(POINTER_GLOBALS_C)
    _build_bpf(src, tmp_path / "ptrs.bpf.o")
    text, _ = generate(tmp_path / "ptrs.bpf.o", types=True)
    assert "typedef unsigned char my_u8;" in text and "typedef struct opaque opaque_t;" in text
    assert "typedef unsigned short lonely_u16;" in text
    assert "typedef unsigned long long only_here_u64;" in text and "typedef signed char only_here_s8;" in text
    assert "struct pointee {" not in text   # a pointer needs no definition
    (tmp_path / "skel.h").write_text(text)
    _assert_compiled(compile_many(_strict_jobs(tmp_path, "skel.h")))


def _renamed_enum(data: bytes, old: bytes, new: bytes | None) -> bytes:
    """The object with the BTF enum named ``old`` given the name of ``new`` (the offset of an
    existing string), or no name (``new`` None)."""
    from hostile_util import Image

    from bpfinspect.btf import Kind, parse_btf

    img = Image(data)
    raw = img.data(".BTF")
    btf = parse_btf(raw)
    strings = raw[btf.hdr_len + btf.str_off:btf.hdr_len + btf.str_off + btf.str_len]
    tid = next(t for t in btf.ids() if btf.kind(t) == Kind.ENUM and btf.name(t) == old.decode())
    _, pos = btf.words(tid)
    to = 0 if new is None else strings.index(b"\0" + new + b"\0") + 1
    return bytes(img.patch(".BTF", btf.hdr_len + btf.type_off + pos * 4, "I", to))


TWO_ENUMS_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
enum declared_here;
struct holder2 { enum declared_here *p; int x; };
enum defined_later { DL_A = 1 };
struct holder2 h2 SEC(".data");
enum defined_later dl SEC(".data");
SEC("xdp") int prog(struct xdp_md *c) { return h2.x + dl; }
char LICENSE[] SEC("license") = "GPL";
"""


DEFINED_FIRST_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
enum defined_first { DF_A = 1 };
struct first { enum defined_first e; int x; };
enum declared_later;
struct second { enum declared_later *p; int y; };
struct first f1 SEC(".data");
struct second s2 SEC(".data");
SEC("xdp") int prog(struct xdp_md *c) { return f1.x + s2.y; }
char LICENSE[] SEC("license") = "GPL";
"""


def _one_enum_name_header(tmp_path, source: str, declared: bytes, defined: bytes) -> tuple[str, str]:
    """(header, its C++ text) of ``source`` built with clang, the enum ``declared`` (without
    enumerators) renamed ``defined``; the header compiles strict as C and C++."""
    src = tmp_path / "enums.bpf.c"
    src.write_text(source)
    _build_bpf(src, tmp_path / "enums.bpf.o")
    obj = tmp_path / "same.bpf.o"
    obj.write_bytes(_renamed_enum((tmp_path / "enums.bpf.o").read_bytes(), declared, defined))
    text, _ = generate(obj, types=True)
    (tmp_path / "skel.h").write_text(text)
    _assert_compiled(compile_many(_strict_jobs(tmp_path, "skel.h")))
    return text, text.split("#ifdef __cplusplus", 1)[1].split("#else", 1)[0]


def test_an_enum_defined_then_declared_under_one_name_is_defined_once_in_cxx(tmp_path):
    """The other order (review): the definition written first, the declaration met later
    writes nothing (not a second definition, which g++ refuses)."""
    _, cxx = _one_enum_name_header(tmp_path, DEFINED_FIRST_C, b"declared_later", b"defined_first")
    assert cxx.count("enum defined_first {") == 1


def test_an_enum_declared_and_defined_under_one_name_compiles_in_cxx(tmp_path):
    """An enum without enumerators named like one with them (a forward declaration and its
    definition, as BTF merged from several units can hold): in C++ the definition is written
    where the declaration is first needed (``enum e : int;`` could not meet it later)."""
    _, cxx = _one_enum_name_header(tmp_path, TWO_ENUMS_C, b"declared_here", b"defined_later")
    assert cxx.index("enum defined_later {") < cxx.index("struct holder2 {")


def test_an_enum_without_name_or_enumerators_is_refused(tmp_path):
    """No C declaration writes an anonymous enum without enumerators (``enum *p;``): refused."""
    src = tmp_path / "fwd.bpf.c"
    src.write_text(FORWARD_ENUM_C)
    _build_bpf(src, tmp_path / "fwd.bpf.o")
    obj = tmp_path / "anon.bpf.o"
    obj.write_bytes(_renamed_enum((tmp_path / "fwd.bpf.o").read_bytes(), b"only_declared", None))
    for types in ([], ["--types"]):
        r = run_cli("gen-skel", *types, str(obj))
        assert r.returncode == 2 and "neither a name nor enumerators" in r.stderr, r.stderr

ANON_SIZED_ENUMS_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
enum __attribute__((packed)) { PA = 1, PB = 200 } g_pe;
enum __attribute__((packed)) { QA = 1, QB = 300 } g_pe2;
struct holder_ae { enum __attribute__((packed)) { RA, RB } small; int x; } g_h;
enum { ANON_A = 1 } g_plain;
SEC("xdp") int prog(struct xdp_md *c) { return g_pe + g_pe2 + g_h.x + g_plain; }
char LICENSE[] SEC("license") = "GPL";
"""


def test_anonymous_packed_enums_keep_their_size(tmp_path):
    """An anonymous enum of 1 or 2 bytes, written inline (a global's type, a member's), carries
    its machine mode after the closing brace, so the size assertions hold (review)."""
    src = tmp_path / "ae.bpf.c"
    src.write_text(ANON_SIZED_ENUMS_C)
    _build_bpf(src, tmp_path / "ae.bpf.o")
    text, _ = generate(tmp_path / "ae.bpf.o", types=True)
    assert text.count("} __attribute__((mode(__QI__)))") == 2 and "} __attribute__((mode(__HI__))) g_pe2;" in text
    (tmp_path / "skel.h").write_text(text)
    _assert_compiled(compile_many(_strict_jobs(tmp_path, "skel.h")))


# -- default output: every member bpftool's header has, same names and types -------------------

def _prelude(fixture) -> str:
    """Type definitions the headers need (what a user would write), from our --types output."""
    from bpfinspect.obj import open_object
    from bpfinspect.skel.c_build import build_model
    model = build_model(open_object(FIXTURES / fixture), types=True)
    return "#include <bpf/libbpf.h>\n" + model.types_text


def _contains(ours: dict, theirs: dict, where: str) -> None:
    for name, t in theirs.items():
        assert name in ours, f"{where}.{name} missing from our header"
        o = ours[name]
        if isinstance(t, dict):
            assert isinstance(o, dict), f"{where}.{name}: {o!r} is not a record like bpftool's"
            assert o["*"] == t["*"] and o["record"] == t["record"], f"{where}.{name}: {o} vs {t}"
            _contains(o["fields"], t["fields"], f"{where}.{name}")
        else:
            assert o == t, f"{where}.{name}: type {o!r}, bpftool has {t!r}"
    # bpftool's members keep their relative order (same layout)
    order = [n for n in ours if n in theirs]
    assert order == list(theirs), f"{where}: member order {order} differs from bpftool's {list(theirs)}"


BPFTOOL_OK = [f for f in FIXTURE_IDS if not re.search(r"-eb\.|legacy|clang14", f)]


@pytest.mark.skipif(not shutil.which("bpftool"), reason="bpftool not installed")
@pytest.mark.parametrize("fixture", BPFTOOL_OK)
def test_default_header_has_every_bpftool_member(fixture):
    theirs_text = bpftool_header(FIXTURES / fixture)
    assert theirs_text is not None, "bpftool refused a fixture it accepts elsewhere"
    ours_text, _ = generate(FIXTURES / fixture)
    obj_name = re.search(r"^struct (\w+) \{", theirs_text, re.M).group(1)
    assert re.search(rf"^struct {obj_name} \{{", ours_text, re.M)
    prelude = _prelude(fixture)
    # Drop the embedded bytes: they are irrelevant to the structures and slow to parse.
    cut = lambda t: re.sub(r"(elf_bytes\(size_t \*sz\)\n\{).*?\n\}\n", r"\1 return 0; }\n", t, flags=re.S)
    theirs = record_fields(prelude + cut(theirs_text), obj_name)
    ours = record_fields(prelude + cut(ours_text), obj_name)
    _contains(ours, theirs, obj_name)
    # The same functions exist.
    for fn in ("open", "open_opts", "load", "open_and_load", "attach", "detach", "destroy", "elf_bytes",
               "create_skeleton", "assert"):
        assert re.search(rf"\b{obj_name}__{fn}\(", ours_text), fn
    # Data-section and user map names handed to libbpf are the same.
    names = lambda t: re.findall(r"s->maps\[\d+\]\.name = (\"[^\"]*\")", t)
    assert names(ours_text) == names(theirs_text)
    progs = lambda t: re.findall(r"s->progs\[\d+\]\.name = (\"[^\"]*\")", t)
    assert progs(ours_text) == progs(theirs_text)


def test_struct_ops_maps_and_links_are_kept():
    text, _ = generate(FIXTURES / "struct_ops.bpf.o")
    fields = record_fields(_prelude("struct_ops.bpf.o") + text, "struct_ops_bpf")
    assert {"fx_reno", "fx_aimd"} <= set(fields["maps"]["fields"])
    assert {"fx_reno", "fx_aimd"} <= set(fields["links"]["fields"])
    # .struct_ops.link is unknown to libbpf 1.1: looked up after open, not listed for libbpf.
    assert 'bpf_object__find_map_by_name(obj->obj, "fx_aimd")' in text
    assert '.name = "fx_aimd"' not in text
    assert '.name = "fx_reno"' in text
    assert "bpf_map__attach_struct_ops(obj->maps.fx_reno)" in text


# libbpf 1.1 refuses these at open (foreign byte order; legacy "maps" sections since 1.0)
LIBBPF_REFUSES = {"bootstrap-eb.bpf.o": "LIBBPF_ERRNO__ENDIAN", "maps-eb.bpf.o": "LIBBPF_ERRNO__ENDIAN",
                  "dwarf_shapes-dwarf3-eb.bpf.o": "LIBBPF_ERRNO__ENDIAN",
                  "legacy_maps.bpf.o": "EOPNOTSUPP", "legacy_iproute2.bpf.o": "EOPNOTSUPP",
                  "legacy_dwarf.bpf.o": "EOPNOTSUPP"}


def _programs_by_elf_rule(path) -> list[str]:
    """libbpf's rule, applied with pyelftools: FUNC symbols of executable sections other than
    .text, ordered by section index, then by offset in the section."""
    from elftools.elf.elffile import ELFFile

    with open(path, "rb") as f:
        elf = ELFFile(f)
        code = {i for i, s in enumerate(elf.iter_sections())
                if s["sh_flags"] & 0x4 and s["sh_type"] == "SHT_PROGBITS" and s.name != ".text"}
        funcs = [(sym["st_shndx"], sym["st_value"], sym.name) for sym in elf.get_section_by_name(".symtab").iter_symbols()
                 if sym["st_info"]["type"] == "STT_FUNC" and sym["st_shndx"] in code]
    return [name for _, _, name in sorted(funcs)]


@pytest.mark.parametrize("fixture", FIXTURE_IDS)
def test_program_list_is_libbpfs(fixture):
    """The skeleton's program list (symbols only) and the model's programs are libbpf's own list,
    in its order: bpf_object__next_program after opening the file."""
    from bpfinspect.obj import open_object
    from bpfinspect.runtime import LibbpfError
    from bpfinspect.runtime.object import Object
    from bpfinspect.skel.c_build import program_names

    path = FIXTURES / fixture
    if fixture in LIBBPF_REFUSES:
        with pytest.raises(LibbpfError, match=LIBBPF_REFUSES[fixture]):
            Object.open(path)
        want = _programs_by_elf_rule(path)
    else:
        with Object.open(path) as ref:
            want = list(ref.programs)
    assert want, "every fixture has programs"
    assert program_names(open_object(path)) == want
    assert [p.name for p in open_object(path).programs if not p.is_subprog] == want


# -- determinism -----------------------------------------------------------------------------

def test_output_depends_only_on_bytes(tmp_path):
    src = FIXTURES / "maps.bpf.o"
    other = tmp_path / "deep" / "dir"
    other.mkdir(parents=True)
    shutil.copy(src, other / "maps.bpf.o")
    a, _ = generate(src, types=True)
    b, _ = generate(other / "maps.bpf.o", types=True)
    assert a == b
    assert str(ROOT) not in a and str(tmp_path) not in a
    assert not re.search(r"20\d\d-\d\d-\d\d", a)


# -- __elf_bytes() is the object, byte for byte, 8-byte aligned -------------------------------

ELF_DUMP_C = r"""
#include <stdio.h>
#include "skel.h"
int main(void)
{
	size_t sz = 0;
	const void *p = %s__elf_bytes(&sz);
	if (((unsigned long)p) %% 8) { fprintf(stderr, "misaligned\n"); return 2; }
	return fwrite(p, 1, sz, stdout) == sz ? 0 : 1;
}
"""


@pytest.mark.parametrize("fixture", ["bootstrap.bpf.o", "legacy_iproute2.bpf.o"])
def test_elf_bytes_are_the_object(fixture, tmp_path):
    text, _ = generate(FIXTURES / fixture)
    ident = re.search(r"^struct (\w+) \{", text, re.M).group(1)
    # the default header expects the user to define the globals' types first
    (tmp_path / "skel.h").write_text("#include <bpf/libbpf.h>\n" + _types_for(fixture) + text)
    (tmp_path / "dump.c").write_text(ELF_DUMP_C % ident)
    subprocess.run(["gcc", *C_FLAGS, "-o", "dump", "dump.c", "-lbpf"], cwd=tmp_path, check=True,
                   capture_output=True, text=True)
    out = subprocess.run([str(tmp_path / "dump")], capture_output=True, check=True).stdout
    assert out == (FIXTURES / fixture).read_bytes()


@pytest.mark.parametrize("fixture", ["core-target-new.o", "core-target-old.o", "core-target-flavours.o"])
def test_types_of_the_includes_names_but_another_size_are_defined_renamed(fixture, tmp_path):
    """core-target-new.o's ``enum bpf_map_type`` is an 8-byte ENUM64, <linux/bpf.h>'s a 4-byte
    enum: the includes' type cannot stand in for it (the size assertion failed), so the
    object's is defined under another name; every ``--types`` header compiles as C and C++."""
    text, _ = generate(FIXTURES / fixture, types=True)
    (tmp_path / "skel.h").write_text(text)
    (tmp_path / "use.c").write_text('#include <bpf/libbpf.h>\n#include "skel.h"\n')
    for cc, flags in (("gcc", C_FLAGS), ("g++", [*CXX_FLAGS, "-x", "c++"])):
        p = subprocess.run([cc, *flags, "-fsyntax-only", "use.c"], cwd=tmp_path, capture_output=True, text=True,
                           timeout=300)
        assert p.returncode == 0, f"{cc}: {p.stderr[:3000]}"
    if fixture == "core-target-new.o":
        assert re.search(r"^enum bpf_map_type_+ \{", text, re.M), "the object's enum is defined"


def test_elf_bytes_decode_at_every_edge_of_a_group_and_a_row(tmp_path):
    """The header's decoder, compiled by gcc and run, gives back payloads of every length around
    a group of four characters and a row of 1023 groups (0 bytes too)."""
    from bpfinspect.obj import open_object
    from bpfinspect.skel.c import generate_with_warnings
    obj = open_object(FIXTURES / "kprobe.bpf.o")
    types = _types_for("kprobe.bpf.o")
    sources = []
    for size in (0, 1, 2, 3, 4, 5, 3068, 3069, 3070, 3071, 6138, 6139, 6140):
        data = bytes((i * 131 + size) & 0xFF for i in range(size))
        text, _ = generate_with_warnings(obj, data=data)
        ident = re.search(r"^struct (\w+) \{", text, re.M).group(1)
        d = tmp_path / str(size)
        d.mkdir()
        (d / "skel.h").write_text("#include <bpf/libbpf.h>\n" + types + text)
        (d / "dump.c").write_text(ELF_DUMP_C % ident)
        sources.append((d, data))
    for d, data in sources:
        subprocess.run(["gcc", *C_FLAGS, "-o", "dump", "dump.c", "-lbpf"], cwd=d, check=True, capture_output=True,
                       text=True)
        out = subprocess.run([str(d / "dump")], capture_output=True, check=True).stdout
        assert out == data, (len(data), len(out))


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 3068, 3069, 3070, 6138, 6139, 12000])
def test_elf_rows_decode_to_the_bytes(size):
    """Each row is a string literal of at most 4092 characters of base64 (whole groups of four),
    never an escape or a trigraph; the decoder's arithmetic (group ``i`` at row ``i // 1023``,
    column ``i % 1023 * 4``) reads back the bytes."""
    from bpfinspect.skel.c import ROW, elf_rows
    data = bytes((i * 37 + 11) & 0xFF for i in range(size)) + b"??=\\\"\0" * (size > 100)
    row_texts = elf_rows(data)
    n, text = len(row_texts), "\n".join(row_texts)   # (as the header joins them)
    rows = _rows(str(text))
    assert len(rows) == n == max(1, -(-len(data) // (ROW // 4 * 3)))
    assert all(len(r) <= ROW and len(r) % 4 == 0 for r in rows)
    assert _decode_as_the_header_does(rows, len(data)) == data
    assert "??" not in text and "\\" not in text and text.isascii()
    assert all(len(line) <= 2 + 1 + 76 + 2 for line in text.splitlines())


def _rows(text: str) -> list[str]:
    """The rows of ``elf_rows``'s lines, joined as the header joins them, as C reads them
    (adjacent literals joined)."""
    assert text.endswith('",')
    rows = []
    for row in text[:-1].split(",\n"):
        parts = re.findall(r'"([^"\\\n]*)"', row)
        assert "".join(f'"{p}"' for p in parts) == re.sub(r"\s+", "", row), row[:200]
        rows.append("".join(parts))
    return rows


def _decode_as_the_header_does(rows: list[str], size: int) -> bytes:
    """``__elf_bytes()``'s loop, step for step: four characters per three bytes, the bytes past
    ``size`` (the padding's) not written."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    value = [0] * 256
    for i, c in enumerate(alphabet):
        value[ord(c)] = i
    groups = len(rows[0]) // 4 if len(rows) > 1 else 1023
    out = bytearray(size)
    i = o = 0
    while o < size:
        q = rows[i // groups][i % groups * 4:][:4].ljust(4, "\0").encode("ascii")
        v = value[q[0]] << 18 | value[q[1]] << 12 | value[q[2]] << 6 | value[q[3]]
        out[o] = v >> 16
        if o + 1 < size:
            out[o + 1] = v >> 8 & 0xFF
        if o + 2 < size:
            out[o + 2] = v & 0xFF
        i += 1
        o += 3
    return bytes(out)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=9000))
def test_elf_rows_any_bytes(data):
    """Any bytes: the rows read back as the bytes (the header's decoder, and Python's own), every
    line full (76 characters) but a row's last."""
    import base64

    from bpfinspect.skel.c import LINE, ROW, elf_rows
    row_texts = elf_rows(data)
    n, text = len(row_texts), "\n".join(row_texts)   # (as the header joins them)
    rows = _rows(str(text))
    assert _decode_as_the_header_does(rows, len(data)) == data == base64.b64decode("".join(rows))
    assert n == max(1, -(-len(data) // (ROW // 4 * 3))) and all(len(r) == ROW for r in rows[:-1])
    lines = [line[3:] for line in str(text).splitlines()]   # tab, tab, quote
    for line in lines:
        body = line[:line.rindex('"')]
        assert len(body) == LINE or line.endswith('",') or body == "", line


def _types_for(fixture) -> str:
    from bpfinspect.obj import open_object
    from bpfinspect.skel.c_build import build_model
    return build_model(open_object(FIXTURES / fixture), types=True).types_text


# -- hostile names ----------------------------------------------------------------------------

def _bpf_clang() -> str | None:
    for cc in ("clang", "clang-19", "clang-16"):
        if shutil.which(cc):
            return cc
    return None


def _build_bpf(src, out) -> None:
    cc = _bpf_clang()
    if cc is None:
        pytest.skip("no clang to build BPF test objects")
    multiarch = subprocess.run(["gcc", "-print-multiarch"], capture_output=True, text=True).stdout.strip()
    inc = [f"-I/usr/include/{multiarch}"] if multiarch else []
    subprocess.run([cc, "-O2", "-g", "-target", "bpf", *inc, "-c", str(src), "-o", str(out)], check=True,
                   capture_output=True, text=True)


@pytest.fixture(scope="module")
def hostile_objects(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    _build_bpf(DATA / "hostile.bpf.c", d / "hostile.bpf.o")
    _build_bpf(DATA / "tiny.bpf.c", d / "1st-prog.v2.bpf.o")
    shutil.copy(d / "1st-prog.v2.bpf.o", d / "int.bpf.o")
    shutil.copy(d / "1st-prog.v2.bpf.o", d / "class.bpf.o")
    _build_bpf(DATA / "strings.bpf.c", d / "strings.bpf.o")
    return d


@pytest.mark.parametrize("obj_file,name,ident", [
    ("1st-prog.v2.bpf.o", None, "_1st_prog_v2_bpf"),
    ("int.bpf.o", None, "int_bpf"),
    ("class.bpf.o", None, "class_bpf"),
    ("1st-prog.v2.bpf.o", "int", "int_"),
    ("1st-prog.v2.bpf.o", "9-lives", "_9_lives"),
    ("1st-prog.v2.bpf.o", "new", "new_"),
    ("hostile.bpf.o", None, "hostile_bpf"),
    ("strings.bpf.o", None, "strings_bpf"),
])
def test_hostile_names_compile(hostile_objects, tmp_path, obj_file, name, ident):
    for types in (False, True):
        text, _ = generate(hostile_objects / obj_file, name=name, types=types)
        assert re.search(rf"^struct {ident} \{{", text, re.M)
        pre = ""
        if not types:
            # what a user of the default header writes first: the globals' types
            from bpfinspect.obj import open_object
            from bpfinspect.skel.c_build import build_model
            m = build_model(open_object(hostile_objects / obj_file), name=name, types=True)
            pre = (f"#include <bpf/libbpf.h>\n#ifdef __cplusplus\n{m.types_text_cxx}#else\n{m.types_text}"
                   "#endif\n")
        (tmp_path / "skel.h").write_text(pre + text)
        _assert_compiled(compile_many(_strict_jobs(tmp_path, "skel.h")))


def test_hostile_clashes_resolved_as_documented(hostile_objects):
    text, warnings = generate(hostile_objects / "hostile.bpf.o", types=True)
    f = record_fields(text, "hostile_bpf")
    assert list(f["maps"]["fields"]) == ["bss", "kconfig", "bss_2", "data_a_b", "data_a_b_2", "rodata",
                                         "data_words", "kconfig_2"]
    assert list(f["progs"]["fields"]) == ["obj", "skeleton", "maps", "links"]
    assert list(f["links"]["fields"]) == ["obj", "skeleton", "maps", "links"]
    bss = f["bss"]["fields"]
    # the variable __pad0 keeps its name; padding takes the next free number; the static `hidden`
    # leaves a gap that is written out (as bpftool does: 8-byte types are aligned to 4 on 32-bit hosts)
    assert list(bss) == ["counter", "new", "__pad0", "__pad1", "after_hidden", "gap_before", "__pad2", "gap_after"]
    assert {"data_a_b", "data_a_b_2", "rodata", "kconfig"} <= set(f)
    assert any("maps.bss_2" in w for w in warnings)
    # C++ sees the C++ keyword renamed
    fx = record_fields(text, "hostile_bpf", lang="c++")
    assert "new_" in fx["bss"]["fields"] and "new" not in fx["bss"]["fields"]
    # and the members of the globals' types too (--types), C unchanged
    assert list(fx["data_words"]["fields"]) == ["words"]
    assert "struct cxx_words {\n\tint new_;" in text and "struct cxx_words {\n\tint new;" in text
    # map names libbpf will look for
    assert '.name = "hostile_.bss"' in text and '.name = ".data.a-b"' in text
    assert '.name = "hostile.kconfig"' in text
    if shutil.which("bpftool"):
        # bpftool writes a header with duplicate members here, but its map names are libbpf's
        theirs = bpftool_header(hostile_objects / "hostile.bpf.o")
        names = lambda t: re.findall(r"s->maps\[\d+\]\.name = (\"[^\"]*\")", t)
        assert names(text) == names(theirs)


@pytest.mark.skipif(not shutil.which("bpftool"), reason="bpftool not installed")
@pytest.mark.parametrize("obj_file", ["strings.bpf.o", "1st-prog.v2.bpf.o"])
def test_built_objects_have_every_bpftool_member(hostile_objects, obj_file):
    theirs_text = bpftool_header(hostile_objects / obj_file)
    ours_text, _ = generate(hostile_objects / obj_file)
    theirs_name = re.search(r"^struct (\w+) \{", theirs_text, re.M).group(1)
    ours_name = re.search(r"^struct (\w+) \{", ours_text, re.M).group(1)
    pre = "#include <bpf/libbpf.h>\n"
    # bpftool's name may not be an identifier (1st_prog_v2_bpf): compare under ours.
    theirs_text = re.sub(rf"\b{theirs_name}", ours_name, theirs_text)
    _contains(record_fields(pre + ours_text, ours_name), record_fields(pre + theirs_text, ours_name), ours_name)


def test_bpftool_header_for_odd_name_does_not_compile(hostile_objects, tmp_path):
    """The defect we fix, shown on this machine: bpftool's struct name starts with a digit."""
    if not shutil.which("bpftool"):
        pytest.skip("bpftool not installed")
    text = bpftool_header(hostile_objects / "1st-prog.v2.bpf.o")
    assert text is not None and "struct 1st_prog_v2_bpf {" in text
    (tmp_path / "skel.h").write_text("#include <linux/types.h>\n" + text)
    results = compile_many(_strict_jobs(tmp_path, "skel.h")[:1])
    assert results[0][1] != 0


# -- the CLI --------------------------------------------------------------------------------

def test_cli_stdout_and_file(tmp_path):
    out = tmp_path / "b.skel.h"
    p = run_cli("gen-skel", str(FIXTURES / "bootstrap.bpf.o"), "-o", str(out))
    assert p.returncode == 0, p.stderr
    p2 = run_cli("gen-skel", str(FIXTURES / "bootstrap.bpf.o"), "--lang", "c")
    assert p2.returncode == 0
    assert p2.stdout == out.read_text()
    assert "struct bootstrap_bpf {" in p2.stdout


def test_cli_name_and_errors(tmp_path):
    p = run_cli("gen-skel", str(FIXTURES / "bootstrap.bpf.o"), "--name", "my-prog")
    assert p.returncode == 0 and "struct my_prog {" in p.stdout and 's->name = "my_prog";' in p.stdout
    bad = tmp_path / "bad.bpf.o"
    bad.write_bytes(b"\x7fELF" + b"\0" * 20)
    p = run_cli("gen-skel", str(bad))
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr
    p = run_cli("gen-skel", str(tmp_path / "missing.bpf.o"))
    assert p.returncode == 2 and "Traceback" not in p.stderr


def test_name_clashing_with_a_global_type_is_refused():
    from bpfinspect.errors import UsageError
    with pytest.raises(UsageError, match="struct shape_root"):
        generate(FIXTURES / "btf_shapes.bpf.o", name="shape_root")  # the type of the global root
    # not a type the globals use: fine (struct event is only the type of bootstrap's locals)
    generate(FIXTURES / "bootstrap.bpf.o", name="task_struct")
    generate(FIXTURES / "bootstrap.bpf.o", name="event")
    p = run_cli("gen-skel", str(FIXTURES / "btf_shapes.bpf.o"), "--name", "shape_root")
    assert p.returncode == 2 and "struct shape_root" in p.stderr and p.stderr.count("\n") == 1


def _bpf_usable() -> str | None:
    if os.geteuid() != 0:
        return "needs root for bpf()"
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        return "kernel without BTF (/sys/kernel/btf/vmlinux)"
    return None


@pytest.fixture(scope="module")
def tracefs():
    reason = _bpf_usable()
    if reason:
        pytest.skip(reason)
    path = "/sys/kernel/tracing"
    if not os.path.ismount(path):
        r = subprocess.run(["mount", "-t", "tracefs", "tracefs", path], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount tracefs at {path}: {r.stderr.strip()}")
    return path


def test_bootstrap_user_program_runs(tracefs, tmp_path):
    text, _ = generate(FIXTURES / "bootstrap.bpf.o")
    (tmp_path / "bootstrap.skel.h").write_text(text)
    user = tmp_path / "user"
    subprocess.run(["gcc", *C_FLAGS, f"-I{tmp_path}", str(DATA / "bootstrap_user.c"), "-lbpf", "-o", str(user)],
                   check=True, cwd=DATA, capture_output=True, text=True)
    p = subprocess.run([str(user), "/bin/true"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    lines = dict(line.split(" ", 1) for line in p.stdout.splitlines() if " " in line)
    child = lines["child"]
    exec_line = re.search(rf"^exec {child} (\S+) (\S+)$", p.stdout, re.M)
    assert exec_line and exec_line.group(1) == "true" and exec_line.group(2) == "/bin/true", p.stdout
    assert re.search(rf"^exit {child} 0$", p.stdout, re.M), p.stdout
    assert int(lines["seen_exec"]) >= 1 and int(lines["seen_exit"]) >= 1
    assert lines["min_duration_ns"] == "0"
    assert lines["exit_code_mask"] == str(0xFFFFFFFF)
    size, misalign = lines["elf_bytes"].split()
    assert int(size) == (FIXTURES / "bootstrap.bpf.o").stat().st_size and misalign == "0"


HOSTILE_RUN_C = r"""
#include <stdio.h>
#include <string.h>
#include "skel.h"
int main(void)
{
	struct hostile_bpf *skel = hostile_bpf__open();
	if (!skel) { perror("open"); return 1; }
	skel->rodata->big = 7;
	if (hostile_bpf__load(skel)) { fprintf(stderr, "load failed\n"); return 1; }
	printf("bss %s\n", bpf_map__name(skel->maps.bss));
	printf("bss_2 %s\n", bpf_map__name(skel->maps.bss_2));
	printf("kconfig_2 %s\n", bpf_map__name(skel->maps.kconfig_2));
	printf("data_a_b_2 %s\n", bpf_map__name(skel->maps.data_a_b_2));
	printf("ab_two %u\n", skel->data_a_b_2->ab_two);
	printf("kver %d\n", skel->kconfig->LINUX_KERNEL_VERSION != 0);
	printf("prog %s\n", bpf_program__name(skel->progs.skeleton));
	hostile_bpf__destroy(skel);
	return 0;
}
"""


def test_hostile_skeleton_loads(hostile_objects, tmp_path):
    reason = _bpf_usable()
    if reason:
        pytest.skip(reason)
    text, _ = generate(hostile_objects / "hostile.bpf.o", types=True)
    (tmp_path / "skel.h").write_text(text)
    (tmp_path / "run.c").write_text(HOSTILE_RUN_C)
    subprocess.run(["gcc", *C_FLAGS, "run.c", "-lbpf", "-o", "run"], cwd=tmp_path, check=True, capture_output=True,
                   text=True)
    p = subprocess.run([str(tmp_path / "run")], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    got = dict(line.split(" ", 1) for line in p.stdout.splitlines())
    assert got == {"bss": "bss", "bss_2": "hostile_.bss", "kconfig_2": "hostile.kconfig",
                   "data_a_b_2": ".data.a_b", "ab_two": "2", "kver": "1", "prog": "skeleton"}


TINY_RUN_C = r"""
#include <stdio.h>
#include <unistd.h>
#include "skel.h"
int main(void)
{
	struct _1st_prog_v2_bpf *skel = _1st_prog_v2_bpf__open_and_load();
	if (!skel) { perror("open_and_load"); return 1; }
	if (_1st_prog_v2_bpf__attach(skel)) { fprintf(stderr, "attach failed\n"); return 1; }
	for (int i = 0; i < 3; i++)
		(void)getpid();
	printf("%s %d\n", bpf_map__name(skel->maps.bss), skel->bss->calls >= 3);
	_1st_prog_v2_bpf__destroy(skel);
	return 0;
}
"""


def test_odd_file_name_skeleton_runs(hostile_objects, tmp_path, tracefs):
    text, _ = generate(hostile_objects / "1st-prog.v2.bpf.o", types=True)
    (tmp_path / "skel.h").write_text(text)
    (tmp_path / "run.c").write_text(TINY_RUN_C)
    subprocess.run(["gcc", *C_FLAGS, "run.c", "-lbpf", "-o", "run"], cwd=tmp_path, check=True, capture_output=True,
                   text=True)
    p = subprocess.run([str(tmp_path / "run")], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    # libbpf names the .bss map after the skeleton name bpftool would use (1st_prog_v2_bpf)
    assert p.stdout.split() == ["1st_prog.bss", "1"]


def _vmlinux_h(tmp_path) -> str:
    """A directory with vmlinux.h (the fixtures' build copy, or dumped from the kernel now)."""
    built = ROOT / "fixtures" / "build" / "vmlinux.h"
    if built.exists():
        return str(built.parent)
    if not shutil.which("bpftool"):
        pytest.skip("no vmlinux.h and no bpftool to write one")
    p = subprocess.run(["bpftool", "btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "c"],
                       capture_output=True, text=True, check=True)
    (tmp_path / "vmlinux.h").write_text(p.stdout)
    return str(tmp_path)


def test_struct_ops_skeleton_registers_and_unregisters(tmp_path):
    reason = _bpf_usable()
    if reason:
        pytest.skip(reason)
    inc = _vmlinux_h(tmp_path)
    cc = _bpf_clang()
    if cc is None:
        pytest.skip("no clang to build BPF test objects")
    obj = tmp_path / "cc_reno.bpf.o"
    import platform
    arch = {"x86_64": "x86", "aarch64": "arm64", "s390x": "s390", "ppc64le": "powerpc",
            "riscv64": "riscv"}.get(platform.machine(), "x86")
    subprocess.run([cc, "-O2", "-g", "-target", "bpf", f"-D__TARGET_ARCH_{arch}", f"-I{inc}", "-c",
                    str(DATA / "cc_reno.bpf.c"), "-o", str(obj)], check=True, capture_output=True, text=True)
    text, _ = generate(obj, types=True)
    (tmp_path / "skel.h").write_text(text)
    subprocess.run(["gcc", *C_FLAGS, f"-I{tmp_path}", str(DATA / "cc_reno_user.c"), "-lbpf", "-o", "run"],
                   cwd=tmp_path, check=True, capture_output=True, text=True)
    p = subprocess.run([str(tmp_path / "run")], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    got = dict(line.split() for line in p.stdout.splitlines())
    assert got == {"before": "0", "link": "1", "attached": "1", "link_after_detach": "0", "detached": "0",
                   "attached_again": "1", "destroyed": "0"}


# -- identifiers --------------------------------------------------------------------------------

@pytest.mark.parametrize("raw,ident", [
    ("1st-prog.v2.bpf", "_1st_prog_v2_bpf"), ("int", "int_"), ("class", "class_"), ("", "_"),
    ("a b\u00e9", "a_b_"), ("ok_name", "ok_name"), ("_Bool", "_Bool_"), ("xor", "xor_"),
    ("linux", "linux_"), ("errno", "errno_"), ("NULL", "NULL_"), ("free", "free_"), ("bpf_object", "bpf_object_"),
])
def test_c_ident(raw, ident):
    from bpfinspect.quote.c import is_ident
    from bpfinspect.skel.c_build import skeleton_ident
    assert skeleton_ident(raw) == ident
    assert is_ident(ident)


def test_c_string_escapes_compile(tmp_path):
    from bpfinspect.quote.c import string as c_string
    text = 'a"b\\c??=d\n\u00e9\x01'
    (tmp_path / "s.c").write_text(
        "#include <string.h>\nint main(void) { static const char s[] = " + c_string(text) + ";\n"
        "return memcmp(s, \"" + "".join(f"\\x{b:02x}\" \"" for b in text.encode()) + "\", sizeof(s)) != 0; }\n")
    subprocess.run(["gcc", *C_FLAGS, "-o", "s", "s.c"], cwd=tmp_path, check=True, capture_output=True, text=True)
    assert subprocess.run([str(tmp_path / "s")]).returncode == 0


def test_member_names_keep_c_spelling_and_rename_for_cxx():
    from bpfinspect.skel.c_model import NameSpace, member_name
    assert member_name("new").c == "new" and member_name("new").cxx == "new_"
    assert member_name("int").c == "int_"
    ns = NameSpace(["bss"])
    assert ns.take("bss").c == "bss_2" and ns.take("bss").c == "bss_3"


def test_same_user_program_fails_strict_flags_with_bpftool_header(tmp_path):
    """What the strict flags catch in bpftool 7.1's header (ours passes the same build above)."""
    if not shutil.which("bpftool"):
        pytest.skip("bpftool not installed")
    (tmp_path / "bootstrap.skel.h").write_text(bpftool_header(FIXTURES / "bootstrap.bpf.o"))
    p = subprocess.run(["gcc", *C_FLAGS, f"-I{tmp_path}", "-fsyntax-only", str(DATA / "bootstrap_user.c")],
                       cwd=DATA, capture_output=True, text=True)
    assert p.returncode != 0
    assert "overlength-strings" in p.stderr and "cast-qual" in p.stderr, p.stderr[:2000]


def _kernel_config() -> dict[str, str]:
    import gzip
    import platform
    for path in ("/proc/config.gz", f"/boot/config-{platform.release()}"):
        if os.path.exists(path):
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rt") as f:
                return dict(line.strip().split("=", 1) for line in f if line.startswith("CONFIG_") and "=" in line)
    return {}


def test_kconfig_layout_is_libbpfs(tmp_path):
    reason = _bpf_usable()
    if reason:
        pytest.skip(reason)
    config = _kernel_config()
    if not config:
        pytest.skip("no kernel config (/proc/config.gz, /boot/config-*) for libbpf to read")
    text, _ = generate(FIXTURES / "externs.bpf.o", types=True)
    (tmp_path / "skel.h").write_text(text)
    subprocess.run(["gcc", *C_FLAGS, f"-I{tmp_path}", str(DATA / "kconfig_user.c"), "-lbpf", "-o", "run"],
                   cwd=tmp_path, check=True, capture_output=True, text=True)
    p = subprocess.run([str(tmp_path / "run")], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    got = dict(line.split(" ", 1) for line in p.stdout.splitlines())
    tristate = {"y": "1", "m": "2"}
    assert got["CONFIG_HZ"] == config["CONFIG_HZ"]
    assert got["CONFIG_NR_CPUS"] == config["CONFIG_NR_CPUS"]
    assert got["CONFIG_BPF_SYSCALL"] == ("1" if config.get("CONFIG_BPF_SYSCALL") == "y" else "0")
    assert got["CONFIG_BPF_LSM"] == tristate.get(config.get("CONFIG_BPF_LSM", ""), "0")
    assert got["CONFIG_FIXTURE_NOT_A_REAL_OPTION"] == "0"
    assert got["CONFIG_DEFAULT_HOSTNAME"] == config["CONFIG_DEFAULT_HOSTNAME"].strip('"')
    major, minor, patch = (int(x) for x in re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", os.uname().release).groups("0"))
    assert int(got["LINUX_KERNEL_VERSION"]) == (major << 16) + (minor << 8) + min(patch, 255)


@pytest.mark.parametrize("fixture", ["maps.bpf.o", "bootstrap.bpf.o", "btf_shapes.bpf.o"])
def test_header_puts_the_rows_where_the_template_writes_them(fixture):
    """``header`` renders the template with a mark for the rows and joins them in after: the
    same text as rendering the rows' text in place."""
    from bpfinspect.obj import open_object
    from bpfinspect.quote.c import trusted
    from bpfinspect.skel.c import ROW, elf_rows, header
    from bpfinspect.skel.c_build import build_model
    from bpfinspect.skel.c_template import render

    model = build_model(open_object(FIXTURES / fixture), types=True)
    rows = elf_rows(model.data)
    whole = render("skel_c.h.j2", s=model, elf_rows=len(rows), elf_row=ROW, elf_text=trusted("\n".join(rows)))
    assert header(model, rows) == whole
    assert "\0" not in whole
