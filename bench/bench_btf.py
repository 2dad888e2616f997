#!/usr/bin/env python3
"""Benchmark: `bpfinspect btf` against `bpftool btf dump` on the same input, in the same run.

For each format (C and raw) both commands run alternately N times, output to
/dev/null, after one untimed warm-up of each (page cache, byte-code cache).
The primary figures are cold: bpfinspect runs with ``BPFINSPECT_NO_CACHE=1``,
so every run decodes and renders.  Reported: the median wall time of each, the
ratio, and the peak resident memory of each child (``ru_maxrss`` from
``wait4``).  Then, separately and labelled, warm runs that print a rendering
kept by the optional cache (in a private cache directory, filled by one run
first).  The interpreter's own start-up (``python -c pass``) is timed
alongside, since it is part of every bpfinspect run and of none of bpftool's.
Prints a markdown section; bench/run.py collects it into bench/RESULTS.md.

    python bench/bench_btf.py [--runs 9] [--source /sys/kernel/btf/vmlinux]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from common import BPFI, ENV, PY, ROOT  # noqa: E402

COLD = dict(ENV, BPFINSPECT_NO_CACHE="1")


def run_once(cmd: list[str], env: dict) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds (user + system, children reaped included), peak RSS KiB)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT, env=env)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {p.stderr.read().decode(errors='replace')[-400:]}")
    p.stderr.close()
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def measure(cmds: dict[str, tuple[list[str], dict]], runs: int) -> dict[str, tuple[float, float, int]]:
    """Median wall and CPU seconds and peak RSS (KiB) of each (command, environment), runs
    interleaved."""
    walls: dict[str, list[float]] = {k: [] for k in cmds}
    cpus: dict[str, list[float]] = {k: [] for k in cmds}
    peaks: dict[str, int] = {k: 0 for k in cmds}
    for cmd, env in cmds.values():  # warm-up, untimed
        run_once(cmd, env)
    for _ in range(runs):
        for k, (cmd, env) in cmds.items():
            wall, cpu, rss = run_once(cmd, env)
            walls[k].append(wall)
            cpus[k].append(cpu)
            peaks[k] = max(peaks[k], rss)
    return {k: (statistics.median(walls[k]), statistics.median(cpus[k]), peaks[k]) for k in cmds}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--source", default="/sys/kernel/btf/vmlinux")
    ap.add_argument("--bpftool", default=shutil.which("bpftool") or "/usr/sbin/bpftool")
    args = ap.parse_args()
    ours = BPFI + ["btf", args.source]
    ref = [args.bpftool, "btf", "dump", "file", args.source]
    one = dict(COLD, BPFINSPECT_JOBS="1")
    rows = []
    for fmt in ("c", "raw"):
        res = measure({"bpftool": (ref + ["format", fmt], COLD),
                       "bpfinspect": (ours + ["--format", fmt], COLD),
                       "one process": (ours + ["--format", fmt], one)}, args.runs)
        bt, bcpu, brss = res["bpftool"]
        for label in ("bpfinspect", "one process"):
            ot, ocpu, orss = res[label]
            rows.append((fmt if label == "bpfinspect" else f"{fmt}, `BPFINSPECT_JOBS=1`", bt, ot, ot / bt,
                         bcpu, ocpu, brss / 1024, orss / 1024))
    floor = measure({"python": ([PY, "-c", "pass"], COLD)}, args.runs)["python"][0]
    warm = []
    with tempfile.TemporaryDirectory() as cache_home:
        env = dict(ENV, XDG_CACHE_HOME=cache_home)
        env.pop("BPFINSPECT_NO_CACHE", None)
        for fmt in ("c", "raw"):
            res = measure({"bpftool": (ref + ["format", fmt], env),
                           "bpfinspect": (ours + ["--format", fmt], env)}, args.runs)
            warm.append((fmt, res["bpftool"][0], res["bpfinspect"][0], res["bpfinspect"][2] / 1024))
    print("## `btf`: BTF to C (`vmlinux.h`) and raw, against `bpftool btf dump`\n")
    print(f"Source: `{args.source}`; median of {args.runs} cold runs each (bpftool and bpfinspect "
          "alternating, output to /dev/null, `BPFINSPECT_NO_CACHE=1`: every run decodes and renders). "
          "Targets: C within 1.5x of bpftool (never above 3x) and under 120 MiB; raw within 1.5x.\n")
    print("On a kernel-sized BTF bpfinspect forks a second process (see the README); the "
          "`BPFINSPECT_JOBS=1` rows keep it to one.  CPU is user + system time of the whole command, "
          "both processes included.  Peak RSS is that of the larger process: the child shares the "
          "parent's pages copy-on-write.\n")
    print("| format | bpftool | bpfinspect | ratio | bpftool CPU | bpfinspect CPU | bpftool peak RSS "
          "| bpfinspect peak RSS | within 1.5x |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for fmt, bt, ot, ratio, bcpu, ocpu, brss, orss in rows:
        goal = "yes" if ratio <= 1.5 else ("under 3x only" if ratio <= 3 else "no")
        print(f"| {fmt} | {bt * 1000:.0f} ms | {ot * 1000:.0f} ms | {ratio:.2f}x | {bcpu * 1000:.0f} ms | "
              f"{ocpu * 1000:.0f} ms | {brss:.1f} MiB | {orss:.1f} MiB | {goal} |")
    print("\nWarm runs (not the goal's figure): the same commands with the optional rendering cache "
          "enabled and already filled, so bpfinspect only hashes the input and prints kept bytes.\n")
    print("| format | bpftool | bpfinspect (cache hit) | ratio | bpfinspect peak RSS |")
    print("|---|---:|---:|---:|---:|")
    for fmt, bt, ot, orss in warm:
        print(f"| {fmt} | {bt * 1000:.0f} ms | {ot * 1000:.0f} ms | {ot / bt:.2f}x | {orss:.1f} MiB |")
    print(f"\nPython start-up alone (`python -c pass`, same interpreter): {floor * 1000:.0f} ms, "
          f"included in every bpfinspect time above. Interpreter: `{PY}`.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
