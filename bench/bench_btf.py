#!/usr/bin/env python3
"""Benchmark: `bpfinspect btf` against `bpftool btf dump` on the same input, in the same run.

For each format (C and raw) both commands run alternately N times with their output
going to /dev/null; we report the median wall time of each, the ratio, and the peak
resident memory of each child process (``ru_maxrss`` from ``wait4``).  Prints a
markdown table (paste it into bench/RESULTS.md).

    python bench/bench_btf.py [--runs 7] [--source /sys/kernel/btf/vmlinux]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


# Like an installed package (pip compiles .pyc files at install time): let the children cache
# bytecode in a private directory even when PYTHONDONTWRITEBYTECODE is set around us.
CHILD_ENV = dict(os.environ)
CHILD_ENV.pop("PYTHONDONTWRITEBYTECODE", None)
CHILD_ENV["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), "bpfinspect-bench-pycache")


def run_once(cmd: list[str]) -> tuple[float, int]:
    """(wall seconds, peak RSS KiB) of one run of ``cmd``."""
    with open(os.devnull, "wb") as null:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=null, stderr=subprocess.PIPE, env=CHILD_ENV)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err = proc.stderr.read() if proc.stderr else b""
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {err.decode(errors='replace')}")
    return wall, usage.ru_maxrss


def measure(cmds: dict[str, list[str]], runs: int) -> dict[str, tuple[float, int]]:
    times: dict[str, list[float]] = {k: [] for k in cmds}
    peaks: dict[str, int] = {k: 0 for k in cmds}
    for k, cmd in cmds.items():  # warm the page cache once
        run_once(cmd)
    for _ in range(runs):
        for k, cmd in cmds.items():
            wall, rss = run_once(cmd)
            times[k].append(wall)
            peaks[k] = max(peaks[k], rss)
    return {k: (statistics.median(times[k]), peaks[k]) for k in cmds}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--source", default="/sys/kernel/btf/vmlinux")
    ap.add_argument("--bpftool", default=shutil.which("bpftool") or "/usr/sbin/bpftool")
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    CHILD_ENV["PYTHONPATH"] = root + os.pathsep + CHILD_ENV.get("PYTHONPATH", "")
    ours = [sys.executable, "-m", "bpfinspect", "btf", args.source]
    ref = [args.bpftool, "btf", "dump", "file", args.source]
    rows = []
    for fmt in ("c", "raw"):
        res = measure({"bpftool": ref + ["format", fmt], "bpfinspect": ours + ["--format", fmt]}, args.runs)
        (bt, brss), (ot, orss) = res["bpftool"], res["bpfinspect"]
        rows.append((fmt, bt, ot, ot / bt, brss / 1024, orss / 1024))
    print("## `btf`: BTF to C (`vmlinux.h`) and raw, against `bpftool btf dump`\n")
    print(f"Source: `{args.source}`, median of {args.runs} runs each, alternating; output to /dev/null. "
          "Targets: C within 1.5x of bpftool (never above 3x) and under 120 MiB; raw within 1.5x.\n")
    print("| format | bpftool (s) | bpfinspect (s) | ratio | bpftool peak RSS (MiB) | bpfinspect peak RSS (MiB) |")
    print("|---|---:|---:|---:|---:|---:|")
    for fmt, bt, ot, ratio, brss, orss in rows:
        print(f"| {fmt} | {bt:.3f} | {ot:.3f} | {ratio:.2f}x | {brss:.1f} | {orss:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
