#!/usr/bin/env python3
"""Benchmark `bpfinspect disasm` against `llvm-objdump-19` in the same run, like for like.

Objects: the largest fixture (by instruction count); a synthetic object of at least
100,000 instructions built from the fixtures' code (every code section of every fixture,
concatenated and repeated, one function symbol per copied section: no relocations, no
line info); and a compiled synthetic object of 1000 programs (bench/synth.py: relocations,
CO-RE records, globals, string literals, line info and DWARF, as real objects have).
The plain forms (`--no-annotate`, `--plain`) are compared with `llvm-objdump-19 -d`, the
annotated ones (the default, `--json`) with `llvm-objdump-19 -d -r -S`, which shows
relocations and source lines too.  Each command runs N times with its output sent to
/dev/null; the table shows medians of wall-clock and CPU time and the ratios to the
reference of the same row.

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
sys.path.insert(0, str(ROOT / "bench"))

from bench_growth import objects  # noqa: E402
from isa_util import code_sections, write_elf  # noqa: E402


# Commands run here: the fixtures' DWARF names their sources ../src/x.bpf.c, so llvm-objdump -S
# finds and prints them as bpfinspect prints the lines BTF holds.
SOURCES = ROOT / "fixtures" / "src"


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
            subprocess.run(cmd, stdout=null, check=True, env=env, cwd=SOURCES)  # warm the page and bytecode caches
        for _ in range(runs):
            for k, cmd in enumerate(cmds):
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                t = time.perf_counter()
                subprocess.run(cmd, stdout=null, check=True, env=env, cwd=SOURCES)
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
        compiled = objects([1000])[1000]
        n_compiled = sum(len(d) for _, _, d, _ in code_sections(str(compiled))) // 8
        rows = []
        plain_ref = ("llvm-objdump-19 -d", [objdump, "-d", "--no-show-raw-insn"])
        full_ref = ("llvm-objdump-19 -d -r -S", [objdump, "-d", "-r", "-S", "--no-show-raw-insn"])
        for label, path, n in ((f"largest fixture ({big.name})", big, n_big),
                               ("synthetic object (fixture code)", synth, n_synth),
                               ("compiled synthetic object (1000 programs)", compiled, n_compiled)):
            forms = [(["--no-annotate"], 0), (["--plain"], 0), ([], 1), (["--json"], 1)]
            cmds = [plain_ref[1] + [str(path)], full_ref[1] + [str(path)]]
            cmds += [bpfinspect + flags + [str(path)] for flags, _ in forms]
            results = timed(cmds, args.runs, env)
            for k, (name, _) in enumerate((plain_ref, full_ref)):
                wall, cpu = results[k]
                rows.append((label, n, name, wall, 1.0, cpu, 1.0))
            for (flags, ref), (wall, cpu) in zip(forms, results[2:]):
                ref_wall, ref_cpu = results[ref]
                name = "bpfinspect disasm " + " ".join(flags) + f" (vs {(plain_ref, full_ref)[ref][0]})"
                rows.append((label, n, name.replace("  ", " "), wall, wall / ref_wall, cpu, cpu / ref_cpu))
    print(f"Disassembly benchmark ({env_note}; output to /dev/null)\n")
    print("bpfinspect runs as the installed `bpfinspect` command (a strict editable install), from compiled")
    print("bytecode (as an installed package does); the annotated forms build the object model")
    print("(ELF, BTF, relocations) first.\n")
    print("| object | instructions | command | wall (s) | wall vs reference | CPU (s) | CPU vs reference |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for label, n, cmd, wall, wr, cpu, cr in rows:
        print(f"| {label} | {n:,} | `{cmd}` | {wall:.3f} | {wr:.2f}x | {cpu:.3f} | {cr:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
