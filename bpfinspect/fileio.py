"""Reading a user's input files and writing outputs safely: shared by every layer."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator

from bpfinspect.errors import MalformedInput

# The most any input is read (a regular file larger than this is refused before reading
# anything; a pipe or device, whose size cannot be trusted, is read up to it).
DEFAULT_MAX_INPUT_MB = 256
# What is read of an input before anything else (its header judged from it): the ELF header of
# either class and most program header tables, or a raw BTF header.
HEAD_SIZE = 4096


def max_input() -> int:
    """The input size limit in bytes: ``BPFINSPECT_MAX_INPUT_MB`` (MiB) or 256 MiB."""
    try:
        mb = int(os.environ.get("BPFINSPECT_MAX_INPUT_MB", ""))
    except ValueError:
        mb = DEFAULT_MAX_INPUT_MB
    return (mb if mb > 0 else DEFAULT_MAX_INPUT_MB) << 20


def read_input(path: str, *, check=None, head: int = 0, limit: int | None = None) -> bytes:
    """The bytes of an input file, bounded, never blocking on a pipe without a writer.

    ``check(first_bytes, size)``, when given, sees the first ``head`` bytes (fewer if the
    file is shorter) and the file's size (None for a pipe or device) before anything else
    is read, and refuses the file by raising; a regular file over ``limit`` (default
    :func:`max_input`) is refused from its size alone, without reading it."""
    limit = max_input() if limit is None else limit
    if path == "-":
        return _read_stream(_stdin(), path="<stdin>", limit=limit, check=check, head=head)
    try:
        # O_NONBLOCK: opening a named pipe nobody writes to must not wait forever
        # (reads are blocking again once it is open; no writer then reads as empty).
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NONBLOCK", 0))
        os.set_blocking(fd, True)
        with open(fd, "rb") as f:
            st = os.fstat(f.fileno())
            regular = stat.S_ISREG(st.st_mode)
            if regular and st.st_size > limit:
                raise MalformedInput(f"{st.st_size} bytes, larger than the {_size(limit)} bpfinspect reads"
                                     + (" (BPFINSPECT_MAX_INPUT_MB raises the limit)" if limit == max_input() else ""),
                                     path=path)
            first = _read_upto(f, head) if check is not None else b""
            if check is not None:
                check(first, st.st_size if regular else None)
            if regular:
                # The whole file in one buffer (gluing the head to the rest would copy it all
                # again); the head judged is the head returned, even if the file changed.
                f.seek(0)
                data = _read_upto(f, st.st_size)
                if not data.startswith(first):
                    data = first + data[len(first):]
                return data
            return _read_stream(f, path=path, limit=limit, first=first)
    except FileNotFoundError:
        raise MalformedInput("no such file", path=path) from None
    except IsADirectoryError:
        raise MalformedInput("is a directory", path=path) from None
    except OSError as exc:
        raise MalformedInput(exc.strerror or str(exc), path=path) from None


def _stdin():
    import sys

    return sys.stdin.buffer


def _read_stream(f, *, path: str, limit: int, check=None, head: int = 0, first: bytes | None = None) -> bytes:
    """A pipe, a device or standard input, whose size is known only at its end: at most ``limit``."""
    if first is None:
        first = _read_upto(f, head) if check is not None else b""
        if check is not None:
            check(first, None)
    data = first + _read_upto(f, limit + 1 - len(first))
    if len(data) > limit:
        raise MalformedInput(f"not a regular file, and more than {_size(limit)}", path=path)
    return data


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n} bytes"


def _read_upto(f, n: int) -> bytes:
    """Up to ``n`` bytes (fewer only at the end of the file)."""
    chunks = []
    while n > 0:
        chunk = f.read(n)
        if not chunk:
            break
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


@contextlib.contextmanager
def replacing(target: str, *, prefix: str = ".tmp-", suffix: str = "", mode: int = 0o644,
              check=None) -> Iterator[str]:
    """A temporary path beside ``target``; once the block has written it, it replaces
    ``target`` in one step (readers never see half a file).  On any error it is removed.
    ``check()``, when given, runs just before the replacement and may refuse it by raising."""
    directory = os.path.dirname(target) or "."
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=suffix)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, mode)
        if check is not None:
            check()
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_atomic(target: str, data: bytes | str, *, mode: int = 0o644) -> None:
    with replacing(target, prefix=f".{os.path.basename(target)}-", mode=mode) as tmp:
        with open(tmp, "wb") as f:
            write_encoded(f.write, data)


_PIECE = 1 << 18


def encoded(data: bytes | str) -> Iterator[bytes]:
    """The bytes to write for ``data``: bytes as they are, a text encoded (UTF-8, names that
    were not UTF-8 as their original bytes) 256 Ki characters at a time, so that writing a large
    output never holds a second, encoded copy of all of it."""
    if not isinstance(data, str):
        if data:
            yield data
        return
    for i in range(0, len(data), _PIECE):
        yield data[i:i + _PIECE].encode("utf-8", "surrogateescape")


def write_encoded(write, data: bytes | str) -> None:
    """Call ``write`` (a file's or a descriptor's) with each piece of ``encoded(data)``."""
    for piece in encoded(data):
        write(piece)


def write_output(target: str | None, data: bytes | str) -> None:
    """Write a command's output (``-o TARGET``) without ever replacing what it should not.

    * ``None`` or ``-``: standard output.
    * A new path or a regular file: atomically (a temporary file beside it, renamed over it;
      an existing file keeps its permissions, and its owner when we may set it).  A file we
      may not write is not replaced either.
    * A symbolic link: followed; what it finally names is written as above, the link stays.
    * A character device (``/dev/null``, a terminal), a FIFO, or one of this process's own
      descriptors (``/dev/stdout``, ``/dev/fd/N``): written as a stream, never replaced.
    * A directory, a block device, a socket: refused.

    A refused target is a usage error (exit 2); one the system does not let us write (no
    permission, no space, a read-only file system) an environment problem (exit 3).
    """
    if target is None or target == "-":
        _write_stdout(data)
        return
    try:
        _write_to_path(target, data)
    except OSError as exc:
        from bpfinspect.errors import EnvironmentProblem

        raise EnvironmentProblem(f"cannot write: {exc.strerror or exc}", path=target) from None


def _write_stdout(data: bytes | str) -> None:
    import sys

    sys.stdout.flush()
    buf = sys.stdout.buffer
    write_encoded(buf.write, data)
    buf.flush()


def _own_descriptor(path: str) -> int | None:
    """The descriptor number when ``path`` names one of this process's own descriptors
    (``/dev/stdout``, ``/dev/fd/1``, ``/proc/self/fd/1``), else None."""
    own = {"/proc/self/fd", f"/proc/{os.getpid()}/fd"}
    p = path
    for _ in range(40):  # the kernel's own limit on links followed
        name = os.path.basename(p)
        if name.isdigit() and os.path.realpath(os.path.dirname(p) or ".") in own:
            return int(name)
        if not os.path.islink(p):
            return None
        p = os.path.join(os.path.dirname(p), os.readlink(p))
    return None


def _write_to_path(target: str, data: bytes | str) -> None:
    from bpfinspect.errors import UsageError

    fd_number = _own_descriptor(target)
    if fd_number is not None:
        import sys

        for stream in (sys.stdout, sys.stderr):      # what was printed comes first
            if stream is not None:
                stream.flush()
        write_encoded(lambda piece: _write_all(fd_number, piece), data)
        return
    # Open what is there (following links) without creating or truncating anything, and ask
    # the descriptor what it is: the answer cannot change between the question and the write.
    try:
        fd = os.open(target, os.O_WRONLY | os.O_NOCTTY | os.O_CLOEXEC | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        fd = None                                    # a new file (or a link to one not there yet)
    except IsADirectoryError:
        raise UsageError(f"{target} is a directory: give -o a file name", path=target) from None
    except OSError as exc:
        if exc.errno != errno.ENXIO:                 # ENXIO: a FIFO with no reader yet, a socket, a device
            raise
        st = os.stat(target)
        if not stat.S_ISFIFO(st.st_mode):
            raise UsageError(f"{target} is {_kind(st.st_mode)}: give -o a file name", path=target) from None
        fd = os.open(target, os.O_WRONLY | os.O_NOCTTY | os.O_CLOEXEC)  # waits for a reader, as `>` does
    existed = fd is not None
    if existed:
        try:
            st = os.fstat(fd)
            if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
                os.set_blocking(fd, True)
                write_encoded(lambda piece: _write_all(fd, piece), data)
                return
            if not stat.S_ISREG(st.st_mode):
                raise UsageError(f"{target} is {_kind(st.st_mode)}: give -o a file name", path=target)
        finally:
            os.close(fd)
        mode = stat.S_IMODE(st.st_mode)
        owner = (st.st_uid, st.st_gid)
    else:
        mask = os.umask(0)
        os.umask(mask)
        mode, owner = 0o666 & ~mask, None
    final = os.path.realpath(target)                 # through links: the link itself stays

    def still_the_same() -> None:  # what is at ``final`` now is what was looked at above
        try:
            now = os.lstat(final)
        except FileNotFoundError:
            now = None
        if not existed and now is None:
            return
        if not existed or now is None or not stat.S_ISREG(now.st_mode) or \
                (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            raise UsageError(f"{target} changed while it was being written; nothing was replaced", path=target)

    with replacing(final, prefix=f".{os.path.basename(final)}-", mode=mode, check=still_the_same) as tmp:
        with open(tmp, "wb") as f:
            write_encoded(f.write, data)
        if owner is not None and os.geteuid() == 0:
            os.chown(tmp, *owner)


def _kind(mode: int) -> str:
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file"


def _write_all(fd: int, payload: bytes) -> None:
    view = memoryview(payload)
    while view:
        written = os.write(fd, view)
        view = view[written:]


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
