"""Command-line entry point: argument parsing and error mapping only.

Each command lives in its own module ``bpfinspect.cli.cmd_<name>`` exposing
``register(subparsers)`` and ``run(args) -> int``.  Those modules must stay
light to import: heavy libraries (libclang, jinja2, lark, the libbpf runtime)
are imported inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys

from bpfinspect import __version__
from bpfinspect.errors import BpfInspectError

# Order is the order of ``bpfinspect --help``.
COMMANDS = [
    "info", "sections", "progs", "maps", "globals", "relocs", "btf",
    "disasm", "asm", "gen_skel", "load", "expand",
]


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


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; with ``only``, just that command's (a faster start for real runs)."""
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
    argv = sys.argv[1:] if argv is None else list(argv)
    # `bpfinspect CMD ...` needs only CMD's module; help and mistakes get the whole parser.
    first = argv[0].replace("-", "_") if argv else ""
    parser = build_parser(first if first in COMMANDS else None)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except BpfInspectError as exc:
        if exc.path is None:  # every error line names the input it is about
            exc.path = _input_of(args)[:-2] or None
        print(f"bpfinspect: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("bpfinspect: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    except BrokenPipeError:
        # Output piped into `head` and the like: not an error for the user.
        try:
            sys.stdout = None  # type: ignore[assignment]
        except Exception:
            pass
        return 0
    except MemoryError:
        print(f"bpfinspect: {_input_of(args)}out of memory while reading the input", file=sys.stderr)
        return 2
    except RecursionError:
        print(f"bpfinspect: {_input_of(args)}input nests too deeply to process", file=sys.stderr)
        return 2
    except Exception as exc:  # a defect of ours: still one line, unless asked for the traceback
        if os.environ.get("BPFINSPECT_DEBUG"):
            raise
        print(f"bpfinspect: internal error: {type(exc).__name__}: {exc} (BPFINSPECT_DEBUG=1 shows where)",
              file=sys.stderr)
        return 70


if __name__ == "__main__":
    raise SystemExit(main())
