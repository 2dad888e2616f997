"""Timing helpers shared by the benchmarks: whole commands, wall time and peak memory."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
# The installed command, as users run it (``python -m bpfinspect`` adds runpy's start-up).
_SCRIPT = Path(PY).with_name("bpfinspect")
BPFI = [str(_SCRIPT)] if _SCRIPT.exists() else [PY, "-m", "bpfinspect"]


def bench_env() -> dict:
    """The environment of a timed run, read when the run starts (benchmarks change it).

    The environment is kept as it is (``PYTHONDONTWRITEBYTECODE`` included: the install
    compiled the bytecode, no run writes any), and rendering caches are off unless a
    benchmark asks for them: figures are cold unless labelled."""
    env = dict(os.environ)
    env.setdefault("BPFINSPECT_NO_CACHE", "1")
    return env


ENV = bench_env()


def run_once(cmd: list[str], stdout=subprocess.DEVNULL, env: dict | None = None) -> tuple[float, int]:
    """(wall seconds, peak RSS in KiB) of one run of ``cmd`` (in ``env``, default :func:`bench_env`)."""
    wall, _cpu, rss = run_timed(cmd, stdout, env)
    return wall, rss


def run_timed(cmd: list[str], stdout=subprocess.DEVNULL, env: dict | None = None) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds (user + system) of the process, peak RSS in KiB) of one run of
    ``cmd`` (in ``env``, default :func:`bench_env`)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE, cwd=ROOT, env=env or bench_env())
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        err = p.stderr.read().decode(errors="replace") if p.stderr else ""
        raise RuntimeError(f"{' '.join(cmd)} exited {code}: {err[-400:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def measure(cmd: list[str], runs: int = 7, warmup: int = 1) -> dict:
    for _ in range(warmup):
        run_once(cmd)
    walls, rss = [], []
    for _ in range(runs):
        w, m = run_once(cmd)
        walls.append(w)
        rss.append(m)
    return {"median": statistics.median(walls), "min": min(walls), "rss_kib": max(rss), "runs": runs}


def fmt_s(x: float) -> str:
    return f"{x * 1000:.0f} ms" if x < 10 else f"{x:.1f} s"


def table(rows: list[list[str]], header: list[str]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        out.append("| " + " | ".join(r) + " |")
    return "\n".join(out)


def compare(label: str, ours: list[str], ref: list[str], ref_name: str, runs: int = 7) -> list[str]:
    """One markdown row: our median, the reference's median, the ratio, our peak memory."""
    a = measure(ours, runs)
    b = measure(ref, runs)
    return [label, fmt_s(a["median"]), f"{ref_name}: {fmt_s(b['median'])}", f"{a['median'] / b['median']:.2f}x",
            f"{a['rss_kib'] / 1024:.0f} MiB"]
