#!/usr/bin/env python3
"""Benchmark: `bpfinspect core` and `gen min-core-btf` on an object with thousands of CO-RE
relocations against this kernel's BTF, timed against `bpftool gen min_core_btf` (which runs
libbpf's resolution of every relocation) in the same run.

The object is generated: every named member of the first named structs of the kernel's
BTF (in id order) read with `bpf_core_field_offset`, `bpf_core_field_exists` and
`bpf_core_field_size` (three relocations each, one of them guarded), split over
several programs, compiled with clang-19 against vmlinux.h.

    python bench/bench_core.py [--runs 7] [--fields 1500]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import BPFI, ROOT, bench_env, fmt_s, table  # noqa: E402

GOAL = 1.0
VMLINUX = "/sys/kernel/btf/vmlinux"
KEYWORDS = {"auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum",
            "extern", "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return",
            "short", "signed", "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void",
            "volatile", "while", "_Bool", "bool", "true", "false"}


def fields(n: int) -> list[tuple[str, str]]:
    """(struct, member) pairs: named members of named structs, kernel BTF id order."""
    from bpfinspect.btf import Kind, load_btf

    btf = load_btf(VMLINUX)
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for tid in btf.ids():
        if btf.kind(tid) != Kind.STRUCT:
            continue
        name = btf.name(tid)
        if not name or name in seen or name.startswith("__"):
            continue
        seen.add(name)
        for m in btf.type(tid).members:
            if m.name and m.name not in KEYWORDS and not m.name.startswith("__"):
                out.append((name, m.name))
                if len(out) >= n:
                    return out
    return out


def source(pairs: list[tuple[str, str]], per_prog: int = 500) -> str:
    lines = ['#include "vmlinux.h"', "#include <bpf/bpf_helpers.h>", "#include <bpf/bpf_core_read.h>",
             'char LICENSE[] SEC("license") = "GPL";']
    for p in range(0, len(pairs), per_prog):
        lines.append(f'SEC("raw_tp/sys_enter") int prog{p // per_prog}(void *ctx)\n{{\n\t__u64 sum = 0;')
        for s, m in pairs[p:p + per_prog]:
            f = f"((struct {s} *)0)->{m}"
            lines.append(f"\tif (bpf_core_field_exists({f})) sum += bpf_core_field_offset({f}) "
                         f"+ bpf_core_field_size({f});")
        lines.append("\treturn sum;\n}")
    return "\n".join(lines) + "\n"


def measure(cmd: list[str], runs: int) -> dict:
    """Median wall and CPU (user + system) seconds and peak RSS of ``cmd`` (one warm-up run)."""
    import os
    import statistics
    import time

    walls, cpus, rss = [], [], []
    for i in range(runs + 1):
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT, env=bench_env())
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        if os.waitstatus_to_exitcode(status) not in (0, 1):
            raise RuntimeError(f"{' '.join(cmd)} failed: {p.stderr.read().decode(errors='replace')[-400:]}")
        if i:
            walls.append(wall)
            cpus.append(usage.ru_utime + usage.ru_stime)
            rss.append(usage.ru_maxrss)
    return {"median": statistics.median(walls), "cpu": statistics.median(cpus), "rss_kib": max(rss)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--fields", type=int, default=1500)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-core-") as tmp:
        t = Path(tmp)
        (t / "vmlinux.h").write_bytes(subprocess.run(["bpftool", "btf", "dump", "file", VMLINUX, "format", "c"],
                                                     capture_output=True, check=True).stdout)
        pairs = fields(args.fields)
        (t / "big.bpf.c").write_text(source(pairs))
        obj = t / "big.bpf.o"
        subprocess.run(["clang-19", "-O2", "-g", "-target", "bpfel", "-D__TARGET_ARCH_x86", "-I", str(t),
                        "-idirafter", "/usr/include/x86_64-linux-gnu", "-c", str(t / "big.bpf.c"), "-o", str(obj)],
                       check=True, capture_output=True)
        from bpfinspect.obj import open_object
        n = len(open_object(str(obj)).core_relos)
        rows = []
        ref = measure(["bpftool", "gen", "min_core_btf", VMLINUX, str(t / "ref.btf"), str(obj)], args.runs)
        for label, cmd in (
            ("`core OBJ --json`", [*BPFI, "core", str(obj), "--json"]),
            ("`core OBJ` (table)", [*BPFI, "core", str(obj)]),
            ("`gen min-core-btf`", [*BPFI, "gen", "min-core-btf", str(obj), "--btf", VMLINUX, "-o",
                                    str(t / "ours.btf")]),
        ):
            a = measure(cmd, args.runs)
            rows.append([label, f"{n:,}", fmt_s(a["median"]), fmt_s(ref["median"]),
                         f"{a['median'] / ref['median']:.2f}x", fmt_s(a["cpu"]), fmt_s(ref["cpu"]),
                         f"{a['rss_kib'] / 1024:.0f} MiB", "yes" if a["median"] < GOAL else "no"])
        same = (t / "ref.btf").read_bytes() == (t / "ours.btf").read_bytes()
    print("## `core` and `gen min-core-btf` (CO-RE resolution against the kernel's BTF)\n")
    print(f"Object: generated, {len(pairs)} kernel struct fields (first named structs of `{VMLINUX}` in id order), "
          f"each read with `bpf_core_field_exists`/`_offset`/`_size`, {n:,} CO-RE records over "
          f"{(len(pairs) + 499) // 500} programs (clang-19). Reference: `bpftool gen min_core_btf` (libbpf 1.1 "
          f"resolves every record), same run. Median of {args.runs} runs, whole commands (start-up included), "
          f"output to /dev/null; CPU is user + system time. "
          f"Goal: under {GOAL:.0f} s.\n")
    print(table(rows, ["command", "CO-RE records", "bpfinspect wall", "bpftool wall", "ratio", "bpfinspect CPU",
                       "bpftool CPU", "our peak RSS", f"under {GOAL:.0f} s (wall)"]))
    print(f"\nThe minimal BTF written by `gen min-core-btf` {'equals' if same else 'DIFFERS FROM'} bpftool's, "
          "byte for byte.\n")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
