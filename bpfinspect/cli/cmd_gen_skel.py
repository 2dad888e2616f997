"""`bpfinspect gen-skel OBJ [--lang c|python] [--name NAME] [--types] [--type NAME]... [--strip-debug] [-o FILE]`."""

from __future__ import annotations

import os
import sys

from bpfinspect.cli.common import add_object_arg

HELP = "generate a skeleton (C header like bpftool's, or a Python module) for a BPF object"


def register(sub) -> None:
    p = sub.add_parser("gen-skel", help=HELP, description=HELP)
    add_object_arg(p)
    p.add_argument("--lang", choices=("c", "python"), default="c", help="language of the skeleton (default: c)")
    p.add_argument("--name", metavar="NAME",
                   help="skeleton name (default: the object file name without .o, as bpftool does); "
                        "made a valid identifier")
    p.add_argument("--types", action="store_true",
                   help="C: also define, from BTF, the types the global variables use (self-contained header)")
    p.add_argument("--type", action="append", default=[], metavar="NAME",
                   help="python: a BTF type to generate a class for (repeatable)")
    p.add_argument("--strip-debug", action="store_true",
                   help="embed the object without the contents of its DWARF sections (.debug_*: most of a "
                        "clang -g object; libbpf never reads them); default: the exact bytes")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write to FILE instead of standard output (atomically for a file; '-' is standard output)")
    p.set_defaults(run=run)


def run(args) -> int:
    from bpfinspect.errors import UsageError
    from bpfinspect.obj import open_object

    obj = open_object(args.object)
    data = None
    if args.strip_debug:
        from bpfinspect.elf.strip import without_debug
        data = without_debug(obj.elf)
    if args.lang == "python":
        if args.types:
            raise UsageError("--types is for --lang c (use --type NAME with --lang python)")
        from bpfinspect.skel import python as pyskel
        # the module is named after the file it is written to (its docstring shows the import)
        module_name = None
        if args.output and args.output.endswith(".py"):
            module_name = os.path.basename(args.output)[:-3]
        text = pyskel.generate(obj, types=args.type, module_name=module_name, name=args.name, data=data)
        warnings: list[str] = []
    else:
        if args.type:
            raise UsageError("--type is for --lang python (use --types with --lang c)")
        from bpfinspect.skel.c import generate_with_warnings
        text, warnings = generate_with_warnings(obj, name=args.name, types=args.types, data=data)
    for w in warnings:
        print(f"bpfinspect: warning: {w}", file=sys.stderr)
    from bpfinspect.fileio import write_output
    write_output(args.output, text)
    return 0
