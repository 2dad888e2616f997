"""Run every benchmark and write bench/RESULTS.md (machine and reference tools timed in the same run).

    bench/run.py [BENCH...]

With names (``bench_goals.py bench_batch.py``), only those run; the sections of the previous
RESULTS.md follow theirs under a heading saying they come from an earlier run."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = ["bench_goals.py", "bench_batch.py", "bench_imports.py", "bench_inspect.py", "bench_growth.py", "bench_btf.py",
           "bench_disasm.py", "bench_cskel.py", "bench_expand.py", "bench_core.py"]
# Figures the benchmarks leave for the goals table (bench_goals, bench_growth, bench_batch).
FIGURES = HERE.parent / "build" / "bench"


def machine() -> str:
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    def ver(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()[0]
        except (OSError, IndexError):
            return "not installed"
    return "\n".join([
        f"- machine: {platform.machine()}, {os.cpu_count()} CPUs ({cpu}), kernel {platform.release()}",
        f"- Python {platform.python_version()}",
        f"- bpftool: {ver(['bpftool', 'version'])}",
        f"- llvm-objdump-19: {ver(['llvm-objdump-19', '--version'])[:60]}",
        f"- date: {datetime.date.today().isoformat()}",
    ])


def _figures(name: str, since: float):
    """A benchmark's figures, when this run wrote them."""
    import json

    path = FIGURES / name
    try:
        if path.stat().st_mtime < since:
            return None
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def goals(since: float) -> str:
    """Every goal, its figure in this run, and whether it is met."""
    rows = []
    g = _figures("goals.json", since)
    for label, r in (g or {}).get("rows", {}).items():
        rows.append([f"`{label}` / `{r['reference']}` (CPU)", f"≤ {r['goal']:.1f}x", f"{r['ratio']:.2f}x",
                     "yes" if r["ratio"] <= r["goal"] else "no"])
    growth = _figures("growth.json", since)
    for c in ("progs", "disasm"):
        if growth and c in growth:
            whole, work = growth[c]["whole"], growth[c]["work"]
            rows.append([f"`{c}` growth, 100 → 1000 programs (CPU; own work in brackets)", "≤ 11x",
                         f"{whole:.1f}x ({work:.1f}x)", "yes" if max(whole, work) <= 11 else "no"])
    batch = _figures("batch.json", since)
    for name, r in (batch or {}).get("sets", {}).items():
        rows.append([f"`info --json` over {batch['count']} objects, one invocation vs {batch['count']} ({name})",
                     "≥ 5x", f"{r['ratio_cpu']:.1f}x CPU, {r['ratio_wall']:.1f}x wall",
                     "yes" if min(r["ratio_cpu"], r["ratio_wall"]) >= 5 else "no"])
    if not rows:
        return ""
    out = ["## Goals", "", "Figures of this run (details in the sections below; ratios are bpfinspect / "
           "reference, CPU time of one process).", "", "| goal | target | this run | met |", "|---|---:|---:|---|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def main() -> int:
    parts = ["# Benchmark results", "", "Written by `make bench` (bench/run.py). Every ratio compares bpfinspect with the "
             "reference tool timed in the same run on the same machine, as CPU time (user + system) or wall time "
             "as each table says, start-up included; each table records the machine's load average during it.",
             "", machine(), ""]
    status = 0
    import time

    start = time.time()
    chosen = [b if b.endswith(".py") else b + ".py" for b in sys.argv[1:]]
    unknown = [b for b in chosen if b not in BENCHES]
    if unknown:
        print(f"run.py: no benchmark {', '.join(unknown)} (known: {', '.join(BENCHES)})", file=sys.stderr)
        return 2
    earlier = ""
    if chosen:
        try:
            old = (HERE / "RESULTS.md").read_text()
        except OSError:
            old = ""
        # the earlier file's sections after its own heading, machine lines and goals table
        sections = old.split("\n## ")[1:]
        kept = [x for x in sections if not x.startswith(("Goals\n", "Earlier runs"))]
        if kept:
            earlier = ("## Earlier runs (not repeated in this one: " + ", ".join(b for b in BENCHES if b not in chosen)
                       + ")\n\n" + "\n## ".join([""] + kept).lstrip("\n"))
    for b in chosen or BENCHES:
        path = HERE / b
        if not path.exists():
            continue
        print(f"running {b} ...", file=sys.stderr)
        p = subprocess.run([sys.executable, str(path)], capture_output=True, text=True)
        if p.returncode != 0:
            parts.append(f"## {b}: failed\n\n```\n{p.stderr[-2000:]}\n```\n")
            status = 1
        else:
            parts.append(p.stdout.rstrip() + "\n")
    summary = goals(start)
    if summary:
        parts.insert(6, summary)
    if earlier:
        parts.append(earlier)
    (HERE / "RESULTS.md").write_text("\n".join(parts))
    print((HERE / "RESULTS.md").read_text())
    return status


if __name__ == "__main__":
    raise SystemExit(main())
