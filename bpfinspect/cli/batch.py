"""Several objects in one run of an inspection command (start-up paid once).

``bpfinspect info a.bpf.o b.bpf.o ... [-j N]`` runs the command for each object in turn, in
one process, or spread over N processes (``-j N``; forked once the command is imported, so
start-up is still paid once).  Whatever the spread, the output is in argument order:

- ``--json``: one document per object, each on one line (JSON Lines); an object that could
  not be inspected gives ``{"schema": 1, "file": OBJ, "error": LINE, "exit": CODE}`` on its
  line, besides the usual error line on stderr;
- the human view: each object's output under a ``==> OBJ <==`` line, a blank line between
  objects;
- the exit status is the worst of the objects' (the highest: 70 > 3 > 2 > 1 > 0).

With a single object nothing changes: the command's own output, exactly.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # (typing itself costs milliseconds to import)
if TYPE_CHECKING:  # argparse is imported only when a parser is built (see cli/quickargs.py)
    import argparse


def add_objects_arg(p: argparse.ArgumentParser, dest: str = "object", metavar: str = "OBJ",
                    help: str = "compiled BPF object (x.bpf.o)") -> None:
    p.add_argument(dest, metavar=metavar, nargs="+",
                   help=f"{help}; several are inspected one after another (JSON Lines with --json)")
    p.add_argument("-j", "--jobs", type=_jobs, default=1, metavar="N",
                   help="inspect several objects in N processes (0: one per CPU); output stays in "
                        "argument order")


def _jobs(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 0:
        import argparse

        raise argparse.ArgumentTypeError(f"not a number of processes: {text!r}")
    return n or os.cpu_count() or 1


def batched(run, dest: str = "object"):
    """``run`` (one object in ``args.<dest>``) made to take the list ``add_objects_arg`` gives."""

    def run_all(args) -> int:
        paths = getattr(args, dest)
        if isinstance(paths, str):  # called with one object already (the Python API, tests)
            return run(args)
        if len(paths) == 1:
            setattr(args, dest, paths[0])
            return run(args)
        return _each(run, args, dest, paths)

    return run_all


# What a forked worker runs: set before the processes are made, so nothing is pickled but
# the path and the results.
_JOB: tuple | None = None


def _each(run, args, dest: str, paths: list[str]) -> int:
    global _JOB
    from bpfinspect.views import jsonout

    as_json = bool(getattr(args, "json", False))
    jsonout.one_line = as_json
    out = sys.stdout
    tty = _isatty(out)
    _JOB = (run, args, dest, as_json, tty)
    worst = 0
    jobs = min(getattr(args, "jobs", 1) or 1, len(paths))
    try:
        if jobs == 1:
            results = map(_one, paths)
            pool = None
        else:
            import multiprocessing

            out.flush()
            pool = multiprocessing.get_context("fork").Pool(jobs, initializer=_worker_start,
                                                            initargs=(_columns(out),))
            results = pool.imap(_one, paths)
        try:
            for i, (path, (code, text, errors)) in enumerate(zip(paths, results)):
                if not as_json:
                    if i:
                        out.write("\n")
                    out.write(f"==> {path} <==\n")
                out.flush()
                out.buffer.write(text)
                out.buffer.flush()
                if errors:
                    sys.stderr.write(errors)
                    sys.stderr.flush()
                worst = max(worst, code)
        finally:
            if pool is not None:
                pool.terminate()  # done, or interrupted: no worker outlives the command
                pool.join()
    finally:
        _JOB = None
        jsonout.one_line = False
    return worst


def _worker_start(columns: int | None) -> None:
    """A forked worker: Ctrl-C is the parent's to handle (it ends the workers); the terminal
    width the views lay out to is the parent's."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if columns:
        os.environ["COLUMNS"] = str(columns)


def _one(path: str) -> tuple[int, bytes, str]:
    """Run the command for one object, its output and error lines captured; returns
    (exit status, stdout bytes, stderr text)."""
    import io

    from bpfinspect import interrupts
    from bpfinspect.cli.main import _report

    run, args, dest, as_json, tty = _JOB
    args = type(args)(**vars(args))  # argparse's namespace, or cli.quickargs'
    setattr(args, dest, path)
    buffer = io.BytesIO()
    captured = _Capture(buffer, tty)
    errors = io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = captured, errors
    try:
        try:
            code = int(run(args) or 0)
        except Exception as exc:
            if interrupts.caused_by_interrupt(exc):
                raise KeyboardInterrupt from exc
            code = _report(exc, args)
            if isinstance(exc, BrokenPipeError):  # only the real output can be a closed pipe
                raise
            captured.flush()
            if as_json:  # what was written is replaced by the object's error document
                from bpfinspect.views import jsonout

                buffer.seek(0)
                buffer.truncate()
                line = errors.getvalue().strip().splitlines()
                jsonout.emit({"schema": jsonout.SCHEMA, "file": path,
                              "error": line[-1].removeprefix("bpfinspect: ") if line else "",
                              "exit": code}, captured)
        captured.flush()
        return code, buffer.getvalue(), errors.getvalue()
    finally:
        sys.stdout, sys.stderr = saved


class _Capture:
    """A text stream over bytes, as ``sys.stdout`` is (``.buffer`` for bytes), that answers
    ``isatty()`` as the real output does, so the views choose the same form."""

    def __init__(self, buffer, tty: bool) -> None:
        import io

        self._text = io.TextIOWrapper(buffer, encoding=sys.stdout.encoding or "utf-8",
                                      errors=sys.stdout.errors or "strict", write_through=True)
        self.buffer = buffer
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty

    def __getattr__(self, name):
        return getattr(self._text, name)


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _columns(stream) -> int | None:
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        return None
