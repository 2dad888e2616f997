"""Ctrl-C (SIGINT) the same way everywhere: never where it would leave something behind.

Python raises ``KeyboardInterrupt`` between any two bytecodes.  Three kinds of places must
not see it there:

* a C library calling back into Python through ctypes (libbpf's print callback, ring and
  perf buffer callbacks): an exception cannot cross back into C, so ctypes prints
  "Exception ignored on calling ctypes callback" and the interrupt is lost;
* the step between creating something outside the process (a kernel object, a pin, a probe
  event, a child process) and recording it for clean-up;
* the clean-up itself (detach, unpin, remove a probe event, reap a child).

The pieces, for every layer (this module imports nothing of bpfinspect):

``protect(fn)``
    A decorator: a SIGINT that arrives while ``fn`` (or anything it calls) runs is raised
    as soon as ``fn`` has returned -- for a ctypes callback, once the C call that invoked it
    has returned to Python.  For callbacks, finalizers and clean-up functions.
``shielded()``
    A ``with`` block during which SIGINT (and SIGTERM) is held back; it is raised when the
    block ends.  For "create, then record" steps.
``install(command=...)``
    Puts this module's SIGINT handler in place (the two pieces above need it; ``shielded``
    also blocks the signal, so it holds even under another handler).  The runtime installs
    it when libbpf is first loaded, if Python's default handler is still in place: it then
    behaves like Python's (one ``KeyboardInterrupt`` per Ctrl-C) apart from the protected
    places.  The command line installs it in *command* mode (see :func:`command`).
``command()``
    A ``with`` block around a whole command-line run: at most one ``KeyboardInterrupt`` is
    raised (a second Ctrl-C during the clean-up it starts is ignored, a third ends the
    process at once); ``interrupted_exit`` is the exit status to use (130).  A Ctrl-C that
    arrives after the command has finished, while Python shuts down, still ends the
    process with 130 (and the line), once the clean-up registered with ``atexit`` and
    ``weakref.finalize`` has run.
``stop_on_interrupt()``
    For commands whose normal way to stop is Ctrl-C (``run``, ``probe trace``): a
    ``KeyboardInterrupt`` inside the block ends the block quietly, and
    ``stop.interrupted`` says whether it did.

``early()``
    The command line's entry point (``bpfinspect``, ``python -m bpfinspect``) calls it
    before it imports the rest of bpfinspect: a Ctrl-C while the command's modules load is
    held for the command, which then ends with 130 and its one line.

A KeyboardInterrupt that Python drops because nothing can catch where it was raised (a weakref
callback such as the import system's, ``__del__``) is raised again once that code is over
(``install`` puts a ``sys.unraisablehook`` in place that passes everything else on).

What no Python program can protect: a Ctrl-C in the few milliseconds while the interpreter
itself starts, before the first line of bpfinspect runs (Python prints its own traceback, or
the process is simply killed by the signal).
"""

from __future__ import annotations

import _thread
import os
import sys

try:  # the C module behind `signal`, without its enum classes (a few ms of every start)
    import _signal as signal
except ImportError:  # not CPython
    import signal

INTERRUPTED_EXIT = 128 + signal.SIGINT  # 130, what shells report for Ctrl-C
_HELD = (signal.SIGINT, signal.SIGTERM)

# The thread that imported this module: the command line's entry point imports it first of all,
# on the main thread (see _on_main_thread).
_IMPORTING_THREAD = _thread.get_ident()


def _forked() -> None:
    """In a forked child the thread that forked is the only one, and the main one (as
    ``threading`` also takes it after a fork)."""
    global _IMPORTING_THREAD
    _IMPORTING_THREAD = _thread.get_ident()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)

# Code objects of the protected functions: the handler looks for them on the stack.
_protected: set = set()

# Phases of a command-line run.
_LIBRARY, _STARTING, _RUNNING, _FINISHED = range(4)


class _State:
    installed = False
    phase = _LIBRARY
    depth = 0               # shielded() blocks open in the main thread
    pending = False         # a SIGINT held back by a shield, to raise when it ends
    redelivered = 0         # trips of our own since the handler last ran (not new Ctrl-Cs)
    deferred = False        # a SIGINT waits for a protected function to return
    redeliverer = None      # the thread that trips it again meanwhile
    received = 0            # Ctrl-Cs seen since the command started
    raised = False          # the command's one KeyboardInterrupt was raised
    late = False            # a Ctrl-C after the command finished
    exit_code = 0
    exiting = False         # _exit_late has begun
    atexit_registered = False
    atexit_done = False
    unraisable_before = staticmethod(sys.__unraisablehook__)
    unraisable_installed = False


def _on_main_thread() -> bool:
    """Whether this is the process's main thread, without importing ``threading`` on every
    start (a few ms): once something has imported it, ``threading`` says; before that, the
    thread that imported this module is taken as the main one, as ``threading`` itself takes
    the thread that imports it."""
    threading = sys.modules.get("threading")
    if threading is not None:
        return threading.current_thread() is threading.main_thread()
    return _thread.get_ident() == _IMPORTING_THREAD


def protect(fn):
    """Mark ``fn`` as a function a SIGINT must not interrupt (see the module docstring)."""
    _protected.add(fn.__code__)
    return fn


def _in_protected(frame) -> bool:
    while frame is not None:
        if frame.f_code in _protected:
            return True
        frame = frame.f_back
    return False


def _redeliver() -> None:
    """Trip SIGINT again, for the handler to raise it at Python's next check."""
    _State.redelivered += 1
    _thread.interrupt_main(signal.SIGINT)


def _redeliver_later() -> None:
    """Keep tripping SIGINT from a helper thread every few milliseconds until the handler
    has raised it: the main thread is inside a protected function (perhaps a callback deep
    in a C call), and Python calls the handler again at its first check after that.  (Tripping
    from the handler itself would call the handler again at once, inside itself.)"""
    s = _State
    if s.redeliverer is not None and s.redeliverer.is_alive():
        return
    import threading
    import time

    def loop() -> None:
        # (only while our handler is there to clear the flag: a command that has ended and put
        # its caller's handler back must not be interrupted again)
        while s.deferred and handler_installed():
            time.sleep(0.002)
            if s.deferred and handler_installed():
                _redeliver()
        s.deferred = False

    s.redeliverer = threading.Thread(target=loop, name="bpfinspect-interrupt", daemon=True)
    s.redeliverer.start()


def _handler(signum, frame):
    s = _State
    if s.redelivered:  # ours (several may have made one call): not a new Ctrl-C
        s.redelivered = 0
    else:
        s.received += 1
    if s.phase == _FINISHED:
        s.late = True
        s.deferred = False   # recorded: the exit status says it
        if s.atexit_done:
            _exit_late()
        return
    if s.phase == _STARTING:
        s.pending = True
        return
    if s.phase == _RUNNING and s.raised:
        if s.received >= 3:  # Ctrl-C twice more during the clean-up: the user insists
            _flush()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        return
    if _in_protected(frame):
        s.deferred = True
        _redeliver_later()
        return
    if s.depth:
        s.pending = True
        return
    s.deferred = False
    s.raised = True
    raise KeyboardInterrupt


def _raised_by_handler(exc: BaseException) -> bool:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_code is _handler.__code__


@protect
def _unraisable(unraisable) -> None:
    """Python drops an exception raised where nothing can catch it (a weakref callback -- the
    import system's module locks have one --, ``__del__``, a callback from C) and reports it
    here.  A KeyboardInterrupt of ours dropped that way is raised again once that code is
    over, instead of being lost with an "Exception ignored" message."""
    exc = unraisable.exc_value
    if isinstance(exc, KeyboardInterrupt) and _raised_by_handler(exc):
        s = _State
        s.raised = False
        s.deferred = True
        _redeliver_later()
        return
    _State.unraisable_before(unraisable)


def handler_installed() -> bool:
    return signal.getsignal(signal.SIGINT) is _handler


def install(*, command: bool = False) -> bool:
    """Put the handler in place (main thread only); returns whether it is in place.

    Without ``command``, only Python's default handler is replaced (a program that set its
    own keeps it); with ``command``, whatever is there."""
    if not _on_main_thread():
        return handler_installed()
    current = signal.getsignal(signal.SIGINT)
    if current is _handler:
        return True
    if not command and current is not signal.default_int_handler:
        return False
    signal.signal(signal.SIGINT, _handler)
    _State.installed = True
    if not _State.unraisable_installed:
        # once: a hook put in place later around ours (which passes reports on to it) must not
        # become the one ours passes them on to
        _State.unraisable_installed = True
        _State.unraisable_before = sys.unraisablehook
        sys.unraisablehook = _unraisable
    return True


def early() -> None:
    """For the command line's entry point, before anything else of bpfinspect is imported: a
    Ctrl-C from now on is held for the command and raised when it starts its work."""
    if _on_main_thread():
        _State.phase = _STARTING
        install(command=True)


def caused_by_interrupt(exc: BaseException) -> bool:
    """Whether ``exc`` comes from a Ctrl-C: a KeyboardInterrupt that Python wrapped in another
    exception on its way (3.11 turns one raised in ``__set_name__`` into a RuntimeError), or
    any failure after this command's KeyboardInterrupt was raised."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return _State.phase == _RUNNING and _State.raised


def interrupted() -> bool:
    """Whether a Ctrl-C arrived during the current command (or since the handler was installed)."""
    return _State.received > 0


class shielded:
    """Hold SIGINT and SIGTERM back for the block; a SIGINT that came meanwhile is raised at its end."""

    __slots__ = ("_old", "_active")

    def __enter__(self):
        self._active = _on_main_thread()
        self._old = None
        if self._active:
            try:
                self._old = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
            except (OSError, ValueError):
                self._old = None
            _State.depth += 1
        return self

    def __exit__(self, *exc) -> None:
        if not self._active:
            return
        _State.depth -= 1
        if self._old is not None:
            # a signal blocked meanwhile is delivered now, and raised at the next check
            signal.pthread_sigmask(signal.SIG_SETMASK, self._old)
        if _State.depth == 0 and _State.pending:
            _State.pending = False
            _redeliver()


class command:
    """The scope of one command-line run (see the module docstring)::

        with interrupts.command(keep_installed=True) as run:
            try:
                run.start()
                code = ...
            except KeyboardInterrupt:
                code = interrupts.INTERRUPTED_EXIT
            run.finish(code)

    ``keep_installed``: the run is the whole process (``bpfinspect ...``), so a Ctrl-C after
    it still ends the process with 130; otherwise (``main([...])`` called from Python) the
    handler that was there before comes back at the end."""

    def __init__(self, *, keep_installed: bool) -> None:
        self.keep = keep_installed
        self.restore = None

    def __enter__(self):
        s = _State
        held = s.phase == _STARTING and s.pending     # a Ctrl-C since early(): the command gets it
        s.phase = _STARTING
        s.received = int(held)
        s.raised = s.late = False
        s.pending = held
        before = signal.getsignal(signal.SIGINT)
        install(command=True)
        self.restore = None if before is _handler else before
        if self.keep:
            # Ctrl-C must reach the command even if it was started with SIGINT blocked
            try:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
            except (OSError, ValueError):
                pass
        if self.keep and not s.atexit_registered:
            # registered before anything of the command, so it runs after the atexit work
            # registered later (weakref.finalize's clean-up of kernel objects among it)
            import atexit
            atexit.register(_at_exit)
            s.atexit_registered = True
        return self

    def start(self) -> None:
        """The command's own work begins (call it first inside the command's ``try``): a
        Ctrl-C that came while the command started is raised now."""
        s = _State
        s.phase = _RUNNING
        if s.pending:
            s.pending = False
            s.raised = True
            raise KeyboardInterrupt

    @protect
    def finish(self, code: int) -> None:
        """The command ends with exit status ``code``.  Protected: a Ctrl-C that comes as it
        is called, after the command's own ``try`` has ended, counts as one after the command:
        the process still ends with 130 and the line (``_at_exit``); for ``main()`` called
        from Python, the command is over and its caller is not interrupted for it."""
        s = _State
        s.exit_code = code
        s.pending = False
        if self.keep:
            s.phase = _FINISHED
            # CPython 3.11 remembers a KeyboardInterrupt that left code run by exec() or eval()
            # of a string (namedtuple and dataclass definitions, for one) as "unhandled", even
            # when it was caught further up, and then ends the process by SIGINT instead of
            # with its exit status.  Evaluating a string successfully clears that memory.
            exec("None")
            return
        s.phase = _LIBRARY
        # A Ctrl-C held since the command's try ended is the command's: the caller, whatever
        # handler it has, is not interrupted for it (cleared before its handler comes back, so
        # the redelivering thread stops first)
        s.deferred = False
        if self.restore is not None and handler_installed():
            signal.signal(signal.SIGINT, self.restore)

    def __exit__(self, *exc) -> None:
        if _State.phase not in (_FINISHED, _LIBRARY):
            self.finish(_State.exit_code)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except Exception:
            pass


def _exit_late() -> None:
    if _State.exiting:   # (a Ctrl-C re-delivered while this runs: the line is written once)
        return
    _State.exiting = True
    _State.deferred = False
    _flush()
    code = _State.exit_code
    if code == 0:
        code = INTERRUPTED_EXIT
        try:
            os.write(2, b"bpfinspect: interrupted\n")
        except OSError:
            pass
    os._exit(code)


@protect
def _at_exit() -> None:
    _State.atexit_done = True
    if _State.late or _State.deferred:  # (deferred: came as the command finished, not yet redelivered)
        _exit_late()
    # Nothing of bpfinspect runs after this.  Python itself now puts back the default action
    # of SIGINT (killing the process) for the rest of its shut-down; a Ctrl-C that late finds
    # the command's work and clean-up done and its exit status decided: ignore it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class stop_on_interrupt:
    """``with stop_on_interrupt() as stop:`` -- Ctrl-C ends the block quietly; afterwards
    ``stop.interrupted`` is True if it did."""

    __slots__ = ("interrupted",)

    def __enter__(self):
        self.interrupted = False
        return self

    def __exit__(self, typ, value, tb) -> bool:
        if typ is not None and issubclass(typ, KeyboardInterrupt):
            self.interrupted = True
            return True
        return False
