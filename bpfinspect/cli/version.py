"""``bpfinspect --version``: this release, and the libraries, kernel and Python it runs with."""

from __future__ import annotations

import os
import platform
import sys


def _mapped_path(fragment: str) -> str | None:
    """The file a shared library was loaded from, as this process maps it."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) == 6 and fragment in os.path.basename(parts[5].strip()):
                    return parts[5].strip()
    except OSError:
        pass
    return None


def _libbpf() -> str:
    try:
        from bpfinspect.runtime._lib import lib

        binding = lib()
    except Exception as exc:  # no libbpf here: say so, --version still answers
        return f"libbpf:   not available ({exc})"
    path = _mapped_path("libbpf.so") or binding.path
    real = os.path.realpath(path) if os.path.isabs(path) else path
    version = "%d.%d" % binding.version
    base = os.path.basename(real)
    if base.startswith("libbpf.so."):  # the file name carries the patch level: libbpf.so.1.1.2
        full = base[len("libbpf.so."):]
        if full.startswith(version):
            version = full
    return f"libbpf:   {version} ({real})"


def _libclang() -> str:
    try:
        import clang.cindex as ci

        fn = ci.conf.lib.clang_getClangVersion
        fn.argtypes = []
        fn.restype = ci._CXString
        text = str(ci._CXString.from_result(fn()))
    except Exception as exc:
        return f"libclang: not available ({type(exc).__name__}: {exc})"
    path = _mapped_path("libclang") or "?"
    return f"libclang: {text.removeprefix('clang version ')} ({path})"


def text() -> str:
    from bpfinspect import __version__, compiled

    uname = os.uname()
    lines = [
        f"bpfinspect {__version__}",
        _libbpf(),
        _libclang(),
        f"kernel:   {uname.sysname} {uname.release} {uname.machine}",
        f"python:   {platform.python_version()} ({sys.executable})",
        f"engine:   {compiled.describe()}",
    ]
    return "\n".join(lines) + "\n"
