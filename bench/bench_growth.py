#!/usr/bin/env python3
"""Growth: how the inspection commands scale with the size of the object.

Synthetic objects of N = 1, 10, 100, 1000 programs (bench/synth.py: N programs,
N maps, N globals, N subprograms, CO-RE records and line info, compiled by
clang) go through `progs`, `disasm`, `info` and `sections`, one process each
(``BPFINSPECT_JOBS=1``, no cache), output to /dev/null.  Each figure is the
median of R runs, the commands taking turns so that load from elsewhere hits
them alike:

- the whole command: CPU time (user + system of the child) and wall time,
  interpreter start-up and imports included, as a user sees it;
- the command's own work: CPU time of ``main([command, object])`` inside a
  process that has already run the command once on the 1-program object (so
  start-up and imports are paid), which is what grows with the object.  On a
  machine shared with other jobs CPU time still swells with their load (caches,
  sibling hyperthreads), so this figure is the least of the R runs, the one the
  others' load disturbed least.

The growth column is the ratio of the N=1000 figure to the N=100 one: linear
work gives about 10x.  The reference tools run in the same rounds:
`llvm-objdump-19 -d -r -S` for `disasm` (the annotated view: relocations and
source lines), `llvm-readelf-19 -S` for `sections`.  The machine's load
average is recorded before and after.

    .venv/bin/python bench/bench_growth.py [--runs 5] [--sizes 1,10,100,1000] [--objects DIR]

Compiled objects are kept in ``build/bench/`` (``--objects DIR`` elsewhere) and reused while
the generator is unchanged: compiling the 1000-program object takes clang a while.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import BPFI, ROOT  # noqa: E402
from synth import build, generate_source  # noqa: E402

COMMANDS = ("progs", "disasm", "info", "sections")
REFERENCES = {"disasm": ("llvm-objdump-19", ["-d", "-r", "-S"]), "sections": ("llvm-readelf-19", ["-S"])}


def child_times(cmd: list[str], env: dict) -> tuple[float, float]:
    """(wall, CPU) seconds of one run of ``cmd``, its output thrown away."""
    import time

    with open(os.devnull, "wb") as null:
        t0 = time.perf_counter()
        pid = os.posix_spawn(cmd[0], cmd, env, file_actions=[(os.POSIX_SPAWN_DUP2, null.fileno(), 1)])
        _, status, usage = os.wait4(pid, 0)
        wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed")
    return wall, usage.ru_utime + usage.ru_stime


_WORK = """
import contextlib, os, sys, time
from bpfinspect.cli.main import main
cmd, small, path = sys.argv[1:4]
with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
    main([cmd, small])
    t0 = time.process_time()
    main([cmd, path])
    t1 = time.process_time()
print(t1 - t0)
"""


def work_time(cmd: str, small: Path, path: Path, env: dict) -> float:
    """CPU seconds of one command's own work (start-up and imports already paid)."""
    import subprocess

    # (-P: the install, as the command runs, not the checkout's source of the compiled modules)
    out = subprocess.run([sys.executable, "-P", "-c", _WORK, cmd, str(small), str(path)], env=env, check=True,
                         capture_output=True, text=True, cwd=ROOT)
    return float(out.stdout.strip().splitlines()[-1])


OBJECTS = ROOT / "build" / "bench"


def objects(sizes: list[int], where: Path = OBJECTS) -> dict[int, Path]:
    """The synthetic object of each size, compiled unless a current one is there (the
    generator's source is kept beside it: ``llvm-objdump -S`` reads it, and it tells
    whether the object is current)."""
    where.mkdir(parents=True, exist_ok=True)
    out = {}
    for n in sizes:
        path = where / f"synth{n}.bpf.o"
        src = path.with_name(f"synth{n}.bpf.c")
        current = path.exists() and src.exists() and src.read_text() == generate_source(n)
        if not current:
            print(f"compiling the {n}-program object ...", file=sys.stderr)
            build(n, path, keep_source=True)
        out[n] = path
    return out


def measure(objs: dict[int, Path], runs: int) -> dict:
    env = dict(os.environ)  # bytecode as the install compiled it
    env.update(BPFINSPECT_JOBS="1", BPFINSPECT_NO_CACHE="1")
    cmds = {}
    for n, path in objs.items():
        for c in COMMANDS:
            cmds[(c, n)] = BPFI + [c, str(path)]
            ref = REFERENCES.get(c)
            if ref and shutil.which(ref[0]):
                cmds[(c + "/ref", n)] = [shutil.which(ref[0])] + ref[1] + [str(path)]
    for cmd in cmds.values():  # warm page and bytecode caches
        child_times(cmd, env)
    small = objs[min(objs)]
    samples: dict = {k: [] for k in cmds}
    work: dict = {(c, n): [] for n in objs for c in COMMANDS}
    for _ in range(runs):
        for k, cmd in cmds.items():
            samples[k].append(child_times(cmd, env))
        for (c, n) in work:
            work[(c, n)].append(work_time(c, small, objs[n], env))
    res = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in samples.items()}
    for k, v in work.items():
        res[("work", *k)] = min(v)
    return res


def report(objs: dict[int, Path], res: dict, runs: int, load: tuple[str, str]) -> str:
    sizes = sorted(objs)
    lines = ["## Growth with the number of programs", "",
             "Synthetic objects from `bench/synth.py` (N programs, N maps, N globals, N subprograms, two CO-RE "
             "records and line info per program, clang-19 `-O2 -g`); one process (`BPFINSPECT_JOBS=1`, no "
             f"cache), output to /dev/null, median of {runs} runs. CPU = user + system time of the whole "
             "command, start-up included. Growth = N=1000 figure / N=100 figure (goal for `progs` and `disasm`: "
             "at most 11x; the second table, without start-up, is the stricter test).", "",
             f"Load average (1, 5, 15 min) before: {load[0]}; after: {load[1]}.", ""]
    head = "| command | " + " | ".join(f"N={n} CPU / wall" for n in sizes) + " | growth 100→1000 (CPU) |"
    lines += [head, "|---|" + "---:|" * (len(sizes) + 1)]
    for c in COMMANDS:
        for key, label in ((c, f"`bpfinspect {c}`"), (c + "/ref", None)):
            if (key, sizes[0]) not in res:
                continue
            if label is None:
                ref = REFERENCES[c]
                label = f"`{ref[0]} {' '.join(ref[1])}`"
            cells = [f"{res[(key, n)][1] * 1000:.0f} / {res[(key, n)][0] * 1000:.0f} ms" for n in sizes]
            growth = ""
            if 100 in objs and 1000 in objs:
                growth = f"{res[(key, 1000)][1] / res[(key, 100)][1]:.1f}x"
            lines.append(f"| {label} | " + " | ".join(cells) + f" | {growth} |")
    lines += ["", "The commands' own work (CPU time in a process that has already started and run the command "
              f"once; the least of {runs} runs):", "",
              "| command | " + " | ".join(f"N={n}" for n in sizes) + " | growth 100→1000 |",
              "|---|" + "---:|" * (len(sizes) + 1)]
    for c in COMMANDS:
        cells = [f"{res[('work', c, n)] * 1000:.1f} ms" for n in sizes]
        growth = ""
        if 100 in objs and 1000 in objs:
            growth = f"{res[('work', c, 1000)] / res[('work', c, 100)]:.1f}x"
        lines.append(f"| `bpfinspect {c}` | " + " | ".join(cells) + f" | {growth} |")
    lines += ["", "Object sizes: " + ", ".join(f"N={n}: {objs[n].stat().st_size / 1e6:.2f} MB" for n in sizes), ""]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description="growth of progs/disasm/info/sections with the object's size")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--sizes", default="1,10,100,1000")
    ap.add_argument("--objects", help=f"directory keeping the compiled objects (default {OBJECTS})")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    objs = objects(sizes, Path(args.objects) if args.objects else OBJECTS)
    before = " ".join(open("/proc/loadavg").read().split()[:3])
    res = measure(objs, args.runs)
    after = " ".join(open("/proc/loadavg").read().split()[:3])
    print(report(objs, res, args.runs, (before, after)))
    if 100 in objs and 1000 in objs:  # the goal figures bench/run.py gathers into its table
        import json

        growth = {c: {"whole": res[(c, 1000)][1] / res[(c, 100)][1],
                      "work": res[("work", c, 1000)] / res[("work", c, 100)]} for c in COMMANDS}
        (ROOT / "build" / "bench" / "growth.json").write_text(json.dumps(growth))
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    raise SystemExit(main())
