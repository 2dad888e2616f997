"""Target BTFs: a raw BTF file, an ELF with ``.BTF``, split BTF over ``--base``, a directory
of such files, or btfhub-archive's ``.btf.tar.xz`` (one BTF inside an xz-compressed tar).

Targets are produced one at a time (a directory of hundreds of kernels never sits in
memory at once).  Archives are hostile input: only regular members are read, each at
most :data:`MAX_MEMBER` bytes once decompressed, at most :data:`MAX_MEMBERS` members.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

from bpfinspect.btf.btf import Btf
from bpfinspect.errors import EnvironmentProblem, MalformedInput, UsageError

DEFAULT_TARGET = "/sys/kernel/btf/vmlinux"
MAX_MEMBER = 256 << 20
MAX_MEMBERS = 64
MAX_DIR_FILES = 20000
ARCHIVE_SUFFIXES = (".tar.xz", ".txz")


@dataclass
class Target:
    name: str                 # the path (an archive's member as ARCHIVE:MEMBER)
    btf: Btf | None
    error: str | None = None  # why it could not be read (in a directory or archive)


def _parse(name: str, data: bytes, base: Btf | None) -> Btf:
    from bpfinspect.btf.btf import load_btf

    return load_btf(name, base, data=data)


def archive_members(path: str) -> Iterator[tuple[str, bytes]]:
    """(member name, bytes) of every regular file of an xz-compressed tar, bounded."""
    import lzma
    import tarfile

    try:
        with tarfile.open(path, "r:xz") as tar:
            count = 0
            for member in tar:
                if not member.isreg():
                    continue
                count += 1
                if count > MAX_MEMBERS:
                    raise MalformedInput(f"more than {MAX_MEMBERS} files in the archive", path=path)
                if member.size > MAX_MEMBER:
                    raise MalformedInput(f"member {member.name!r} is larger than {MAX_MEMBER >> 20} MB", path=path)
                f = tar.extractfile(member)
                if f is None:
                    continue
                data = f.read(MAX_MEMBER + 1)
                if len(data) > MAX_MEMBER:
                    raise MalformedInput(f"member {member.name!r} is larger than {MAX_MEMBER >> 20} MB", path=path)
                yield member.name, data
    except (tarfile.TarError, lzma.LZMAError, EOFError) as exc:
        raise MalformedInput(f"not a readable .tar.xz archive: {exc}", path=path) from None
    except OSError as exc:
        raise MalformedInput(exc.strerror or str(exc), path=path) from None


def is_archive(path: str) -> bool:
    return path.endswith(ARCHIVE_SUFFIXES)


def _from_file(path: str, base: Btf | None, lenient: bool) -> Iterator[Target]:
    from bpfinspect.fileio import read_input

    try:
        if is_archive(path):
            found = False
            for member, data in archive_members(path):
                found = True
                name = f"{path}:{member}"
                try:
                    yield Target(name, _parse(name, data, base))
                except MalformedInput as exc:
                    if not lenient:
                        raise
                    yield Target(name, None, exc.one_line())
            if not found:
                raise MalformedInput("the archive holds no file", path=path)
            return
        yield Target(path, _parse(path, read_input(path), base))
    except MalformedInput as exc:
        if not lenient:
            raise
        yield Target(path, None, exc.one_line())


def iter_targets(paths: list[str], base: str | None = None) -> Iterator[Target]:
    """Every target named by ``paths`` (files, archives, directories), in order; files of
    a directory in sorted order, each read on its own (errors become the target's)."""
    from bpfinspect.btf.btf import load_btf

    base_btf = load_btf(base) if base else None
    for path in paths or [DEFAULT_TARGET]:
        if os.path.isdir(path):
            files = []
            for root, dirs, names in os.walk(path):
                dirs.sort()
                for n in sorted(names):
                    files.append(os.path.join(root, n))
                    if len(files) > MAX_DIR_FILES:
                        raise UsageError(f"more than {MAX_DIR_FILES} files under the directory", path=path)
            if not files:
                raise UsageError("the directory holds no file", path=path)
            for f in files:
                if os.path.isfile(f):
                    yield from _from_file(f, base_btf, lenient=True)
        else:
            if not os.path.exists(path):
                if path == DEFAULT_TARGET and not paths:
                    raise EnvironmentProblem("this kernel has no BTF (no /sys/kernel/btf/vmlinux): "
                                             "name a target with --btf")
                raise MalformedInput("no such file", path=path)
            yield from _from_file(path, base_btf, lenient=False)
