"""Command-line entry point: argument parsing and error mapping only.

Each command lives in its own module ``bpfinspect.cli.cmd_<name>`` exposing
``register(subparsers)`` and ``run(args) -> int``.  Those modules must stay
light to import: heavy libraries (libclang, jinja2, lark, the libbpf runtime)
are imported inside ``run``.

The plain command lines of the inspection commands that run on large inputs (``sections``,
``info``, ``relocs``, ``disasm``, ``btf``, ``gen-skel``) are read by :mod:`bpfinspect.cli.quickargs`
without argparse; it declines anything unusual, which argparse then reads as always.
"""

from __future__ import annotations

import os
import sys

from bpfinspect import interrupts

# Order is the order of ``bpfinspect --help``.
COMMANDS = [
    "info", "sections", "progs", "maps", "globals", "relocs", "btf",
    "disasm", "asm", "gen_skel", "load", "run", "expand", "core", "gen", "probe", "budget", "diff",
    "completion",
]

# Commands whose output streams until Ctrl-C: never held back for a pager.
_UNPAGED = {("probe", "trace"), ("run",)}


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

        def _fill_text(self, text, width, indent):
            # descriptions and epilogs keep their paragraphs; indented lines (examples) stay as written
            import textwrap

            out = []
            for para in text.split("\n\n"):
                if para.startswith(" ") or "\n " in para:
                    out.append("\n".join(indent + line for line in para.splitlines()))
                else:
                    out.append(textwrap.fill(" ".join(para.split()), width, initial_indent=indent,
                                             subsequent_indent=indent))
            return "\n\n".join(out)

    class _Parser(argparse.ArgumentParser):
        def __init__(self, *args, **kwargs):
            kwargs.setdefault("formatter_class", _Formatter)
            super().__init__(*args, **kwargs)

        def _check_value(self, action, value):
            # a mistyped command or choice: say which one was meant
            if action.choices is not None and value not in action.choices:
                from bpfinspect.suggest import did_you_mean

                raise argparse.ArgumentError(
                    action, f"invalid choice: {value!r}" + did_you_mean(value, list(action.choices),
                                                                         fallback=True))
            super()._check_value(action, value)

        def error(self, message):
            # one line on stderr, exit 2 (argparse's usage block is what --help is for)
            self.exit(2, f"{self.prog}: {message} (see '{self.prog} --help')\n")

    return _Parser, argparse


def _add_global_options(parser, argparse, top: bool) -> None:
    """``--color`` and ``--no-pager``, accepted before the command and after it (every level)."""
    default = None if top else argparse.SUPPRESS
    parser.add_argument("--color", dest="color", choices=("auto", "always", "never"),
                        default=default, metavar="WHEN",
                        help="colours: auto (on a terminal, unless NO_COLOR is set; FORCE_COLOR forces "
                             "them), always, never")
    parser.add_argument("--no-pager", dest="no_pager", action="store_true", default=default,
                        help="do not page long output on a terminal (default pager: less -FRX)")


def _subparsers(parser):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.items()


def _version_action(argparse):
    class VersionAction(argparse.Action):
        def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
            super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

        def __call__(self, parser, namespace, values, option_string=None):
            from bpfinspect.cli.version import text

            sys.stdout.write(text())
            parser.exit(0)

    return VersionAction


def build_parser(only: str | None = None, texts: bool = True):
    """The argument parser; with ``only``, just that command's (a faster start for real runs);
    ``texts=False`` leaves out the longer help texts (a run that prints no help)."""
    import importlib

    from bpfinspect import __version__

    _Parser, argparse = _parser_classes()
    parser = _Parser(
        prog="bpfinspect",
        description="Look inside compiled BPF objects, generate skeletons, expand tracing macros, load through "
                    "libbpf. 'bpfinspect COMMAND --help' tells what each command shows, with examples.",
    )
    if texts:
        from bpfinspect.cli import helptext

        parser.epilog = helptext.EXIT_CODES
    parser.add_argument("--version", action=_version_action(argparse),
                        help=f"bpfinspect's version ({__version__}), the libbpf and libclang it uses, the kernel "
                             "and Python")
    _add_global_options(parser, argparse, top=True)
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
    pending, seen = list(sub.choices.items()), set()
    while pending:
        name, p = pending.pop()
        if id(p) in seen:  # an alias
            continue
        seen.add(id(p))
        if texts:
            helptext.apply(name, p)
        _add_global_options(p, argparse, top=False)
        pending.extend((f"{name} {n}", c) for n, c in _subparsers(p))
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
                code = _main(sys.argv[1:] if argv is None else list(argv), whole_process=argv is None)
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


# Commands after which nothing is left for Python to clean up: no kernel object, probe event,
# child process or temporary file outlives their run, and their output is written.
_NOTHING_LEFT = frozenset({"info", "sections", "progs", "maps", "globals", "relocs", "btf", "disasm",
                           "gen-skel", "core"})


def _done_with_everything() -> None:
    """The process is about to end: what the command made is not scanned again by the cycle
    collector (a collection after a large command, and the one at exit, would traverse every
    object it made only for the process to return the memory anyway)."""
    import gc

    gc.freeze()


def _main(argv: list[str], whole_process: bool = False) -> int:
    if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions (see `bpfinspect completion`)
        from bpfinspect.cli.cmd_completion import complete
        return complete(build_parser())
    # `bpfinspect CMD ...` needs only CMD's module; help and mistakes get the whole parser.
    first = _first_command(argv)
    only = first if first in COMMANDS else None
    args = _quick_args(argv) if only is not None else None
    if args is None:
        parser = build_parser(only, texts=only is None or "-h" in argv or "--help" in argv)
        args = parser.parse_args(argv)
    from bpfinspect.views import term

    term.set_color_mode(getattr(args, "color", None))
    path = (args.command, getattr(args, "probe_command", None))
    paged = None
    if path[:1] not in _UNPAGED and path not in _UNPAGED and sys.stdout is not None and sys.stdout.isatty():
        from bpfinspect.cli import pager  # only a terminal is paged: a pipe pays nothing for it

        paged = pager.start(" ".join(p for p in path if p), bool(getattr(args, "no_pager", False)))
    try:
        try:
            code = int(args.run(args) or 0)
        except Exception as exc:
            if interrupts.caused_by_interrupt(exc):  # an error that Ctrl-C caused is a Ctrl-C
                raise KeyboardInterrupt from exc
            return _report(exc, args)
        if whole_process and args.command in _NOTHING_LEFT:
            _done_with_everything()
        return code
    finally:
        if paged is not None:
            pager.finish(paged)


def _quick_args(argv: list[str]):
    """``argv``'s namespace read by cli.quickargs (None: argparse reads it; so for every command
    but those of ``quickargs.COMMANDS``), its ``run`` set as the command's ``register`` sets it."""
    from bpfinspect.cli import quickargs

    try:
        args = quickargs.parse(argv)
    except Exception:  # a shortcut only: whatever it cannot read, argparse reads
        return None
    if args is not None:
        import importlib

        spec = quickargs.SPECS[args.command]
        run = importlib.import_module(f"bpfinspect.cli.cmd_{args.command.replace('-', '_')}").run
        if spec.single:
            args.run = run
        else:
            from bpfinspect.cli.batch import batched

            args.run = batched(run, spec.objects)
    return args


def _first_command(argv: list[str]) -> str:
    """The command word: the first argument that is not a global option."""
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("--no-pager",) or a.startswith(("--color=", "--colour=")):
            i += 1
        elif a in ("--color", "--colour"):
            i += 2
        else:
            return a.replace("-", "_")
    return ""


def _report(exc: Exception, args) -> int:
    """The one line on stderr for what ended a command, and its exit status."""
    from bpfinspect.errors import BpfInspectError

    if isinstance(exc, BpfInspectError):
        if exc.path is None:  # every error line names the input it is about
            exc.path = _input_of(args)[:-2] or None
        print(f"bpfinspect: {exc.one_line()}", file=sys.stderr)
        if exc.context:
            print("\n".join("  " + line for line in exc.context.splitlines()), file=sys.stderr)
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
