"""The quoting layer (bpfinspect.quote) against the compilers and the interpreter that read its output.

C: identifiers, comments and string literals are checked by gcc itself (a
batch of texts per compile: comments vanish whole under the preprocessor,
string literals hold exactly the text's bytes, also under -Wpedantic, trigraphs
on); the list of reserved names is regenerated from the compilers here.
Python: literals read back with ``ast.literal_eval``, docstrings read back with
``eval``, identifiers are identifiers and never keywords.
"""

from __future__ import annotations

import ast
import json
import keyword
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cskel_util import ROOT

# Text that tries to break out: quote and comment characters, escapes, line breaks,
# trigraph starts, control and non-ASCII characters, lone surrogates (undecodable bytes).
HOSTILE = st.lists(st.sampled_from(list('"\'\\/*?\n\r\t#{}xuNU01aé\u202e\u2028\x00\x1b') +
                                   ["\udcff", "\U0001f600", "*/", "/*", "//", '"""', "??/", "\\N{"]),
                   max_size=30).map("".join)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


def _gcc(source: str, tmp_path, *flags: str, run: bool = False) -> subprocess.CompletedProcess:
    src = tmp_path / "q.c"
    src.write_text(source, encoding="utf-8", errors="surrogateescape")
    if not run:
        return subprocess.run(["gcc", *flags, str(src)], capture_output=True, text=True, errors="replace")
    exe = tmp_path / "q"
    b = subprocess.run(["gcc", *flags, "-o", str(exe), str(src)], capture_output=True, text=True)
    assert b.returncode == 0, b.stderr[-3000:]
    return subprocess.run([str(exe)], capture_output=True)


# -- C ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw,want", [
    ("ok_name", "ok_name"), ("1st", "_1st"), ("", "_"), ("a-b", "a_b"), ("caf\u00e9", "caf_"),
    ("int", "int_"), ("_Bool", "_Bool_"), ("__attribute__", "__attribute___"), ("__builtin_x", "___builtin_x"),
    ("linux", "linux_"), ("unix", "unix_"), ("i386", "i386_"), ("errno", "errno_"), ("NULL", "NULL_"),
    ("true", "true_"), ("EINVAL", "EINVAL_"), ("SIZE_MAX", "SIZE_MAX_"), ("BYTE_ORDER", "BYTE_ORDER_"),
    ("stdin", "stdin_"), ("offsetof", "offsetof_"), ("new", "new"), ("free", "free"),
])
def test_c_ident(raw, want):
    from bpfinspect.quote import c
    assert c.ident(raw) == want
    assert c.is_ident(want)


def test_c_ident_cxx_keywords():
    from bpfinspect.quote import c
    assert c.ident("new", cxx=True) == "new_" and c.ident("class", cxx=True) == "class_"
    assert c.ident("restrict", cxx=True) == "restrict_"
    assert c.ident("x", extra={"x", "x_"}) == "x__"


def test_c_keywords_are_keywords(tmp_path):
    """Every keyword the layer reserves is refused as a member name by gcc or clang, in C or
    C++ (a check that the hand-written lists hold no invented words)."""
    from bpfinspect.quote import c
    words = sorted(c.C_KEYWORDS | c.GNU_KEYWORDS | c.CXX_KEYWORDS)
    accepted: dict[str, set] = {}
    for cc, lang in (("gcc", "c"), ("clang", "c"), ("g++", "c++"), ("clang++", "c++")):
        src = tmp_path / f"kw.{'c' if lang == 'c' else 'cc'}"
        src.write_text("".join(f"struct s{i} {{ int {w}; }};\n" for i, w in enumerate(words)))
        limit = "-ferror-limit=0" if cc.startswith("clang") else "-fmax-errors=0"
        p = subprocess.run([cc, "-std=gnu11" if lang == "c" else "-std=gnu++20", "-Werror", limit, "-fsyntax-only",
                            str(src)],
                           capture_output=True, text=True)
        bad_lines = {int(n) for n in __import__("re").findall(rf"{src.name}:(\d+):\d+: error", p.stderr)}
        accepted[cc] = {w for i, w in enumerate(words) if i + 1 not in bad_lines}
    everywhere = set.intersection(*accepted.values())
    # A few are keywords only where gcc and clang were built for other targets or languages
    # (OpenCL, AltiVec, MS extensions), or a type name gcc declares on x86 (__float80) that
    # a member may shadow: allowed to compile here, reserved all the same.
    elsewhere = {"__float80", "__global", "__local", "__constant", "__private", "__generic", "__kernel", "__read_only",
                 "__write_only", "__read_write", "__vector", "__pixel", "__bool", "__ptr32", "__ptr64", "__sptr",
                 "__uptr", "__w64", "__cdecl", "__stdcall", "__fastcall", "__thiscall", "__vectorcall",
                 "__regcall", "__pascal", "__forceinline", "__wchar_t", "__int64", "__int32", "__int16", "__int8",
                 "_Sat", "_Fract", "_Accum", "__objc_yes", "__objc_no", "__has_include", "__has_include_next",
                 "__has_attribute", "__has_cpp_attribute", "__has_builtin", "__has_feature", "__has_extension",
                 "__has_warning", "__has_c_attribute", "__is_identifier", "__declspec", "__unaligned",
                 "__null_unspecified", "__FUNCTION__", "__PRETTY_FUNCTION__", "__func__", "_Float32x",
                 "_Float64x", "_Float128x", "__ibm128", "_Decimal32", "_Decimal64", "_Decimal128", "typeof_unqual",
                 "_BitInt", "constexpr", "nullptr", "__decltype", "__unknown_anytype", "__noinline__",
                 "__private_extern__", "__module_private__", "__underlying_type", "__kindof"}
    assert everywhere <= elsewhere, sorted(everywhere - elsewhere)


def test_c_comments_vanish_whole(tmp_path):
    """Each comment, between two markers, leaves nothing but the markers for the compiler
    (trigraphs on, as -std=c11 has them): no text escapes, none is joined to the next line."""
    from bpfinspect.quote import c

    texts = ["a*/b", "/*", "*/", "//x", "x\\", "??/", "??/\nint x;", "a\nb", "\\\n#error x", "*//*", "/**/",
             "\u202e\u00e9\x1b", "\udcff", "*", "/", "?", "*/*/", "\\"]
    texts += [f"{a}{b}" for a in ("*", "/", "?", "\\") for b in ("*", "/", "?", "\\", "\n")]
    body = "".join(f"MARK{i} {c.comment(t)} END{i}\n" for i, t in enumerate(texts))
    p = _gcc(body, tmp_path, "-std=c11", "-trigraphs", "-E", "-P", "-Wall", "-Werror")
    assert p.returncode == 0, p.stderr
    got = [line.split() for line in p.stdout.splitlines() if line.strip()]
    assert got == [[f"MARK{i}", f"END{i}"] for i in range(len(texts))]
    assert all(c.comment(t).isascii() for t in texts)


@SETTINGS
@given(st.lists(HOSTILE, min_size=1, max_size=20))
def test_c_comments_vanish_whole_random(tmp_path_factory, texts):
    from bpfinspect.quote import c
    tmp = tmp_path_factory.mktemp("cc")
    body = "".join(f"MARK{i} {c.comment(t)} END{i}\n" for i, t in enumerate(texts))
    p = _gcc(body, tmp, "-std=c11", "-trigraphs", "-E", "-P", "-Wall", "-Werror")
    assert p.returncode == 0, p.stderr
    got = [line.split() for line in p.stdout.splitlines() if line.strip()]
    assert got == [[f"MARK{i}", f"END{i}"] for i in range(len(texts))]


PRINT_STRINGS = """#include <stdio.h>
#include <string.h>
static const char *const texts[] = {
%s
};
int main(void)
{
	size_t i, j;
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		for (j = 0; j < strlen(texts[i]); j++)
			printf("%%02x", (unsigned char)texts[i][j]);
		printf("\\n");
	}
	return 0;
}
"""


@SETTINGS
@given(st.lists(HOSTILE.filter(lambda t: "\x00" not in t), min_size=1, max_size=20))
def test_c_string_literals_hold_the_bytes(tmp_path_factory, texts):
    """gcc reads each literal back as the text's UTF-8 bytes (undecodable bytes as they were),
    with -Wpedantic and trigraphs on."""
    from bpfinspect.quote import c
    tmp = tmp_path_factory.mktemp("cs")
    src = PRINT_STRINGS % "\n".join(f"\t{c.string(t)}," for t in texts)
    out = _gcc(src, tmp, "-std=c11", "-trigraphs", "-Wall", "-Wextra", "-Wpedantic", "-Werror", run=True)
    assert out.returncode == 0
    want = [t.encode("utf-8", "surrogateescape").hex() for t in texts]
    assert out.stdout.decode().split("\n")[:len(texts)] == want


def test_c_long_strings_become_arrays(tmp_path):
    """A text longer than ISO C's 4095 characters becomes a static array: -Wpedantic holds, and
    the bytes are the text's."""
    from bpfinspect.quote import c
    texts = ["x" * 4095, "y" * 4096, "z\"*/\n" * 2000, "\u00e9" * 3000]
    decls, exprs = [], []
    for i, t in enumerate(texts):
        decl, expr = c.string_expr(t, f"s{i}")
        assert (decl is None) == (len(t.encode()) <= 4095)
        if decl is not None:
            decls.append(decl)
        exprs.append(expr)
    src = ("#include <stdio.h>\n#include <string.h>\nint main(void)\n{\n" +
           "".join(f"\t{d};\n" for d in decls) +
           "\tconst char *texts[] = {" + ", ".join(exprs) + "};\n\tsize_t i, j;\n"
           "\tfor (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {\n"
           "\t\tfor (j = 0; j < strlen(texts[i]); j++)\n\t\t\tprintf(\"%02x\", (unsigned char)texts[i][j]);\n"
           "\t\tprintf(\"\\n\");\n\t}\n\treturn 0;\n}\n")
    out = _gcc(src, tmp_path, "-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror", run=True)
    assert out.stdout.decode().split("\n")[:len(texts)] == [t.encode().hex() for t in texts]


def test_c_reserved_data_is_current(tmp_path):
    """c_reserved.json is what scripts/gen_c_reserved.py writes on this machine; skipped (and
    said so) when the compilers here are not the ones that wrote it."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import gen_c_reserved
    finally:
        sys.path.pop(0)
    stored = json.loads((ROOT / "bpfinspect" / "quote" / "c_reserved.json").read_text())
    here = gen_c_reserved.compilers()
    if here != stored["compilers"] or stored["machine"] != __import__("os").uname().machine:
        differ = {k: (stored["compilers"].get(k), v) for k, v in here.items() if stored["compilers"].get(k) != v}
        pytest.skip(f"c_reserved.json was made with other compilers or on another machine "
                    f"(recorded vs here: {differ or stored['machine']}): regenerating it here would differ")
    fresh = gen_c_reserved.generate()
    for key in ("macros", "ordinary", "typedefs", "tags", "headers", "macro_modes", "declaration_modes"):
        assert fresh[key] == stored[key], key


def test_c_reserved_data_covers_the_issue_names():
    from bpfinspect.quote import c
    for name in ("linux", "unix", "i386", "errno", "bool", "true", "NULL", "EINVAL", "SIZE_MAX", "BYTE_ORDER",
                 "stdin", "offsetof"):
        assert name in c.macros(), name
    assert c.header_typedef_size("size_t") == 8 and c.header_typedef_size("pid_t") == 4
    assert c.header_tag("bpf_object") == ("struct", None)
    assert {"free", "malloc", "bpf_object__open", "BPF_MAP_TYPE_HASH"} <= c.header_names()


# -- Python ----------------------------------------------------------------------------------

VALUES = st.recursive(st.none() | st.booleans() | st.integers() | HOSTILE | st.binary(max_size=20),
                      lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner) |
                      st.dictionaries(HOSTILE, inner, max_size=3), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_python_literal_reads_back(value):
    from bpfinspect.quote import python as q
    text = q.literal(value)
    assert text.isascii() and "\n" not in text
    assert ast.literal_eval(text) == value


@settings(max_examples=300, deadline=None)
@given(st.lists(HOSTILE, min_size=1, max_size=5))
def test_python_docstring_reads_back(parts):
    """Fragments in a docstring never end it or break its line; the docstring reads as shown()."""
    from bpfinspect.quote import python as q, shown
    src = '"""' + "".join(q.doc_text(p) for p in parts) + '"""\n'
    assert src.isascii() and src.count("\n") == 1
    assert ast.literal_eval(src) == "".join(shown(p) for p in parts)
    tree = ast.parse("def f():\n    " + src + "    return 1\n")
    assert len(tree.body) == 1


@settings(max_examples=300, deadline=None)
@given(HOSTILE)
def test_python_comment_stays_one_line(text):
    from bpfinspect.quote import python as q
    line = "x = 1  # " + q.comment_text(text) + "\ny = 2\n"
    assert line.isascii()
    tree = ast.parse(line)
    assert [type(n).__name__ for n in tree.body] == ["Assign", "Assign"]


@settings(max_examples=300, deadline=None)
@given(HOSTILE)
def test_python_ident(raw):
    from bpfinspect.quote import python as q
    name = q.ident(raw)
    assert name.isascii() and name.isidentifier()
    assert not keyword.iskeyword(name) and not q.is_special(name)


def test_python_scope_rules():
    from bpfinspect.quote import python as q
    s = q.Scope({"ctypes"}, builtins=True)
    assert [s.take(n) for n in ("ctypes", "len", "a-b", "a_b", "a b", "class", "match", "type", "__init__",
                                "None")] == \
        ["ctypes_", "len_", "a_b", "a_b_2", "a_b_3", "class_", "match_", "type_", "__init___", "None_"]
    # a field scope: soft keywords and builtins are names like any other; keywords are not
    f = q.Scope({"_fields_"})
    assert [f.take(n) for n in ("type", "match", "id", "len", "from", "_fields_", "type")] == \
        ["type", "match", "id", "len", "from_", "_fields__", "type_2"]


def test_python_names_the_runtime_defines_are_reserved():
    """The generator's lists of the runtime's attribute names keep up with the runtime."""
    import ctypes

    from bpfinspect.btf.ctypes_layout import CTYPES_ATTRS
    from bpfinspect.runtime.skeleton import Members, Skeleton
    from bpfinspect.skel.python import MEMBERS_ATTRS, SKELETON_ATTRS
    public = {n for n in dir(Skeleton) if not n.startswith("__")}
    assert public <= SKELETON_ATTRS
    assert {n for n in dir(Members) if not n.startswith("__")} <= MEMBERS_ATTRS
    assert {"from_buffer_copy", "from_buffer", "from_address", "in_dll", "_fields_", "_pack_"} <= CTYPES_ATTRS
    assert set(dir(type(ctypes.Structure))) <= CTYPES_ATTRS
