#!/usr/bin/env python3
"""Benchmark `bpfinspect disasm` against `llvm-objdump-19 -d` in the same run.

Objects: the largest fixture (by instruction count) and a synthetic object of at
least 100,000 instructions built from the fixtures' code (every code section of every
fixture, concatenated and repeated, one function symbol per copied section).
Each command runs N times with its output sent to /dev/null; the table shows the
median wall-clock time and the ratio to llvm-objdump-19.

    .venv/bin/python bench/bench_disasm.py [--runs 7] [--insns 100000]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from isa_util import code_sections, write_elf  # noqa: E402


def fixture_code() -> list[tuple[str, bytes]]:
    out = []
    for path in sorted((ROOT / "fixtures").glob("*.bpf.o")):
        for name, _, data, little in code_sections(str(path)):
            if little:
                out.append((f"{path.stem}:{name}", data))
    return out


def largest_fixture() -> tuple[Path, int]:
    best = None
    for path in sorted((ROOT / "fixtures").glob("*.bpf.o")):
        n = sum(len(d) for _, _, d, _ in code_sections(str(path))) // 8
        if best is None or n > best[1]:
            best = (path, n)
    return best


def synthetic_object(path: Path, min_insns: int) -> int:
    # ordinary-sized functions only, so the total lands close to min_insns
    pieces = [p for p in fixture_code() if len(p[1]) // 8 <= 5000]
    code = bytearray()
    symbols = []
    k = 0
    while len(code) // 8 < min_insns:
        for _, data in pieces:
            symbols.append((f"fn{k}", 1, len(code), 2, 1))
            code += data
            k += 1
            if len(code) // 8 >= min_insns:
                break
    path.write_bytes(write_elf([("xdp", bytes(code), 6)], symbols))
    return len(code) // 8


def timed(cmds: list[list[str]], runs: int, env: dict | None = None) -> list[tuple[float, float]]:
    """(median wall seconds, median CPU seconds) per command.

    The commands run round-robin, so a burst of load from elsewhere on the machine hits
    all of them alike; CPU time (user + system of the child) is the steadier figure
    on a shared machine."""
    walls: list[list[float]] = [[] for _ in cmds]
    cpus: list[list[float]] = [[] for _ in cmds]
    with open(os.devnull, "wb") as null:
        for cmd in cmds:
            subprocess.run(cmd, stdout=null, check=True, env=env)  # warm the page and bytecode caches
        for _ in range(runs):
            for k, cmd in enumerate(cmds):
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                t = time.perf_counter()
                subprocess.run(cmd, stdout=null, check=True, env=env)
                walls[k].append(time.perf_counter() - t)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpus[k].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return [(statistics.median(w), statistics.median(c)) for w, c in zip(walls, cpus)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--insns", type=int, default=100_000)
    args = ap.parse_args()
    objdump = shutil.which("llvm-objdump-19")
    if objdump is None:
        print("llvm-objdump-19 is not installed", file=sys.stderr)
        return 3
    script = Path(sys.executable).with_name("bpfinspect")
    bpfinspect = ([str(script)] if script.exists() else [sys.executable, "-m", "bpfinspect"]) + ["disasm"]
    env_note = f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, median of {args.runs} runs"
    with tempfile.TemporaryDirectory() as tmp:
        # Like an installed package, run from compiled bytecode (kept out of the tree):
        # with PYTHONDONTWRITEBYTECODE set, every run would recompile every module.
        env = dict(os.environ)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        synth = Path(tmp) / "synthetic.bpf.o"
        n_synth = synthetic_object(synth, args.insns)
        big, n_big = largest_fixture()
        rows = []
        for label, path, n in ((f"largest fixture ({big.name})", big, n_big),
                               ("synthetic object", synth, n_synth)):
            names = ["llvm-objdump-19 -d --no-show-raw-insn"]
            cmds = [[objdump, "-d", "--no-show-raw-insn", str(path)]]
            for flags in (["--no-annotate"], ["--plain"], [], ["--json"]):
                names.append("bpfinspect disasm " + " ".join(flags))
                cmds.append(bpfinspect + flags + [str(path)])
            results = timed(cmds, args.runs, env)
            (ref_wall, ref_cpu) = results[0]
            for name, (wall, cpu) in zip(names, results):
                rows.append((label, n, name.strip(), wall, wall / ref_wall, cpu, cpu / ref_cpu))
    print(f"Disassembly benchmark ({env_note}; output to /dev/null)\n")
    print("bpfinspect runs as the installed `bpfinspect` command (a strict editable install), from compiled")
    print("bytecode (as an installed package does); the annotated forms build the object model")
    print("(ELF, BTF, relocations) first.\n")
    print("| object | instructions | command | wall (s) | wall vs llvm | CPU (s) | CPU vs llvm |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for label, n, cmd, wall, wr, cpu, cr in rows:
        print(f"| {label} | {n:,} | `{cmd}` | {wall:.3f} | {wr:.2f}x | {cpu:.3f} | {cr:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
