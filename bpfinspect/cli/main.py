"""Command-line entry point: argument parsing and error mapping only.

Each command lives in its own module ``bpfinspect.cli.cmd_<name>`` exposing
``register(subparsers)`` and ``run(args) -> int``.  Those modules must stay
light to import: heavy libraries (libclang, jinja2, lark, the libbpf runtime)
are imported inside ``run``.
"""

from __future__ import annotations

import os
import sys

from bpfinspect import interrupts

# Order is the order of ``bpfinspect --help``.
COMMANDS = [
    "info", "sections", "progs", "maps", "globals", "relocs", "btf",
    "disasm", "asm", "gen_skel", "load", "run", "expand", "core", "gen", "probe", "budget", "diff",
]


def _parser_classes():
    """argparse's parser and help layout, made on first use: this module is what runs before
    the Ctrl-C handler is in place, so it imports nothing heavy at its top."""
    import argparse

    class _Formatter(argparse.HelpFormatter):
        """argparse's help layout, sized to the terminal without importing shutil (and what it
        imports) on every start: the same rule, COLUMNS first, then the terminal, then 80."""

        def __init__(self, prog, indent_increment=2, max_help_position=24, width=None):
            if width is None:
                try:
                    width = int(os.environ["COLUMNS"])
                except (KeyError, ValueError):
                    try:
                        width = os.get_terminal_size(sys.__stdout__.fileno()).columns
                    except (AttributeError, ValueError, OSError):
                        width = 0
                    width = width or 80
                width -= 2
            super().__init__(prog, indent_increment, max_help_position, width)

    class _Parser(argparse.ArgumentParser):
        def __init__(self, *args, **kwargs):
            kwargs.setdefault("formatter_class", _Formatter)
            super().__init__(*args, **kwargs)

    return _Parser


def build_parser(only: str | None = None):
    """The argument parser; with ``only``, just that command's (a faster start for real runs)."""
    import importlib

    from bpfinspect import __version__

    _Parser = _parser_classes()
    parser = _Parser(
        prog="bpfinspect",
        description="Look inside compiled BPF objects, generate skeletons, expand tracing macros, load through libbpf.",
    )
    parser.add_argument("--version", action="version", version=f"bpfinspect {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMANDS if only is None else [only]:
        try:
            module = importlib.import_module(f"bpfinspect.cli.cmd_{name}")
        except ModuleNotFoundError as exc:  # a command not built yet
            if exc.name == f"bpfinspect.cli.cmd_{name}":
                continue
            raise
        module.register(sub)
    return parser


def _input_of(args) -> str:
    """``"FILE: "`` for the command's input file, to start an error line with."""
    for attr in ("object", "source", "file"):
        value = getattr(args, attr, None)
        if isinstance(value, str):
            return f"{value}: "
    return ""


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit status.  Without ``argv`` this is the whole process
    (``bpfinspect ...``, ``python -m bpfinspect ...``), reading ``sys.argv``."""
    with interrupts.command(keep_installed=argv is None) as run:
        code = interrupts.INTERRUPTED_EXIT
        try:
            try:
                run.start()
                code = _main(sys.argv[1:] if argv is None else list(argv))
            except KeyboardInterrupt:
                code = _interrupted()
        except KeyboardInterrupt:  # came while another outcome was being reported
            code = _interrupted()
        run.finish(code)
    return code


def _interrupted() -> int:
    try:
        sys.stdout.flush()
    except Exception:  # a pipe closed by the reader, a full disk: the line below still matters
        pass
    try:
        print("bpfinspect: interrupted", file=sys.stderr, flush=True)
    except Exception:
        pass
    return interrupts.INTERRUPTED_EXIT


def _main(argv: list[str]) -> int:
    # `bpfinspect CMD ...` needs only CMD's module; help and mistakes get the whole parser.
    first = argv[0].replace("-", "_") if argv else ""
    parser = build_parser(first if first in COMMANDS else None)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except Exception as exc:
        if interrupts.caused_by_interrupt(exc):  # an error that Ctrl-C caused is a Ctrl-C
            raise KeyboardInterrupt from exc
        return _report(exc, args)


def _report(exc: Exception, args) -> int:
    """The one line on stderr for what ended a command, and its exit status."""
    from bpfinspect.errors import BpfInspectError

    if isinstance(exc, BpfInspectError):
        if exc.path is None:  # every error line names the input it is about
            exc.path = _input_of(args)[:-2] or None
        print(f"bpfinspect: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    if isinstance(exc, BrokenPipeError):
        # Output piped into `head` and the like: not an error for the user.
        try:
            sys.stdout = None  # type: ignore[assignment]
        except Exception:
            pass
        return 0
    if isinstance(exc, MemoryError):
        print(f"bpfinspect: {_input_of(args)}out of memory while reading the input", file=sys.stderr)
        return 2
    if isinstance(exc, RecursionError):
        print(f"bpfinspect: {_input_of(args)}input nests too deeply to process", file=sys.stderr)
        return 2
    # a defect of ours: still one line, unless asked for the traceback
    if os.environ.get("BPFINSPECT_DEBUG"):
        raise exc
    print(f"bpfinspect: internal error: {type(exc).__name__}: {exc} (BPFINSPECT_DEBUG=1 shows where)",
          file=sys.stderr)
    return 70


if __name__ == "__main__":
    raise SystemExit(main())
