"""Loading and rendering the skeleton templates (``templates/*.j2``), C and Python.

A template is rendered for one output language, whose quoting layer's marker
type (:class:`bpfinspect.quote.c.Code`, :class:`bpfinspect.quote.python.Code`)
is all it may write, besides numbers: any other text reaching ``{{ }}`` is an
error, so raw names from an object cannot slip into generated code.

Templates are read from the installed package ``bpfinspect.templates`` and,
when running from a source checkout without an install, from the
repository's top-level ``templates/`` directory.

jinja2 is imported on first use only.  Compiling a template is the slow part
of jinja2 (tens of milliseconds), so compiled templates are kept in a
bytecode cache under ``$XDG_CACHE_HOME/bpfinspect`` (``~/.cache``), keyed by
the template's text; a cache that cannot be written is simply not used.
"""

from __future__ import annotations

import os
from pathlib import Path

from bpfinspect.errors import EnvironmentProblem

_ENVS: dict = {}


def template_text(name: str) -> str:
    try:
        from importlib.resources import files
        res = files("bpfinspect.templates").joinpath(name)
        if res.is_file():
            return res.read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError, TypeError):
        pass
    checkout = Path(__file__).resolve().parents[2] / "templates" / name
    try:
        return checkout.read_text(encoding="utf-8")
    except OSError:
        raise EnvironmentProblem(f"template {name} not found (broken installation?)") from None


def _cache_dir() -> str | None:
    from bpfinspect.fileio import cache_dir
    path = cache_dir("templates")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return None
    return path if os.access(path, os.W_OK) else None


def _n_filter(ctx, name):
    """A member name in the spelling of the language compiling the header."""
    from bpfinspect.quote.c import Code
    if name.c == name.cxx:
        return name.c
    return Code(f"{ctx['s'].ident}__N({name.c}, {name.cxx})")


def _finalizer(code: type):
    """Only text of type ``code`` (and numbers) may reach the output."""
    def finalize(value):
        if isinstance(value, code) or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        raise TypeError(f"unquoted {type(value).__name__} reached a template: {value!r:.80}")
    return finalize


def _env(code: type):
    env = _ENVS.get(code)
    if env is not None:
        return env
    try:
        import jinja2
    except ImportError:
        raise EnvironmentProblem("jinja2 is needed to generate skeletons (pip install jinja2)") from None

    class Loader(jinja2.BaseLoader):
        def get_source(self, environment, template):
            return template_text(template), None, lambda: True

    class Cache(jinja2.FileSystemBytecodeCache):
        def dump_bytecode(self, bucket):
            try:
                super().dump_bytecode(bucket)
            except OSError:
                pass

        def load_bytecode(self, bucket):
            try:
                super().load_bytecode(bucket)
            except (OSError, EOFError, ValueError):
                bucket.reset()

    cache_dir = _cache_dir()
    env = jinja2.Environment(loader=Loader(), trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             autoescape=False, undefined=jinja2.StrictUndefined, finalize=_finalizer(code),
                             bytecode_cache=Cache(cache_dir) if cache_dir else None)
    env.filters["n"] = jinja2.pass_context(_n_filter)
    _ENVS[code] = env
    return env


def render(name: str, code: type | None = None, **context) -> str:
    """Template ``name`` rendered with ``context``; ``code``: the marker type of the text it may
    write (C's unless given)."""
    if code is None:
        from bpfinspect.quote.c import Code as code
    return _env(code).get_template(name).render(**context)
