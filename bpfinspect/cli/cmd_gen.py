"""`bpfinspect gen SUBCOMMAND`: files generated from objects.

- ``gen min-core-btf OBJ... --btf TARGET -o OUT``: the minimal BTF that the objects' CO-RE
  relocations need from TARGET (bpftool's ``gen min_core_btf``, byte for byte).
"""

from __future__ import annotations

HELP = "generate files from objects (min-core-btf)"


def register(sub) -> None:
    p = sub.add_parser("gen", help=HELP, description=HELP)
    gsub = p.add_subparsers(dest="gen_command", metavar="SUBCOMMAND")
    gsub.required = True
    m = gsub.add_parser("min-core-btf", help="the minimal BTF the objects' CO-RE relocations need from a target",
                        description="The minimal BTF that the CO-RE relocations of the objects need from TARGET, "
                                    "byte-identical to `bpftool gen min_core_btf TARGET OUT OBJ...`.")
    m.add_argument("objects", metavar="OBJ", nargs="+", help="compiled BPF objects (x.bpf.o)")
    m.add_argument("--btf", metavar="TARGET", required=True,
                   help="target BTF: raw BTF, an ELF with .BTF, or a btfhub .btf.tar.xz holding one BTF")
    m.add_argument("--base", metavar="BASE", help="base BTF when TARGET is split BTF")
    m.add_argument("-o", "--output", metavar="OUT", required=True, help="file to write (atomically for a file; '-' is standard output)")
    m.set_defaults(run=run_min_core_btf)


def run_min_core_btf(args) -> int:
    from bpfinspect.cli.common import gc_paused

    return gc_paused(_min_core_btf)(args)


def _min_core_btf(args) -> int:
    from bpfinspect.cli.common import open_obj
    from bpfinspect.core.minimize import minimize
    from bpfinspect.core.targets import iter_targets
    from bpfinspect.errors import UsageError
    from bpfinspect.fileio import write_output

    targets = list(iter_targets([args.btf], args.base))
    if len(targets) != 1:
        raise UsageError(f"--btf names {len(targets)} BTFs; min-core-btf takes one", path=args.btf)
    target = targets[0]
    if target.btf is None:
        raise UsageError(target.error or "cannot read the target", path=args.btf)
    objects = [open_obj(p) for p in args.objects]
    data = minimize(objects, target.btf, target.name)
    write_output(args.output, data)
    return 0
