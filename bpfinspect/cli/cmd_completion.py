"""`bpfinspect completion bash|zsh|fish`: the shell completion script (argcomplete's)."""

from __future__ import annotations

import sys

SHELLS = ("bash", "zsh", "fish")


def register(sub) -> None:
    help_text = "print the shell completion script for bash, zsh or fish"
    p = sub.add_parser("completion", help=help_text, description=help_text)
    p.add_argument("shell", choices=SHELLS, metavar="SHELL", help="bash, zsh or fish")
    p.set_defaults(run=run)


def run(args) -> int:
    import argcomplete

    sys.stdout.write(argcomplete.shellcode(["bpfinspect"], shell=args.shell))
    return 0


def _object_files(**kwargs):
    """Completer of an object argument: *.o files (and directories to descend into)."""
    import argcomplete

    return argcomplete.completers.FilesCompleter(allowednames=("o",), directories=True)(**kwargs)


def _sources(**kwargs):
    import argcomplete

    return argcomplete.completers.FilesCompleter(allowednames=("bpf.c", "c"), directories=True)(**kwargs)


# metavar of a positional argument -> what completes it
_BY_METAVAR = {"OBJ": _object_files, "OLD": _object_files, "NEW": _object_files, "SOURCE": _sources,
               "FILE.bpf.c": _sources}


def complete(parser) -> int:
    """Answer the shell's request for completions (argcomplete's protocol), then exit."""
    import argparse

    import argcomplete

    pending = [parser]
    while pending:
        p = pending.pop()
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                pending.extend(action.choices.values())
            elif not action.option_strings and action.metavar in _BY_METAVAR:
                action.completer = _BY_METAVAR[action.metavar]
    argcomplete.autocomplete(parser, always_complete_options=False)
    return 0
