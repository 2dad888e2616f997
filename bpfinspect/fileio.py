"""Reading a user's input files and writing files atomically: shared by every layer."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator

from bpfinspect.errors import MalformedInput

# A pipe or a device has no size to trust: read at most this much from one.
MAX_STREAM = 256 << 20


def read_input(path: str) -> bytes:
    """The bytes of an input file, bounded, never blocking on a pipe without a writer."""
    try:
        # O_NONBLOCK: opening a named pipe nobody writes to must not wait forever
        # (reads are blocking again once it is open; no writer then reads as empty).
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        os.set_blocking(fd, True)
        with open(fd, "rb") as f:
            if stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return f.read()
            data = f.read(MAX_STREAM + 1)
            if len(data) > MAX_STREAM:
                raise MalformedInput(f"not a regular file, and more than {MAX_STREAM >> 20} MB", path=path)
            return data
    except FileNotFoundError:
        raise MalformedInput("no such file", path=path) from None
    except IsADirectoryError:
        raise MalformedInput("is a directory", path=path) from None
    except OSError as exc:
        raise MalformedInput(exc.strerror or str(exc), path=path) from None


@contextlib.contextmanager
def replacing(target: str, *, prefix: str = ".tmp-", suffix: str = "") -> Iterator[str]:
    """A temporary path beside ``target``; once the block has written it, it replaces
    ``target`` in one step (readers never see half a file).  On any error it is removed."""
    directory = os.path.dirname(target) or "."
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=suffix)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_atomic(target: str, data: bytes | str) -> None:
    with replacing(target, prefix=f".{os.path.basename(target)}-") as tmp:
        with open(tmp, "wb") as f:
            f.write(data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data)


def cache_dir(sub: str) -> str:
    """``$XDG_CACHE_HOME/bpfinspect/<sub>`` (``~/.cache/...`` by default); not created here."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "bpfinspect", sub)


def code_fingerprint(*modules: str) -> str:
    """bpfinspect's version and the size and time of ``modules`` (paths inside the package):
    part of a cache key, so that a changed renderer never serves what the old one wrote."""
    import bpfinspect

    pkg = os.path.dirname(os.path.abspath(bpfinspect.__file__))
    parts = [bpfinspect.__version__]
    for rel in modules:
        st = os.stat(os.path.join(pkg, rel))
        parts.append(f"{rel}:{st.st_size}:{st.st_mtime_ns}")
    return "\0".join(parts)
