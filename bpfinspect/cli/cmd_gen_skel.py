"""`bpfinspect gen-skel OBJ [--lang c|python] [--name NAME] [--types] [--type NAME|MAP=TYPE]... [--header FILE]...
[--strip-debug] [-o FILE]`."""

from __future__ import annotations

import os
import sys

from bpfinspect.cli.common import add_header_args, add_object_arg

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
    p.add_argument("--type", action="append", default=[], metavar="NAME|MAP=TYPE",
                   help="a type to define (python: a ctypes class; c: a definition with asserts on its layout, "
                        "implies --types), from the object's BTF, its DWARF or --header; MAP=TYPE: the record "
                        "type of a ring buffer or perf event array (overrides what is inferred; repeatable)")
    p.add_argument("--strip-debug", action="store_true",
                   help="embed the object without the contents of its DWARF sections (.debug_*: most of a "
                        "clang -g object; libbpf never reads them); default: the exact bytes")
    add_header_args(p)
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write to FILE instead of standard output (atomically for a file; '-' is standard output)")
    p.set_defaults(run=run)


def run(args) -> int:
    from bpfinspect.cli.common import header_options
    from bpfinspect.errors import UsageError
    from bpfinspect.obj import open_object
    from bpfinspect.typesrc import TypeSource
    from bpfinspect.typesrc.records import parse_overrides

    obj = open_object(args.object)
    data = None
    if args.strip_debug:
        from bpfinspect.elf.strip import without_debug
        data = without_debug(obj.elf)
    names = [t for t in args.type if "=" not in t]
    source = TypeSource(obj, overrides=parse_overrides([t for t in args.type if "=" in t]),
                        headers=header_options(args))
    if args.lang == "python":
        if args.types:
            raise UsageError("--types is for --lang c (use --type NAME with --lang python)")
        from bpfinspect.skel import python as pyskel
        # the module is named after the file it is written to (its docstring shows the import)
        module_name = None
        if args.output and args.output.endswith(".py"):
            module_name = os.path.basename(args.output)[:-3]
        text = pyskel.generate(obj, types=names, module_name=module_name, name=args.name, source=source,
                               regen_args=_regen_args(args), data=data)
        warnings: list[str] = []
    else:
        from bpfinspect.skel.c import generate_with_warnings
        text, warnings = generate_with_warnings(obj, name=args.name, types=args.types, source=source,
                                                type_specs=names, data=data)
    for w in warnings:
        print(f"bpfinspect: warning: {w}", file=sys.stderr)
    from bpfinspect.fileio import write_output
    write_output(args.output, text)
    return 0


def _regen_args(args) -> list[str]:
    """The options that chose the types, for the command line a Python skeleton shows to regenerate it."""
    out = [f"--type {t}" for t in args.type]
    out += [f"--header {os.path.basename(h)}" for h in args.headers]
    out += [f"-I {d}" for d in args.include_dirs] + [f"-D {d}" for d in args.defines]
    out += [f"--arch {args.arch}"] if args.arch else []
    return out
