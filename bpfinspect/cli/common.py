"""Shared bits of the command modules (kept light: no heavy imports here)."""

from __future__ import annotations

TYPE_CHECKING = False  # (typing itself costs milliseconds to import)
if TYPE_CHECKING:  # argparse is imported only when a parser is built (see cli/quickargs.py)
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


def add_header_args(p: argparse.ArgumentParser) -> None:
    """``--header FILE`` (repeatable): C headers or sources as a third type source, after the object's BTF
    and DWARF, parsed by libclang with ``expand``'s ``-I``, ``-D`` and ``--arch``."""
    from bpfinspect.cli.cmd_expand import ARCH_CHOICES

    g = p.add_argument_group("types from C headers")
    g.add_argument("--header", dest="headers", action="append", default=[], metavar="FILE",
                   help="a C header or source defining types the object's BTF and DWARF lack (repeatable; "
                        "parsed as a BPF program's compile sees it)")
    g.add_argument("-I", dest="include_dirs", action="append", default=[], metavar="DIR",
                   help="with --header: add DIR to the include path")
    g.add_argument("-D", dest="defines", action="append", default=[], metavar="NAME[=VALUE]",
                   help="with --header: define a macro for the parse")
    g.add_argument("--arch", choices=ARCH_CHOICES, default=None,
                   help="with --header: the target architecture (__TARGET_ARCH_*; default: this machine's)")


def header_options(args):
    """The :class:`~bpfinspect.typesrc.headers.HeaderOptions` of ``add_header_args``'s options (None without
    ``--header``)."""
    if not getattr(args, "headers", None):
        if getattr(args, "include_dirs", None) or getattr(args, "defines", None) or getattr(args, "arch", None):
            from bpfinspect.errors import UsageError
            raise UsageError("-I, -D and --arch are for --header")
        return None
    from bpfinspect.typesrc.headers import HeaderOptions
    return HeaderOptions(args.headers, arch=args.arch, include_dirs=args.include_dirs, defines=args.defines)


def open_obj(path: str):
    from bpfinspect.obj import open_object
    return open_object(path)


def simple_command(name: str, help_text: str, view: str, *, headers: bool = False, opener=None):
    """register()/run() for a command that is 'open the object, print one view' (``headers``: the view's
    ``to_json``/``blocks`` take a type source, and the command takes ``--header``; ``opener``: what
    reads the object when the view needs less than the model, the same refusals included)."""
    import importlib

    def register(sub) -> None:
        from bpfinspect.cli.batch import add_objects_arg, batched

        p = sub.add_parser(name, help=help_text, description=help_text)
        add_objects_arg(p)
        add_json_arg(p)
        if headers:
            add_header_args(p)
        p.set_defaults(run=batched(run))

    def run(args) -> int:
        return show(args, importlib.import_module(f"bpfinspect.views.{view}"), opener)

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
def show(args, view_module, opener=None) -> int:
    """Build the model (or what ``opener`` reads) and print one view of it, as JSON or as tables."""
    obj = (opener or open_obj)(args.object)
    extra = ()
    headers = header_options(args) if hasattr(args, "headers") else None
    if headers:   # otherwise the view makes its type source only if it needs one
        from bpfinspect.typesrc import TypeSource
        extra = (TypeSource(obj, headers=headers),)
    if getattr(args, "json", False):
        from bpfinspect.views.jsonout import emit
        emit(view_module.to_json(obj, *extra))
    else:
        from bpfinspect.views.table import render
        render(view_module.blocks(obj, *extra))
    return 0
