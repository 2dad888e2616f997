"""The skeleton fuzz target's own parts: its hostile-name mutator reaches the names, and its
in-loop checks catch what they are there to catch (and pass what the generators write)."""

from __future__ import annotations

import os
import sys

import pytest

from cskel_util import FIXTURES, ROOT

sys.path.insert(0, str(ROOT / "tests" / "fuzz"))
os.environ.setdefault("BPFI_FUZZ_DRIVER", "hypothesis")   # import without atheris instrumenting anything

import _harness  # noqa: E402
import fuzz_skel  # noqa: E402


def _names(data: bytes) -> set[str]:
    from bpfinspect.obj import from_bytes
    obj = from_bytes(data, path="x.bpf.o")
    out = {p.name for p in obj.functions} | {s.name for s in obj.sections}
    if obj.btf is not None:
        out |= {obj.btf.name(t) for t in obj.btf.ids()}
    return out


def test_mutator_writes_hostile_names_and_keeps_objects_readable():
    """Most mutated objects still parse, a third of them carry a name that is not an identifier
    or is a keyword or a macro, and some grew a string table (long names)."""
    import keyword

    from bpfinspect.errors import BpfInspectError
    from bpfinspect.quote import c
    data = (FIXTURES / "maps.stripped.bpf.o").read_bytes()
    before = _names(data)
    readable = hostile = grown = 0
    for seed in range(200):
        out = _harness.mutate_names(data, seed)
        grown += len(out) > len(data)
        try:
            names = _names(out)
        except BpfInspectError:
            continue
        readable += 1
        new = names - before
        if any(not c.is_ident(n) or c.is_reserved(n, True) or keyword.iskeyword(n) for n in new):
            hostile += 1
    assert readable >= 150 and hostile >= 60 and grown >= 20, (readable, hostile, grown)


def test_mutator_leaves_non_elf_alone():
    assert _harness.mutate_names(b"not an ELF file at all" * 4, 1) == b"not an ELF file at all" * 4
    assert _harness.mutate_names(b"\x7fELF\x02\x01" + b"\xff" * 80, 3)  # no exception on garbage


def test_checks_pass_what_the_generators_write():
    from bpfinspect.obj import open_object
    from bpfinspect.skel import c as skel_c, python as skel_py
    for name in ("bootstrap.bpf.o", "btf_shapes.bpf.o", "struct_ops.bpf.o", "legacy_iproute2.bpf.o"):
        obj = open_object(str(FIXTURES / name))
        fuzz_skel.check_c(skel_c.generate(obj))
        fuzz_skel.check_c(skel_c.generate(obj, types=True))
        fuzz_skel.check_python(skel_py.generate(obj))


@pytest.mark.parametrize("bad", [
    "#include <stdio.h>\n#error INJECTED\n",
    "/* a */ int x; /* b /* c */\n",
    "int x; /* ok */\n#define X 1 \\\n 2\n",
    "const char *s = \"??/\";\n",
    "/* caf\u00e9 */\n",
])
def test_c_check_catches(bad):
    with pytest.raises(AssertionError):
        fuzz_skel.check_c(bad)


def test_c_check_reads_literals_and_comments_as_the_compiler_does():
    fuzz_skel.check_c('const char *s = "/* not a comment */ #error";\n/* "not a literal */\n#endif\n')


@pytest.mark.parametrize("bad", [
    '"""doc"""\nopen("/tmp/x", "w")\n',
    '"""doc"""\nimport os\nos.system("true")\n',
    "x = 1\nraise SystemExit(3)\n",
    '"""caf\u00e9"""\n',
])
def test_python_check_catches(bad):
    with pytest.raises((AssertionError, SystemExit)):
        fuzz_skel.check_python(bad)


def test_one_input_compiles_new_shapes(monkeypatch):
    """A fixture's skeleton is a new shape the first time: compiled with gcc and g++."""
    monkeypatch.setattr(fuzz_skel, "_SEEN_SHAPES", set())
    before = fuzz_skel.STATS["compiled"]
    fuzz_skel.one_input((FIXTURES / "btf_shapes.bpf.o").read_bytes())
    assert fuzz_skel.STATS["compiled"] == before + 2
    fuzz_skel.one_input((FIXTURES / "btf_shapes.bpf.o").read_bytes())   # same shapes: not again
    assert fuzz_skel.STATS["compiled"] == before + 2


def test_compile_catches_a_header_that_does_not_compile():
    with pytest.raises(AssertionError, match="gcc refused"):
        fuzz_skel.compile_headers("struct s { int x; int x; };\n")
