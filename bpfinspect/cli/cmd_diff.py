"""`bpfinspect diff A.o B.o [--prog NAME] [--json]`: what changed between two builds.

Exit 0 when the two are equivalent, 1 when they differ, 2 for bad input."""

from __future__ import annotations

from bpfinspect.cli.common import add_json_arg, gc_paused


def register(sub) -> None:
    help_text = ("compare two builds of an object: programs and their code (labels, jump offsets and relocations "
                 "aside), source lines, maps, globals, types, CO-RE relocations, helpers, license")
    p = sub.add_parser("diff", help=help_text, description=help_text)
    p.add_argument("object", metavar="A", help="the first build (x.bpf.o)")
    p.add_argument("other", metavar="B", help="the second build")
    p.add_argument("--prog", metavar="NAME", help="compare only this program (and the maps, globals and types it uses)")
    add_json_arg(p)
    p.set_defaults(run=run)


@gc_paused
def run(args) -> int:
    from bpfinspect.compare.objects import diff_objects
    from bpfinspect.errors import BpfInspectError
    from bpfinspect.obj import open_object

    a = open_object(args.object)
    try:
        b = open_object(args.other)
    except BpfInspectError as exc:
        if exc.path is None:
            exc.path = args.other
        raise
    doc = diff_objects(a, b, args.prog)
    from bpfinspect.views import diff as view
    if args.json:
        from bpfinspect.views.jsonout import emit
        emit(view.to_json(doc))
    else:
        from bpfinspect.views.table import render
        render(view.blocks(doc))
    return 0 if doc["equivalent"] else 1
