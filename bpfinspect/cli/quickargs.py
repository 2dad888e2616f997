"""The command lines of the inspection commands, read without argparse when they are plain.

``bpfinspect sections OBJ...`` and its kin take objects and a few options; importing argparse,
with the gettext, locale and re it brings, and building its parser cost a fifth of a short
run.  :func:`parse` reads the usual forms of those command lines itself and gives the
namespace argparse would give; anything else -- help, an option it does not know, an
abbreviation, a value that starts with "-", a value argparse would refuse or convert, two
options of a mutually exclusive pair, ``--``, objects split by options -- it declines
(``None``), and argparse reads the line as always, errors and help included.
``gen-skel`` takes one object (no batch, no ``-j``) and its usual options; its header options
(``--header``, ``-I``, ``-D``, ``--arch``) go to argparse.
``tests/test_cli_quickargs.py`` holds the two to the same answers, command by command.
"""

from __future__ import annotations

import types


class _Spec:
    """One command's arguments as its ``register`` declares them: the objects (nargs "+",
    ``-j``/``--jobs`` beside them; or, ``single``, one object and no ``-j``), ``store_true``
    flags (``--json`` unless ``json`` is false), options with one value (and their choices),
    repeatable options (``append``: option -> destination), the defaults argparse gives
    destinations this reader never sets or sets to something else than None, and the mutually
    exclusive groups (by destination)."""

    __slots__ = ("objects", "flags", "values", "exclusive", "single", "appends", "defaults")

    def __init__(self, objects: str = "object", flags: dict | None = None, values: dict | None = None,
                 exclusive: tuple = (), *, single: bool = False, json: bool = True, appends: dict | None = None,
                 defaults: dict | None = None) -> None:
        self.objects = objects
        self.flags = {"--json": "json", **(flags or {})} if json else dict(flags or {})
        self.values = values or {}
        self.exclusive = exclusive
        self.single = single
        self.appends = appends or {}
        self.defaults = defaults or {}


SPECS = {
    "info": _Spec(),
    "sections": _Spec(),
    "relocs": _Spec(),
    "disasm": _Spec(flags={"--no-annotate": "no_annotate", "--plain": "plain"},
                    values={"--prog": ("prog", None), "--section": ("section", None)},
                    exclusive=(("prog", "section"), ("json", "plain"))),
    "btf": _Spec("source", flags={"--sorted": "sorted", "--no-guards": "no_guards"},
                 values={"--format": ("format", ("raw", "c")), "--type": ("type_name", None),
                         "--base": ("base", None)}),
    "gen-skel": _Spec(single=True, json=False, flags={"--types": "types", "--strip-debug": "strip_debug"},
                      values={"--lang": ("lang", ("c", "python")), "--name": ("name", None),
                              "-o": ("output", None), "--output": ("output", None)},
                      appends={"--type": "type"},
                      defaults={"lang": "c", "headers": [], "include_dirs": [], "defines": [], "arch": None}),
}
COMMANDS = tuple(SPECS)

_COLORS = ("auto", "always", "never")


def parse(argv: list[str]):
    """The namespace of ``argv`` (a command of :data:`COMMANDS` and its arguments), or None
    when argparse must read it."""
    values: dict = {"color": None, "no_pager": None}
    i, n = 0, len(argv)
    while i < n:  # options before the command
        taken = _common_option(argv, i, values)
        if not taken:
            break
        i += taken
    if i >= n or argv[i] not in SPECS:
        return None
    command = argv[i]
    spec = SPECS[command]
    i += 1
    values["command"] = command
    if not spec.single:
        values["jobs"] = 1
    values.update(dict.fromkeys(spec.flags.values(), False))
    values.update(dict.fromkeys([dest for dest, _ in spec.values.values()], None))
    values.update({dest: [] for dest in spec.appends.values()})
    values.update({dest: list(v) if type(v) is list else v for dest, v in spec.defaults.items()})
    given: set[str] = set()
    objects: list[str] = []
    run_over = False  # objects must be one run of arguments, as nargs="+" reads them
    while i < n:
        arg = argv[i]
        if not arg.startswith("-") or arg == "":
            if run_over or (spec.single and objects):
                return None
            objects.append(arg)
            i += 1
            continue
        if objects:
            run_over = True
        dest = spec.flags.get(arg)
        if dest is not None:
            values[dest] = True
            given.add(dest)
            i += 1
            continue
        name, eq, value = arg.partition("=")
        if name in spec.values or name in spec.appends or (name in ("-j", "--jobs") and not spec.single):
            if not name.startswith("--") and eq:
                return None   # (a short option with "=": argparse's reading of it is its own)
            if not eq:
                if i + 1 >= n:
                    return None
                value = argv[i + 1]
                i += 1
            i += 1
            if value.startswith("-"):
                return None
            if name in spec.appends:
                values[spec.appends[name]].append(value)
                continue
            if name in ("-j", "--jobs"):
                # (a long number goes to argparse too: int() refuses over 4,300 digits)
                if not (value.isascii() and value.isdigit()) or len(value) > 9:
                    return None
                values["jobs"] = int(value) or _cpus()
                continue
            dest, choices = spec.values[name]
            if choices is not None and value not in choices:
                return None
            values[dest] = value
            given.add(dest)
            continue
        taken = _common_option(argv, i, values)
        if not taken:
            return None
        i += taken
    if not objects:
        return None
    for group in spec.exclusive:
        if len(given.intersection(group)) > 1:
            return None
    values[spec.objects] = objects[0] if spec.single else objects
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
