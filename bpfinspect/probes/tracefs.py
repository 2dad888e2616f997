"""A tracing session in tracefs: probe events defined, their hits read, everything removed again.

``probe trace`` runs the experiment of the uprobe tutorials end to end.  Where the user's
tracing state could be touched, it is not:

* the definitions go to ``uprobe_events`` / ``kprobe_events`` (they are global: the kernel has
  no other place for them); only the events this session created are ever removed, and an
  event that already exists is an error, never replaced;
* each event is enabled in a tracefs *instance* of our own (``instances/bpfinspect_PID_N``,
  its own ring buffer, tracing switched on) and read from that instance's per-CPU binary
  buffers (``per_cpu/cpuN/trace_pipe_raw``, decoded by :mod:`bpfinspect.probes.hits` with each
  event's ``format``: values exactly as stored, whatever a string holds);
  the top-level buffer, its ``tracing_on`` and its enabled events stay as they were.  Where
  instances cannot be made, the events are enabled at the top level (and disabled again).
* at exit -- the end of ``--duration`` or ``--count``, Ctrl-C, SIGTERM, an error -- the
  instance is removed (which disables the events in it) and then every definition made.
  Each "write, then record" step and the clean-up run with SIGINT/SIGTERM held back
  (:func:`bpfinspect.interrupts.shielded`).  A definition the kernel keeps busy (enabled
  elsewhere, used by perf) is retried for a short while and then reported.

API::

    with TraceSession(find_tracefs()) as s:     # EnvironmentProblem (exit 3) without tracefs
        s.define(parsed_line)                   # a checked ProbeLine (bpfinspect.probes.lines)
        s.start()                               # instance made, events enabled
        for record in s.records(deadline=...):  # Hit / Lost (bpfinspect.probes.hits)
            ...
    s.leftovers                                 # definitions that could not be removed
"""

from __future__ import annotations

import errno
import os
import re
import select
import time

from bpfinspect.errors import EnvironmentProblem, OperationFailed, UsageError

DEFAULT_MOUNTS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
MAX_PAGES_PER_WAKE = 256   # pages read from one CPU's buffer before the others get their turn
POLL_SECONDS = 0.2
REMOVE_TRIES = 25          # 25 x 40 ms: how long a busy definition is retried at exit
EVENTS_FILE = {"uprobe": "uprobe_events", "kprobe": "kprobe_events"}
MISSING = {
    "uprobe": "this kernel has no uprobe events ({path} is missing: CONFIG_UPROBE_EVENTS is off)",
    "kprobe": "this kernel has no kprobe events ({path} is missing: CONFIG_KPROBE_EVENTS is off), "
              "kprobe lines can be checked (probe line) but not traced here",
}


def find_tracefs(mounts: str = "/proc/mounts") -> str:
    """Where tracefs is mounted (the first tracefs mount, else debugfs's ``tracing``); EnvironmentProblem
    when it is nowhere."""
    found: list[str] = []
    try:
        with open(mounts, encoding="utf-8", errors="surrogateescape") as f:
            for row in f:
                parts = row.split()
                if len(parts) >= 3 and parts[2] == "tracefs":
                    found.append(parts[1].replace("\\040", " "))
                elif len(parts) >= 3 and parts[2] == "debugfs":
                    found.append(parts[1].replace("\\040", " ") + "/tracing")
    except OSError:
        pass
    for where in found + [m for m in DEFAULT_MOUNTS if m not in found]:
        if os.path.isfile(os.path.join(where, "trace_pipe")) or os.path.isdir(os.path.join(where, "events")):
            return where
    raise EnvironmentProblem("tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing)")


def _write(path: str, text: str, *, append: bool = True) -> None:
    fd = os.open(path, os.O_WRONLY | (os.O_APPEND if append else os.O_TRUNC))
    try:
        os.write(fd, text.encode("utf-8", "surrogateescape"))
    finally:
        os.close(fd)


def _page_layout(tracefs: str) -> tuple[int, int]:
    """Where a ring-buffer page's data starts and how many bytes trace_pipe_raw gives for one page
    (events/header_page: data's offset and size)."""
    try:
        text = _read(os.path.join(tracefs, "events", "header_page"))
        m = re.search(r"char data;\toffset:(\d+);\tsize:(\d+);", text)
        if m:
            return int(m.group(1)), int(m.group(1)) + int(m.group(2))
    except OSError:
        pass
    return 16, os.sysconf("SC_PAGE_SIZE")


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        return f.read()


class TraceSession:
    """Probe events defined for one run (see the module docstring)."""

    def __init__(self, tracefs: str, *, name: str | None = None) -> None:
        self.tracefs = tracefs
        self.name = name or f"bpfinspect_{os.getpid()}_{time.monotonic_ns() % 1000000}"
        self.defined: list = []           # (ProbeLine, file) created by this session, in order
        self.enabled: list[str] = []      # enable files we wrote 1 to
        self.instance: str | None = None
        self.leftovers: list[str] = []
        self.warnings: list[str] = []
        self._pipes: dict[int, int] = {}  # fd -> CPU
        self._existing: dict[str, set] = {}
        self.base = tracefs
        self.page_size = 4096
        self.page_header = 16

    # -- set-up ---------------------------------------------------------------------------

    def events_file(self, kind: str) -> str:
        path = os.path.join(self.tracefs, EVENTS_FILE[kind])
        if not os.path.exists(path):
            raise EnvironmentProblem(MISSING[kind].format(path=path))
        return path

    def existing(self, kind: str) -> set[tuple[str, str]]:
        """(group, event) of every probe event of ``kind`` defined (read once, then kept up to date with
        what this session defines)."""
        out = self._existing.get(kind)
        if out is None:
            out = set()
            for row in _read(self.events_file(kind)).splitlines():
                head = row.split(" ", 1)[0]
                if ":" in head and "/" in head:
                    group, event = head.split(":", 1)[1].split("/", 1)
                    out.add((group, event))
            self._existing[kind] = out
        return out

    def define(self, line) -> None:
        """Write one checked probe line's definition (as the kernel lists it) and record it."""
        from bpfinspect import interrupts

        if line.kind not in EVENTS_FILE:
            raise UsageError("probe trace defines probes: a '-:' line removes one (probe line checks it)")
        path = self.events_file(line.kind)
        key = (line.group_name, line.event_name)
        if key in self.existing(line.kind):
            raise OperationFailed(f"the event {key[0]}/{key[1]} exists already (defined by someone else; "
                                  "give the line another GROUP/EVENT name)")
        log_before = self._error_log()
        with interrupts.shielded():
            try:
                _write(path, line.normalised + "\n")
            except OSError as exc:
                raise self._refused(line, exc, log_before) from None
            self.defined.append((line, path))
        self.existing(line.kind).add(key)

    def _error_log(self) -> list[str]:
        try:
            return _read(os.path.join(self.tracefs, "error_log")).splitlines()
        except OSError:
            return []

    def _refused(self, line, exc: OSError, log_before: list[str]) -> Exception:
        if exc.errno in (errno.EACCES, errno.EPERM):
            return EnvironmentProblem(f"writing {EVENTS_FILE[line.kind]} needs root (CAP_SYS_ADMIN): "
                                      f"{os.strerror(exc.errno)}")
        log = self._error_log()
        reason = os.strerror(exc.errno or 0)
        if log != log_before and len(log) >= 3 and "error: " in log[-3]:
            reason = log[-3].split("error: ", 1)[1].strip()
        if exc.errno == errno.EEXIST:
            reason = f"the event {line.group_name}/{line.event_name} exists already"
        return OperationFailed(f"the kernel refused {line.normalised!r}: {reason}")

    def start(self) -> None:
        """Make our instance (or use the top level) and enable every defined event in it."""
        from bpfinspect import interrupts

        base = self.tracefs
        inst = os.path.join(self.tracefs, "instances", self.name)
        with interrupts.shielded():
            try:
                os.mkdir(inst)
                self.instance = inst
                base = inst
            except OSError as exc:
                self.warnings.append(f"no tracefs instance of our own ({os.strerror(exc.errno or 0)}): "
                                     "the events are enabled and read at the top level (reading consumes "
                                     "what the top-level buffer holds)")
        if self.instance is None:
            self._top_level_on()
        for line, _path in self.defined:
            enable = os.path.join(base, "events", line.group_name, line.event_name, "enable")
            with interrupts.shielded():
                try:
                    _write(enable, "1", append=False)
                except OSError as exc:
                    raise OperationFailed(f"enabling {line.group_name}/{line.event_name} failed: "
                                          f"{os.strerror(exc.errno or 0)}") from None
                self.enabled.append(enable)
        self.base = base
        self._open_buffers()

    def _open_buffers(self) -> None:
        """The per-CPU binary buffers of our instance (or the top level), read without blocking."""
        base = self.base
        if self.instance is not None:
            try:  # wake a reader on any data (our own instance: nobody else's setting)
                _write(os.path.join(base, "buffer_percent"), "0", append=False)
            except OSError:
                pass
        from bpfinspect import interrupts

        cpus = sorted(int(n[3:]) for n in os.listdir(os.path.join(base, "per_cpu")) if n[3:].isdigit())
        for cpu in cpus:
            with interrupts.shielded():
                fd = os.open(os.path.join(base, "per_cpu", f"cpu{cpu}", "trace_pipe_raw"),
                             os.O_RDONLY | os.O_NONBLOCK)
                self._pipes[fd] = cpu
        self.page_header, self.page_size = _page_layout(self.tracefs)

    def decoder(self):
        """A :class:`bpfinspect.probes.hits.RecordDecoder` for the defined events (their format files)."""
        from bpfinspect.probes.hits import RecordDecoder, read_format

        events = {}
        for line, _path in self.defined:
            path = os.path.join(self.base, "events", line.group_name, line.event_name, "format")
            try:
                fmt = read_format(_read(path))
            except (OSError, ValueError) as exc:
                raise OperationFailed(f"cannot read {path}: {exc}") from None
            events[fmt.id] = (fmt, [a.name for a in line.args], line.group_name)
        return RecordDecoder(events, saved_cmdlines=os.path.join(self.tracefs, "saved_cmdlines"))

    def _top_level_on(self) -> None:
        try:
            if _read(os.path.join(self.tracefs, "tracing_on")).strip() != "1":
                self.warnings.append("tracing is switched off at the top level (tracing_on is 0): "
                                     "no hits will arrive")
        except OSError:
            pass

    # -- reading --------------------------------------------------------------------------

    def records(self, *, deadline: float | None = None):
        """Hit and Lost records (:mod:`bpfinspect.probes.hits`), in time order within what each wake-up
        brings, until ``deadline`` (time.monotonic()) passes; the caller stops earlier by leaving the loop."""
        assert self._pipes, "start() first"
        decoder = self.decoder()
        poller = select.poll()
        for fd in self._pipes:
            poller.register(fd, select.POLLIN)
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            wait = POLL_SECONDS if left is None else min(POLL_SECONDS, left)
            poller.poll(int(wait * 1000) + 1)
            yield from self._drain(decoder)
        yield from self._drain(decoder)

    def _drain(self, decoder) -> list:
        from bpfinspect.probes.hits import Lost, read_page

        out: list = []
        for fd, cpu in self._pipes.items():
            for _ in range(MAX_PAGES_PER_WAKE):
                try:
                    page = os.read(fd, self.page_size)
                except (BlockingIOError, InterruptedError):
                    break
                if not page:
                    break
                out.extend(read_page(page, cpu, decoder, self.page_header))
        lost = [r for r in out if isinstance(r, Lost)]
        return lost + sorted((r for r in out if not isinstance(r, Lost)), key=lambda h: h.ns)

    # -- clean-up -------------------------------------------------------------------------

    def close(self) -> None:
        """Disable and remove everything this session made (safe to call more than once)."""
        from bpfinspect import interrupts

        with interrupts.shielded():
            for fd in list(self._pipes):
                os.close(fd)
            self._pipes = {}
            if self.instance is not None:
                self._remove_instance()
            for enable in self.enabled:
                try:
                    _write(enable, "0", append=False)
                except OSError:
                    pass
            self.enabled = []
            for line, path in reversed(self.defined):
                self._remove_definition(line, path)
            self.defined = []

    def _remove_instance(self) -> None:
        for _ in range(REMOVE_TRIES):
            try:
                os.rmdir(self.instance)
                break
            except FileNotFoundError:
                break
            except OSError as exc:
                if exc.errno != errno.EBUSY:
                    self.leftovers.append(f"tracefs instance {self.instance} ({os.strerror(exc.errno or 0)})")
                    break
                time.sleep(0.04)
        else:
            self.leftovers.append(f"tracefs instance {self.instance} (busy)")
        self.enabled = [e for e in self.enabled if not e.startswith(self.instance + os.sep)]
        self.instance = None

    def _remove_definition(self, line, path: str) -> None:
        command = f"-:{line.group_name}/{line.event_name}\n"
        problem = None
        for _ in range(REMOVE_TRIES):
            try:
                _write(path, command)
                return
            except OSError as exc:
                if exc.errno == errno.ENOENT:
                    return  # removed by someone else meanwhile
                problem = exc
                if exc.errno != errno.EBUSY:
                    break
                time.sleep(0.04)
        why = "busy: enabled elsewhere or used by perf" if problem.errno == errno.EBUSY else \
            os.strerror(problem.errno or 0)
        self.leftovers.append(f"{line.normalised} ({why}; remove it with: echo '{command.strip()}' >> {path})")

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
