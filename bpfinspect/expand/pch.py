"""A precompiled ``vmlinux.h``, so that clang does not parse 3 MB of types per run.

Parsing a source that includes a full ``vmlinux.h`` costs libclang about 0.2 s,
nearly all of it in the header.  The header is compiled once into a
precompiled header (libclang's own AST format, so it always matches the loaded
libclang) and later parses load it with ``-include-pch``: clang reads from it
only what it needs, and the source's own ``#include "vmlinux.h"`` finds the
include guard already defined.  ``vmlinux.h`` defines no macro besides its
guard, so the macro definitions and uses clang reports are the same.

It is built the second time a header is used (a first run stays as fast as
a plain parse) and lives in ``$XDG_CACHE_HOME/bpfinspect/pch/``, named by a
hash of the libclang version, the header's path, size and modification time,
and the parse arguments (except the target architecture, which vmlinux.h does
not depend on); the most recently used few are kept.  Any trouble building or loading it
means parsing without it (``BPFINSPECT_NO_PCH=1`` forces that).
"""

from __future__ import annotations

import hashlib
import json
import os

from bpfinspect.expand.vmlinux import cache_root
from bpfinspect.fileio import replacing

MIN_SIZE = 256 * 1024   # smaller headers parse faster than a PCH loads
KEEP = 6                # precompiled headers kept in the cache


def pch_dir() -> str:
    return os.path.join(os.path.dirname(cache_root()), "pch")


def enabled() -> bool:
    return not os.environ.get("BPFINSPECT_NO_PCH")


def _key(header: str, args: list[str], version: str) -> str:
    st = os.stat(header)
    blob = json.dumps([version, os.path.realpath(header), st.st_size, st.st_mtime_ns, args])
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def prefix_pch(ci, index, header: str, args: list[str], version: str) -> str | None:
    """Path of a precompiled ``header`` for ``args``, built when missing; None
    when it cannot or should not be used."""
    # The target architecture does not change vmlinux.h: one PCH serves all
    # (clang accepts macros defined on the command line and not in the PCH).
    args = [a for a in args if not a.startswith("-D__TARGET_ARCH_")]
    try:
        if os.path.getsize(header) < MIN_SIZE:
            return None
        directory = pch_dir()
        target = os.path.join(directory, _key(header, args, version) + ".pch")
        if os.path.isfile(target):
            os.utime(target)  # recently used: kept by _prune
            return target
        # Building one costs about three plain parses: done the second time a
        # header is used, so a single run never pays for it.
        seen = target[:-len(".pch")] + ".seen"
        if not os.path.exists(seen):
            os.makedirs(directory, exist_ok=True)
            with open(seen, "w"):
                pass
            _prune(directory)
            return None
        tu = index.parse(header, args=[*args, "-x", "c-header"],
                         options=ci.TranslationUnit.PARSE_DETAILED_PROCESSING_RECORD)
        if any(d.severity >= ci.Diagnostic.Error for d in tu.diagnostics):
            return None
        os.makedirs(directory, exist_ok=True)
        with replacing(target, prefix=".build-", suffix=".pch") as tmp:
            tu.save(tmp)
        discard(seen)
        _prune(directory)
        return target
    except (OSError, ci.TranslationUnitLoadError, ci.TranslationUnitSaveError):
        return None


def discard(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _prune(directory: str) -> None:
    try:
        names = os.listdir(directory)
        for suffix, keep in ((".pch", KEEP), (".seen", 8 * KEEP)):
            entries = [os.path.join(directory, n) for n in names if n.endswith(suffix)]
            entries.sort(key=lambda p: os.stat(p).st_mtime, reverse=True)
            for old in entries[keep:]:
                discard(old)
    except OSError:
        pass
