"""`bpfinspect btf SOURCE [--format raw|c] ...`: the BTF of an object, a kernel or a module.

SOURCE is a BPF object (its ``.BTF`` section), a raw BTF file such as
``/sys/kernel/btf/vmlinux``, or split BTF (a kernel module's, e.g.
``/sys/kernel/btf/nf_tables``) whose base is given with ``--base``; like
bpftool, a file under ``/sys/kernel/btf/`` other than ``vmlinux`` gets
``/sys/kernel/btf/vmlinux`` as its base by default.

Rendering cache (an extra, never needed for correctness): the text of a
kernel-sized rendering (input of 1 MiB or more, piped output) is kept under
``$XDG_CACHE_HOME/bpfinspect/btf/`` (``~/.cache/...``), keyed by the SHA-256 of
the input bytes (and of the base's), the format and options, the bpfinspect
version and a hash of the whole ``bpfinspect.btf`` package (and of this
command's view modules).  A
later identical run prints the kept bytes without decoding anything.  Set
``BPFINSPECT_NO_CACHE=1`` to neither read nor write it.  At most
``_CACHE_KEEP`` renderings are kept (oldest removed first).
"""

from __future__ import annotations

import os

from bpfinspect.cli.batch import add_objects_arg, batched
from bpfinspect.cli.common import add_json_arg, gc_paused

SYSFS_BTF = "/sys/kernel/btf/"
VMLINUX = "/sys/kernel/btf/vmlinux"


def register(sub) -> None:
    p = sub.add_parser(
        "btf", help="dump BTF types, raw or as C (vmlinux.h)",
        description="Dump the BTF types of a BPF object, of /sys/kernel/btf/vmlinux or of split BTF, "
                    "as bpftool's raw listing or as a compilable C header.")
    add_objects_arg(p, "source", "SOURCE", "BPF object, raw BTF file, or split BTF (with --base)")
    p.add_argument("--format", choices=("raw", "c"), default=None, help="raw listing (default) or C")
    p.add_argument("--type", metavar="NAME", dest="type_name",
                   help="only the type(s) called NAME ('struct foo' narrows the kind); "
                        "with --format c, NAME and everything it needs")
    p.add_argument("--base", metavar="BASE", help="base BTF of a split BTF SOURCE (default for "
                   f"{SYSFS_BTF}<module>: {VMLINUX})")
    p.add_argument("--sorted", action="store_true",
                   help="C: take types in newer bpftool's sorted order instead of id order")
    p.add_argument("--no-guards", action="store_true",
                   help="C: leave out the #ifndef guard and the preserve_access_index pragma")
    add_json_arg(p)
    p.set_defaults(run=batched(run, "source"))


def _base_for(args):
    if args.base:
        return args.base
    src = os.path.abspath(args.source) if not args.source.startswith(SYSFS_BTF) else args.source
    if src.startswith(SYSFS_BTF) and src != VMLINUX:
        return VMLINUX
    return None


# Inputs smaller than this render fast enough: they are never cached.
_CACHE_MIN_INPUT = 1 << 20
_CACHE_KEEP = 8
# Beside the whole btf package, the modules outside it whose code decides the rendered text.
_RENDER_MODULES = ("views/btf.py", "cli/cmd_btf.py")


def _cache_dir() -> str | None:
    if os.environ.get("BPFINSPECT_NO_CACHE"):
        return None
    from bpfinspect.fileio import cache_dir
    return cache_dir("btf")


def _cache_key(args, fmt: str, base: str | None) -> tuple[str, dict] | None:
    """The cache file name for this run and the input bytes it read (by path, for the
    decoder to reuse), or None when the run is not worth caching."""
    if args.json or args.type_name:
        return None
    try:
        if os.path.getsize(args.source) < _CACHE_MIN_INPUT:
            return None
        import hashlib

        from bpfinspect.btf import code_hash
        from bpfinspect.fileio import code_fingerprint
        h = hashlib.sha256()
        h.update(f"{fmt}\0{args.sorted}\0{args.no_guards}\0".encode())
        h.update(code_hash().encode())
        h.update(code_fingerprint(*_RENDER_MODULES).encode())
        from bpfinspect.btf.btf import read_source
        read = {}
        for path in (args.source, base):
            h.update(b"\0input\0")
            if path is not None:
                read[path] = read_source(path)  # bounded, and refused early when not BTF
                h.update(read[path])
        return h.hexdigest(), read
    except OSError:
        return None


def _cache_read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def _cache_write(directory: str, path: str, data: bytes) -> None:
    """Store ``data`` atomically; a cache that cannot be written is silently skipped."""
    try:
        from bpfinspect.fileio import write_atomic

        os.makedirs(directory, exist_ok=True)
        write_atomic(path, data)
        kept = sorted((e for e in os.scandir(directory) if e.name.endswith(".out")),
                      key=lambda e: e.stat().st_mtime_ns, reverse=True)
        for e in kept[_CACHE_KEEP:]:
            os.unlink(e.path)
    except OSError:
        pass


def _write_bytes(data: bytes) -> None:
    import sys
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


@gc_paused
def run(args) -> int:
    from bpfinspect.errors import UsageError

    fmt = args.format or "raw"
    if args.json and args.format == "c":
        raise UsageError("--json gives the type records; the C rendering is text only")
    if fmt == "raw" and (args.sorted or args.no_guards):
        raise UsageError("--sorted and --no-guards apply to --format c")
    base = _base_for(args)
    cache = _cache_dir()
    cache_file = None
    read: dict = {}
    if cache is not None and not _isatty():
        keyed = _cache_key(args, fmt, base)
        if keyed is not None:
            key, read = keyed
            cache_file = os.path.join(cache, key + ".out")
            data = _cache_read(cache_file)
            if data is not None:
                _write_bytes(data)
                return 0

    from bpfinspect.btf import load_btf
    from bpfinspect.views import btf as view

    btf = load_btf(args.source, base=load_btf(base, data=read.get(base)) if base else None,
                   data=read.get(args.source))
    table = btf.table
    ids = None
    if args.type_name:
        ids = view.find_named(table, args.type_name, c_roots=(fmt == "c" and not args.json))
        if not ids:
            from bpfinspect.suggest import did_you_mean

            wanted = args.type_name.split()[-1] if args.type_name.split() else args.type_name
            raise UsageError(f"{args.source}: no type named '{args.type_name}'"
                             + did_you_mean(wanted, view.type_names(table)))
    if args.json:
        view.write_json(view.to_json(btf, ids, table=table))
        return 0
    if fmt == "c":
        text = view.c(btf, ids, guards=not args.no_guards, sort=args.sorted, table=table)
    else:
        text = view.raw_bytes(btf, ids, table=table)
    if cache_file is not None:
        data = text if type(text) is bytes else text.encode("utf-8", "surrogateescape")
        _write_bytes(data)
        _cache_write(cache, cache_file, data)
        return 0
    view.write_text(text, fmt)
    return 0


def _isatty() -> bool:
    import sys
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False
