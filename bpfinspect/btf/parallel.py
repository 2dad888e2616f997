"""A second process for kernel-sized renderings.

A kernel's BTF has over 100,000 types; its C and raw renderings take a few hundred
milliseconds of CPU.  Both split in two: part of the work runs in a forked child, which
has the decoded tables already (copy-on-write) and sends its share back through a pipe,
``marshal``-encoded.  Output never depends on the split: the child's share is exactly
what this process would have computed, and whenever the child fails this process does
the work itself.

No second process is used when fork does not exist, when fewer than two CPUs are ours,
when threads are running (forking them is unsafe), for inputs smaller than
:data:`MIN_TYPES` types, or when ``BPFINSPECT_JOBS=1`` asks for one process.
"""

from __future__ import annotations

import marshal
import os
import signal
import sys

# Below this many types a rendering takes milliseconds: a fork would cost more than it saves.
MIN_TYPES = 20000


def allowed() -> bool:
    """A second process is worth it and safe (see the module docstring)."""
    if os.environ.get("BPFINSPECT_JOBS", "").strip() == "1" or not hasattr(os, "fork"):
        return False
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    if cpus < 2:
        return False
    threading = sys.modules.get("threading")
    return threading is None or threading.active_count() <= 1


def worth_it(types: int) -> bool:
    return types >= MIN_TYPES and allowed()


def read_all(fd: int) -> bytes:
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def fork_with_pipes(count: int) -> "tuple[int, list[tuple[int, int]]] | None":
    """``os.fork()`` once ``count`` pipes are made: (pid, [(read fd, write fd), ...]) in both
    processes, or None when a pipe or the fork fails (nothing is then left open)."""
    pipes: list[tuple[int, int]] = []
    try:
        for _ in range(count):
            pipes.append(os.pipe())
        return os.fork(), pipes
    except OSError:
        for rfd, wfd in pipes:
            os.close(rfd)
            os.close(wfd)
        return None


def reap(pid: int, kill: bool) -> int:
    """Wait for child ``pid`` (killed first when ``kill``); its wait status, -1 if unknown."""
    if kill:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    try:
        return os.waitpid(pid, 0)[1]
    except ChildProcessError:
        return -1


class Job:
    """``fn()`` computed in a forked child; :meth:`result` gives its value (anything marshal
    can encode), or None when the child failed.  :meth:`close` (idempotent) stops and reaps
    the child if the result was never asked for."""

    def __init__(self, pid: int, rfd: int) -> None:
        self.pid = pid
        self.rfd = rfd

    @classmethod
    def start(cls, fn) -> "Job | None":
        forked = fork_with_pipes(1)
        if forked is None:
            return None
        pid, [(rfd, wfd)] = forked
        if pid == 0:   # the child: leaves without running any clean-up of the parent's
            status = 1
            try:
                os.close(rfd)
                write_all(wfd, marshal.dumps(fn()))
                status = 0
            except BaseException:
                pass
            os._exit(status)
        os.close(wfd)
        return cls(pid, rfd)

    def result(self):
        try:
            data = read_all(self.rfd)
        except OSError:
            data = b""
        status = self._finish(kill=False)
        if status != 0 or not data:
            return None
        try:
            return marshal.loads(data)
        except (EOFError, ValueError, TypeError):
            return None

    def _finish(self, kill: bool) -> int:
        if self.rfd >= 0:
            os.close(self.rfd)
            self.rfd = -1
        if self.pid <= 0:
            return -1
        status = reap(self.pid, kill)
        self.pid = 0
        return status

    def close(self) -> None:
        if self.pid > 0:
            self._finish(kill=True)
