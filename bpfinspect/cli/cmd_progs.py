"""`bpfinspect progs OBJ [--json]`: programs: type, attach target, maps, helpers, kfuncs.

For a uprobe program whose section names a binary, the binary is looked up on this machine and
the function resolved to the file offset libbpf attaches to (bpfinspect.probes)."""

from bpfinspect.cli.common import add_json_arg, gc_paused, open_obj

HELP = "programs: type, attach target, maps, helpers, kfuncs"


def register(sub) -> None:
    from bpfinspect.cli.batch import add_objects_arg, batched

    p = sub.add_parser("progs", help=HELP, description=HELP + "; for a uprobe, its binary, function and the file "
                       "offset libbpf attaches to on this machine")
    add_objects_arg(p)
    add_json_arg(p)
    p.set_defaults(run=batched(run))


@gc_paused
def run(args) -> int:
    from bpfinspect.views import progs

    obj = open_obj(args.object)
    uprobes = _uprobes(obj)
    if args.json:
        from bpfinspect.views.jsonout import emit
        emit(progs.to_json(obj, uprobes=uprobes))
    else:
        from bpfinspect.views.table import render
        render(progs.blocks(obj, uprobes=uprobes))
    return 0


def _uprobes(obj) -> dict:
    """Program name -> UprobeTarget for the uprobe programs with a binary in their section name."""
    specs = [p for p in obj.programs if not p.is_subprog and p.spec is not None and p.spec.pattern
             and p.spec.pattern.startswith(("uprobe", "uretprobe"))]
    if not specs:
        return {}
    from bpfinspect.probes.check import uprobe_target

    out = {}
    for p in specs:
        t = uprobe_target(p.spec)
        if t is not None:
            out[p.name] = t
    return out
