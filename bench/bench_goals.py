#!/usr/bin/env python3
"""The CPU-time goals: each command against its like-for-like reference, in the same run.

Inputs: the 1000-program synthetic object (``bench/synth.py``, kept in ``build/bench/``) and
this kernel's BTF (``/sys/kernel/btf/vmlinux``).  Every command runs as one process
(``BPFINSPECT_JOBS=1``: no second process for the BTF printer), without the rendering cache
(``BPFINSPECT_NO_CACHE=1``), output to /dev/null; ours and the reference alternate, R rounds,
and each figure is the median CPU time (user + system) of the whole command, start-up
included; wall time is shown beside it.  The machine's load average is recorded.

    .venv/bin/python bench/bench_goals.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_growth import child_times, objects  # noqa: E402
from common import BPFI, ROOT, bench_env  # noqa: E402

RESULT = ROOT / "build" / "bench" / "goals.json"
VMLINUX = "/sys/kernel/btf/vmlinux"


def pairs(obj: str) -> list[tuple[str, float, list[str], list[str]]]:
    """(label, goal ratio, our command, the reference command)."""
    bpftool = shutil.which("bpftool") or "/usr/sbin/bpftool"
    objdump = shutil.which("llvm-objdump-19")
    readelf = shutil.which("llvm-readelf-19")
    return [
        ("btf vmlinux --format c", 4.0, BPFI + ["btf", VMLINUX, "--format", "c"],
         [bpftool, "btf", "dump", "file", VMLINUX, "format", "c"]),
        ("btf vmlinux --format raw", 3.0, BPFI + ["btf", VMLINUX, "--format", "raw"],
         [bpftool, "btf", "dump", "file", VMLINUX, "format", "raw"]),
        ("sections", 2.0, BPFI + ["sections", obj], [readelf, "-S", obj]),
        ("disasm (annotated)", 1.5, BPFI + ["disasm", obj], [objdump, "-d", "-r", "-S", obj]),
        ("disasm --json", 2.5, BPFI + ["disasm", "--json", obj], [objdump, "-d", "-r", "-S", obj]),
        ("gen-skel --lang c", 1.0, BPFI + ["gen-skel", "--lang", "c", obj], [bpftool, "gen", "skeleton", obj]),
        ("gen-skel --lang python", 1.5, BPFI + ["gen-skel", "--lang", "python", obj],
         [bpftool, "gen", "skeleton", obj]),
    ]


# The command's own work: CPU time of main(argv) in a process that has already run the same
# command on a small object (interpreter, imports, parsers and templates paid).
_WORK = """
import contextlib, json, os, sys, time
from bpfinspect.cli.main import main
warm, argv = json.loads(sys.argv[1])
with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
    main(warm)
    t0 = time.process_time()
    main(argv)
    t1 = time.process_time()
print(t1 - t0)
"""


def work_time(ours: list[str], small: str, env: dict) -> float:
    import subprocess

    argv = ours[len(BPFI):]
    warm = [small if a == VMLINUX or a.endswith(".o") else a for a in argv]
    # (-P: the install, as the command runs; with -c the checkout would come first on the path,
    # and it holds the BTF engine's source, not its compiled modules)
    out = subprocess.run([sys.executable, "-P", "-c", _WORK, json.dumps([warm, argv])], env=env, check=True,
                         capture_output=True, text=True, cwd=ROOT)
    return float(out.stdout.strip().splitlines()[-1])


# What stands between each command and its goal, and the design that would close it (the
# figures above tell which part dominates on this machine).
DESIGN = {
    "sections": "mostly start-up. The command reads the section table alone (obj/sectiontable.py: no "
                "object model, no instruction decoder), its records are named tuples, its command line is "
                "read without argparse (cli/quickargs.py: argparse, gettext, locale and re are about 8 ms "
                "of every start) and it imports neither re nor threading; what is left is the interpreter's "
                "own start-up (`python -c pass`: about 10 ms on this machine), bpfinspect's modules (about "
                "8 ms) and about 11 ms of own work on 1,234 sections (reading the 3.6 MB file, naming each "
                "section and its program type, formatting the rows). Below that is Python's start-up "
                "against llvm-readelf's whole run, so the margin stays thin; the batch mode pays start-up "
                "once for many objects.",
    "disasm (annotated)": "the command's own work dominates: every instruction is decoded, named and "
                          "annotated as Python objects (a tuple per slot, a dict per note); the listing is "
                          "checked for control characters in one pass over its bytes, not line by line. A "
                          "design with room to spare renders each code section in one pass from the raw "
                          "bytes into the output buffer (struct.iter_unpack over the section, a table of "
                          "prebuilt format strings by opcode, notes merged by offset from sorted arrays) "
                          "without per-instruction objects.",
    "disasm --json": "as the annotated view, plus the encoding of one object per instruction.",
    "gen-skel --lang c": "the own work, measured by phase on this object (CPU, 2026-12-05 22:00 UTC): the "
                         "type names for C and for C++ about 15 ms (tags, typedefs, enumerators and arithmetic "
                         "types; a record's members are named when a declaration writes the record, functions "
                         "and variables never), rendering the template about 40 ms (20 of them importing "
                         "jinja2), the 1,000 map definitions about 12 ms and the data sections about 10 ms "
                         "(both read from the type table's words), the object's bytes in base64 rows about 20 "
                         "ms, and the object model, BTF and checks the rest. Start-up (the interpreter and "
                         "the modules: about 60 ms) stays, against bpftool's whole run of about 200 ms. Until "
                         "2026-12-06 04:30 UTC the figure sat at parity with bpftool, inside the run-to-run "
                         "noise of this host (0.91x to 1.08x over that day's runs), with system time as the "
                         "part that moved: 15,100 page faults against bpftool's 900. Since then each base64 "
                         "row is encoded from its own bytes and the rows go into the header in the one join "
                         "that makes it (the template had copied them with str()): 10,500 page faults, a "
                         "49 MB peak (was 54); this table's figure went from 1.06x (04:22) to 0.95x "
                         "(04:38).",
    "gen-skel --lang python": "as the C skeleton: the BTF walk that names every ctypes class, per type in "
                              "Python; a walk limited to the types the maps and globals reach would close it.",
    "btf vmlinux --format c": "see the BTF section below (the printer stage by stage, compiled and "
                              "from source). The install runs the engine compiled by Cython "
                              "(bpfinspect/compiled.py) with its two whole-table passes as typed loops: "
                              "on 2026-12-06 that took the figure from the goal's line (3.9x to 4.2x "
                              "between runs) to 3.1x-3.3x. The design that would take it further is "
                              "the one the BTF section ends with: the layout's sizes and alignments and "
                              "the ordering walk's states as C arrays indexed by type id, and the "
                              "member lines built by a typed loop.",
    "btf vmlinux --format raw": "see the BTF section below.",
}


def reference_name(cmd: list[str]) -> str:
    return " ".join([os.path.basename(cmd[0])] + [a if not a.startswith("/") else os.path.basename(a)
                                                  for a in cmd[1:]])


def main() -> int:
    ap = argparse.ArgumentParser(description="CPU-time ratios against the reference tools")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    obj = objects([1000])[1000]
    env = dict(bench_env(), BPFINSPECT_JOBS="1", BPFINSPECT_NO_CACHE="1")
    rows = pairs(str(obj.relative_to(ROOT)))
    for _, _, ours, ref in rows:  # warm the page cache (and fail early)
        child_times(ours, env)
        child_times(ref, env)
    before = " ".join(open("/proc/loadavg").read().split()[:3])
    samples = {label: ([], []) for label, *_ in rows}
    for _ in range(args.runs):
        for label, _, ours, ref in rows:
            samples[label][0].append(child_times(ours, env))
            samples[label][1].append(child_times(ref, env))
    small = str((ROOT / "fixtures" / "maps.bpf.o").relative_to(ROOT))
    work = {label: min(work_time(ours, small, env) for _ in range(2)) for label, _, ours, _ in rows}
    after = " ".join(open("/proc/loadavg").read().split()[:3])
    lines = ["## Goals: CPU time against the reference tools (one process)", "",
             f"Object: `{obj.relative_to(ROOT)}` (1000 programs, {obj.stat().st_size / 1e6:.2f} MB); BTF: "
             f"`{VMLINUX}`. One process (`BPFINSPECT_JOBS=1`), no cache, output to /dev/null, ours and the "
             f"reference alternating, median of {args.runs} rounds; CPU = user + system time of the whole "
             "command (start-up included), wall beside it.", "",
             f"Load average (1, 5, 15 min) before: {before}; after: {after}.", "",
             "| command | reference | ours CPU / wall | reference CPU / wall | CPU ratio | goal | met | "
             "our own work (CPU) | start-up and imports (CPU) |",
             "|---|---|---:|---:|---:|---:|---|---:|---:|"]
    result = {}
    for label, goal, _, ref in rows:
        ours_s, ref_s = samples[label]
        oc, ow = statistics.median(c for _, c in ours_s), statistics.median(w for w, _ in ours_s)
        rc, rw = statistics.median(c for _, c in ref_s), statistics.median(w for w, _ in ref_s)
        ratio = oc / rc
        result[label] = {"ours_cpu": oc, "ref_cpu": rc, "ratio": ratio, "goal": goal,
                         "reference": reference_name(ref)}
        own = work[label]
        result[label]["work_cpu"] = own
        lines.append(f"| `{label}` | `{reference_name(ref)}` | {oc * 1000:.0f} / {ow * 1000:.0f} ms | "
                     f"{rc * 1000:.0f} / {rw * 1000:.0f} ms | {ratio:.2f}x | ≤ {goal:.1f}x | "
                     f"{'yes' if ratio <= goal else 'no'} | {own * 1000:.0f} ms | {max(oc - own, 0) * 1000:.0f} ms |")
    lines += ["", "Own work: CPU time of the command inside a process that has already run it once on a small "
              "object (the least of 2 runs); start-up and imports: the whole command's CPU time less that.", ""]
    missed = [(label, r) for label, r in result.items() if r["ratio"] > r["goal"]]
    if missed:
        lines += ["Goals not met, the time between the command and its goal, and the design that would close "
                  "the gap:", ""]
        for label, r in missed:
            over = r["ours_cpu"] - r["goal"] * r["ref_cpu"]
            lines.append(f"- `{label}`: {over * 1000:.0f} ms of CPU over the goal ({r['goal']:.1f}x the "
                         f"reference's {r['ref_cpu'] * 1000:.0f} ms); {DESIGN.get(label, '')}")
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps({"load": [before, after], "rows": result}))
    print("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    raise SystemExit(main())
