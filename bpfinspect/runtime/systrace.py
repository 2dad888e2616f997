"""Recording the system calls this process makes to set up BPF (``--trace-syscalls``).

Mechanism.  A small BPF object of ours (``tracer/syscalls.bpf.c``, built by
``scripts/build-tracer.sh`` and shipped compiled) is attached to the
kernel's ``syscalls`` tracepoints: ``sys_enter_bpf``/``sys_exit_bpf`` and the
same pair for ``perf_event_open``, ``ioctl``, ``mmap``, ``munmap`` and
``close``.  Its programs keep only the calls of one thread group, copy the
arguments and what they point to (bounded) into a ring buffer, and the
results from the exit tracepoints.  The kernel sees every call as it is
made, so what is recorded is what happened, not what a log says.

The recorder runs in a helper process that this process starts and waits
for before it goes on: the tracer is loaded and attached by the helper's own
libbpf, so none of its set-up calls belong to the recorded process, and this
process's libbpf state (the feature probes it caches), memory and fd
numbers stay exactly as they are without the recorder (the two pipe ends
kept here are moved to high fd numbers).  The helper collects records while
the recorded work runs and hands them over at :meth:`SyscallRecorder.stop`;
the parent decodes them (:mod:`bpfinspect.systrace`).

Needs: root (CAP_BPF and CAP_PERFMON), tracefs, the syscalls tracepoints
(CONFIG_FTRACE_SYSCALLS), ring buffers (Linux 5.8), a little-endian machine.
Anything missing is an :class:`~bpfinspect.errors.EnvironmentProblem`.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import struct
import sys
import time

from bpfinspect import interrupts
from bpfinspect.errors import BpfInspectError, EnvironmentProblem, OperationFailed

TRACER_OBJECT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tracer", "syscalls.bpf.o")
TRACED_SYSCALLS = ("bpf", "perf_event_open", "ioctl", "mmap", "munmap", "close")

START_TIMEOUT = 60.0     # seconds for the helper to load and attach the tracer
STOP_TIMEOUT = 60.0
MAX_KEPT = 32 << 20      # bytes of records the helper keeps; beyond, records are counted as lost
HIGH_FD_BASE = 512       # where this process's pipe ends to the helper are moved

_FRAME = struct.Struct("<cQ")
MAX_FRAME = 1 << 30


def _tracefs() -> str | None:
    from bpfinspect.runtime.object import TRACEFS_DIRS
    for d in TRACEFS_DIRS:
        if os.path.exists(os.path.join(d, "events")):
            return d
    return None


def check_environment() -> None:
    """Raise :class:`EnvironmentProblem` saying what is missing for recording, if anything is."""
    from bpfinspect.runtime._lib import has_bpf_privilege

    if not sys.platform.startswith("linux"):
        raise EnvironmentProblem(f"--trace-syscalls needs Linux, this is {sys.platform}")
    if sys.byteorder != "little":
        raise EnvironmentProblem("--trace-syscalls needs a little-endian machine (its tracer is built for bpfel)")
    if not has_bpf_privilege():
        raise EnvironmentProblem("--trace-syscalls needs root (CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN): "
                                 "it attaches BPF programs to the syscalls tracepoints")
    tracefs = _tracefs()
    if tracefs is None:
        raise EnvironmentProblem("--trace-syscalls needs tracefs, which is not mounted; mount it with: "
                                 "mount -t tracefs tracefs /sys/kernel/tracing")
    for name in TRACED_SYSCALLS:
        for side in ("enter", "exit"):
            if not os.path.exists(os.path.join(tracefs, "events", "syscalls", f"sys_{side}_{name}", "id")):
                raise EnvironmentProblem(
                    f"--trace-syscalls needs the syscalls tracepoints, and {tracefs}/events/syscalls/"
                    f"sys_{side}_{name} is missing (a kernel built without CONFIG_FTRACE_SYSCALLS)")
    if not os.path.isfile(TRACER_OBJECT):
        raise EnvironmentProblem(f"the tracer object {TRACER_OBJECT} is missing from this installation")


# ---------------------------------------------------------------- names the decoder asks for

class TracepointNames:
    """Tracepoint id -> ``category/name``, read from tracefs when first asked.

    The table is kept for the life of the process and read again when an id
    is missing (uprobe and kprobe events made through tracefs get new ids)."""

    _cache: dict[str, dict[int, str]] = {}

    def __init__(self, tracefs: str | None) -> None:
        self._tracefs = tracefs

    def _scan(self) -> dict[int, str]:
        names: dict[int, str] = {}
        try:
            cats = list(os.scandir(os.path.join(self._tracefs, "events")))
        except OSError:
            return names
        for cat in cats:
            if not cat.is_dir():
                continue
            for event in os.scandir(cat.path):
                try:
                    fd = os.open(os.path.join(event.path, "id"), os.O_RDONLY)
                except OSError:
                    continue
                try:
                    names[int(os.read(fd, 32))] = f"{cat.name}/{event.name}"
                except (OSError, ValueError):
                    pass
                finally:
                    os.close(fd)
        return names

    def get(self, tp_id: int, default=None):
        if self._tracefs is None:
            return default
        names = self._cache.get(self._tracefs)
        if names is None or tp_id not in names:
            names = self._cache[self._tracefs] = self._scan()
        return names.get(tp_id, default)


def pmu_names(root: str = "/sys/bus/event_source/devices") -> dict[int, str]:
    """Dynamic perf event types (``kprobe``, ``uprobe``...) by number."""
    out: dict[int, str] = {}
    try:
        names = os.listdir(root)
    except OSError:
        return out
    for name in names:
        try:
            with open(os.path.join(root, name, "type")) as f:
                out[int(f.read())] = name
        except (OSError, ValueError):
            continue
    return out


# ---------------------------------------------------------------- framing between the two processes

def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _send(fd: int, kind: bytes, payload: bytes = b"") -> None:
    _write_all(fd, _FRAME.pack(kind, len(payload)) + payload)


def _read_exact(fd: int, n: int, deadline: float) -> bytes:
    poller = select.poll()   # not select(): the fd is a high number, maybe past FD_SETSIZE
    poller.register(fd, select.POLLIN | select.POLLHUP)
    out = bytearray()
    while len(out) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        if not poller.poll(max(1, int(left * 1000))):
            continue
        chunk = os.read(fd, min(n - len(out), 1 << 20))
        if not chunk:
            raise EOFError
        out += chunk
    return bytes(out)


def _receive(fd: int, deadline: float) -> tuple[bytes, bytes]:
    kind, length = _FRAME.unpack(_read_exact(fd, _FRAME.size, deadline))
    if length > MAX_FRAME:
        raise OperationFailed(f"the syscall recorder sent a frame of {length} bytes")
    return kind, _read_exact(fd, length, deadline)


def _move_high(fd: int) -> int:
    import fcntl
    import resource

    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    base = HIGH_FD_BASE if soft == resource.RLIM_INFINITY or soft > 2 * HIGH_FD_BASE else max(3, soft // 2)
    try:
        high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, base)
    except OSError:
        return fd
    os.close(fd)
    return high


# ---------------------------------------------------------------- the recorder (this process)

class SyscallRecorder:
    """Records the BPF-related system calls of this process between :meth:`start` and :meth:`stop`.

    ``stop()`` returns the decoded :class:`~bpfinspect.systrace.Trace`;
    ``close()`` abandons a recording.  As a context manager it starts on entry
    and stops on exit (the trace is then in ``.trace``)."""

    def __init__(self, *, start_timeout: float = START_TIMEOUT) -> None:
        self._proc = None
        self._ctl = self._data = -1
        self._start_timeout = start_timeout
        self.trace = None

    @property
    def recording(self) -> bool:
        return self._proc is not None

    def start(self) -> "SyscallRecorder":
        import subprocess

        if self._proc is not None:
            raise OperationFailed("this recorder is already recording")
        check_environment()
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        code = ("import sys; sys.path.insert(0, sys.argv[1]); "
                "from bpfinspect.runtime.systrace import helper_main; helper_main(sys.argv[2:])")
        debug = bool(os.environ.get("BPFINSPECT_DEBUG"))
        with interrupts.shielded():   # the pipes and the helper are recorded (for clean-up) as soon as they exist
            ctl_r, ctl_w = os.pipe()
            data_r, data_w = os.pipe()
            try:
                self._proc = subprocess.Popen(
                    [sys.executable, "-c", code, root, str(os.getpid()), str(ctl_r), str(data_w)],
                    pass_fds=(ctl_r, data_w), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=None if debug else subprocess.DEVNULL, start_new_session=True)
            except OSError as exc:
                for fd in (ctl_r, ctl_w, data_r, data_w):
                    os.close(fd)
                raise EnvironmentProblem(f"cannot start the syscall recorder: {exc}") from None
            os.close(ctl_r)
            os.close(data_w)
            self._ctl, self._data = _move_high(ctl_w), _move_high(data_r)
        try:
            kind, payload = _receive(self._data, time.monotonic() + self._start_timeout)
        except BaseException as exc:
            self.close()
            if isinstance(exc, (EOFError, TimeoutError, OSError)):
                raise OperationFailed("the syscall recorder did not start "
                                      f"({'timed out' if isinstance(exc, TimeoutError) else 'it exited'})") from None
            raise
        if kind != b"R":
            self.close()
            _raise_helper_error(kind, payload)
        return self

    def stop(self):
        """End the recording; returns the decoded :class:`~bpfinspect.systrace.Trace`."""
        import json

        from bpfinspect.systrace import decode_records

        if self._proc is None:
            raise OperationFailed("this recorder is not recording")
        records: list[bytes] = []
        lost = 0
        try:
            _send(self._ctl, b"S")
            deadline = time.monotonic() + STOP_TIMEOUT
            while True:
                kind, payload = _receive(self._data, deadline)
                if kind == b"D":
                    records.extend(_split_records(payload))
                elif kind == b"L":
                    lost = int(json.loads(payload))
                elif kind == b"Z":
                    break
                else:
                    _raise_helper_error(kind, payload)
        except (EOFError, TimeoutError, OSError) as exc:
            raise OperationFailed("the syscall recorder stopped before handing over its records "
                                  f"({type(exc).__name__})") from None
        finally:
            self.close()
        self.trace = decode_records(records, lost=lost, tracepoints=TracepointNames(_tracefs()), pmus=pmu_names())
        return self.trace

    def close(self) -> None:
        """Release the helper and the pipes; a recording not yet stopped is dropped.

        The helper exits on its own once its pipe closes (its tracer is
        released by the kernel as it exits, which takes a while: detaching from
        tracepoints waits for RCU grace periods); a thread reaps it meanwhile."""
        with interrupts.shielded():
            proc, self._proc = self._proc, None
            for fd in (self._ctl, self._data):
                if fd >= 0:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self._ctl = self._data = -1
            if proc is not None:
                import threading
                threading.Thread(target=proc.wait, name="bpfinspect-recorder-reaper", daemon=True).start()

    def __enter__(self) -> "SyscallRecorder":
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._proc is None:
            return
        if exc_type is None:
            self.stop()
        else:
            self.close()


@contextlib.contextmanager
def recording(enabled: bool = True):
    """``with recording(flag) as rec:`` records when ``enabled`` (``rec`` is None otherwise).

    The trace is in ``rec.trace`` after the block, also when the block raised
    an error of ours (the calls up to the failure are often the explanation)."""
    if not enabled:
        yield None
        return
    rec = SyscallRecorder().start()
    try:
        yield rec
    except BpfInspectError:
        if rec.recording:
            with contextlib.suppress(BpfInspectError):
                rec.stop()
        raise
    except BaseException:
        rec.close()
        raise
    else:
        rec.stop()


def _split_records(payload: bytes) -> list[bytes]:
    out = []
    i, n = 0, len(payload)
    while i + 4 <= n:
        (length,) = struct.unpack_from("<I", payload, i)
        i += 4
        if i + length > n:
            break
        out.append(payload[i:i + length])
        i += length
    return out


def _raise_helper_error(kind: bytes, payload: bytes) -> None:
    import json

    if kind == b"E":
        try:
            info = json.loads(payload)
            code, message = int(info["exit_code"]), str(info["message"])
        except (ValueError, KeyError, TypeError):
            code, message = 1, payload.decode("utf-8", "replace")[:500]
        exc = EnvironmentProblem(message) if code == 3 else OperationFailed(message)
        raise exc
    raise OperationFailed(f"the syscall recorder sent an unknown message {kind!r}")


# ---------------------------------------------------------------- the helper process

class _Rodata(ctypes.Structure):
    _fields_ = [("target_tgid", ctypes.c_uint32)]


class _Bss(ctypes.Structure):
    _fields_ = [("lost", ctypes.c_uint64)]


def helper_main(argv: list[str]) -> None:
    """Entry point of the helper process: ``PARENT_PID CONTROL_FD DATA_FD``."""
    import json

    parent, ctl, out = (int(a) for a in argv)
    try:
        _die_with_parent(parent)
        _serve(parent, ctl, out)
    except BaseException as exc:  # everything becomes one message for the parent
        code = getattr(exc, "exit_code", 1) if isinstance(exc, BpfInspectError) else 1
        message = exc.message if isinstance(exc, BpfInspectError) else f"{type(exc).__name__}: {exc}"
        with contextlib.suppress(OSError):
            _send(out, b"E", json.dumps({"exit_code": code, "message": message}).encode())
        if os.environ.get("BPFINSPECT_DEBUG"):
            import traceback
            traceback.print_exc()
    finally:
        os._exit(0)


def _die_with_parent(parent: int) -> None:
    import signal

    # started inside the parent's shielded() block, with SIGINT and SIGTERM blocked: a kill
    # of the helper must work (its own session keeps a terminal's Ctrl-C away)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    PR_SET_PDEATHSIG = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(0)


def _serve(parent: int, ctl: int, out: int) -> None:
    from bpfinspect.runtime._lib import LibbpfError
    from bpfinspect.runtime.buffers import RingBuffer
    from bpfinspect.runtime.object import Object

    kept: list[bytes] = []
    size = [0]
    dropped = [0]

    def on_record(rec: bytes) -> None:
        if size[0] + len(rec) > MAX_KEPT:
            dropped[0] += 1
            return
        kept.append(rec)
        size[0] += len(rec) + 4

    try:
        obj = Object.open(TRACER_OBJECT, capture_logs=False, sections={"syscalls.rodata": _Rodata,
                                                                        "syscalls.bss": _Bss})
        obj.data_sections["syscalls.rodata"].target_tgid = parent
        obj.load()
        obj.attach()
    except LibbpfError as exc:
        raise EnvironmentProblem(f"the syscall recorder could not set up its tracer: {exc.message}") from None
    rb = RingBuffer(obj.maps["records"], on_record, owner=obj)
    _send(out, b"R")
    poller = select.poll()
    poller.register(rb.fileno(), select.POLLIN)
    poller.register(ctl, select.POLLIN | select.POLLHUP)
    running = True
    while running:
        for fd, _ev in poller.poll(1000):
            if fd == ctl:
                running = False  # "S", or the parent went away
        rb.consume()
    rb.consume()
    chunk = bytearray()
    for rec in kept:
        chunk += struct.pack("<I", len(rec)) + rec
        if len(chunk) >= 1 << 20:
            _send(out, b"D", bytes(chunk))
            chunk.clear()
    if chunk:
        _send(out, b"D", bytes(chunk))
    _send(out, b"L", str(int(obj.data_sections["syscalls.bss"].lost) + dropped[0]).encode())
    _send(out, b"Z")
    # No orderly teardown: detaching a tracepoint program waits for RCU grace periods
    # (about 60 ms each here); the kernel releases everything when this process exits,
    # while the parent goes on.
