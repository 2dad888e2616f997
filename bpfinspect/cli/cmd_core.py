"""`bpfinspect core OBJ [--btf TARGET]... [--base BASE] [--prog NAME] [--json]`: how every CO-RE
relocation resolves on each target BTF, whether poisoned instructions are guarded, and which
programs the verifier would reject."""

from __future__ import annotations

from bpfinspect.cli.batch import add_objects_arg, batched
from bpfinspect.cli.common import add_json_arg

HELP = "resolve the CO-RE relocations of an object against target BTFs, as libbpf does"


def register(sub) -> None:
    p = sub.add_parser("core", help=HELP, description=HELP)
    add_objects_arg(p)
    p.add_argument("--btf", metavar="TARGET", action="append", default=[],
                   help="target BTF: raw BTF, an ELF with .BTF, a directory of them, or a btfhub "
                        ".btf.tar.xz (repeatable; default /sys/kernel/btf/vmlinux)")
    p.add_argument("--base", metavar="BASE", help="base BTF of split (module) target BTFs")
    p.add_argument("--prog", metavar="NAME", help="only the relocations of this program (and its subprograms)")
    p.add_argument("-v", "--verbose", action="store_true", help="list every candidate of every relocation")
    p.add_argument("--summary", action="store_true", help="one line per target (and on how many the object works)")
    add_json_arg(p)
    p.set_defaults(run=batched(run))


def run(args) -> int:
    from bpfinspect.cli.common import gc_paused

    return gc_paused(_run)(args)


def _run(args) -> int:
    from bpfinspect.cli.common import open_obj
    from bpfinspect.core.report import resolve_targets

    obj = open_obj(args.object)
    targets = resolve_targets(obj, args.btf, base=args.base, program=args.prog)
    if args.json:
        from bpfinspect.views.core import to_json, write_json
        write_json(to_json(args.object, targets))
    else:
        from bpfinspect.views.core import blocks
        from bpfinspect.views.table import render
        render(blocks(args.object, targets, verbose=args.verbose, summary=args.summary))
    return 0 if all(t.summary and t.summary["works"] for t in targets) else 1
