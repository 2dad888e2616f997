"""`bpfinspect maps OBJ [--type MAP=TYPE]... [--header FILE]... [--json]`: map definitions: type, sizes,
key/value types, flags, pinning, inner maps, initial slots, and the record types of ring buffers and perf event
arrays."""

from __future__ import annotations

from bpfinspect.cli.batch import add_objects_arg, batched
from bpfinspect.cli.common import add_header_args, add_json_arg

HELP = "map definitions: type, sizes, key/value and record types, flags, pinning, inner maps, initial slots"


def register(sub) -> None:
    p = sub.add_parser("maps", help=HELP, description=HELP)
    add_objects_arg(p)
    p.add_argument("--type", dest="record_types", action="append", default=[], metavar="MAP=TYPE",
                   help="the record type of a ring buffer or perf event array (overrides what is inferred; "
                        "repeatable), e.g. --type rb='struct event'")
    add_header_args(p)
    add_json_arg(p)
    p.set_defaults(run=batched(run))


def run(args) -> int:
    from bpfinspect.cli.common import header_options, open_obj
    from bpfinspect.typesrc import TypeSource
    from bpfinspect.typesrc.records import parse_overrides
    from bpfinspect.views import maps as view

    obj = open_obj(args.object)
    source = TypeSource(obj, overrides=parse_overrides(args.record_types), headers=header_options(args))
    if args.json:
        from bpfinspect.views.jsonout import emit
        emit(view.to_json(obj, source))
    else:
        from bpfinspect.views.table import render
        render(view.blocks(obj, source))
    return 0
