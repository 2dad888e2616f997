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
        f"- Python {platform.python_version()} ({os.path.realpath(sys.executable)}; built with "
        f"{platform.python_compiler()})",
        f"- bpftool: {ver(['bpftool', 'version'])}",
        f"- llvm-objdump-19: {ver(['llvm-objdump-19', '--version'])[:60]}",
        f"- date: {datetime.date.today().isoformat()}",
    ])


def _figures(name: str):
    """A benchmark's figures for the goals table and when they were measured (None without)."""
    import json

    path = FIGURES / name
    try:
        when = datetime.datetime.fromtimestamp(path.stat().st_mtime, datetime.timezone.utc)
        return json.loads(path.read_text()), when.strftime("%Y-%m-%d %H:%M UTC")
    except (OSError, ValueError):
        return None, None


def goals() -> str:
    """Every goal, its latest figure (with the time it was measured), and whether it is met."""
    rows = []
    g, when = _figures("goals.json")
    for label, r in (g or {}).get("rows", {}).items():
        rows.append([f"`{label}` / `{r['reference']}` (CPU)", f"≤ {r['goal']:.1f}x", f"{r['ratio']:.2f}x",
                     "yes" if r["ratio"] <= r["goal"] else "no", when])
    growth, when = _figures("growth.json")
    for c in ("progs", "disasm"):
        if growth and c in growth:
            whole, work = growth[c]["whole"], growth[c]["work"]
            rows.append([f"`{c}` growth, 100 → 1000 programs (CPU; own work in brackets)", "≤ 11x",
                         f"{whole:.1f}x ({work:.1f}x)", "yes" if max(whole, work) <= 11 else "no", when])
    batch, when = _figures("batch.json")
    for name, r in (batch or {}).get("sets", {}).items():
        rows.append([f"`info --json` over {batch['count']} objects, one invocation vs {batch['count']} ({name})",
                     "≥ 5x", f"{r['ratio_cpu']:.1f}x CPU, {r['ratio_wall']:.1f}x wall",
                     "yes" if min(r["ratio_cpu"], r["ratio_wall"]) >= 5 else "no", when])
    if not rows:
        return ""
    out = ["## Goals", "", "The latest figure of each goal (details in the sections below; ratios are bpfinspect / "
           "reference, CPU time of one process).", "", "| goal | target | figure | met | measured |",
           "|---|---:|---:|---|---|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out) + "\n"


_MARK = "<!-- bench: "


_EARLIER = "## Earlier results"


def _earlier_blocks(text: str) -> tuple[dict[str, str], str]:
    """The previous RESULTS.md cut into each benchmark's block (by the marker line that opens
    it), and what it held without markers (a file written before they existed)."""
    blocks: dict[str, str] = {}
    legacy = ""
    pieces = text.split("\n" + _MARK)
    head = pieces[0]
    if len(pieces) == 1:  # no markers: its sections but the goals table, as one legacy block
        kept = [x for x in head.split("\n## ")[1:] if not x.startswith("Goals\n")]
        return blocks, "\n## ".join([""] + kept).strip("\n")
    for piece in pieces[1:]:
        # the earlier results follow the last block: they are not part of it
        piece, _, rest = piece.partition("\n" + _EARLIER)
        if rest:
            legacy = rest.split("\n", 1)[1].strip("\n") if "\n" in rest else ""
        name = piece.split(" ", 1)[0]
        blocks[name] = _MARK + piece.rstrip("\n") + "\n"
    return blocks, legacy


def main() -> int:
    parts = ["# Benchmark results", "", "Written by `make bench` (bench/run.py; `make bench BENCH=bench_goals` runs "
             "some of them and keeps the others' latest blocks). Every ratio compares bpfinspect with the reference "
             "tool timed in the same run on the same machine, as CPU time (user + system) or wall time as each "
             "table says, start-up included; each table records the machine's load average during it.",
             "", machine(), ""]
    chosen = [b if b.endswith(".py") else b + ".py" for b in sys.argv[1:]]
    unknown = [b for b in chosen if b not in BENCHES]
    if unknown:
        print(f"run.py: no benchmark {', '.join(unknown)} (known: {', '.join(BENCHES)})", file=sys.stderr)
        return 2
    try:
        earlier, legacy = _earlier_blocks((HERE / "RESULTS.md").read_text()) if chosen else ({}, "")
    except OSError:
        earlier, legacy = {}, ""
    status = 0
    blocks = []
    for b in BENCHES:
        if chosen and b not in chosen:
            if b in earlier:
                blocks.append(earlier[b])
            continue
        path = HERE / b
        if not path.exists():
            continue
        print(f"running {b} ...", file=sys.stderr)
        when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        p = subprocess.run([sys.executable, str(path)], capture_output=True, text=True)
        if p.returncode != 0:
            body = f"## {b}: failed\n\n```\n{p.stderr[-2000:]}\n```\n"
            status = 1
        else:
            body = p.stdout.rstrip() + "\n"
        blocks.append(f"{_MARK}{b} {when} -->\n{body}")
    summary = goals()
    if summary:
        parts.append(summary)
    parts += blocks
    if legacy:  # less the sections this run wrote again
        titles = {b.split("\n## ", 1)[1].split("\n", 1)[0] for b in blocks if "\n## " in b}
        legacy = "\n## ".join([""] + [x for x in ("\n" + legacy).split("\n## ")[1:] if x.split("\n", 1)[0] not in titles])
        legacy = legacy.strip("\n")
    if legacy:
        parts.append(_EARLIER + " (written before the benchmarks above were repeated)\n\n" + legacy + "\n")
    (HERE / "RESULTS.md").write_text("\n".join(parts))
    print((HERE / "RESULTS.md").read_text())
    return status


if __name__ == "__main__":
    raise SystemExit(main())
