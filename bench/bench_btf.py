#!/usr/bin/env python3
"""Benchmark: `bpfinspect btf` against `bpftool btf dump` on the same input, in the same run.

For each format (C and raw) both commands run alternately N times, output to /dev/null, after
one untimed warm-up of each (page cache, byte-code cache).  bpfinspect runs cold
(``BPFINSPECT_NO_CACHE=1``: every run decodes and renders) and is one process.  The goal's
figure is CPU time (user + system, from ``wait4``) of the whole command, median of the runs,
divided by bpftool's median in the same run; wall time and peak resident memory are beside
it, and the machine's load average before and after (the machine is shared: a loaded
machine slows an interpreter more than it slows bpftool).  Then, separately and labelled,
warm runs that print a rendering kept by the optional cache.  The interpreter's own start-up
(``python -c pass``) is timed too: it is part of every bpfinspect run and of no bpftool run.
Prints a markdown section; bench/run.py collects it into bench/RESULTS.md.

    python bench/bench_btf.py [--runs 9] [--source /sys/kernel/btf/vmlinux]
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import BPFI, ENV, PY, ROOT  # noqa: E402

COLD = dict(ENV, BPFINSPECT_NO_CACHE="1")
# The goals: bpfinspect's CPU time over bpftool's, one process, same run.
GOALS = {"c": 4.0, "raw": 3.0}


def run_once(cmd: list[str], env: dict) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds (user + system), peak RSS KiB) of one run."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT, env=env)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {err[-400:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def measure(cmds: dict[str, tuple[list[str], dict]], runs: int) -> dict[str, dict]:
    """Median wall and CPU seconds and peak RSS (KiB) of each (command, environment), runs
    interleaved."""
    samples: dict[str, list] = {k: [] for k in cmds}
    for cmd, env in cmds.values():  # warm-up, untimed
        run_once(cmd, env)
    for _ in range(runs):
        for k, (cmd, env) in cmds.items():
            samples[k].append(run_once(cmd, env))
    out = {}
    for k, rows in samples.items():
        walls, cpus, rss = zip(*rows)
        out[k] = {"wall": statistics.median(walls), "cpu": statistics.median(cpus), "cpu_min": min(cpus),
                  "rss": max(rss)}
    return out


# Where one rendering of the C header spends its CPU time, measured in a child process: the
# stages by process time (the least of three renderings), then cProfile's self time grouped by
# module, as shares of the profiled whole.
_BREAKDOWN = r"""
import cProfile, gc, json, pstats, sys, time
from bpfinspect.btf.btf import Btf
from bpfinspect.views import btf as view
data = open(sys.argv[1], "rb").read()
gc.disable()
view.c(Btf(data))  # imports and first-use tables paid
best = None
for _ in range(3):
    t0 = time.process_time(); b = Btf(data); t1 = time.process_time()
    text = view.c(b); t2 = time.process_time()
    if best is None or t2 - t0 < best[0] + best[1]:
        best = (t1 - t0, t2 - t1)
prof = cProfile.Profile()
prof.enable(); view.c(Btf(data)); prof.disable()
st = pstats.Stats(prof)
groups = {}
for (path, line, fn), (cc, nc, tt, ct, callers) in st.stats.items():
    name = path.rsplit("/", 1)[-1] if "bpfinspect" in path else "Python built-ins"
    groups[name] = groups.get(name, 0.0) + tt
b = Btf(data)
kinds = b._kinds_by_id()
records = sum(1 for k in kinds if k in (4, 5))
members = sum(b.vlen(t) for t in range(1, len(b)) if kinds[t] in (4, 5))
print(json.dumps({"decode": best[0], "render": best[1], "groups": groups, "types": len(b) - 1,
                  "records": records, "members": members, "chars": len(text)}))
"""

# The design that would halve the printer's time (not tuning: the shares above are spread thin).
_DESIGN = (
    "Every one of those shares is Python work per member or per type, done once (caches make "
    "nothing run twice), and the printer has been tuned function by function; what would halve it "
    "is a change of design. Decide layout and order for the whole table in bulk passes over flat "
    "arrays: member type ids, bit offsets and each type's natural alignment as `array`s, so that a "
    "record whose members all sit at their natural offsets (nearly all of a kernel's: neither packed "
    "nor padded) needs no per-member plan; write member lines from per-type head and tail tables "
    "with one join per record (done for plain records); and order definitions with one iterative "
    "pass over a precomputed table of strong dependencies instead of a recursive visit per type. "
    "Forking a second process was tried and removed: on 2 CPUs it bought no wall time and cost CPU "
    "time. So were member loops turned into map() passes over the tables' look-ups (plan's alignments "
    "and ends, the member lines' heads and tails): 7% slower, as Python 3.11's specialised dict "
    "subscript in a loop beats a method call per item.")


def breakdown(source: str) -> str:
    """The markdown paragraph of where the C printer's time goes."""
    import json

    out = subprocess.run([PY, "-c", _BREAKDOWN, source], capture_output=True, text=True, cwd=ROOT, env=COLD,
                         check=True).stdout
    d = json.loads(out)
    total = sum(d["groups"].values()) or 1.0
    shares = sorted(d["groups"].items(), key=lambda kv: -kv[1])
    listed = "; ".join(f"`{name}` {100 * t / total:.0f}%" for name, t in shares[:8])
    rest = 100 * sum(t for _, t in shares[8:]) / total
    return (f"Where the C printer's time goes (one process, after a first rendering paid the imports; "
            f"{d['types']:,} types, {d['records']:,} structs and unions with {d['members']:,} members, "
            f"{d['chars']:,} characters written): decoding the BTF {d['decode'] * 1000:.0f} ms, rendering "
            f"(table, layout, order, declarators, text) {d['render'] * 1000:.0f} ms of CPU; the start-up "
            f"and imports are the rest of the whole command's figure above.  Self time by module under "
            f"cProfile (which inflates Python calls, so shares, not milliseconds): {listed}; the other "
            f"modules {rest:.0f}%.\n\n{_DESIGN}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--source", default="/sys/kernel/btf/vmlinux")
    ap.add_argument("--bpftool", default=shutil.which("bpftool") or "/usr/sbin/bpftool")
    args = ap.parse_args()
    ours = BPFI + ["btf", args.source]
    ref = [args.bpftool, "btf", "dump", "file", args.source]
    rows = []
    load_before = os.getloadavg()
    for fmt in ("c", "raw"):
        res = measure({"bpftool": (ref + ["format", fmt], COLD), "bpfinspect": (ours + ["--format", fmt], COLD)},
                      args.runs)
        rows.append((fmt, res["bpftool"], res["bpfinspect"]))
    floor = measure({"python": ([PY, "-c", "pass"], COLD)}, args.runs)["python"]
    load_after = os.getloadavg()
    warm = []
    with tempfile.TemporaryDirectory() as cache_home:
        env = dict(ENV, XDG_CACHE_HOME=cache_home)
        env.pop("BPFINSPECT_NO_CACHE", None)
        for fmt in ("c", "raw"):
            res = measure({"bpftool": (ref + ["format", fmt], env), "bpfinspect": (ours + ["--format", fmt], env)},
                          args.runs)
            warm.append((fmt, res["bpftool"], res["bpfinspect"]))
    cpus = os.cpu_count()
    print("## `btf`: BTF to C (`vmlinux.h`) and raw, against `bpftool btf dump`\n")
    print(f"Source: `{args.source}`; median of {args.runs} cold runs each, bpftool and bpfinspect "
          "alternating, output to /dev/null, `BPFINSPECT_NO_CACHE=1` (every run decodes and renders); "
          "bpfinspect is one process.  The figure that counts is CPU time (user + system) over "
          f"bpftool's in the same run; goals: C ≤ {GOALS['c']}x, raw ≤ {GOALS['raw']}x.  Load average "
          f"of this {cpus}-CPU machine (1, 5, 15 min) before the cold runs: "
          f"{', '.join(f'{x:.2f}' for x in load_before)}; after: {', '.join(f'{x:.2f}' for x in load_after)}.\n")
    print("| format | bpftool CPU | bpfinspect CPU | CPU ratio | goal | bpftool wall | bpfinspect wall "
          "| wall ratio | bpftool peak RSS | bpfinspect peak RSS |")
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    for fmt, b, o in rows:
        ratio = o["cpu"] / b["cpu"]
        goal = f"≤ {GOALS[fmt]}x: {'met' if ratio <= GOALS[fmt] else 'not met'}"
        print(f"| {fmt} | {b['cpu'] * 1000:.0f} ms | {o['cpu'] * 1000:.0f} ms | {ratio:.2f}x | {goal} | "
              f"{b['wall'] * 1000:.0f} ms | {o['wall'] * 1000:.0f} ms | {o['wall'] / b['wall']:.2f}x | "
              f"{b['rss'] / 1024:.1f} MiB | {o['rss'] / 1024:.1f} MiB |")
    print("\nWarm runs (not the goal's figure): the optional rendering cache enabled and already filled, "
          "so bpfinspect only hashes the input and prints kept bytes.\n")
    print("| format | bpftool CPU | bpfinspect CPU (cache hit) | ratio | bpfinspect peak RSS |")
    print("|---|---:|---:|---:|---:|")
    for fmt, b, o in warm:
        print(f"| {fmt} | {b['cpu'] * 1000:.0f} ms | {o['cpu'] * 1000:.0f} ms | {o['cpu'] / b['cpu']:.2f}x | "
              f"{o['rss'] / 1024:.1f} MiB |")
    print(f"\nPython start-up alone (`python -c pass`, same interpreter): {floor['cpu'] * 1000:.0f} ms CPU, "
          f"included in every bpfinspect figure above. Interpreter: `{PY}`.")
    print("\n" + breakdown(args.source))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
