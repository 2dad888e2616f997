"""Heavy libraries are imported only by the commands that use them (start-up is most of a
small command's time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import FIXTURES, ROOT

HEAVY = ("lark", "jinja2", "clang", "rich", "elftools", "ctypes")
OBJ = str(FIXTURES / "bootstrap.bpf.o")

# command line, the heavy libraries it may import (piped output: no rich)
CASES = [
    (["sections", OBJ], set()),
    (["info", "--json", OBJ], set()),
    (["maps", OBJ], set()),
    (["globals", OBJ], set()),
    (["relocs", OBJ], set()),
    (["btf", OBJ], set()),
    (["btf", "--format", "c", OBJ], set()),
    (["disasm", OBJ], set()),
    (["disasm", "--json", OBJ], set()),
    (["sections", OBJ, str(FIXTURES / "maps.bpf.o"), "--json"], set()),
    (["info", OBJ], {"lark"}),  # attach targets are parsed for the human view
    (["progs", OBJ], {"lark"}),
    (["gen-skel", "--lang", "c", OBJ], {"jinja2"}),
    (["gen-skel", "--lang", "python", OBJ], {"jinja2", "lark", "ctypes"}),
]

_PROBE = """
import json, os, sys
from bpfinspect.cli.main import main
argv = json.loads(sys.argv[1])
with open(os.devnull, "w") as null:
    sys.stdout = null
    code = main(argv)
    sys.stdout = sys.__stdout__
print(json.dumps([code, sorted(m for m in json.loads(sys.argv[2]) if m in sys.modules)]))
"""


@pytest.mark.parametrize("argv,allowed", CASES, ids=[" ".join(a[:-1] if a[-1] == OBJ else a[:1]) for a, _ in CASES])
def test_heavy_imports_only_where_used(argv, allowed):
    p = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(argv), json.dumps(HEAVY)], capture_output=True,
                       text=True, cwd=ROOT, env=dict(os.environ, BPFINSPECT_NO_CACHE="1"))
    assert p.returncode == 0, p.stderr
    code, loaded = json.loads(p.stdout)
    assert code == 0
    assert set(loaded) <= allowed, f"{argv[0]} imported {sorted(set(loaded) - allowed)}"
