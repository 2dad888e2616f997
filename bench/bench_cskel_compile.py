#!/usr/bin/env python3
"""Benchmark: what a C skeleton costs its user, ours against `bpftool gen skeleton`.

For each input object: the header's size, and the time gcc and clang take to compile a file
that includes it (`-std=gnu11 -O2 -c`, median of N runs), with the warnings each header gets
under `-Wall -Wextra -Wpedantic`.  The default inputs are the bootstrap fixture and a
synthetic object of 300 programs (bench/synth.py).

    python bench/bench_cskel_compile.py [--runs 5] [--object PATH]...
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import BPFI, ROOT, table  # noqa: E402

FLAGS = ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wpedantic", "-c"]


def compile_time(cc: str, source: Path, runs: int) -> tuple[float, int]:
    """(median seconds, warning count) of compiling ``source``."""
    times, warnings = [], 0
    for _ in range(runs):
        t0 = time.perf_counter()
        p = subprocess.run([cc, *FLAGS, str(source), "-o", "/dev/null"], capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        if p.returncode != 0:
            raise SystemExit(f"{cc} failed on {source}:\n{p.stderr[-2000:]}")
        warnings = p.stderr.count("warning:")
    return statistics.median(times), warnings


def measure(obj: Path, runs: int, work: Path) -> list[list[str]]:
    rows = []
    headers = {"bpfinspect": BPFI + ["gen-skel", str(obj)]}
    if shutil.which("bpftool"):
        headers["bpftool"] = ["bpftool", "gen", "skeleton", str(obj)]
    for who, cmd in headers.items():
        text = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT).stdout
        skel = work / f"{who}.skel.h"
        skel.write_text(text)
        user = work / f"{who}_user.c"
        user.write_text(f'#include <bpf/libbpf.h>\n#include "{skel.name}"\nint main(void) {{ return 0; }}\n')
        row = [f"{obj.name} ({obj.stat().st_size // 1024} KiB)", who, f"{len(text.encode()) // 1024} KiB",
               f"{len(text.encode()) / obj.stat().st_size:.2f}"]
        for cc in ("gcc", "clang"):
            t, w = compile_time(cc, user, runs)
            row.append(f"{t:.2f} s" + (f" ({w} warnings)" if w else ""))
        rows.append(row)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--object", type=Path, action="append", default=[])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        objects = args.object
        if not objects:
            synth = work / "synth300.bpf.o"
            subprocess.run([sys.executable, str(HERE / "synth.py"), "300", "-o", str(synth)], check=True,
                           capture_output=True)
            objects = [ROOT / "fixtures" / "bootstrap.bpf.o", synth]
        rows = []
        for obj in objects:
            rows.extend(measure(obj.resolve(), args.runs, work))
    print("## C skeleton: size and compile time for its user\n")
    print(f"`gcc`/`clang` `{' '.join(FLAGS)}` on a file including the header; median of {args.runs} runs.\n")
    print(table(rows, ["object", "header by", "size", "bytes per object byte", "gcc", "clang"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
