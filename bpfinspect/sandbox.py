"""Work on hostile input in a child process, with limits on memory, CPU time and wall time.

Some work cannot be bounded from the inside: libclang preprocessing a macro bomb allocates
gigabytes in C++ before it returns, and LLVM answers running out of memory by printing its
crash report and aborting.  :func:`run_limited` runs such work in a forked child:

* ``RLIMIT_AS`` bounds its address space (so an allocation fails instead of the machine
  swapping), ``RLIMIT_CPU`` its CPU time, and the parent kills it after a wall-clock limit;
  no core file is written;
* the child's standard error goes to a pipe the parent reads (at most 64 KiB), so LLVM's
  crash text never reaches the user: the parent turns how the child ended into one line;
* SIGINT is ignored in the child: the parent hears Ctrl-C (``bpfinspect.interrupts``) and
  kills and reaps the child on its way out; the child also dies with its parent
  (``PR_SET_PDEATHSIG``);
* the result comes back as JSON text (never pickle): ``encode(value) -> object`` in the
  child and ``decode(object) -> value`` in the parent, chosen by the caller, and bounded in
  size.  A :class:`~bpfinspect.errors.BpfInspectError` raised in the child is raised again in
  the parent with the same exit code and message (and its ``lines``, for errors that list
  several).

Without ``fork`` (not Linux or macOS) the work runs in this process, unbounded.
"""

from __future__ import annotations

import json
import os
import signal
import sys

from bpfinspect import interrupts
from bpfinspect.errors import BpfInspectError, MalformedInput

STDERR_KEEP = 64 << 10
_CHILD_FAILED = 70          # the child's exit status when it could not even report


class LimitExceeded(MalformedInput):
    """The work needed more memory, CPU time or wall time than the limits allow (exit 2: the
    input is what made it so)."""


class ChildError(BpfInspectError):
    """A BpfInspectError raised in the child, carried back (same exit code, message, lines)."""

    def __init__(self, message: str, exit_code: int, lines: list[str] | None = None,
                 path: str | None = None) -> None:
        super().__init__(message, path=path)
        self.exit_code = exit_code
        self.lines = lines


def run_limited(work, *, memory_mb: int, cpu_seconds: int, wall_seconds: float, encode=None, decode=None,
                max_result: int = 256 << 20, what: str = "the work"):
    """``decode(encode(work()))``, with ``work()`` run in a child process under the limits.

    ``what`` names the work in messages ("expanding FILE")."""
    encode = encode or (lambda value: value)
    decode = decode or (lambda value: value)
    if not hasattr(os, "fork"):
        return decode(encode(work()))
    memory = _clip_to_inherited(memory_mb << 20)
    with interrupts.shielded():  # the child is recorded (and its pipes) before Ctrl-C can act
        result_r, result_w = os.pipe()
        err_r, err_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child never returns from here
            _child(work, encode, result_w, err_w, (result_r, err_r), memory, cpu_seconds)
    reaped = False
    try:
        os.close(result_w)
        os.close(err_w)
        payload, stderr, timed_out, too_big = _collect(result_r, err_r, wall_seconds, max_result)
        if timed_out or too_big:
            _kill(pid)
        _, status, usage = os.wait4(pid, 0)
        reaped = True
    finally:
        with interrupts.shielded():
            for fd in (result_r, err_r):
                try:
                    os.close(fd)
                except OSError:
                    pass
            if not reaped:  # interrupted or failed while waiting: the child goes too
                _kill(pid)
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass
    if timed_out:
        raise LimitExceeded(f"{what} took more than {wall_seconds:g} s (wall clock); stopped")
    if too_big:
        raise LimitExceeded(f"{what} produced more than {max_result >> 20} MiB; stopped")
    return _outcome(status, usage.ru_utime + usage.ru_stime, payload, stderr, decode, what, memory, cpu_seconds)


def _clip_to_inherited(memory: int) -> int:
    import resource

    soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    return memory if soft == resource.RLIM_INFINITY or soft > memory else soft


def _child(work, encode, result_w: int, err_w: int, close: tuple[int, int], memory: int, cpu: int) -> None:
    status = _CHILD_FAILED
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT, signal.SIGTERM])
        for fd in close:
            os.close(fd)
        os.dup2(err_w, 2)
        os.close(err_w)
        quiet = os.open(os.devnull, os.O_WRONLY)   # nothing of the child reaches our output
        os.dup2(quiet, 1)
        os.close(quiet)
        if "faulthandler" in sys.modules:  # it writes to a descriptor of its own, not to fd 2
            sys.modules["faulthandler"].disable()
        _die_with_parent()
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))   # SIGXCPU, then SIGKILL a second later
        try:
            message = {"value": encode(work())}
        except BpfInspectError as exc:
            message = {"error": {"message": exc.message, "exit_code": exc.exit_code, "path": exc.path,
                                 "lines": getattr(exc, "lines", None)}}
        except MemoryError:
            message = {"memory": True}
        except RecursionError:
            message = {"error": {"message": "the input nests too deeply to process", "exit_code": 2,
                                 "path": None, "lines": None}}
        data = json.dumps(message, ensure_ascii=False).encode("utf-8", "surrogatepass")
        view = memoryview(data)
        while view:
            view = view[os.write(result_w, view):]
        status = 0
    except MemoryError:
        status = _CHILD_FAILED + 1
    except BaseException:  # anything else: the parent reports the exit status (stderr has the rest)
        try:
            import traceback
            traceback.print_exc()
        except BaseException:
            pass
    finally:
        os._exit(status)


def _die_with_parent() -> None:
    """PR_SET_PDEATHSIG: the kernel sends SIGKILL to the child when its parent dies."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _collect(result_r: int, err_r: int, wall: float, max_result: int) -> tuple[bytes, bytes, bool, bool]:
    """Read both pipes until the child closes them, the wall clock runs out or the result is too large."""
    import selectors
    import time

    deadline = time.monotonic() + wall
    payload: list[bytes] = []
    size = 0
    stderr = bytearray()
    sel = selectors.DefaultSelector()
    sel.register(result_r, selectors.EVENT_READ, "result")
    sel.register(err_r, selectors.EVENT_READ, "stderr")
    try:
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                return b"", bytes(stderr), True, False
            for key, _ in sel.select(timeout=left):
                chunk = os.read(key.fd, 1 << 20)
                if not chunk:
                    sel.unregister(key.fd)
                elif key.data == "result":
                    size += len(chunk)
                    if size > max_result:
                        return b"", bytes(stderr), False, True
                    payload.append(chunk)
                elif len(stderr) < STDERR_KEEP:
                    stderr += chunk[:STDERR_KEEP - len(stderr)]
    finally:
        sel.close()
    return b"".join(payload), bytes(stderr), False, False


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# What C++ code (LLVM) writes when an allocation fails, and what libclang writes when it
# survived a crash while parsing.
_OUT_OF_MEMORY = (b"std::bad_alloc", b"LLVM ERROR: out of memory", b"Allocation failed")
_CRASHED = b"libclang: crash detected"


def _outcome(status: int, cpu_used: float, payload: bytes, stderr: bytes, decode, what: str, memory: int, cpu: int):
    memory_words = f"{what} needs more than the {memory >> 20} MiB of memory it may use"
    succeeded = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and payload.startswith(b'{"value"')
    if not succeeded and any(sign in stderr for sign in _OUT_OF_MEMORY):
        # whatever the child managed to report: C++ code that ran out of memory (libclang
        # survives a crash while parsing and only says the parse failed)
        raise LimitExceeded(memory_words)
    if not succeeded and _CRASHED in stderr:
        raise LimitExceeded(f"{what}: clang crashed on this input")
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig in (signal.SIGXCPU, signal.SIGKILL) and cpu_used >= cpu - 0.5:
            raise LimitExceeded(f"{what} needs more than the {cpu} s of CPU time it may use")
        raise LimitExceeded(f"{what} crashed ({signal.Signals(sig).name}) on this input")
    code = os.WEXITSTATUS(status)
    if code == _CHILD_FAILED + 1 or (code != 0 and b"MemoryError" in stderr):
        raise LimitExceeded(memory_words)
    if code != 0 or not payload:
        last = stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"{what} failed in its child process (exit {code}: {last[0][:200]})")
    message = json.loads(payload.decode("utf-8", "surrogatepass"))
    if message.get("memory"):
        raise LimitExceeded(memory_words)
    if "error" in message:
        e = message["error"]
        raise ChildError(e["message"], int(e["exit_code"]), e.get("lines"), e.get("path"))
    return decode(message["value"])
