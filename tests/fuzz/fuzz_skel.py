"""Fuzz target: C and Python skeleton generation on mutated objects with hostile names.

The mutator writes hostile names (quotes, docstring and comment ends, line breaks,
escapes, trigraphs, keywords, macros, unicode, names that give another's identifier,
names thousands of characters long) into the object's symbol, section and BTF
string tables, besides the ELF-aware number mutations every object target has.

Every execution, in this process: the C skeleton (default and ``--types``) and
the Python one are generated; the C text must be ASCII, its comments must not nest
and its only preprocessor lines must be the skeleton's own; the Python module must
be ASCII, call nothing but what a skeleton calls, and import (it is executed as a
module).  Then the two C headers are compiled with ``gcc -std=gnu11`` and
``g++`` (``-Wall -Wextra -Wpedantic -Werror``, the includes precompiled) whenever
the ``--types`` header holds a line of a shape not seen before (names and numbers
aside: the output-side view of new coverage), and every ``BPFI_FUZZ_COMPILE_EVERY``
executions (default 200).  A failure of any of these is a defect.  Every 2000
executions a line on stderr counts executions, skeletons made, modules
imported and headers compiled.

``BPFI_FUZZ_NO_PRINTERS=1`` leaves out ``--types`` (and so the compiles).

    python tests/fuzz/fuzz_skel.py -max_total_time=60 CORPUS_DIR
"""

from __future__ import annotations

import ast
import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _harness  # noqa: E402

# Coverage is measured where skeletons are written: the object reader under them is
# fuzz_obj's target, and instrumenting it too made every execution take twice as long.
INSTRUMENT = ("bpfinspect.skel", "bpfinspect.quote", "bpfinspect.typesrc", "bpfinspect.btf")

_harness.import_package(INSTRUMENT)

import bpfinspect.obj  # noqa: E402
from bpfinspect.skel import c as skel_c, python as skel_py  # noqa: E402

PRINTERS = os.environ.get("BPFI_FUZZ_NO_PRINTERS") != "1"
COMPILE_EVERY = int(os.environ.get("BPFI_FUZZ_COMPILE_EVERY", "200"))
INCLUDES = ["errno.h", "stddef.h", "stdint.h", "stdlib.h", "stdbool.h", "bpf/libbpf.h"]
C_FLAGS = ["-std=gnu11", "-Wall", "-Wextra", "-Wpedantic", "-Wcast-qual", "-Werror"]
CXX_FLAGS = ["-Wall", "-Wextra", "-Wpedantic", "-Werror"]
STATS = {"executions": 0, "skeletons": 0, "imported": 0, "compiled": 0}

# -- checks in this process ------------------------------------------------------------------------

# One left-to-right pass, as the compiler reads: a comment, or a string or character literal.
_COMMENT_OR_LITERAL = re.compile(r'(/\*.*?\*/)|"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'', re.S)
_DIRECTIVE = re.compile(r"(?m)^[ \t]*#.*$")
# The preprocessor lines a skeleton writes (names being the skeleton's own identifiers).
_OWN_DIRECTIVES = re.compile(
    r"#(?:include <(?:errno|stddef|stdint|stdlib|bpf/libbpf)\.h>|ifndef \w+|define \w+(?:\(\w+(?:, \w+)*\))?(?: .*)?"
    r"|endif|ifdef __cplusplus|else|undef \w+|pragma (?:push|pop)_macro\(S\)"
    r"|pragma GCC diagnostic (?:push|pop|ignored S)|if defined\(__GNUC__\) \|\| defined\(__clang__\)"
    r"|(?:el)?if defined\(__BYTE_ORDER__\) && __BYTE_ORDER__ == __ORDER_(?:LITTLE|BIG)_ENDIAN__|error S)\Z")


def _without_words(text: str) -> str:
    """The text without the table of the object's bytes (numbers only, the bulk of it)."""
    start = text.find("static const char rows[")
    end = text.find("\n\t};", start)
    return text if start < 0 or end < 0 else text[:start] + text[end:]


def check_c(text: str) -> None:
    assert text.isascii(), "non-ASCII in a C skeleton"
    assert "??" not in text, "a trigraph could form"
    assert "\\\n" not in text, "a line continues on the next"
    text = _without_words(text)
    for m in _COMMENT_OR_LITERAL.finditer(text):
        assert not m.group(1) or "/*" not in m.group(1)[2:-2], "a comment inside a comment"
    code = _COMMENT_OR_LITERAL.sub(lambda m: " " if m.group(1) else "S", text)
    for line in _DIRECTIVE.findall(code):
        assert _OWN_DIRECTIVES.match(line.strip()), f"a preprocessor line the skeleton does not write: {line!r}"


# Calls a Python skeleton makes at import: base64 decode, len, sha256().hexdigest(), ImportError,
# the layout check.
_PY_CALLS = {"b64decode", "len", "sha256", "hexdigest", "ImportError", "_layout"}


def check_python(text: str) -> None:
    assert text.isascii(), "non-ASCII in a Python skeleton"
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
            assert name in _PY_CALLS, f"the module calls {ast.unparse(f)!r}"
    # import it: run it as a module does at import
    namespace = {"__name__": "fuzz_skel_module"}
    exec(compile(tree, "<skeleton>", "exec"), namespace)  # noqa: S102 - the point is to import it
    STATS["imported"] += 1


# -- compiles ---------------------------------------------------------------------------------------

_WORK = None
_SEEN_SHAPES: set[str] = set()


def _workdir() -> str:
    """A directory with the includes precompiled for gcc and g++ (built once)."""
    global _WORK
    if _WORK is None:
        _WORK = tempfile.mkdtemp(prefix="bpfinspect-fuzz-skel-")
        atexit.register(shutil.rmtree, _WORK, True)
        pre = "".join(f"#include <{h}>\n" for h in INCLUDES)
        for name, cc, flags, lang in (("pre_c.h", "gcc", C_FLAGS, "c-header"),
                                      ("pre_cxx.h", "g++", CXX_FLAGS, "c++-header")):
            path = os.path.join(_WORK, name)
            with open(path, "w") as f:
                f.write(pre)
            subprocess.run([cc, *flags, "-x", lang, path, "-o", path + ".gch"], check=True, capture_output=True)
    return _WORK


def _shapes(text: str) -> set[str]:
    body = re.sub(r"[A-Za-z_]\w*", "i", re.sub(r"\b\d+\b", "0", _without_words(text)))
    return set(body.splitlines())


def compile_headers(types_text: str) -> None:
    """gcc and g++ on the --types header (the default header declares the same members with the
    same declarations, without the definitions)."""
    d = _workdir()
    with open(os.path.join(d, "skel.h"), "w") as f:
        f.write(types_text)
    jobs = [["gcc", *C_FLAGS, "-include", "pre_c.h", "-fsyntax-only", "-x", "c", "skel.h"],
            ["g++", *CXX_FLAGS, "-include", "pre_cxx.h", "-fsyntax-only", "-x", "c++", "skel.h"]]
    procs = [subprocess.Popen(j, cwd=d, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for j in jobs]
    for j, p in zip(jobs, procs):
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0 and not err.strip(), f"{j[0]} refused the skeleton:\n{err[:4000]}"
    STATS["compiled"] += 2


def one_input(data: bytes) -> None:
    STATS["executions"] += 1
    obj = bpfinspect.obj.from_bytes(data, path="fuzz.bpf.o")
    default_text, _ = skel_c.generate_with_warnings(obj)
    check_c(default_text)
    types_text = None
    if PRINTERS:
        types_text, _ = skel_c.generate_with_warnings(obj, types=True)
        check_c(types_text)
    STATS["skeletons"] += 1
    if obj.endian == sys.byteorder:
        check_python(skel_py.generate(obj))
    if types_text is not None:
        shapes = _shapes(types_text)
        new = shapes - _SEEN_SHAPES
        if new or STATS["executions"] % COMPILE_EVERY == 0:
            _SEEN_SHAPES.update(new)
            compile_headers(types_text)
    if STATS["executions"] % 2000 == 0:
        _report()


def _report() -> None:
    print("fuzz_skel: " + ", ".join(f"{k} {v}" for k, v in STATS.items()), file=sys.stderr, flush=True)


def mutate(data: bytes, max_size: int, seed: int, fallback) -> bytes:
    """Hostile names half of the time, else the numbers of the ELF headers and tables."""
    if seed % 2:
        out = _harness.mutate_names(data, seed)
        if out is not data:
            return out[:max_size] if len(out) <= max_size else data
    return _harness.mutate_elf(data, max_size, seed, fallback)


if __name__ == "__main__":
    _harness.main("skel", one_input, _harness.object_seeds, elf_mutator=True, mutator=mutate)
