"""``bpf_printk`` output, read from tracefs; and the kernel's BPF run-time statistics.

Where printk lines go: ``bpf_trace_printk`` is the trace event
``bpf_trace/bpf_trace_printk``.  The kernel enables that event in the top-level trace
buffer when it loads a program that calls the helper, and like every trace event it is
also recorded in any tracefs *instance* where it is enabled.  :class:`PrintkReader`
therefore makes its own instance (``instances/bpfinspect-<pid>-<n>``), enables the event
there (with the ``mono`` trace clock: timestamps in CLOCK_MONOTONIC seconds, as
``time.monotonic()``) and reads that instance's ``trace_pipe``: it takes no line from the top-level
buffer (which other readers, ``cat trace_pipe`` or ``bpftool prog tracelog``, may be
reading) and sees every line from the moment it opens.  It sees the printk lines of every
BPF program on the machine, not only this object's: a trace line does not say which
program printed it.  On close the instance is removed, and the top-level event's
``enable`` is put back to what it was when the reader opened (loading a printk-using
program turns it on).

Without instances (tracefs too old or read-only), the reader falls back to the top-level
``trace_pipe`` (``shared`` is then True: lines read there are taken from other readers).

:class:`RunStats` turns on the kernel's per-program run count and run time for as long as it
is open (``BPF_ENABLE_STATS``: a file descriptor; the kernel turns the statistics off again
when the last such descriptor closes, even if this process dies), or by writing
``kernel.bpf_stats_enabled`` when the call is missing, restored at close.
"""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass

from bpfinspect import interrupts
from bpfinspect.errors import EnvironmentProblem
from bpfinspect.runtime.attachdiag import no_tracefs, tracefs_root

PRINTK_EVENT = "events/bpf_trace/bpf_trace_printk/enable"
MAX_PENDING = 1 << 16      # bytes of an unfinished line kept between reads
MAX_READ = 1 << 16
STATS_SYSCTL = "/proc/sys/kernel/bpf_stats_enabled"

_seq = itertools.count()

# "  comm-123   [001] d..31  1234.567890: bpf_trace_printk: text"  (an optional "(  tgid)" column
# after the pid when the record-tgid option is on)
_LINE = re.compile(r"^\s*(?P<comm>.*?)-(?P<pid>\d+)\s+(?:\(\s*[\d-]+\)\s+)?\[(?P<cpu>\d+)\]\s+"
                   r"(?:(?P<flags>\S{4,5})\s+)?(?P<ts>\d+\.\d+):\s+(?P<event>[^:\s]+):\s?(?P<text>.*)$")


@dataclass(frozen=True, slots=True)
class PrintkLine:
    """One ``bpf_printk`` line: who printed it (task, pid, cpu), when (seconds since boot, the
    trace clock) and what."""
    ts: float
    cpu: int
    pid: int
    comm: str
    text: str


def parse_line(line: str) -> PrintkLine | None:
    """A trace_pipe line of the ``bpf_trace_printk`` event, or None for anything else."""
    m = _LINE.match(line)
    if m is None or m.group("event") != "bpf_trace_printk":
        return None
    return PrintkLine(float(m.group("ts")), int(m.group("cpu")), int(m.group("pid")), m.group("comm"),
                      m.group("text"))


def _read_small(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read(64).strip()
    except OSError:
        return None


def _write_small(path: str, value: str) -> bool:
    try:
        with open(path, "w") as f:
            f.write(value)
        return True
    except OSError:
        return False


class _PipeState:
    """What a reader must undo, without a reference to the reader (its finalizer holds this)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.instance: str | None = None
        self.fd = -1
        self.top_enable = _read_small(os.path.join(root, PRINTK_EVENT))

    def remove_instance(self) -> None:
        path, self.instance = self.instance, None
        if path is None:
            return
        _write_small(os.path.join(path, PRINTK_EVENT), "0")
        try:
            os.rmdir(path)
        except OSError:
            pass

    @interrupts.protect
    def close(self) -> None:
        with interrupts.shielded():
            fd, self.fd = self.fd, -1
            if fd >= 0:
                os.close(fd)
            self.remove_instance()
            now = _read_small(os.path.join(self.root, PRINTK_EVENT))
            if self.top_enable is not None and now is not None and now != self.top_enable:
                _write_small(os.path.join(self.root, PRINTK_EVENT), self.top_enable)


class PrintkReader:
    """The ``bpf_printk`` lines printed from now on (see the module docstring).

    ``fileno()`` becomes readable when lines wait; ``read()`` returns the complete ones
    without blocking.  Use as a context manager or call ``close()``; a reader dropped without
    ``close()`` is closed when it is collected."""

    def __init__(self, root: str | None = None) -> None:
        import weakref

        root = root or tracefs_root()
        if root is None:
            raise no_tracefs("reading bpf_printk output")
        self.root = root
        self.shared = False
        self.clock = "local"     # the trace clock of the timestamps: "mono" is CLOCK_MONOTONIC
        self._pending = b""
        st = self._st = _PipeState(root)
        with interrupts.shielded():
            self._finalizer = weakref.finalize(self, st.close)
            self._make_instance()
        pipe = os.path.join(st.instance or root, "trace_pipe")
        try:
            st.fd = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            self.close()
            raise EnvironmentProblem(f"cannot read {pipe}: {exc.strerror}") from None

    @property
    def instance(self) -> str | None:
        """The tracefs instance read (None: the top-level buffer, ``shared``)."""
        return self._st.instance

    def _make_instance(self) -> None:
        st = self._st
        path = os.path.join(self.root, "instances", f"bpfinspect-{os.getpid()}-{next(_seq)}")
        try:
            os.mkdir(path)
        except OSError:
            self.shared = True
            return
        st.instance = path
        # the instance is ours: its clock can be CLOCK_MONOTONIC, the clock of event timestamps
        self.clock = "mono" if _write_small(os.path.join(path, "trace_clock"), "mono") else "local"
        if not _write_small(os.path.join(path, PRINTK_EVENT), "1"):
            st.remove_instance()
            self.shared = True

    def fileno(self) -> int:
        return self._st.fd

    def read(self) -> list[PrintkLine]:
        """Every complete printk line available now (never blocks)."""
        out: list[PrintkLine] = []
        fd = self._st.fd
        if fd < 0:
            return out
        chunks = []
        while True:
            try:
                chunk = os.read(fd, MAX_READ)
            except BlockingIOError:
                break
            except InterruptedError:
                continue
            if not chunk:
                break
            chunks.append(chunk)
            if len(chunk) < MAX_READ or sum(map(len, chunks)) >= 16 * MAX_READ:
                break
        data = self._pending + b"".join(chunks)
        lines = data.split(b"\n")
        self._pending = lines.pop()[-MAX_PENDING:]
        for raw in lines:
            line = parse_line(raw.decode("utf-8", "backslashreplace"))
            if line is not None:
                out.append(line)
        return out

    def close(self) -> None:
        """Stop reading, remove the instance, put the top-level printk event back as it was."""
        self._finalizer()

    def __enter__(self) -> "PrintkReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@interrupts.protect
def _stats_off(fd: int, sysctl_before: str | None) -> None:
    with interrupts.shielded():
        if fd >= 0:
            os.close(fd)
        if sysctl_before is not None:
            _write_small(STATS_SYSCTL, sysctl_before)


class RunStats:
    """Kernel BPF statistics (run count, run time) on while open; restored at close (also when
    dropped without ``close()``)."""

    def __init__(self) -> None:
        import weakref

        from bpfinspect.runtime._lib import BPF_STATS_RUN_TIME, last_errno, lib, make_error
        fn = lib().bpf_enable_stats
        with interrupts.shielded():
            if fn is not None:
                fd = int(fn(BPF_STATS_RUN_TIME))
                if fd >= 0:
                    self._finalizer = weakref.finalize(self, _stats_off, fd, None)
                    return
                err = last_errno()
            else:
                err = 0
            before = _read_small(STATS_SYSCTL)
            if before is not None and before != "1" and _write_small(STATS_SYSCTL, "1"):
                self._finalizer = weakref.finalize(self, _stats_off, -1, before)
                return
            if before == "1":
                self._finalizer = weakref.finalize(self, _stats_off, -1, None)
                return
        raise make_error("enabling BPF statistics (BPF_ENABLE_STATS)", err or 1)

    def close(self) -> None:
        self._finalizer()

    def __enter__(self) -> "RunStats":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def program_stats(fd: int) -> tuple[int, int]:
    """(run_cnt, run_time_ns) the kernel counted for the program ``fd``."""
    from bpfinspect.runtime.info import BpfProgInfo
    from bpfinspect.runtime._lib import lib, make_error
    info = BpfProgInfo()
    res = lib().info_by_fd(fd, info, "prog")
    if res < 0:
        raise make_error("bpf_prog_get_info_by_fd", -res)
    return int(info.run_cnt), int(info.run_time_ns)
