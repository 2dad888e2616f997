"""Run bpfinspect on a pseudo-terminal of a chosen size, as a user at a terminal would."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import sys
import termios
import time

from conftest import ROOT

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]")


def run_on_pty(args, *, columns=80, rows=24, env=None, keys: list[tuple[float, bytes]] | None = None,
               timeout=60.0) -> tuple[int, str]:
    """Run ``bpfinspect ARGS`` with its standard input, output and error on a pty of ``columns`` x
    ``rows``; ``keys`` are (delay, bytes) typed into the terminal.  Returns (exit status, text seen)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: a terminal of the wanted size, then bpfinspect
        try:
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
            full = {k: v for k, v in os.environ.items()
                    if k not in ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR", "BPFINSPECT_PLAIN", "PAGER",
                                 "BPFINSPECT_PAGER", "LESS")}
            full["TERM"] = "xterm-256color"
            full.update(env or {})
            os.chdir(ROOT)
            os.execve(sys.executable, [sys.executable, "-m", "bpfinspect", *args], full)
        finally:
            os._exit(127)
    out = bytearray()
    pending = list(keys or [])
    start = time.monotonic()
    next_key = start + pending[0][0] if pending else None
    status = None
    try:
        while True:
            now = time.monotonic()
            if now - start > timeout:
                os.kill(pid, 9)
                raise TimeoutError(f"bpfinspect {' '.join(args)} did not finish on the terminal: {out[-500:]!r}")
            if next_key is not None and now >= next_key:
                os.write(fd, pending.pop(0)[1])
                next_key = now + pending[0][0] if pending else None
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # EIO: the child closed the terminal
                    chunk = b""
                if not chunk:
                    break
                out += chunk
            elif status is None:
                done, st = os.waitpid(pid, os.WNOHANG)
                if done:
                    status = st
    finally:
        if status is None:
            _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return code, out.decode("utf-8", "replace")


def visible(text: str) -> str:
    """What the terminal shows: escape sequences removed, CR-LF made LF."""
    return ANSI.sub("", text).replace("\r\n", "\n").replace("\r", "")
