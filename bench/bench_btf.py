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


# Where one rendering of the C header spends its CPU time, measured in a child process that has
# rendered it once already (imports paid): each stage by process time, the least of five
# renderings.  The layout plans of every record are made before the text (in the order the
# text would ask for them), so that the text stage is declarators, names and lines alone.  As
# in the command, strings are decoded a chunk of the section at a time by the stage that first
# asks for one of them (the text, nearly always).
_BREAKDOWN = r"""
import gc, json, sys, time
from bpfinspect.btf.btf import Btf
from bpfinspect.btf.c_dump import CDumper
from bpfinspect.views import btf as view
data = open(sys.argv[1], "rb").read()
gc.disable()
text = view.c(Btf(data))  # imports and first-use tables paid
T = time.process_time
best = {}
for _ in range(5):
    t = {}
    t0 = T(); b = Btf(data); table = b.table; t["decoding the BTF"] = T() - t0
    t0 = T(); d = CDumper(b); table.strs.load_by_chunk(); t["finding its strings' chunks"] = T() - t0
    w = d.walk
    t0 = T(); w._proto_scan(); t["the types each type refers to (one pass)"] = T() - t0
    t0 = T(); w.referenced; t["the anonymous enums among them"] = T() - t0
    t0 = T(); items = w.run((), True, False); t["ordering and emission"] = T() - t0
    t0 = T()
    for i in items:
        if i > 0 and table.kind[i] in (4, 5):
            d.layout.plan(i)
    t["layout plans (padding, packing, alignment)"] = T() - t0
    t0 = T(); texts = [d.render.item(i) for i in items]; t["text (declarators, names, member lines)"] = T() - t0
    t0 = T(); "".join(texts); t["joining"] = T() - t0
    for k, v in t.items():
        best[k] = min(best.get(k, v), v)
kinds = b._kinds_by_id()
records = sum(1 for k in kinds if k in (4, 5))
members = sum(b.vlen(t) for t in range(1, len(b)) if kinds[t] in (4, 5))
from bpfinspect import compiled
engine = compiled.describe()
print(json.dumps({"stages": best, "types": len(b) - 1, "records": records, "members": members,
                  "chars": len(text), "engine": engine}))
"""

# What the stages come to, what was tried, what was built, and what would halve the rest.
_DESIGN = (
    "Every stage is Python work per type, per member or per word, done once (caches make nothing "
    "run twice), and the printer has been tuned function by function; measured floors, in the "
    "interpreter, are about 50 ns for each word read out of the type section (an integer object "
    "is made for it, whatever loop reads it), 0.3 µs for each member line and 1 to 3 µs for each "
    "call that handles one type. Tried and measured without a gain, and not kept: the sizes and "
    "alignments of every pointer and scalar filled in bulk before the layout (the fill cost what "
    "it saved); a layout plan made of map() passes over a record's members (66 ms against the "
    "loop's 50: a record has five members on average, and each pass costs a call); a rendering "
    "loop with the common record inlined (no change: the time is in the member lines, not in "
    "the calls); strings decoded one by one as they are first printed (half of them never are, "
    "but a Python call per name costs what decoding them all in one pass does: decoding a 64 KiB "
    "chunk of the section on first use was kept instead, as a header's names lie together); "
    "itemgetter, slices and map() pipelines instead of list comprehensions for the reference "
    "scans (the same: the integer per word is the cost); forking a second process (on 2 CPUs no "
    "wall time gained, CPU time lost); compiling the skeleton generator's modules as well "
    "(gen-skel took more CPU: loading nine more extension modules cost more than their code "
    "saved). Built: the engine's modules compiled by Cython from the same source at set-up "
    "(bpfinspect/compiled.py; the two lists above, the source and the compiled engine on the "
    "same input), with the classes every walk goes through declared as extension types (.pxd "
    "files beside the modules: an attribute of self is a slot, not a dictionary entry): the "
    "interpreter's dispatch of every bytecode and the attribute lookups go, about a quarter of "
    "the printer's time. Then the whole-table passes as typed loops: the walk over the records "
    "that decodes the BTF (btf._walk_records) and one pass that finds every type each type "
    "refers to (order.references: the prototypes that must be roots, the anonymous enums "
    "something names) are index loops in the source, and the .pxd files give their locals C "
    "types in the compiled engine: the type section is read as a C array of words, a kind or a "
    "member's type is a C integer, and the loop makes no integer object (decoding 14 to 8 ms, "
    "the six reference passes it replaced 31 ms to 3.5 ms; in the interpreter the one pass is "
    "faster than the six too, the record walk 4 ms slower). What stays is the work of Python's "
    "objects where the output is made of them (a string per piece of text, a dictionary lookup "
    "per name and per cached declaration) and the walks that are closures or go through "
    "dictionary-backed caches (ordering, layout plans), which compiled untyped code does the "
    "same way. What would halve the rest is the same treatment for them: the layout's sizes and "
    "alignments and the walks' states as C arrays indexed by type id (filled by a typed pass "
    "instead of on demand through a dictionary), the ordering and emission as methods with "
    "typed locals instead of closures, and a record's member lines built from a C loop over its "
    "words with the cached heads and tails looked up by index, not by key.")


def _stages(source: str, env: dict) -> dict:
    import json

    out = subprocess.run([PY, "-P", "-c", _BREAKDOWN, source], capture_output=True, text=True, cwd="/", env=env,
                         check=True).stdout
    return json.loads(out)


def breakdown(source: str) -> tuple[str, str]:
    """(the markdown paragraph of where the C printer's time goes, in the compiled engine and in
    its source run by the interpreter; how the install runs the engine, in words)."""
    runs = {"the compiled engine (the install)": _stages(source, COLD),
            "its source run by the interpreter (the checkout)": _stages(source, dict(COLD, PYTHONPATH=str(ROOT)))}
    lists = []
    for label, d in runs.items():
        stages = d["stages"]
        total = sum(stages.values())
        listed = "; ".join(f"{name} {t * 1000:.0f} ms" for name, t in stages.items())
        lists.append(f"{label} ({d['engine']}): {listed}; {total * 1000:.0f} ms in all")
    d = next(iter(runs.values()))
    return (f"Where the C printer's time goes (one process that has rendered the header once, so the "
            f"imports are paid; the least of five renderings; {d['types']:,} types, {d['records']:,} "
            f"structs and unions with {d['members']:,} members, {d['chars']:,} characters written), "
            f"as CPU time by stage, in {lists[0]}; in {lists[1]}. The whole command's figure above "
            f"adds the interpreter's start-up, the imports, reading the file, writing the text and the "
            f"first touch of the memory all this takes (page faults, counted as system time).\n\n{_DESIGN}",
            d["engine"])


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
    where, engine = breakdown(args.source)
    print(f"\nPython start-up alone (`python -c pass`, same interpreter): {floor['cpu'] * 1000:.0f} ms CPU, "
          f"included in every bpfinspect figure above. Interpreter: `{PY}`; the BTF engine: {engine}.")
    print("\n" + where)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
