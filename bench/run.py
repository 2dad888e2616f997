"""Run every benchmark and write bench/RESULTS.md (machine and reference tools timed in the same run)."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = ["bench_inspect.py", "bench_growth.py", "bench_btf.py", "bench_disasm.py", "bench_cskel.py",
           "bench_expand.py", "bench_core.py"]


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


def main() -> int:
    parts = ["# Benchmark results", "", "Written by `make bench` (bench/run.py). Every ratio compares bpfinspect with the "
             "reference tool timed in the same run on the same machine; times are medians of whole-command wall "
             "times (start-up included).", "", machine(), ""]
    status = 0
    for b in BENCHES:
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
    (HERE / "RESULTS.md").write_text("\n".join(parts))
    print((HERE / "RESULTS.md").read_text())
    return status


if __name__ == "__main__":
    raise SystemExit(main())
