"""The command line of the plainest inspection commands, read without argparse.

``bpfinspect sections OBJ...`` and its kin (``info``, ``relocs``) take objects and four
options; importing argparse, with the gettext, locale and re it brings, and building its
parser cost a fifth of such a run.  :func:`parse` reads the usual forms of those command
lines itself and gives the namespace argparse would give; anything else -- help, an option
it does not know, an abbreviation, a value argparse would refuse or convert, ``--``, objects
split by options -- it declines (``None``), and argparse reads the line as always, errors
and help included.  ``tests/test_cli_quickargs.py`` holds the two to the same answers.
"""

from __future__ import annotations

import types

# Commands made by cli.common.simple_command without --header: objects, --json, -j, and the
# options every level takes (--color, --no-pager).  (cli.main keeps the same list, so that
# this module is imported only for them.)
COMMANDS = ("info", "sections", "relocs")

_COLORS = ("auto", "always", "never")


def parse(argv: list[str]):
    """The namespace of ``argv`` (a command of :data:`COMMANDS` and its arguments), or None
    when argparse must read it."""
    values = {"color": None, "no_pager": None}
    i, n = 0, len(argv)
    while i < n:  # options before the command
        taken = _common_option(argv, i, values)
        if not taken:
            break
        i += taken
    if i >= n or argv[i] not in COMMANDS:
        return None
    command = argv[i]
    i += 1
    values.update(command=command, object=None, jobs=1, json=False)
    objects: list[str] = []
    run_over = False  # objects must be one run of arguments, as nargs="+" reads them
    while i < n:
        arg = argv[i]
        if not arg.startswith("-") or arg == "":
            if run_over:
                return None
            objects.append(arg)
            i += 1
            continue
        if objects:
            run_over = True
        if arg == "--json":
            values["json"] = True
            i += 1
            continue
        if arg in ("-j", "--jobs") and i + 1 < n:
            value, i = argv[i + 1], i + 2
        elif arg.startswith("--jobs="):
            value, i = arg[len("--jobs="):], i + 1
        else:
            taken = _common_option(argv, i, values)
            if not taken:
                return None
            i += taken
            continue
        if not (value.isascii() and value.isdigit()):
            return None
        values["jobs"] = int(value) or _cpus()
    if not objects:
        return None
    values["object"] = objects
    return types.SimpleNamespace(**values)


def _common_option(argv: list[str], i: int, values: dict) -> int:
    """How many arguments ``--color WHEN``, ``--color=WHEN`` or ``--no-pager`` at ``i`` take
    (their value stored), 0 for anything else."""
    arg = argv[i]
    if arg == "--no-pager":
        values["no_pager"] = True
        return 1
    if arg == "--color" and i + 1 < len(argv) and argv[i + 1] in _COLORS:
        values["color"] = argv[i + 1]
        return 2
    if arg.startswith("--color=") and arg[len("--color="):] in _COLORS:
        values["color"] = arg[len("--color="):]
        return 1
    return 0


def _cpus() -> int:
    import os

    return os.cpu_count() or 1
