"""`bpfinspect btf SOURCE [--format raw|c] ...`: the BTF of an object, a kernel or a module.

SOURCE is a BPF object (its ``.BTF`` section), a raw BTF file such as
``/sys/kernel/btf/vmlinux``, or split BTF (a kernel module's, e.g.
``/sys/kernel/btf/nf_tables``) whose base is given with ``--base``; like
bpftool, a file under ``/sys/kernel/btf/`` other than ``vmlinux`` gets
``/sys/kernel/btf/vmlinux`` as its base by default.
"""

from __future__ import annotations

import os

from bpfinspect.cli.common import add_json_arg

SYSFS_BTF = "/sys/kernel/btf/"
VMLINUX = "/sys/kernel/btf/vmlinux"


def register(sub) -> None:
    p = sub.add_parser(
        "btf", help="dump BTF types, raw or as C (vmlinux.h)",
        description="Dump the BTF types of a BPF object, of /sys/kernel/btf/vmlinux or of split BTF, "
                    "as bpftool's raw listing or as a compilable C header.")
    p.add_argument("source", metavar="SOURCE", help="BPF object, raw BTF file, or split BTF (with --base)")
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
    p.set_defaults(run=run)


def _base_for(args):
    if args.base:
        return args.base
    src = os.path.abspath(args.source) if not args.source.startswith(SYSFS_BTF) else args.source
    if src.startswith(SYSFS_BTF) and src != VMLINUX:
        return VMLINUX
    return None


def run(args) -> int:
    import gc

    # A short-lived run over up to a few hundred thousand small objects, none of them in
    # reference cycles: the cyclic collector would only rescan them again and again.
    gc.disable()
    from bpfinspect.btf import load_btf
    from bpfinspect.btf.c_table import Table
    from bpfinspect.errors import UsageError
    from bpfinspect.views import btf as view

    fmt = args.format or "raw"
    if args.json and args.format == "c":
        raise UsageError("--json gives the type records; the C rendering is text only")
    if fmt == "raw" and (args.sorted or args.no_guards):
        raise UsageError("--sorted and --no-guards apply to --format c")
    base = _base_for(args)
    btf = load_btf(args.source, base=load_btf(base) if base else None)
    table = Table(btf)
    ids = None
    if args.type_name:
        ids = view.find_named(table, args.type_name, c_roots=(fmt == "c" and not args.json))
        if not ids:
            raise UsageError(f"{args.source}: no type named '{args.type_name}'")
    if args.json:
        view.write_json(view.to_json(btf, ids, table=table))
        return 0
    if fmt == "c":
        text = view.c(btf, ids, guards=not args.no_guards, sort=args.sorted, table=table)
    else:
        text = view.raw(btf, ids, table=table)
    view.write_text(text, fmt)
    return 0
