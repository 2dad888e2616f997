#!/usr/bin/env python3
"""Batch use: `info --json` over 600 objects in one invocation against 600 invocations.

Two sets of 600 object paths, each cycling through its distinct objects:

- the fixtures (``fixtures/*.o``) and the BPF objects Debian packages install (libxdp,
  xdp-tools, cilium/ebpf's test objects), as a CI job over a real tree would see them;
- synthetic objects (``bench/synth.py``) of 1 to ``--distinct`` programs (as many maps and
  globals), compiled once into ``build/bench/batch/``.

For each set: one invocation with all 600 paths, in one process (``-j 1``), against the sum
of 600 invocations of one path each (run one after the other); CPU is user + system time of
the whole command (its forked children included), wall the elapsed time.  The same batch with
``-j 2`` is shown for its wall time (it pays a little more CPU to use both cores).  The
machine's load average is recorded before and after.  Goal: the one invocation at least 5x
faster than the 600.

    .venv/bin/python bench/bench_batch.py [--count 600] [--distinct 24]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_growth import child_times, objects  # noqa: E402
from common import BPFI, ROOT, bench_env  # noqa: E402

WHERE = ROOT / "build" / "bench" / "batch"
# the goal figures bench/run.py gathers into its table
RESULT = ROOT / "build" / "bench" / "batch.json"


def debian_objects() -> list[Path]:
    out = set()
    for pkg in ("libxdp1", "xdp-tools", "golang-github-cilium-ebpf-dev"):
        files = subprocess.run(["dpkg", "-L", pkg], capture_output=True, text=True).stdout
        for line in files.splitlines():
            if line.endswith((".o", ".elf")) and os.path.isfile(line):
                with open(line, "rb") as f:
                    if f.read(4) == b"\x7fELF":
                        out.add(Path(line))
    return sorted(out)


def real_set() -> list[Path]:
    return sorted(p for p in (ROOT / "fixtures").glob("*.o")) + debian_objects()


def synthetic_set(distinct: int) -> list[Path]:
    return list(objects(list(range(1, distinct + 1)), WHERE).values())


def usable(paths: list[Path], env: dict) -> list[Path]:
    """The objects `info` reads (a set of real objects may hold one it refuses: exit 2 would
    end the single runs' timing, and the batch run would only be slower for it)."""
    ok = []
    for p in paths:
        r = subprocess.run(BPFI + ["info", "--json", str(p)], capture_output=True, env=env, cwd=ROOT)
        if r.returncode == 0:
            ok.append(p)
    return ok


def measure(paths: list[Path], count: int, env: dict) -> dict:
    batch = [str(paths[i % len(paths)]) for i in range(count)]
    one = child_times(BPFI + ["info", "--json"] + batch, env)
    spread = child_times(BPFI + ["info", "--json", "-j", "2"] + batch, env)
    wall = cpu = 0.0
    for p in batch:
        w, c = child_times(BPFI + ["info", "--json", p], env)
        wall += w
        cpu += c
    return {"distinct": len(paths), "count": count, "one": one, "spread": spread, "many": (wall, cpu),
            "bytes": sum(Path(p).stat().st_size for p in batch)}


def main() -> int:
    ap = argparse.ArgumentParser(description="info --json over many objects: one invocation against many")
    ap.add_argument("--count", type=int, default=600)
    ap.add_argument("--distinct", type=int, default=24, help="distinct synthetic objects (1..N programs)")
    args = ap.parse_args()
    env = dict(bench_env(), BPFINSPECT_JOBS="1")
    sets = {"fixtures and Debian objects": usable(real_set(), env),
            "synthetic objects": synthetic_set(args.distinct)}
    before = " ".join(open("/proc/loadavg").read().split()[:3])
    res = {name: measure(paths, args.count, env) for name, paths in sets.items()}
    after = " ".join(open("/proc/loadavg").read().split()[:3])
    lines = [f"## Batch: `info --json` over {args.count} objects", "",
             "One invocation with every path (one process) against one invocation per path, run one after "
             "the other; CPU = user + system time (children included), wall = elapsed. Goal: the one "
             "invocation at least 5x faster.", "",
             f"Load average (1, 5, 15 min) before: {before}; after: {after}.", "",
             f"| objects | distinct | input | {args.count} invocations CPU / wall | one invocation CPU / wall | "
             "ratio CPU / wall | `-j 2` CPU / wall | 5x met |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    goals = {}
    for name, r in res.items():
        (mw, mc), (ow, oc), (sw, sc) = r["many"], r["one"], r["spread"]
        ratio = mc / oc
        goals[name] = {"ratio_cpu": ratio, "ratio_wall": mw / ow, "one_cpu": oc, "many_cpu": mc}
        lines.append(f"| {name} | {r['distinct']} | {r['bytes'] / 1e6:.0f} MB | {mc:.1f} / {mw:.1f} s | "
                     f"{oc:.2f} / {ow:.2f} s | {ratio:.1f}x / {mw / ow:.1f}x | {sc:.2f} / {sw:.2f} s | "
                     f"{'yes' if ratio >= 5 and mw / ow >= 5 else 'no'} |")
    lines += ["", "Per object, the single runs cost start-up (interpreter, imports, argument parsing) each "
              "time; the batch pays it once and then only the object's own work.", ""]
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps({"count": args.count, "sets": goals}))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    raise SystemExit(main())
