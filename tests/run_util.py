"""Helpers for the `run` tests: a run in the background read as JSON Lines, and a test program."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import ROOT

CALLER_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
/* Waits for a byte on stdin, then calls getppid() and target_func() N times. */
__attribute__((noinline)) int target_func(int x) { __asm__ volatile("" ::: "memory"); return x * 2 + 1; }
int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 10, s = 0;
	char c;
	if (read(0, &c, 1) != 1)
		return 2;
	for (int i = 0; i < n; i++) {
		s += getppid() > 0;
		s += target_func(i);
	}
	return s == 0;
}
"""


def build_caller(directory: Path) -> Path:
    src = directory / "caller.c"
    src.write_text(CALLER_C)
    out = directory / "run_caller"
    subprocess.run(["gcc", "-O1", "-o", str(out), str(src)], check=True, capture_output=True)
    return out


class Caller:
    """The test program, started and waiting for `go()`."""

    def __init__(self, binary: Path, n: int) -> None:
        self.p = subprocess.Popen([str(binary), str(n)], stdin=subprocess.PIPE)
        self.pid = self.p.pid

    def go(self, timeout: float = 10) -> int:
        self.p.stdin.write(b"x")
        self.p.stdin.close()
        return self.p.wait(timeout)


class Run:
    """``bpfinspect run ... --json`` in the background; its records as they come."""

    def __init__(self, *args: str, json_lines: bool = True) -> None:
        cmd = [sys.executable, "-m", "bpfinspect", "run", *args] + (["--json"] if json_lines else [])
        self.p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.records: list = []
        self.lines: list[str] = []
        self._q: queue.Queue = queue.Queue()
        self._json = json_lines
        threading.Thread(target=self._reader, daemon=True).start()
        self.stderr = ""

    def _reader(self) -> None:
        for line in self.p.stdout:
            self._q.put(line)
        self._q.put(None)

    def _pump(self, timeout: float) -> bool:
        try:
            line = self._q.get(timeout=timeout)
        except queue.Empty:
            return True
        if line is None:
            return False
        self.lines.append(line)
        if self._json:
            self.records.append(json.loads(line))
        return True

    def wait_for(self, predicate, timeout: float = 60) -> bool:
        end = time.monotonic() + timeout
        while not predicate(self):
            left = end - time.monotonic()
            if left <= 0 or not self._pump(min(left, 0.2)):  # out of time, or the run's output ended
                return predicate(self)
        return True

    def of(self, kind: str) -> list:
        return [r for r in self.records if r["type"] == kind]

    def interrupt(self) -> None:
        self.p.send_signal(signal.SIGINT)

    def finish(self, timeout: float = 30) -> int:
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            raise
        while self._pump(1):
            pass
        self.stderr = self.p.stderr.read()
        return rc


def attached(n: int):
    return lambda run: len(run.of("attach")) >= n


def read_small(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def own_instances(pid: int) -> list[str]:
    d = "/sys/kernel/tracing/instances"
    try:
        return [n for n in os.listdir(d) if n.startswith(f"bpfinspect-{pid}-")]
    except OSError:
        return []


@pytest.fixture
def veth():
    """A veth pair named after this process (IPv6 off: only the frames a test sends), deleted after."""
    a, b = f"rta{os.getpid() % 100000}", f"rtb{os.getpid() % 100000}"
    subprocess.run(["ip", "link", "add", a, "type", "veth", "peer", "name", b], check=True)
    try:
        for dev in (a, b):
            with open(f"/proc/sys/net/ipv6/conf/{dev}/disable_ipv6", "w") as f:   # no router solicitations
                f.write("1")
            subprocess.run(["ip", "link", "set", dev, "up"], check=True)
        yield a, b
    finally:
        subprocess.run(["ip", "link", "del", a], capture_output=True)
