"""`bpfinspect asm FILE -o OUT [--endian big]`: assemble plain instruction text into raw bytes."""

from __future__ import annotations


from bpfinspect.cli.common import gc_paused


def register(sub) -> None:
    p = sub.add_parser(
        "asm", help="assemble instruction text (the `disasm --plain` form) into raw instruction bytes",
        description="Assemble BPF instructions written in llvm-objdump 19 syntax (as `bpfinspect disasm "
                    "--plain` prints them) into raw instruction bytes.")
    p.add_argument("file", metavar="FILE", help="assembly text ('-' for standard input)")
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="where to write the bytes ('-' for standard output)")
    p.add_argument("--endian", choices=("little", "big"), default="little", help="byte order (default: little)")
    p.add_argument("--btf", metavar="PATH",
                   help="BTF whose FUNCs give kfunc ids to 'call NAME' and 'call kfunc NAME' "
                        "(e.g. /sys/kernel/btf/vmlinux)")
    p.set_defaults(run=run)


@gc_paused
def run(args) -> int:
    from bpfinspect.errors import UsageError
    from bpfinspect.fileio import read_input, write_output
    from bpfinspect.isa.asm import assemble

    data = read_input(args.file)  # bounded; '-' is standard input
    path = "<stdin>" if args.file == "-" else args.file
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text") from None
    kfuncs = None
    if args.btf:
        from bpfinspect.btf import load_btf
        from bpfinspect.views.btf import func_ids

        kfuncs = func_ids(load_btf(args.btf).table)
    code = assemble(text, little=args.endian == "little", path=path, kfuncs=kfuncs)
    write_output(args.output, code)
    return 0
