#!/usr/bin/env python3
"""Write bpfinspect/quote/c_reserved.json: the names a generated C skeleton must not use.

A C skeleton includes <errno.h>, <stddef.h>, <stdint.h>, <stdlib.h>, <stdbool.h> and
<bpf/libbpf.h> (which pulls in <linux/bpf.h>, <stdio.h>...).  A name from a BPF
object that one of those headers defines as a macro, or that gcc or clang
predefine in some language mode (``linux``, ``unix``, ``i386`` in the GNU modes),
is rewritten before the preprocessor sees it; a name the headers declare at file
scope (a function, a variable, an enumerator, a typedef, a struct tag) cannot be
declared again with another meaning.  This script asks the compilers installed
here, in every mode a user is likely to compile the header with:

* ``-dM -E`` on a file including those headers gives the macros (predefined ones
  included), and clang-19 gives the macros predefined for other targets
  (``i386``, ``mips``, ``sparc``...);
* clang's ``-ast-dump=json`` gives every file-scope declaration of the headers
  (C with _GNU_SOURCE, and C++, whose headers declare a few more);
* a small program built with gcc gives the size of each typedef and complete
  struct/union/enum on this machine, so that a type of the object with the same
  name can be told apart from the header's.

Each compiler's ``--version`` line is recorded; tests/test_quote.py runs this
script again and compares, skipping (and saying so) when the compilers here are
not the ones recorded.

    python3 scripts/gen_c_reserved.py            # rewrite the data file
    python3 scripts/gen_c_reserved.py --stdout   # print it instead
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "bpfinspect", "quote", "c_reserved.json")

HEADERS = ["errno.h", "stddef.h", "stdint.h", "stdlib.h", "stdbool.h", "bpf/libbpf.h"]

# (compiler, language, flags): the modes whose macros count.
MACRO_MODES = [
    ("gcc", "c", ["-std=gnu11"]), ("gcc", "c", ["-std=c11"]), ("gcc", "c", ["-std=gnu17"]),
    ("gcc", "c", ["-std=c99"]), ("gcc", "c", ["-std=gnu11", "-D_GNU_SOURCE"]),
    ("g++", "c++", ["-std=gnu++17"]), ("g++", "c++", ["-std=c++17"]), ("g++", "c++", ["-std=c++11"]),
    ("g++", "c++", ["-std=gnu++20"]),
    ("clang", "c", ["-std=gnu11"]), ("clang", "c", ["-std=c11"]), ("clang", "c", ["-std=gnu11", "-D_GNU_SOURCE"]),
    ("clang++", "c++", ["-std=gnu++17"]), ("clang++", "c++", ["-std=c++17"]),
    ("clang-16", "c", ["-std=gnu11"]), ("clang-16", "c", ["-std=c11"]),
    ("clang-19", "c", ["-std=gnu11"]), ("clang-19", "c", ["-std=c11"]), ("clang-19", "c++", ["-std=gnu++17"]),
]
# (compiler, language, flags): the modes whose file-scope declarations count.
# Targets whose predefined macros count too (a header generated here is compiled elsewhere):
# clang-19 predefines them without needing the target's headers.
OTHER_TARGETS = ["i386-linux-gnu", "aarch64-linux-gnu", "arm-linux-gnueabihf", "riscv64-linux-gnu",
                 "s390x-linux-gnu", "powerpc64le-linux-gnu", "mips64el-linux-gnuabi64", "loongarch64-linux-gnu",
                 "sparc64-linux-gnu"]
TARGET_COMPILER = "clang-19"
DECL_MODES = [("clang", "c", ["-std=gnu11", "-D_GNU_SOURCE"]), ("clang++", "c++", ["-std=gnu++17"])]
SIZE_MODE = ("gcc", "c", ["-std=gnu11", "-D_GNU_SOURCE"])


def _driver(cc: str) -> str:
    """clang++-NN is not always installed: clang-NN -x c++ is the same compiler."""
    return cc if shutil.which(cc) else re.sub(r"\+\+", "", cc)


def compilers() -> dict[str, str]:
    """Compiler name -> first line of its --version (every compiler the modes use)."""
    out = {}
    for cc in sorted({m[0] for m in MACRO_MODES + DECL_MODES + [SIZE_MODE]}):
        exe = _driver(cc)
        if not shutil.which(exe):
            out[cc] = "(missing)"
            continue
        out[cc] = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    return out


def _source(tmp: str) -> str:
    path = os.path.join(tmp, "skel_includes.h")
    with open(path, "w") as f:
        f.writelines(f"#include <{h}>\n" for h in HEADERS)
    return path


def macros(tmp: str) -> set[str]:
    src = _source(tmp)
    names: set[str] = set()
    for cc, lang, flags in MACRO_MODES:
        p = subprocess.run([_driver(cc), "-x", lang, *flags, "-dM", "-E", src], capture_output=True, text=True,
                           check=True)
        for line in p.stdout.splitlines():
            m = re.match(r"#define ([A-Za-z_][A-Za-z0-9_]*)", line)
            if m:
                names.add(m.group(1))
    for target in OTHER_TARGETS:
        for lang, std in (("c", "-std=gnu11"), ("c", "-std=c11"), ("c++", "-std=gnu++17")):
            p = subprocess.run([_driver(TARGET_COMPILER), f"--target={target}", "-x", lang, std, "-dM", "-E",
                                os.devnull], capture_output=True, text=True, check=True)
            names.update(re.findall(r"(?m)^#define ([A-Za-z_][A-Za-z0-9_]*)", p.stdout))
    return names


def _walk(nodes, ordinary: set, typedefs: set, tags: dict) -> None:
    for n in nodes:
        kind = n.get("kind", "")
        name = n.get("name")
        if kind in ("LinkageSpecDecl",):
            _walk(n.get("inner", []), ordinary, typedefs, tags)
            continue
        if not name:
            if kind == "EnumDecl":
                _enumerators(n, ordinary)
            continue
        if kind in ("RecordDecl", "CXXRecordDecl"):
            tag = n.get("tagUsed", "struct")
            tags.setdefault(name, [tag if tag != "class" else "struct", False])
            if n.get("completeDefinition"):
                tags[name][1] = True
        elif kind == "EnumDecl":
            tags.setdefault(name, ["enum", True])
            _enumerators(n, ordinary)
        elif kind == "TypedefDecl":
            typedefs.add(name)
        elif kind in ("FunctionDecl", "VarDecl", "NamespaceDecl", "UsingDecl", "UsingShadowDecl",
                      "FunctionTemplateDecl", "ClassTemplateDecl", "TypeAliasDecl"):
            ordinary.add(name.split("::")[-1])


def _enumerators(node, ordinary: set) -> None:
    for e in node.get("inner", []):
        if e.get("kind") == "EnumConstantDecl":
            ordinary.add(e["name"])


def declarations(tmp: str) -> tuple[set, set, dict]:
    src = _source(tmp)
    ordinary: set[str] = set()
    typedefs: set[str] = set()
    tags: dict[str, list] = {}
    for cc, lang, flags in DECL_MODES:
        p = subprocess.run([_driver(cc), "-x", lang, *flags, "-fsyntax-only", "-Xclang", "-ast-dump=json", src],
                           capture_output=True, text=True, check=True)
        _walk(json.loads(p.stdout).get("inner", []), ordinary, typedefs, tags)
    return ordinary, typedefs, tags


def sizes(tmp: str, typedefs: set, tags: dict) -> tuple[dict, dict]:
    """sizeof of each typedef and complete tag, as gcc lays them out here (None: no size)."""
    cc, lang, flags = SIZE_MODE
    items = [("t", n, n) for n in sorted(typedefs)]
    items += [("s", n, f"{kind} {n}") for n, (kind, complete) in sorted(tags.items()) if complete]
    result: dict[tuple, int | None] = {}
    pending = list(items)
    for _ in range(20):
        lines = ["#include <stdio.h>"] + [f"#include <{h}>" for h in HEADERS] + ["int main(void) {"]
        first = len(lines) + 1
        for _, _, ctype in pending:
            lines.append(f'\tprintf("%zu\\n", sizeof({ctype}));')
        lines += ["\treturn 0;", "}"]
        src = os.path.join(tmp, "sizes.c")
        with open(src, "w") as f:
            f.write("\n".join(lines) + "\n")
        exe = os.path.join(tmp, "sizes")
        p = subprocess.run([_driver(cc), "-x", lang, *flags, "-w", "-o", exe, src], capture_output=True, text=True)
        if p.returncode == 0:
            out = subprocess.run([exe], capture_output=True, text=True, check=True).stdout.split()
            for (k, n, _), v in zip(pending, out):
                result[(k, n)] = int(v)
            break
        bad = {int(m) - first for m in re.findall(r"sizes\.c:(\d+):\d+: error", p.stderr)}
        if not bad:
            raise SystemExit(f"cannot build the size program:\n{p.stderr[:2000]}")
        for i in sorted(bad, reverse=True):
            if 0 <= i < len(pending):
                k, n, _ = pending.pop(i)
                result[(k, n)] = None
    else:
        raise SystemExit("the size program kept failing")
    tdefs = {n: result.get(("t", n)) for n in sorted(typedefs)}
    tg = {n: [kind, result.get(("s", n))] for n, (kind, _) in sorted(tags.items())}
    return tdefs, tg


def generate() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        ordinary, typedefs, tags = declarations(tmp)
        tdefs, tg = sizes(tmp, typedefs, tags)
        return {
            "about": "Generated by scripts/gen_c_reserved.py on this kind of machine: do not edit. Names a C "
                     "skeleton must not give its own meaning to: macros of its includes and the compilers' "
                     "predefined macros (every mode below), file-scope names the includes declare, and the "
                     "sizes of their typedefs and tags (null: no size).",
            "headers": HEADERS,
            "compilers": compilers(),
            "macro_modes": [" ".join([cc, "-x", lang, *flags]) for cc, lang, flags in MACRO_MODES],
            "other_targets": [f"{TARGET_COMPILER} --target={t} (predefined macros)" for t in OTHER_TARGETS],
            "declaration_modes": [" ".join([cc, "-x", lang, *flags]) for cc, lang, flags in DECL_MODES],
            "machine": os.uname().machine,
            "macros": sorted(macros(tmp)),
            "ordinary": sorted(ordinary),
            "typedefs": tdefs,
            "tags": tg,
        }


def render(data: dict) -> str:
    return json.dumps(data, indent=0, sort_keys=False) + "\n"


def main(argv: list[str]) -> int:
    text = render(generate())
    if "--stdout" in argv:
        sys.stdout.write(text)
        return 0
    with open(OUT, "w") as f:
        f.write(text)
    print(f"wrote {os.path.relpath(OUT, ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
