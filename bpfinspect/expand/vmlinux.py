"""A ``vmlinux.h`` for sources that include one, made from kernel BTF.

When the source includes ``vmlinux.h`` and no directory of the include path
has one, the header is printed from ``/sys/kernel/btf/vmlinux`` (or the BTF
file the user names) by bpfinspect's own BTF-to-C printer and cached under
``$XDG_CACHE_HOME/bpfinspect/vmlinux/<sha256 of the BTF>/vmlinux.h``, so the
next run (and the next boot of the same kernel) reuses it.
"""

from __future__ import annotations

import hashlib
import os
import re

from bpfinspect.errors import EnvironmentProblem, UsageError
from bpfinspect.fileio import cache_dir, write_atomic

DEFAULT_BTF = "/sys/kernel/btf/vmlinux"

_INCLUDE_RE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*([<"])((?:[^">\n]*/)?vmlinux\.h)[">]', re.M)


def included_vmlinux(text: str) -> tuple[str, bool] | None:
    """The spelling of the vmlinux.h include in the source (``vmlinux.h``, maybe
    with a directory) and whether it is a quoted include, or None."""
    m = _INCLUDE_RE.search(text)
    return (m.group(2), m.group(1) == '"') if m else None


def find_on_path(name: str, source_dir: str | None, include_dirs: list[str]) -> str | None:
    """Where the include would be found: the source's directory (quoted
    includes only), the -I directories, then the usual system ones."""
    dirs = [source_dir] if source_dir else []
    for d in [*dirs, *include_dirs, "/usr/local/include", "/usr/include"]:
        candidate = os.path.join(d, name)
        if os.path.isfile(candidate):
            return candidate
    return None


def cache_root() -> str:
    return cache_dir("vmlinux")


def _btf_to_c(path: str) -> str:
    """vmlinux.h text printed by bpfinspect's BTF-to-C printer."""
    from bpfinspect.btf import load_btf  # noqa: PLC0415 - only when a header must be made
    from bpfinspect.btf import c_dump  # noqa: PLC0415

    return c_dump.c_text(load_btf(path))


def ensure_vmlinux_dir(include_name: str, btf_path: str | None = None) -> str:
    """Directory under which ``include_name`` (e.g. ``vmlinux.h``) exists,
    printing it from BTF into the cache when needed."""
    path = btf_path or DEFAULT_BTF
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError as exc:
        if btf_path:
            raise UsageError(f"no such BTF file: {path}") from exc
        raise EnvironmentProblem(
            f"the source includes {include_name} but none is on the include path and the kernel "
            f"has no {DEFAULT_BTF}; pass -I DIR or --btf PATH") from exc
    except OSError as exc:
        raise EnvironmentProblem(f"cannot read {path}: {exc.strerror or exc}") from exc
    # the printer's own code is part of the key: a fixed printer never serves an old header
    from bpfinspect.btf import code_hash  # noqa: PLC0415
    digest = hashlib.sha256(data + code_hash().encode()).hexdigest()[:32]
    directory = os.path.join(cache_root(), digest)
    target = os.path.join(directory, include_name)
    if os.path.isfile(target):
        return directory
    text = _btf_to_c(path)
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        write_atomic(target, text)
    except OSError as exc:
        raise EnvironmentProblem(f"cannot write {target}: {exc.strerror or exc}") from exc
    return directory
