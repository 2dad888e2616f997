#!/usr/bin/env python3
"""Benchmark: `bpfinspect gen-skel --lang c` against `bpftool gen skeleton`, same input, same run.

Input: the largest fixture (fixtures/*.bpf.o).  Both commands run alternately N
times (after one warm-up run each) with their output going to /dev/null; we
report the median wall time of each and the ratio, then where our time goes
inside one process (object model, skeleton records, byte rows, template).

    python bench/bench_cskel.py [--runs 7] [--object PATH]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from common import BPFI, ROOT, fmt_s, run_timed, table  # noqa: E402

# Like an installed package (pip compiles .pyc files at install time): the children may cache
# bytecode, in a private directory, even when PYTHONDONTWRITEBYTECODE is set around us.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
os.environ["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), "bpfinspect-bench-pycache")


def largest_fixture() -> Path:
    return max((ROOT / "fixtures").glob("*.bpf.o"), key=lambda p: (p.stat().st_size, p.name))


def alternate(cmds: dict[str, list[str]], runs: int) -> dict[str, list[float]]:
    """CPU seconds (user + system) of each run of each command, the commands alternating."""
    for cmd in cmds.values():
        run_timed(cmd)  # warm-up: page cache, bytecode cache, template cache
    cpu: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(runs):
        for k, cmd in cmds.items():
            cpu[k].append(run_timed(cmd)[1])
    return cpu


def in_process(obj_path: Path) -> list[tuple[str, float]]:
    """CPU time of each stage in one warm process (median of 5)."""
    from bpfinspect.obj import open_object
    from bpfinspect.skel import c
    from bpfinspect.skel.c_build import build_model

    stages: dict[str, list[float]] = {"open object (ELF sections)": [], "skeleton records (BTF, names, layout)": [],
                                      "object bytes as base64 rows": [], "template render": []}
    for _ in range(5):
        t0 = time.process_time()
        obj = open_object(obj_path)
        t1 = time.process_time()
        model = build_model(obj)
        t2 = time.process_time()
        rows = c.elf_rows(model.data)
        t3 = time.process_time()
        c.header(model, rows)
        t4 = time.process_time()
        for key, dt in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            stages[key].append(dt)
    return [(k, statistics.median(v)) for k, v in stages.items()]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--object", type=Path, default=None)
    args = ap.parse_args()
    obj = (args.object or largest_fixture()).resolve()
    out = ["## C skeleton generation", "",
           f"Input: `{obj.relative_to(ROOT) if obj.is_relative_to(ROOT) else obj}` ({obj.stat().st_size} bytes). "
           "Goal: no slower than `bpftool gen skeleton`. CPU time (user + system) of one process, median of "
           f"{args.runs} alternating runs, whole command (interpreter start-up included); load average "
           f"before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}.", ""]
    cmds = {"ours": BPFI + ["gen-skel", str(obj), "--lang", "c"]}
    have_bpftool = shutil.which("bpftool") is not None
    if have_bpftool:
        cmds["bpftool"] = ["bpftool", "gen", "skeleton", str(obj)]
    cmds["ours --types"] = BPFI + ["gen-skel", str(obj), "--types"]
    cpu = alternate(cmds, args.runs)
    med = {k: statistics.median(v) for k, v in cpu.items()}
    rows = []
    for k in ("ours", "ours --types"):
        ref = f"{fmt_s(med['bpftool'])}" if have_bpftool else "bpftool not installed"
        ratio = f"{med[k] / med['bpftool']:.2f}x" if have_bpftool else "-"
        rows.append([f"`bpfinspect gen-skel{' --types' if 'types' in k else ''}`", fmt_s(med[k]), ref, ratio])
    out.append(table(rows, ["command", "bpfinspect (median CPU)", "bpftool gen skeleton (median CPU)", "CPU ratio"]))
    out.append("")
    # Start-up alone: the interpreter and our imports, for the same command line without work.
    startup = alternate({
        "python": [sys.executable, "-c", "pass"],
        "imports": [sys.executable, "-P", "-c", "from bpfinspect.cli import main; main.build_parser(); "
                    "import bpfinspect.obj.build, bpfinspect.skel.c, bpfinspect.skel.c_types, jinja2"],
    }, args.runs)
    out.append(f"CPU time of the interpreter's start-up alone (`python -c pass`): {fmt_s(statistics.median(startup['python']))}; "
               "start-up plus the imports and argument parser a `gen-skel` run needs (CLI, object model, "
               f"BTF printer, jinja2; not pyelftools, which only user-space binaries need): {fmt_s(statistics.median(startup['imports']))}.")
    out.append("")
    out.append("Inside one warm process:")
    out.append("")
    out.append(table([[k, fmt_s(v)] for k, v in in_process(obj)], ["stage", "median CPU"]))
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
