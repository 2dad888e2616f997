"""Output longer than the screen goes through a pager, as git does it.

On a terminal (one that reports its size), a command's standard output is held back until it fills the screen: a shorter
output is then written as it is, a longer one goes through ``$BPFINSPECT_PAGER``, ``$PAGER`` or
``less -FRX`` (``LESS=FRX`` is set when ``LESS`` is not, so ``less`` keeps colours and leaves
the text on the screen); once the pager runs, the rest streams into it.  An empty pager or
``cat`` means no pager; ``--no-pager`` stops it; piped output is never paged.
"""

from __future__ import annotations

import os
import re
import sys

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
DEFAULT_PAGER = "less -FRX"


def pager_command() -> str | None:
    """The shell command to page with, or None for no pager."""
    for var in ("BPFINSPECT_PAGER", "PAGER"):
        if var in os.environ:
            cmd = os.environ[var].strip()
            return None if cmd in ("", "cat") else cmd
    return DEFAULT_PAGER


class _Bytes:
    """``.buffer`` of :class:`PagedOutput`: bytes go the same way as text."""

    def __init__(self, owner):
        self._owner = owner

    def write(self, data) -> int:
        self._owner._put(bytes(data))
        return len(data)

    def flush(self) -> None:
        self._owner.flush()


class PagedOutput:
    """Standard output for one command on a terminal: see the module's text.  Text and bytes
    (through ``.buffer``) are held and passed on as bytes, in the order written."""

    def __init__(self, real, rows: int, columns: int, command: str):
        self._real = real
        self._rows = max(2, rows)
        self._columns = max(1, columns)
        self._command = command
        self._held: list[bytes] | None = []
        self._partial = b""  # the current line, not yet ended
        self._used = 0       # screen rows the held lines take
        self._pager = None
        self.encoding = getattr(real, "encoding", None) or "utf-8"
        self.errors = getattr(real, "errors", None) or "strict"
        self.buffer = _Bytes(self)

    # what code writing to sys.stdout may ask of it
    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._real.fileno()

    def writable(self) -> bool:
        return True

    def reconfigure(self, *, errors=None, **kwargs) -> None:
        if errors is not None:
            self.errors = errors
        if kwargs:
            self._real.reconfigure(**kwargs)

    def write(self, text: str) -> int:
        self._put(text.encode(self.encoding, self.errors))
        return len(text)

    def _put(self, data: bytes) -> None:
        if self._pager is not None:
            self._pager.stdin.write(data)
            return
        if self._held is None:  # released without a pager
            self._real.buffer.write(data)
            return
        self._held.append(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            shown = _ANSI.sub("", line.decode(self.encoding, "replace")).expandtabs()
            self._used += max(1, -(-len(shown) // self._columns))
        if self._used >= self._rows - 1:  # one row stays for the prompt, as less -F counts
            self._start_pager()

    def flush(self) -> None:
        if self._pager is not None:
            self._pager.stdin.flush()
        elif self._held is None:
            self._real.buffer.flush()

    def _release(self) -> None:
        """Write what was held to the terminal itself and stop holding."""
        if self._held is not None and self._pager is None:
            self._real.flush()
            self._real.buffer.write(b"".join(self._held))
            self._real.buffer.flush()
            self._held = None

    def _start_pager(self) -> None:
        import subprocess

        env = dict(os.environ)
        env.setdefault("LESS", "FRX")
        env.setdefault("LV", "-c")
        try:
            self._pager = subprocess.Popen(self._command, shell=True, stdin=subprocess.PIPE, env=env)
        except OSError:
            self._release()
            return
        held, self._held = b"".join(self._held), None
        self._pager.stdin.write(held)

    def finish(self) -> None:
        """The command is over: write what is held, or let the pager's user read to the end."""
        if self._pager is None:
            self._release()
            return
        try:
            self._pager.stdin.close()
        except (BrokenPipeError, OSError):  # the reader quit the pager early
            pass
        while True:
            try:
                self._pager.wait()
                break
            except KeyboardInterrupt:  # Ctrl-C is the pager's while it runs (less uses it)
                continue


def start(command_path: str, no_pager: bool):
    """Replace ``sys.stdout`` with a :class:`PagedOutput` when paging applies; returns it or None."""
    real = sys.stdout
    if no_pager or real is None:
        return None
    try:
        if not real.isatty():
            return None
        # a terminal that reports no size (script(1) without a terminal of its own, a serial
        # line) is no screen to page for: less would wait for keys nobody types
        if os.get_terminal_size(real.fileno()).lines <= 0:
            return None
    except (AttributeError, ValueError, OSError):
        return None
    command = pager_command()
    if command is None:
        return None
    from bpfinspect.views import term

    out = PagedOutput(real, term.height(real), term.width(real), command)
    sys.stdout = out
    return out


def finish(out) -> None:
    if out is None:
        return
    try:
        out.finish()
    finally:
        if sys.stdout is out:
            sys.stdout = out._real
