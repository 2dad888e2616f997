"""Hostile names never reach a skeleton as code.

Objects with hostile names are made two ways: compiled by clang from sources
whose names are harmless in BPF C but mean something in C, C++ or Python
(``tests/data/skel_names/names.bpf.c``, and a source of 4,000+ character names
written here), and made by renaming things inside a compiled object (its BTF
string table, its symbol and section name tables).  Every name that could do
harm carries a payload that fails loudly once it is code: C payloads stop the
compiler (``#error INJECTED``, ``_Static_assert(0, "INJECTED")``), Python
payloads create a sentinel file (or fail to import).

For every object (and hostile ``--name`` and file names) both skeletons are
made (exit 0): the Python skeleton imports in a fresh interpreter and the
sentinel never appears; the C skeleton, with and without ``--types``, compiles
with gcc and clang in gnu11 and c11 and with g++ and clang++, all with ``-Wall
-Wextra -Wpedantic -Werror``, and its preprocessed text holds no ``INJECTED``
token outside string literals.  (Names a skeleton cannot use are refused with
exit 2: tests/test_skel_names.py.)  The C skeleton of the compiled object is
also opened through libbpf by a C program and the Python one by the runtime:
the escaped names are the ones libbpf knows.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cskel_util import FIXTURES, ROOT, compile_many
from hostile_util import patch_btf, patch_section_names, patch_symbols

DATA = ROOT / "tests" / "data" / "skel_names"
C_STRICT = ["-Wall", "-Wextra", "-Wpedantic", "-Wcast-qual", "-Werror"]
CXX_STRICT = ["-Wall", "-Wextra", "-Wpedantic", "-Werror"]
MAIN = '#include "{h}"\nint main(void) {{ return 0; }}\n'


def _clang() -> str | None:
    for cc in ("clang", "clang-19", "clang-16"):
        if shutil.which(cc):
            return cc
    return None


def _compile_bpf(src: Path, out: Path, defines=()) -> Path:
    cc = _clang()
    if cc is None:
        pytest.skip("no clang to build the BPF test objects")
    p = subprocess.run([cc, "-O2", "-g", "-target", "bpf", "-Wno-trigraphs", *defines, "-c", str(src), "-o", str(out)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-3000:]
    return out


LONG_SOURCE = """
#define SEC(name) __attribute__((section(name), used))
typedef unsigned int u32;
struct {{ int (*type)[2]; int (*max_entries)[1]; u32 *key; u32 *value; }} map_{m} SEC(".maps");
struct s_{s} {{ int member_{s}; }} var_{v};
int data_{d} SEC(".data.{x}") = 1;
SEC("xdp") int prog_{p}(void *ctx) {{ return 0; }}
SEC("tp/{t}") int short_prog(void *ctx) {{ return 0; }}
char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def objects(tmp_path_factory):
    """id -> (object path, --name or None, sentinel path)."""
    d = tmp_path_factory.mktemp("hostile_names")
    sentinel = d / "SENTINEL"
    out = {}
    names = _compile_bpf(DATA / "names.bpf.c", d / "names.bpf.o", [f'-DSENTINEL="\\"{sentinel}\\""'])
    out["compiled"] = (names, None)

    long_src = d / "long.bpf.c"
    long_src.write_text(LONG_SOURCE.format(m="m" * 4200, s="s" * 4100, v="v" * 4100, d="d" * 4096, x="x" * 4100,
                                           p="p" * 5000, t="t" * 4500))
    out["long"] = (_compile_bpf(long_src, d / "long.bpf.o"), None)

    payload = f'"""+open("{sentinel}","w").name+"""'.encode()
    data = names.read_bytes()
    btf_names = {
        b"ctypes_words": b'x"',                         # a struct called x" (once exit 70)
        b"None": b"a\n#error INJECTED\n",               # a struct and a map
        b"python_words": b'e*/_Static_assert(0, "INJECTED");/*',
        b"mro": "\\N{BULLET}\"\"\"\\x41\\u0041".encode(),  # an enumerator
        b"lambda": b"a-b", b"yield": b"a_b",            # members that give the same identifier
        b"x": payload,                                  # members
        b"size_t": b"t y p e",                          # a typedef
        b"int": b'int; _Static_assert(0, "INJECTED")',  # the int type itself
        b"BYTE_ORDER": b"v-1", b"stdin": b"v_1",        # variables that give the same identifier
        b"len": "caf\u00e9\u202e".encode(),            # a struct and a variable: non-ASCII, an RLO
        b"bool": b"EOF", b"false": b"offsetof",         # variables renamed to macros
    }
    patched = patch_btf(data, btf_names)
    patched = patch_symbols(patched, {
        b"None": btf_names[b"None"], b"BYTE_ORDER": b"v-1", b"stdin": b"v_1", b"bool": b"EOF",
        b"false": b"offsetof", b"len": btf_names[b"len"],
        b"triple_quotes": b'p"""\n' + payload + b'\n"""',   # a program
        b"unix": b'q*/_Static_assert(0, "INJECTED");/*',
        b"linux": b"q\n#error INJECTED\n", b"i386": "\u00e9".encode(),
    })
    patched = patch_section_names(patched, {b".data.load": b'.data.l"""\n#error INJECTED\n'})
    patched = patch_btf(patched, {b".data.load": b'.data.l"""\n#error INJECTED\n'})
    (d / "patched.bpf.o").write_bytes(patched)
    out["patched"] = (d / "patched.bpf.o", None)

    tiny = FIXTURES / "kprobe.bpf.o"
    for i, fname in enumerate(["linux.bpf.o", "errno.bpf.o", "None.bpf.o", "1st-prog.v2.bpf.o",
                               'x"""\';*\n#error INJECTED\n.bpf.o']):
        sub = d / f"f{i}"
        sub.mkdir()
        shutil.copy(tiny, sub / fname)
        out[f"file-{i}"] = (sub / fname, None)
    for i, name in enumerate(["linux", "errno", "true", "None", "bpf_object", 'x"""*/\n#error INJECTED\n',
                              "n" * 5000]):
        out[f"name-{i}"] = (tiny, name)
    out["name-compiled"] = (names, "free")
    return out, sentinel


CASES = ["compiled", "long", "patched"] + [f"file-{i}" for i in range(5)] + [f"name-{i}" for i in range(7)] + \
    ["name-compiled"]


def _gen(obj: Path, lang: str, out: Path, name: str | None, types: bool = False) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "bpfinspect", "gen-skel", str(obj), "--lang", lang, "-o", str(out)]
    if name is not None:
        argv += ["--name", name]
    if types:
        argv.append("--types")
    return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=300)


@pytest.mark.parametrize("case", CASES)
def test_python_skeleton_imports_and_runs_nothing(objects, case, tmp_path):
    table, sentinel = objects
    obj, name = table[case]
    mod = tmp_path / "hostile_skel.py"
    p = _gen(obj, "python", mod, name)
    assert p.returncode == 0, p.stderr[-3000:]
    text = mod.read_text()
    assert text.isascii()
    r = subprocess.run([sys.executable, "-c", "import hostile_skel, sys; sys.stdout.write(hostile_skel.__doc__)"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert r.returncode == 0, r.stderr[-3000:]
    assert not sentinel.exists(), "a name ran code at import"


def _strict_jobs(d: Path, header: str) -> list:
    (d / "use.c").write_text(MAIN.format(h=header))
    (d / "use.cc").write_text(MAIN.format(h=header))
    jobs = []
    for cc in ("gcc", "clang"):
        if shutil.which(cc):
            for std in ("-std=gnu11", "-std=c11"):
                jobs.append(([cc, std, *C_STRICT, "-fsyntax-only", "use.c"], d))
    for cxx in ("g++", "clang++"):
        if shutil.which(cxx):
            jobs.append(([cxx, *CXX_STRICT, "-fsyntax-only", "use.cc"], d))
    return jobs


_LITERAL = re.compile(r'"(?:[^"\\\n]|\\.)*"')


def _assert_no_injected_token(d: Path) -> None:
    """What the preprocessor hands the compiler holds INJECTED only inside string literals."""
    p = subprocess.run(["gcc", "-std=gnu11", "-E", "-P", "use.c"], cwd=d, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-2000:]
    code = _LITERAL.sub('""', p.stdout)
    assert not re.search(r"\bINJECTED\b", code), "an injected token reached the compiler"


def _compiles(d: Path, header: str) -> None:
    results = compile_many(_strict_jobs(d, header))
    bad = [(argv[0] + " " + argv[1], err) for argv, rc, err in results if rc != 0 or err.strip()]
    assert not bad, "\n".join(f"{cc}: {err[:3000]}" for cc, err in bad)
    _assert_no_injected_token(d)


@pytest.mark.parametrize("types", [True, False], ids=["types", "default"])
@pytest.mark.parametrize("case", CASES)
def test_c_skeleton_compiles_strictly(objects, case, types, tmp_path):
    table, sentinel = objects
    obj, name = table[case]
    header = tmp_path / "skel.h"
    p = _gen(obj, "c", header, name, types=types)
    assert p.returncode == 0, p.stderr[-3000:]
    text = header.read_text()
    assert text.isascii()
    if not types:
        # what a user of the default header writes first: the globals' types (here, ours)
        from bpfinspect.obj import open_object
        from bpfinspect.skel.c_build import build_model
        m = build_model(open_object(str(obj)), name=name, types=True)
        (tmp_path / "user.h").write_text(
            "#include <bpf/libbpf.h>\n#if defined(__GNUC__)\n#pragma GCC diagnostic push\n"
            "#pragma GCC diagnostic ignored \"-Wpedantic\"\n#endif\n"
            f"#ifdef __cplusplus\n{m.types_text_cxx}#else\n{m.types_text}#endif\n"
            "#if defined(__GNUC__)\n#pragma GCC diagnostic pop\n#endif\n" + text)
        _compiles(tmp_path, "user.h")
    else:
        _compiles(tmp_path, "skel.h")
    assert not sentinel.exists()


OPEN_C = r"""
#include <stdio.h>
#include "skel.h"
int main(void)
{
	struct names_bpf *s = names_bpf__open();
	int missing = 0;
	size_t i;
	if (!s) { perror("open"); return 1; }
	for (i = 0; i < sizeof(s->maps) / sizeof(void *); i++)
		missing += ((struct bpf_map **)&s->maps)[i] == NULL;
	for (i = 0; i < sizeof(s->progs) / sizeof(void *); i++)
		missing += ((struct bpf_program **)&s->progs)[i] == NULL;
	printf("%d %d\n", missing, s->data_l_____error_INJECTED_->load);
	names_bpf__destroy(s);
	return 0;
}
"""


def test_c_skeleton_names_reach_libbpf_exactly(objects, tmp_path):
    """libbpf opens the hostile object through the skeleton: every map and program is found
    by the escaped names, and the data section renamed with quotes and line breaks maps."""
    table, _ = objects
    header = tmp_path / "skel.h"
    p = _gen(table["patched"][0], "c", header, None, types=True)
    assert p.returncode == 0, p.stderr
    (tmp_path / "open.c").write_text(OPEN_C.replace("names_bpf", "patched_bpf"))
    b = subprocess.run(["gcc", "-std=gnu11", *C_STRICT, "open.c", "-lbpf", "-o", "open"], cwd=tmp_path,
                       capture_output=True, text=True)
    assert b.returncode == 0, b.stderr[-3000:]
    r = subprocess.run([str(tmp_path / "open")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.split() == ["0", "20"]


def test_python_skeleton_names_reach_libbpf_exactly(objects, tmp_path):
    table, sentinel = objects
    mod = tmp_path / "hostile_open_skel.py"
    p = _gen(table["patched"][0], "python", mod, None)
    assert p.returncode == 0, p.stderr
    script = ("import hostile_open_skel as m\n"
              "with m.PatchedBpf.open() as s:\n"
              "    print(len(s.maps), len(s.progs), s.data.v_1, s.data.v_1_2)\n")
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert r.returncode == 0, r.stderr[-3000:]
    # 5 maps from the source and the data sections with BTF; both variables named v_1... kept apart
    n_maps, n_progs, first, second = r.stdout.split()
    assert int(n_progs) == 17 and {first, second} == {"1", "2"}
    assert not sentinel.exists()


# -- the naming rules, as documented ---------------------------------------------------------------

def test_c_names_follow_the_rules(objects):
    from bpfinspect.obj import open_object
    from bpfinspect.skel.c_build import build_model
    table, _ = objects
    m = build_model(open_object(str(table["patched"][0])), types=True)
    data = next(d for d in m.datasecs if d.section == ".data")
    names = [v.name.c for v in data.members if v.name]
    # v-1 and v_1 give the same identifier: the later one (by offset) gets _2
    assert names[:2] == ["v_1", "v_1_2"]
    # macros of the includes get _ appended; C++-only keywords only in C++
    assert {"EOF_", "offsetof_", "new", "class", "bpf_object__open", "qsort"} <= set(names)
    assert next(v.name for v in data.members if v.name and v.name.c == "new").cxx == "new_"
    text = m.types_text
    assert 'struct x_ {' in text                         # the struct called x"
    assert "struct a__error_INJECTED_ {" in text         # a struct called a\n#error INJECTED\n
    assert "\tint a_b;\n\tint a_b_2;\n" in text          # members a-b and a_b
    assert "enum e___Static_assert_0___INJECTED_____ {" in text
    assert "typedef char t_y_p_e;" in text
    assert "typedef int pid_t;" not in text              # the includes' pid_t stands in
    assert "union bpf_object_ {" in text and "struct timespec_ {" in text and "struct bpf_map {" in text
    assert "\tint errno_;\n\tint linux_;\n" in text      # members named like macros
    # the int type called 'int; _Static_assert(...)' is written as int
    assert "int; _Static_assert" not in text and "\tint a_b;" in text


def test_each_declaration_is_written_once(objects):
    """A variable of an anonymous enum declares its enumerators where the skeleton writes it,
    under the names the skeleton decided, with and without --types (nothing is written twice,
    so nothing is renamed ___2 after the fact)."""
    from bpfinspect.obj import open_object
    from bpfinspect.skel.c_build import build_model
    table, _ = objects
    for types in (False, True):
        m = build_model(open_object(str(table["compiled"][0])), types=types)
        bss = next(d for d in m.datasecs if d.section == ".bss")
        var = next(v for v in bss.members if v.name and v.name.c == "anon_enum_var")
        assert var.decl == "enum {\n\t\t\tunix_ = 1,\n\t\t\terrno_2 = 2,\n\t\t} anon_enum_var"
        assert "unix_ =" not in m.types_text and "___2" not in m.types_text


def test_python_names_follow_the_rules(objects, tmp_path):
    table, _ = objects
    mod = tmp_path / "rules_skel.py"
    assert _gen(table["patched"][0], "python", mod, None).returncode == 0
    r = subprocess.run([sys.executable, "-c",
                        "import rules_skel as m, ctypes\n"
                        "print([f[0] for f in m.patched_bpf__data._fields_][:4])\n"
                        "print([f[0] for f in m.x_._fields_])\n"
                        "print(sorted(n for n in dir(m.PatchedBpf) if n.startswith('data')))\n"
                        "print(repr(m.PatchedBpf.PROGRAMS[0]))\n"],
                       capture_output=True, text=True, cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "['v_1', 'v_1_2', 'qsort', 'bpf_object__open']"
    # ctypes' own attribute names are never fields; keywords get _
    assert lines[1] == "['_fields__', 'from_buffer_copy_', '__init___', '_pack__', 'errno', 'linux', 'new', " \
                       "'a__error_INJECTED_', 'w']"
    # the program's member is an identifier; libbpf gets its name as it is
    member, prog = eval(lines[3])
    assert member.startswith("p_____") and member.isidentifier() and prog.startswith('p"""\n"""+open(')


# -- clashes that cannot be resolved are refused ---------------------------------------------------

CLASH_SOURCE = """
#define SEC(name) __attribute__((section(name), used))
struct mine__bss { int a; } in_bss;
typedef int mine__open;
mine__open in_data = 1;
enum e { mine__load = 1 } in_data2 = mine__load;
char LICENSE[] SEC("license") = "GPL";
"""


@pytest.mark.parametrize("types", [False, True])
def test_clash_with_a_name_the_skeleton_defines_is_refused(tmp_path, types):
    src = tmp_path / "clash.bpf.c"
    src.write_text(CLASH_SOURCE)
    obj = _compile_bpf(src, tmp_path / "clash.bpf.o")
    p = _gen(obj, "c", tmp_path / "x.h", "mine", types=types)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr, p.stderr
    assert "'mine'" in p.stderr and "--name" in p.stderr
    assert re.search(r"struct mine__bss|typedef mine__open|enumerator mine__load", p.stderr)
    assert not (tmp_path / "x.h").exists()
    # any other name is fine
    assert _gen(obj, "c", tmp_path / "y.h", "yours", types=types).returncode == 0


# -- bounds: a small object cannot make a huge skeleton --------------------------------------------

BOMB_SOURCE = """
#define SEC(name) __attribute__((section(name), used))
#define L(inner) struct { inner } a, b;
%s { L(L(L(L(L(L(L(L(L(L(L(L(L(L(L(L(L(L(L(L(L(L(L(L(char c;)))))))))))))))))))))))) } bomb;
char LICENSE[] SEC("license") = "GPL";
"""


def _bounded(argv, cwd) -> subprocess.CompletedProcess:
    """Run under ulimit -v 1048576 (1 GiB) with a 20 s limit."""
    return subprocess.run(["bash", "-c", 'ulimit -v 1048576 && exec "$@"', "bash", *argv], capture_output=True,
                          text=True, cwd=cwd, timeout=20)


def test_a_name_repeated_many_times_is_numbered_in_linear_time(tmp_path):
    """20,000 enumerators all renamed ``A`` (and three ``__builtin``): each repeat is numbered
    from where the last one stopped, not from 2 again (found by fuzz_skel: a repeated
    ``__builtin``, whose numbered forms ``__builtin___N`` are all reserved, never ended; and N
    repeats took N**2 / 2 steps).  Both skeletons are made within 1 GiB and 20 s, and the C
    one compiles."""
    n = 20_000
    src = tmp_path / "many.bpf.c"
    src.write_text("enum many { " + ", ".join(f"E{i}" for i in range(n)) + " } many_var;\n"
                   'char LICENSE[] __attribute__((section("license"), used)) = "GPL";\n')
    renames = {f"E{i}".encode(): b"__builtin" if i < 3 else b"A" for i in range(n)}
    obj = tmp_path / "repeated.bpf.o"
    obj.write_bytes(patch_btf(_compile_bpf(src, tmp_path / "many.bpf.o").read_bytes(), renames))
    header = tmp_path / "repeated.skel.h"
    p = _bounded([sys.executable, "-m", "bpfinspect", "gen-skel", "--types", str(obj), "-o", str(header)], ROOT)
    assert p.returncode == 0, p.stderr[-2000:]
    text = header.read_text()
    assert "\t__builtin = 0,\n\t___builtin___2 = 1,\n\t___builtin___3 = 2,\n\tA = 3,\n\tA___2 = 4," in text
    assert f"\tA___{n - 3} = {n - 1}," in text
    p = _bounded([sys.executable, "-m", "bpfinspect", "gen-skel", "--lang", "python", str(obj), "-o",
                  str(tmp_path / "repeated_skel.py")], ROOT)
    assert p.returncode == 0, p.stderr[-2000:]
    (tmp_path / "use.c").write_text("#include <bpf/libbpf.h>\n" + MAIN.format(h=header.name))
    c = subprocess.run(["gcc", *C_STRICT, "-std=gnu11", "-fsyntax-only", "use.c"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=300)
    assert c.returncode == 0 and not c.stderr.strip(), c.stderr[:3000]


def test_an_integer_named_long_and_long_across_a_non_space_byte(tmp_path):
    """An 8-byte integer named ``unsigned long\\x81long`` (found by fuzz_skel: a regular
    expression saw two words ``long`` where split() sees one, and list.remove failed,
    exit 70): it is no C spelling, so the skeletons write the integer by its size; both are
    made and the C one compiles."""
    from bpfinspect.skel.c_names import arithmetic_spelling

    assert not arithmetic_spelling("unsigned long\x81long", 8)
    assert not arithmetic_spelling("unsigned long\udc81long", 8)
    assert arithmetic_spelling("long unsigned long int", 8) and not arithmetic_spelling("long long long", 8)
    obj = tmp_path / "longlong.bpf.o"
    obj.write_bytes(patch_btf((FIXTURES / "btf_shapes.bpf.o").read_bytes(), {b"unsigned long": b"unsigned long\x81long"}))
    header = tmp_path / "longlong.skel.h"
    for args in (["--types", "-o", str(header)], ["--lang", "python", "-o", str(tmp_path / "longlong_skel.py")]):
        p = subprocess.run([sys.executable, "-m", "bpfinspect", "gen-skel", *args, str(obj)], capture_output=True,
                           text=True, cwd=ROOT, timeout=120)
        assert p.returncode == 0, p.stderr
    (tmp_path / "use.c").write_text("#include <bpf/libbpf.h>\n" + MAIN.format(h=header.name))
    c = subprocess.run(["gcc", *C_STRICT, "-std=gnu11", "-fsyntax-only", "use.c"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=300)
    assert c.returncode == 0 and not c.stderr.strip(), c.stderr[:3000]


def test_member_and_class_names_repeated_are_numbered_in_linear_time(monkeypatch):
    """The skeletons' other namers (members of the C structs; Python scopes) number repeats
    from where the last one stopped too, and a taken ``__builtin`` (whose numbered forms
    ``__builtin_N`` are reserved) gets ``___builtin_2`` instead of looping without end."""
    from bpfinspect.quote import c as qc
    from bpfinspect.quote import python as qp
    from bpfinspect.skel.c_model import NameSpace

    ns = NameSpace()
    assert [ns.take("__builtin").c for _ in range(3)] == ["__builtin", "___builtin_2", "___builtin_3"]
    checks = {"c": 0, "python": 0}
    c_reserved, py_reserved = qc.is_reserved, qp.is_reserved

    def counting_c(*args, **kw):
        checks["c"] += 1
        return c_reserved(*args, **kw)

    def counting_py(*args, **kw):
        checks["python"] += 1
        return py_reserved(*args, **kw)

    monkeypatch.setattr(qc, "is_reserved", counting_c)
    monkeypatch.setattr(qp, "is_reserved", counting_py)
    n = 3000
    ns = NameSpace()
    assert [ns.take("x").c for _ in range(n)][-1] == f"x_{n}"
    scope = qp.Scope()
    assert [scope.take("x") for _ in range(n)][-1] == f"x_{n}"
    assert checks["c"] <= 2 * 2 * n and checks["python"] <= 3 * n, checks   # not n**2 / 2


@pytest.mark.parametrize("kind", ["named", "anonymous", "padding"])
def test_output_is_bounded(tmp_path, kind):
    """Anonymous types used twice at every level (2^24 copies in C): refused at once, in 1 GiB of
    memory and 20 s, not written.  A record that claims 2 GiB with one member, the type of a
    variable of a 1-byte section: the variable is left out (it ends past its section), so the
    record is never written; the output stays small."""
    if kind == "padding":
        src = tmp_path / "pad.bpf.c"
        src.write_text('struct pad { char a; } padvar;\nchar LICENSE[] __attribute__((section("license"), used)) = "GPL";\n')
        data = patch_btf(_compile_bpf(src, tmp_path / "pad0.bpf.o").read_bytes(), sizes={b"pad": 0x7FFF0000})
        obj = tmp_path / "padding.bpf.o"
        obj.write_bytes(data)
    else:
        src = tmp_path / "bomb.bpf.c"
        src.write_text(BOMB_SOURCE % ("struct top" if kind == "named" else "struct"))
        obj = _compile_bpf(src, tmp_path / "bomb.bpf.o")
    assert obj.stat().st_size < 40_000
    for types in ([], ["--types"]):
        out = tmp_path / f"out{len(types)}.h"
        p = _bounded([sys.executable, "-m", "bpfinspect", "gen-skel", str(obj), "-o", str(out), *types], ROOT)
        if kind != "anonymous" and not types or kind == "padding":
            assert p.returncode == 0, p.stderr        # the variable's type is named: nothing repeats
            assert out.stat().st_size < 32 * obj.stat().st_size + (4 << 20)
            if kind == "padding":
                assert "ends past the section's 1 bytes; left out" in p.stderr, p.stderr
            continue
        assert p.returncode == 2, p.stderr[-2000:]
        assert p.stderr.count("\n") == 1 and "over the bound" in p.stderr, p.stderr
        assert not out.exists()
    p = _bounded([sys.executable, "-m", "bpfinspect", "gen-skel", str(obj), "--lang", "python", "-o",
                  str(tmp_path / "m.py")], ROOT)
    assert p.returncode in (0, 2), p.stderr[-2000:]
    assert p.stderr.count("\n") <= 1 and "Traceback" not in p.stderr


@pytest.mark.parametrize("where", ["a function's name", "a member's name in a record no declaration writes"])
def test_a_name_offset_past_the_strings_is_refused_though_never_written(tmp_path, where):
    """The skeleton decodes only the names it writes (a function's, or the members of a record
    no global uses, are never read), yet libbpf refuses BTF with any name offset past its string
    section: so does the skeleton, and every reader of the object's BTF (checked in the type
    table's words when the BTF is read; exit 2, one line)."""
    import struct

    from hostile_util import Image

    from bpfinspect.btf import parse_btf

    data = (FIXTURES / "bootstrap.bpf.o").read_bytes()
    img = Image(data)
    raw = bytearray(img.data(".BTF"))
    btf = parse_btf(bytes(raw))
    hdr_len, type_off = struct.unpack_from("<II", raw, 4)
    name = "handle_exec" if where.startswith("a function") else "trace_event_raw_sched_process_exec"
    tid = btf.find(name)[0]
    _, p = btf.words(tid)
    word = p if where.startswith("a function") else p + 3 + 3 * 2   # the record's third member
    struct.pack_into("<I", raw, hdr_len + type_off + 4 * word, 0x7FFFFF00)
    path = tmp_path / "bad.bpf.o"
    path.write_bytes(bytes(img.put(".BTF", bytes(raw))))
    for args in (["gen-skel"], ["gen-skel", "--types"], ["gen-skel", "--lang", "python"], ["maps", "--json"],
                 ["globals"], ["info", "--json"]):
        r = subprocess.run([sys.executable, "-m", "bpfinspect", *args, str(path)], capture_output=True,
                           text=True, cwd=ROOT)
        assert r.returncode == 2 and r.stdout == "", r.stderr
        assert "string offset 2147483392 past the string section" in r.stderr and len(r.stderr.splitlines()) == 1
