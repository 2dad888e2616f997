"""The object model's type texts (``globals``/``maps --json``) against clang's own spelling.

A C file declares globals, externs and maps with qualifiers in every position, function
pointers and arrays of them, arrays of pointers to arrays, typedef'd and anonymous types.
It is compiled with ``clang -target bpf -g``; bpfinspect reads the object's BTF and prints a
type for each variable, extern and map key/value.  libclang parses the same file and spells
the type of each declaration (``Cursor.type.spelling``).  They must be equal; the only
normalisation is clang's name for an anonymous type (``struct (unnamed struct at f.c:3:1)``),
which bpfinspect writes ``struct {...}``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest

CLANG = shutil.which("clang-19") or shutil.which("clang")
cindex = pytest.importorskip("clang.cindex", reason="libclang's Python bindings are not installed")

pytestmark = pytest.mark.skipif(CLANG is None, reason="clang is needed to compile the declarations")

TORTURE_C = r"""
typedef unsigned int u32;
typedef unsigned long long u64;
typedef int (*handler_t)(void *, u32);
typedef struct { int a; char b; } anon_td;
typedef const volatile u32 cv_u32;
struct pair { int a; int b; };
union word { u32 w; unsigned char b[4]; };
enum color { RED, GREEN };

/* qualifiers on the base, on each pointer level, in both orders */
const char *restrict const q1 = 0;
volatile unsigned long *const volatile q2 = 0;
const volatile u32 q3 = 1;
volatile const u32 q4 = 2;
const int *const *const q5 = 0;
int *volatile *restrict q6;
const struct pair *restrict q7;
struct pair *const *volatile q8;
const union word q9 = {0};
const enum color q10 = GREEN;
cv_u32 q11 = 3;
const cv_u32 *q12;
char *restrict *const volatile restrict q13 = 0;
_Bool q14;
const volatile signed char q15[3] = {0};
unsigned long long *const q16 = 0;

/* function pointers and arrays of them */
int (*f1)(int, char *);
int (*f2[4])(void);
void (*const f3)(int, ...) = 0;
const char *(*f4)(const struct pair *);
struct pair *(*const volatile f5)(union word, enum color);
long (*(*f6)(int))[3];
void (*(*f7)(void (*)(int)))(int);
handler_t f8;
handler_t f9[2];
const handler_t f10 = 0;
int (*const f11[2])(const void *restrict, u64) = {0};
void *(*f12)(void *const, const volatile void *);

/* arrays, pointers to arrays, arrays of pointers to arrays */
int a1[2][3];
const int a2[4] = {0};
char (*a3)[8];
char *(*a4[3])[5];
const u64 (*const a5)[2][2] = 0;
struct pair *a6[2][2];
int (*(*a7)[4])[8];
volatile u32 *a8[3];

/* typedef'd and anonymous types */
anon_td t1;
anon_td *t2;
const anon_td t3 = {0};
struct { int x; union { int y; char z; }; } t4;
union { u32 u; struct { short lo, hi; }; } t5;
enum { AX, BX } t6;
struct { int n; } *t7;
const struct { int k; } t8[2] = {0};

/* externs the model reads from BTF */
extern unsigned long long CONFIG_HZ __attribute__((section(".kconfig"), weak));
extern const volatile int CONFIG_BPF_SYSCALL __attribute__((section(".kconfig"), weak));
extern _Bool CONFIG_SMP __attribute__((section(".kconfig"), weak));

/* maps: key and value types */
struct {
	int (*type)[1];
	int (*max_entries)[16];
	const struct pair *key;
	handler_t *value;
} m1 __attribute__((section(".maps")));
struct {
	int (*type)[2];
	int (*max_entries)[4];
	u32 *key;
	char (*value)[64];
} m2 __attribute__((section(".maps")));
struct {
	int (*type)[1];
	int (*max_entries)[4];
	u64 *key;
	struct { int (*cb)(void *); const char *names[2]; } *value;
} m3 __attribute__((section(".maps")));
struct {
	int (*type)[1];
	int (*max_entries)[4];
	union word *key;
	int (**value)(int);
} m4 __attribute__((section(".maps")));

__attribute__((section("socket"), used)) int prog(void *ctx)
{
	return q3 + q4 + q11 + CONFIG_HZ + CONFIG_BPF_SYSCALL + CONFIG_SMP + (q9.w != 0) + (q10 == RED);
}
"""

_ANON = re.compile(r"\b(struct|union|enum) \((?:unnamed|anonymous)(?: (?:struct|union|enum))? at [^)]*\)")


def clang_spelling(t) -> str:
    return _ANON.sub(lambda m: m.group(1) + " {...}", t.spelling)


@pytest.fixture(scope="module")
def torture(tmp_path_factory):
    d = tmp_path_factory.mktemp("typenames")
    src = d / "torture.bpf.c"
    src.write_text(TORTURE_C)
    obj = d / "torture.bpf.o"
    r = subprocess.run([CLANG, "-target", "bpf", "-g", "-O2", "-c", str(src), "-o", str(obj)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    tu = cindex.Index.create().parse(str(src), args=["-target", "bpf"])
    errors = [dg.spelling for dg in tu.diagnostics if dg.severity >= cindex.Diagnostic.Error]
    assert not errors, errors
    variables = {}
    maps = {}
    for c in tu.cursor.get_children():
        if c.kind != cindex.CursorKind.VAR_DECL:
            continue
        if c.spelling.startswith("m") and c.spelling[1:].isdigit():
            record = c.type.get_declaration()
            fields = {f.spelling: f.type for f in record.get_children() if f.kind == cindex.CursorKind.FIELD_DECL}
            maps[c.spelling] = (clang_spelling(fields["key"].get_pointee()),
                                clang_spelling(fields["value"].get_pointee()))
        else:
            variables[c.spelling] = clang_spelling(c.type)
    return obj, variables, maps


def cli_json(*args) -> dict:
    r = subprocess.run([sys.executable, "-m", "bpfinspect", *map(str, args), "--json"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_globals_and_externs_are_spelled_as_clang_spells_them(torture):
    obj, clang_types, _ = torture
    doc = cli_json("globals", obj)
    ours = {v["name"]: v["type"] for s in doc["sections"] for v in s["variables"]}
    ours.update({e["name"]: e["type"] for e in doc["externs"] if e["type"] is not None})
    compared = 0
    for name, spelled in clang_types.items():
        if name in ours:
            assert ours[name] == spelled, name
            compared += 1
    # Every declaration above reached BTF and was compared (the maps aside).
    assert compared == len(clang_types), sorted(set(clang_types) - set(ours))
    assert compared >= 45


def test_map_keys_and_values_are_spelled_as_clang_spells_them(torture):
    obj, _, clang_maps = torture
    doc = cli_json("maps", obj)
    ours = {m["name"]: (m["key_type"], m["value_type"]) for m in doc["maps"]}
    assert set(ours) == set(clang_maps)
    for name, spelled in clang_maps.items():
        assert ours[name] == spelled, name


def test_the_issue_examples(torture):
    """The two declarations the old declarator got wrong."""
    obj, clang_types, _ = torture
    ours = {v["name"]: v["type"] for s in cli_json("globals", obj)["sections"] for v in s["variables"]}
    assert ours["q1"] == clang_types["q1"] == "const char *const restrict"
    assert ours["q2"] == clang_types["q2"] == "volatile unsigned long *const volatile"
