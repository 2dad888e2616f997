"""How human output meets the terminal: the colour decision and the width to lay out for.

One place decides, for every view:

* ``--color=always|never`` wins; ``--color=auto`` (the default) gives colours on a terminal,
  none when piped, unless ``NO_COLOR`` (no colours anywhere) or ``FORCE_COLOR`` (colours even
  when piped) is set to a non-empty value (``NO_COLOR`` wins when both are);
* the terminal layout (tables sized to the screen) is used on a terminal, and when colours are
  forced onto a pipe (``| less -R`` keeps what the terminal would show); ``BPFINSPECT_PLAIN=1``
  asks for the plain aligned layout even on a terminal.

Kept light: imported by every human view, it imports nothing beyond ``os``.
"""

from __future__ import annotations

import os

COLOR_MODES = ("auto", "always", "never")

# set once by the command line (``--color``); library users keep "auto"
_color_mode = "auto"


def set_color_mode(mode: str | None) -> None:
    global _color_mode
    if mode is not None:
        if mode not in COLOR_MODES:
            raise ValueError(f"colour mode {mode!r} is not one of {', '.join(COLOR_MODES)}")
        _color_mode = mode


def color_mode() -> str:
    return _color_mode


def _env_set(name: str) -> bool:
    return bool(os.environ.get(name))


def isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def use_color(stream) -> bool:
    """Escape sequences for colours and emphasis on ``stream``?"""
    if _color_mode == "always":
        return True
    if _color_mode == "never" or _env_set("NO_COLOR"):
        return False
    return _env_set("FORCE_COLOR") or isatty(stream)


def terminal_layout(stream) -> bool:
    """Lay ``stream``'s output out for a screen (tables fitted to its width)?"""
    if _env_set("BPFINSPECT_PLAIN"):
        return False
    return isatty(stream) or use_color(stream)


def _size(stream, variable: str, field: str, default: int) -> int:
    """The terminal's columns or lines: ``variable`` (COLUMNS, LINES) first, then the size of
    the terminal behind ``stream``, standard output or standard error, else ``default``."""
    try:
        value = int(os.environ[variable])
        if value > 0:
            return value
    except (KeyError, ValueError):
        pass
    fds = []
    try:
        fds.append(stream.fileno())
    except (AttributeError, ValueError, OSError):
        pass
    for fd in fds + [1, 2]:
        try:
            value = getattr(os.get_terminal_size(fd), field)
        except (OSError, ValueError):
            continue
        if value > 0:
            return value
    return default


def width(stream=None) -> int:
    """Columns to lay out for (a pipe into ``less -R`` still has a terminal behind it), else 80."""
    return _size(stream, "COLUMNS", "columns", 80)


def height(stream=None) -> int:
    """Lines of the terminal, else 24."""
    return _size(stream, "LINES", "lines", 24)


_CONSOLE = None


def console_class():
    """rich's Console, except that a reader who goes away (a pager quit early) is an ordinary
    BrokenPipeError for the command line to handle: rich's own answer points standard output
    at /dev/null and exits with 1."""
    global _CONSOLE
    if _CONSOLE is None:
        from rich.console import Console

        class _Console(Console):
            def on_broken_pipe(self) -> None:
                self.quiet = True
                raise BrokenPipeError("the reader of the output went away")

        _CONSOLE = _Console
    return _CONSOLE


def console(stream, **kwargs):
    """A rich console for ``stream`` that follows the colour decision and the width above."""
    color = use_color(stream)
    kwargs.setdefault("width", width(stream))
    return console_class()(file=stream, force_terminal=color, no_color=False,
                           color_system="standard" if color and not isatty(stream) else ("auto" if color else None),
                           **kwargs)
