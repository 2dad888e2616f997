#!/usr/bin/env python3
"""What each command imports: ``python -X importtime`` of one run per command.

For each command: the time its imports took (the sum of the top-level imports' cumulative
times: everything imported, once), the share of that in bpfinspect's own modules, and which
heavy libraries it loaded (lark, jinja2, libclang, rich, pyelftools, ctypes).  Heavy
libraries belong only to the commands that use them.  Import times move with the machine's
load (recorded); the list of libraries does not.

    .venv/bin/python bench/bench_imports.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import BPFI, ROOT, bench_env  # noqa: E402

HEAVY = {"lark": "lark", "jinja2": "jinja2", "clang": "libclang", "rich": "rich", "elftools": "pyelftools",
         "ctypes": "ctypes"}
OBJ = "fixtures/bootstrap.bpf.o"
COMMANDS = [
    ["info", OBJ], ["info", "--json", OBJ], ["sections", OBJ], ["progs", OBJ], ["maps", OBJ],
    ["globals", OBJ], ["relocs", OBJ], ["btf", OBJ], ["btf", "--format", "c", OBJ], ["disasm", OBJ],
    ["disasm", "--json", OBJ], ["core", OBJ, "--btf", "fixtures/core-target-new.o"],
    ["gen-skel", "--lang", "c", OBJ], ["gen-skel", "--lang", "python", OBJ],
    ["probe", "line", "p:probe/x do_sys_open+4 fd=%di:s32"],
]


def imports(argv: list[str], env: dict) -> tuple[float, float, list[str]]:
    """(all imports' time, bpfinspect's own modules' time, heavy libraries), in ms."""
    script = BPFI[0] if len(BPFI) == 1 else None
    cmd = [sys.executable, "-X", "importtime"] + ([script] if script else ["-m", "bpfinspect"]) + argv
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    total = ours = 0.0
    heavy = set()
    for line in p.stderr.splitlines():
        # "import time:  self [us] | cumulative | <indent>module"
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue
        self_us, cumulative, module = int(parts[0]), int(parts[1]), parts[2].rstrip()
        name = module.strip()
        if len(module) - len(name) == 1:  # one space after the bar: imported at the top level
            total += cumulative
        if name.startswith("bpfinspect"):
            ours += self_us
        top = name.split(".")[0]
        if top in HEAVY:
            heavy.add(HEAVY[top])
    return total / 1000, ours / 1000, sorted(heavy)


def main() -> int:
    env = dict(bench_env(), BPFINSPECT_JOBS="1")
    before = " ".join(open("/proc/loadavg").read().split()[:3])
    rows = [(argv, imports(argv, env)) for argv in COMMANDS]
    after = " ".join(open("/proc/loadavg").read().split()[:3])
    lines = ["## Imports per command", "",
             "`python -X importtime` of one run of each command (bytecode as the install compiled it): the time "
             "of all its imports (wall time, as importtime measures it: it swells with the load), the part spent in bpfinspect's own modules, and the heavy libraries it "
             "loaded.", "", f"Load average (1, 5, 15 min) before: {before}; after: {after}.", "",
             "| command | imports | bpfinspect's modules | heavy libraries |", "|---|---:|---:|---|"]
    for argv, (total, ours, heavy) in rows:
        lines.append(f"| `{' '.join(argv)}` | {total:.0f} ms | {ours:.0f} ms | {', '.join(heavy) or 'none'} |")
    print("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    raise SystemExit(main())
