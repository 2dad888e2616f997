#!/usr/bin/env python3
"""Benchmark: `bpfinspect expand` on sources that include a full vmlinux.h.

Whole-command wall time (Python start-up and the libclang parse included),
median of N runs, for:

* the kprobe fixture with vmlinux.h on the include path (-I);
* the same without the precompiled vmlinux.h;
* the same with vmlinux.h taken from the cache expand fills from
  /sys/kernel/btf/vmlinux (hash of the BTF checked on every run);
* the first run with an empty cache (vmlinux.h printed from BTF) and the
  second (vmlinux.h precompiled);
* a larger source (every default macro, 60 uses) in the JSON view;
* `clang -E` of the same kprobe source, for scale.

Then where the time goes inside one run (in-process: libclang parse, the rest).
Prints a markdown section for bench/RESULTS.md.

    python bench/bench_expand.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import BPFI, ROOT, measure, run_once  # noqa: E402

GOAL = 1.0
LIMIT = 2.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()

    kprobe = ROOT / "fixtures" / "src" / "kprobe.bpf.c"
    if not kprobe.exists():
        kprobe = ROOT / "tests" / "data" / "expand" / "tracing.bpf.c"
    big = ROOT / "tests" / "data" / "expand" / "tracing.bpf.c"

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-expand-") as tmp:
        tmp_path = Path(tmp)
        include = tmp_path / "include"
        include.mkdir()
        from bpfinspect.btf import load_btf
        from bpfinspect.btf import c_dump

        printer = getattr(c_dump, "dump_c", None) or c_dump.c_text
        (include / "vmlinux.h").write_text(printer(load_btf("/sys/kernel/btf/vmlinux")))
        size_mib = (include / "vmlinux.h").stat().st_size / 2**20

        # sources copied next to nothing: vmlinux.h comes from -I or the cache
        src = tmp_path / kprobe.name
        shutil.copy(kprobe, src)
        big_src = tmp_path / "big" / big.name
        big_src.parent.mkdir()
        shutil.copy(big, big_src)
        cache = tmp_path / "cache"
        env_before = os.environ.get("XDG_CACHE_HOME")
        os.environ["XDG_CACHE_HOME"] = str(cache)
        try:
            with_include = [*BPFI, "expand", str(src), "-I", str(include), "--arch", "x86"]
            run_once(with_include)  # the second use of a header precompiles it
            r = measure(with_include, args.runs)
            rows.append((f"`expand {kprobe.name} -I dir-with-vmlinux.h`", r))
            os.environ["BPFINSPECT_NO_PCH"] = "1"
            r = measure(with_include, args.runs)
            os.environ.pop("BPFINSPECT_NO_PCH")
            rows.append(("same, without the precompiled vmlinux.h (BPFINSPECT_NO_PCH=1)", r))
            # first and second runs with an empty cache
            cold, second = [], []
            for k in range(3):
                os.environ["XDG_CACHE_HOME"] = str(tmp_path / f"cold{k}")
                cold.append(run_once([*BPFI, "expand", str(src), "--arch", "x86"])[0])
                second.append(run_once([*BPFI, "expand", str(src), "--arch", "x86"])[0])
            os.environ["XDG_CACHE_HOME"] = str(cache)
            rows.append(("first run, empty cache: vmlinux.h printed from /sys/kernel/btf/vmlinux",
                         {"median": statistics.median(cold), "min": min(cold), "rss_kib": 0, "runs": 3}))
            rows.append(("second run: vmlinux.h from the cache, precompiled",
                         {"median": statistics.median(second), "min": min(second), "rss_kib": 0, "runs": 3}))
            run_once([*BPFI, "expand", str(src), "--arch", "x86"])
            run_once([*BPFI, "expand", str(src), "--arch", "x86"])
            r = measure([*BPFI, "expand", str(src), "--arch", "x86"], args.runs)
            rows.append(("later runs: vmlinux.h from the cache", r))
            r = measure([*BPFI, "expand", str(big_src), "--arch", "arm64", "--json"], args.runs)
            rows.append((f"`expand {big.name} --arch arm64 --json` (cached vmlinux.h)", r))
            clang = shutil.which("clang-19") or shutil.which("clang")
            if clang:
                r = measure([clang, "-E", "-target", "bpf", "-D__TARGET_ARCH_x86", "-I", str(include), str(src)],
                            args.runs)
                rows.append((f"reference: `{os.path.basename(clang)} -E` of {kprobe.name}", r))

            # In-process breakdown of one run (module imports excluded), precompiled header in use.
            from bpfinspect.expand import clangfront, core

            parse_times = []
            real_parse = clangfront.parse

            def timed_parse(*a, **kw):
                t0 = time.perf_counter()
                try:
                    return real_parse(*a, **kw)
                finally:
                    parse_times.append(time.perf_counter() - t0)

            clangfront.parse = timed_parse
            totals = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                core.expand_source(str(src), include_dirs=[str(include)], arch="x86")
                totals.append(time.perf_counter() - t0)
            clangfront.parse = real_parse
        finally:
            if env_before is None:
                os.environ.pop("XDG_CACHE_HOME", None)
            else:
                os.environ["XDG_CACHE_HOME"] = env_before

    print("## expand\n")
    print(f"vmlinux.h of this kernel: {size_mib:.1f} MiB. Median wall time of {args.runs} runs of the "
          "whole command (Python start-up and the libclang parse included), output to /dev/null. "
          f"Goal: under {GOAL:.0f} s; limit {LIMIT:.0f} s.\n")
    print("| run | median (s) | min (s) | peak RSS (MiB) |")
    print("|---|---:|---:|---:|")
    for label, r in rows:
        rss = f"{r['rss_kib'] / 1024:.0f}" if r["rss_kib"] else "-"
        print(f"| {label} | {r['median']:.3f} | {r['min']:.3f} | {rss} |")
    parse = statistics.median(parse_times)
    total = statistics.median(totals)
    print(f"\nInside one run of `expand {kprobe.name}` (median, modules already imported): "
          f"{total:.3f} s, of which libclang parsing {parse:.3f} s "
          f"(vmlinux.h included) and macro expansion + layout {total - parse:.3f} s.")
    worst = max(r["median"] for label, r in rows
                if not label.startswith(("reference", "first run", "second run", "same, without")))
    print(f"\nSlowest warm run: {worst:.3f} s ({'within' if worst < GOAL else 'over'} the {GOAL:.0f} s goal).")
    return 0 if worst < LIMIT else 1


if __name__ == "__main__":
    raise SystemExit(main())
