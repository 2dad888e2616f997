"""`bpfinspect asm FILE -o OUT [--endian big]`: assemble plain instruction text into raw bytes."""

from __future__ import annotations

import sys

from bpfinspect.cli.common import gc_paused


def register(sub) -> None:
    p = sub.add_parser(
        "asm", help="assemble instruction text (the `disasm --plain` form) into raw instruction bytes",
        description="Assemble BPF instructions written in llvm-objdump 19 syntax (as `bpfinspect disasm "
                    "--plain` prints them) into raw instruction bytes.")
    p.add_argument("file", metavar="FILE", help="assembly text ('-' for standard input)")
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="where to write the bytes ('-' for standard output)")
    p.add_argument("--endian", choices=("little", "big"), default="little", help="byte order (default: little)")
    p.set_defaults(run=run)


@gc_paused
def run(args) -> int:
    from bpfinspect.errors import EnvironmentProblem, UsageError
    from bpfinspect.isa.asm import assemble

    try:
        if args.file == "-":
            text = sys.stdin.read()
            path = "<stdin>"
        else:
            with open(args.file, encoding="utf-8") as fh:
                text = fh.read()
            path = args.file
    except FileNotFoundError:
        raise UsageError(f"{args.file}: no such file") from None
    except UnicodeDecodeError:
        raise UsageError(f"{args.file}: not UTF-8 text") from None
    except OSError as exc:
        raise EnvironmentProblem(f"{args.file}: {exc.strerror}") from None
    code = assemble(text, little=args.endian == "little", path=path)
    try:
        if args.output == "-":
            sys.stdout.buffer.write(code)
            sys.stdout.buffer.flush()
        else:
            with open(args.output, "wb") as fh:
                fh.write(code)
    except OSError as exc:
        raise EnvironmentProblem(f"{args.output}: {exc.strerror}") from None
    return 0
