"""Keeping Ctrl-C out of the few places where it would leak a kernel object.

Python raises ``KeyboardInterrupt`` between any two bytecodes.  Between a
libbpf call that creates something and the statement that records it, an
interrupt would lose the pointer (and with it the programs, maps and fds it
holds).  ``no_interrupt()`` blocks SIGINT and SIGTERM for the calling thread
around such a step; a signal that arrives meanwhile is delivered (and the
exception raised) right after the block ends, once the state is consistent.
"""

from __future__ import annotations

import contextlib
import signal
import threading

_SIGNALS = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def no_interrupt():
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    try:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    except (OSError, ValueError):
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
