"""`bpfinspect disasm OBJ [--prog NAME | --section SEC] [--no-annotate] [--json] [--plain]`."""

from __future__ import annotations

import sys

from bpfinspect.cli.batch import add_objects_arg, batched
from bpfinspect.cli.common import gc_paused


def register(sub) -> None:
    p = sub.add_parser(
        "disasm", help="disassemble programs (llvm-objdump 19 syntax, annotated)",
        description="Disassemble every program and subprogram of a BPF object in llvm-objdump 19 "
                    "syntax, annotated with maps, globals, helpers, calls, CO-RE relocations and "
                    "BTF line info.")
    add_objects_arg(p)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--prog", metavar="NAME", help="only this program")
    which.add_argument("--section", metavar="SEC", help="only this code section")
    p.add_argument("--no-annotate", action="store_true", help="instruction text only, no notes")
    form = p.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="print a JSON document (schema 1)")
    form.add_argument("--plain", action="store_true",
                      help="only instruction text, one per line, in the form `bpfinspect asm` reads")
    p.set_defaults(run=batched(run))


@gc_paused
def run(args) -> int:
    from bpfinspect.views import disasm

    annotate = not args.no_annotate and not args.plain
    need_plain = args.plain or args.json
    from bpfinspect.obj import open_object

    # The model is built lazily: without notes only the symbol table and code are read.
    listing = disasm.build_listing(open_object(args.object), section=args.section, prog=args.prog,
                                   annotate=annotate, need_plain=need_plain, plain_only=args.plain)
    out = sys.stdout
    if args.json:
        disasm.write_json(listing, out)
    elif args.plain:
        with_headers = len({e.section for e in listing.entries}) > 1
        out.write("\n".join(disasm.plain_lines(listing, with_headers)) + "\n")
        _warn_raw(listing)
    else:
        from bpfinspect.views.term import use_color
        color = use_color(out)
        disasm.write_human(listing, out, color)
    return 0


def _warn_raw(listing, limit: int = 10) -> None:
    """--plain prints text only: say on stderr which slots are raw data, and why."""
    warnings = sorted((sec, idx, n["text"]) for (sec, idx), notes in listing.notes.items()
                      for n in notes if n["kind"] == "warning")
    for sec, idx, text in warnings[:limit]:
        print(f"bpfinspect: warning: {sec}:{idx}: {text}", file=sys.stderr)
    if len(warnings) > limit:
        print(f"bpfinspect: warning: {len(warnings) - limit} more slots are raw data", file=sys.stderr)
