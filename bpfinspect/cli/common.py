"""Shared bits of the command modules (kept light: no heavy imports here)."""

from __future__ import annotations

import argparse


ATTACH_TARGETS = ("uprobe BIN:FUNC[+OFF] or BIN:0xOFF (add ,pid=N), tracepoint CAT/NAME, raw tracepoint NAME, "
                  "kprobe FUNC[+OFF], XDP or tc IFNAME (tc: IFNAME:egress)")


def add_object_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("object", metavar="OBJ", help="compiled BPF object (x.bpf.o)")


def add_json_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print a JSON document (schema 1) instead of tables")


def add_trace_syscalls_arg(p: argparse.ArgumentParser) -> None:
    """``--trace-syscalls`` (a timeline of the BPF system calls made) and ``--trace-syscalls=all``.

    Two literal options, so the value can only be given with ``=`` and a file
    name after a bare ``--trace-syscalls`` stays the file name."""
    p.add_argument("--trace-syscalls", dest="trace_syscalls", action="store_const", const="steps",
                   help="record the bpf(), perf_event_open(), perf ioctl() and map mmap() calls this command makes, "
                        "and show them as a timeline (libbpf's feature probes folded); needs root and tracefs")
    p.add_argument("--trace-syscalls=all", dest="trace_syscalls", action="store_const", const="all",
                   help="the same, listing the feature probes one by one")


def open_obj(path: str):
    from bpfinspect.obj import open_object
    return open_object(path)


def simple_command(name: str, help_text: str, view: str):
    """register()/run() for a command that is 'open the object, print one view'."""
    import importlib

    def register(sub) -> None:
        from bpfinspect.cli.batch import add_objects_arg, batched

        p = sub.add_parser(name, help=help_text, description=help_text)
        add_objects_arg(p)
        add_json_arg(p)
        p.set_defaults(run=batched(run))

    def run(args) -> int:
        return show(args, importlib.import_module(f"bpfinspect.views.{view}"))

    return register, run


def gc_paused(fn):
    """Run a command with the cyclic garbage collector paused.

    Decoders build many small acyclic objects; the collector would only rescan
    them over and over (a fifth of the run on large inputs)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import gc

        enabled = gc.isenabled()
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()

    return wrapper


@gc_paused
def show(args, view_module) -> int:
    """Build the model and print one view of it, as JSON or as tables."""
    obj = open_obj(args.object)
    if getattr(args, "json", False):
        from bpfinspect.views.jsonout import emit
        emit(view_module.to_json(obj))
    else:
        from bpfinspect.views.table import render
        render(view_module.blocks(obj))
    return 0
