"""Where a binary named without a directory lives: libbpf's search, then the dynamic linker's cache.

libbpf (``resolve_full_path`` in 1.1) resolves a name without ``/``: a name
ending in ``.so`` or containing ``.so.`` is looked for in ``LD_LIBRARY_PATH``,
``/usr/lib64:/usr/lib`` and the multiarch directory of the machine it was built
for (readable files); any other name in ``PATH`` and ``/usr/bin:/usr/sbin``
(readable and executable files).  Empty elements of a list are skipped.

Beyond libbpf, a library name is also looked up in ``/etc/ld.so.cache`` (the
file ``ldconfig -p`` prints), and a name found nowhere else but present in the
current directory is taken from there; both are reported, since
``SEC("uprobe/NAME:...")`` would not find such a binary.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from bpfinspect.errors import UsageError

LD_SO_CACHE = "/etc/ld.so.cache"
_CACHE_MAGIC = b"glibc-ld.so.cache1.1"
_CACHE_OLD_MAGIC = b"ld.so-1.7.0"
MAX_CACHE = 64 << 20

# libbpf's multiarch directory for the machine it runs on (Debian's names)
_ARCH_DIRS = {
    "x86_64": "/lib/x86_64-linux-gnu", "i386": "/lib/i386-linux-gnu", "i686": "/lib/i386-linux-gnu",
    "s390x": "/lib/s390x-linux-gnu", "aarch64": "/lib/aarch64-linux-gnu",
    "armv7l": "/lib/arm-linux-gnueabihf", "ppc64le": "/lib/powerpc64le-linux-gnu",
    "riscv64": "/lib/riscv64-linux-gnu", "sparc64": "/lib/sparc64-linux-gnu",
    "mips64": "/lib/mips64el-linux-gnuabi64",
}
# ld.so.cache entry flags of 64-bit libraries per machine (FLAG_ELF_LIBC6 | FLAG_<arch>)
_CACHE_FLAGS = {"x86_64": 0x0303, "aarch64": 0x0a03, "s390x": 0x0403, "ppc64le": 0x0503,
                "riscv64": 0x1103, "i386": 0x0003, "i686": 0x0003}


@dataclass(frozen=True, slots=True)
class Resolved:
    """How a BINARY argument was found.

    ``path`` is the file to read; ``how`` one of ``path`` (it had a ``/``),
    ``library search``/``PATH search`` (libbpf's own search found it),
    ``ld.so.cache`` or ``current directory`` (found where libbpf does not look);
    ``libbpf_path`` what libbpf resolves the argument to (None: not found);
    ``sec_binary`` the spelling for a ``SEC("uprobe/...")`` name that reaches this file (a relative
    path stays relative: libbpf, like the kernel, reads it from the loader's current directory).
    """
    given: str
    path: str
    how: str
    libbpf_path: str | None
    sec_binary: str

    @property
    def note(self) -> str | None:
        if self.how == "ld.so.cache":
            return (f"found through {LD_SO_CACHE}, which libbpf does not read: name the file "
                    f"({self.path}) in SEC() and attach calls")
        if self.how == "current directory":
            return f"found in the current directory, where libbpf does not look: write ./{self.given} or the full path"
        return None


def is_library_name(name: str) -> bool:
    return name.endswith(".so") or ".so." in name


def libbpf_search_dirs(name: str, env=None) -> tuple[list[str], int]:
    """libbpf's directories for ``name`` in order, and the access mode it requires."""
    env = os.environ if env is None else env
    if is_library_name(name):
        lists = [env.get("LD_LIBRARY_PATH"), "/usr/lib64:/usr/lib", _ARCH_DIRS.get(os.uname().machine)]
        mode = os.R_OK
    else:
        lists = [env.get("PATH"), "/usr/bin:/usr/sbin"]
        mode = os.R_OK | os.X_OK
    dirs = [d for lst in lists if lst for d in lst.split(":") if d]
    return dirs, mode


def libbpf_resolve(name: str, env=None) -> str | None:
    """What libbpf 1.1 makes of a binary name without ``/`` (None: it gives ENOENT)."""
    dirs, mode = libbpf_search_dirs(name, env)
    for d in dirs:
        candidate = f"{d}/{name}"
        if os.access(candidate, mode, effective_ids=os.access in os.supports_effective_ids):
            return candidate
    return None


def resolve_binary(given: str, env=None) -> Resolved:
    """Find the file a BINARY argument names (see the module docstring); UsageError when nothing is found."""
    if not given:
        raise UsageError("empty binary name")
    if "/" in given:
        return Resolved(given, given, "path", given, given)
    found = libbpf_resolve(given, env)
    if found is not None:
        how = "library search" if is_library_name(given) else "PATH search"
        return Resolved(given, found, how, found, given)
    if is_library_name(given):
        cached = ld_cache_lookup(given)
        if cached is not None:
            return Resolved(given, cached, "ld.so.cache", None, os.path.abspath(cached))
    if os.path.isfile(given):
        return Resolved(given, os.path.join(".", given), "current directory", None, os.path.join(".", given))
    dirs, _ = libbpf_search_dirs(given, env)
    where = "LD_LIBRARY_PATH, /usr/lib64, /usr/lib, the multiarch directory and ld.so.cache" \
        if is_library_name(given) else "PATH, /usr/bin and /usr/sbin"
    raise UsageError(f"{given}: not found in {where} (searched {len(dirs)} directories); give a path")


def read_ld_cache(path: str = LD_SO_CACHE) -> list[tuple[int, str, str]]:
    """The entries of the dynamic linker's cache: (flags, library name, file), in file order."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_CACHE + 1)
    except OSError:
        return []
    if len(data) > MAX_CACHE:
        return []
    base = 0
    if data.startswith(_CACHE_OLD_MAGIC):
        # the old format first: a count and 12-byte entries, then the new format, 8-byte aligned
        if len(data) < 16:
            return []
        (n_old,) = struct.unpack_from("<I", data, 12)
        base = 16 + n_old * 12
        base = (base + 7) & ~7
    if data[base:base + len(_CACHE_MAGIC)] != _CACHE_MAGIC or len(data) < base + 48:
        return []
    end = "<" if data[base + 28] != 3 else ">"  # byte-order flag: 2 little, 3 big, 0/1 host (little here)
    (nlibs,) = struct.unpack_from(end + "I", data, base + 20)
    if base + 48 + nlibs * 24 > len(data):
        return []
    out = []
    for i in range(nlibs):
        flags, key, value = struct.unpack_from(end + "iII", data, base + 48 + i * 24)
        out.append((flags, _cstr(data, base + key), _cstr(data, base + value)))
    return out


def ld_cache_lookup(name: str, path: str = LD_SO_CACHE) -> str | None:
    """The file the dynamic linker's cache gives for ``name`` (this machine's word size first)."""
    want = _CACHE_FLAGS.get(os.uname().machine)
    hits = [(flags, file) for flags, lib, file in read_ld_cache(path) if lib == name]
    for flags, file in hits:
        if want is None or flags == want:
            return file
    return hits[0][1] if hits else None


def _cstr(data: bytes, off: int) -> str:
    if not 0 <= off < len(data):
        return ""
    end = data.find(b"\0", off)
    return data[off:end if end >= 0 else len(data)].decode("utf-8", "surrogateescape")
