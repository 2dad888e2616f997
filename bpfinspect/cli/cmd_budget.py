"""`bpfinspect budget OBJ [--prog NAME]... [--json]`: how close each program is to the verifier's limits."""

from __future__ import annotations

from bpfinspect.cli.common import add_json_arg, add_object_arg, gc_paused


def register(sub) -> None:
    help_text = ("per program: stack along its deepest call chain, tail calls, instructions in all and along "
                 "the longest path, loops and their bounds, warnings against the kernel's limits")
    p = sub.add_parser("budget", help=help_text, description=help_text)
    add_object_arg(p)
    p.add_argument("--prog", action="append", metavar="NAME", default=[], help="only this program (repeatable)")
    p.add_argument("--interpreter", action="store_true",
                   help="round frames as the interpreter does (32 bytes) instead of the JIT (16)")
    add_json_arg(p)
    p.set_defaults(run=run)


@gc_paused
def run(args) -> int:
    from bpfinspect.errors import UsageError
    from bpfinspect.flow.budget import object_budget
    from bpfinspect.obj import open_object

    obj = open_object(args.object)
    known = {p.name for p in obj.programs if not p.is_subprog}
    unknown = [n for n in args.prog if n not in known]
    if unknown:
        raise UsageError(f"no program named {', '.join(repr(u) for u in unknown)} "
                         f"(have: {', '.join(sorted(known)) or 'none'})")
    budgets = object_budget(obj, args.prog or None, jit=not args.interpreter)
    from bpfinspect.views import budget as view
    if args.json:
        from bpfinspect.views.jsonout import emit
        emit(view.to_json(obj, budgets))
    else:
        from bpfinspect.views.table import render
        render(view.blocks(obj, budgets))
    return 0
