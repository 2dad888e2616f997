"""Loading and rendering the C templates (``templates/*.j2``).

The environment writes nothing but :class:`bpfinspect.quote.c.Code` and
numbers: any other text reaching ``{{ }}`` is an error, so raw names from an
object cannot slip into a header.

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

_ENV = None


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


def _finalize(value):
    """Only quoted text (and numbers) may reach a C template's output."""
    from bpfinspect.quote.c import Code
    if isinstance(value, Code) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise TypeError(f"unquoted {type(value).__name__} reached a C template: {value!r:.80}")


def _env():
    global _ENV
    if _ENV is not None:
        return _ENV
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
                             autoescape=False, undefined=jinja2.StrictUndefined, finalize=_finalize,
                             bytecode_cache=Cache(cache_dir) if cache_dir else None)
    env.filters["n"] = jinja2.pass_context(_n_filter)
    _ENV = env
    return env


def render(name: str, **context) -> str:
    return _env().get_template(name).render(**context)
