"""Loading and rendering the skeleton templates (``templates/*.j2``), C and Python.

A template is rendered for one output language, whose quoting layer's marker
type (:class:`bpfinspect.quote.c.Code`, :class:`bpfinspect.quote.python.Code`)
is all it may write, besides numbers: any other text reaching ``{{ }}`` is an
error, so raw names from an object cannot slip into generated code.

Templates are read from the installed package ``bpfinspect.templates`` and,
when running from a source checkout without an install, from the
repository's top-level ``templates/`` directory.

jinja2 is imported on first use only.  Compiling a template is the slow part
of jinja2 (tens of milliseconds), so the install (``make setup``, ``pip
install``) compiles every template once, into Python modules under
``bpfinspect/templates/compiled/`` (loaded by jinja2's ``ModuleLoader``, their
bytecode compiled with the rest of the package), with a manifest of the
template texts and the jinja2 version they were compiled from.  A template
whose text or jinja2 version no longer matches (an edited checkout, an
upgraded jinja2) is compiled from its text instead, through a bytecode cache
under ``$XDG_CACHE_HOME/bpfinspect`` (``~/.cache``) keyed by the text; a cache
that cannot be written is simply not used.
"""

from __future__ import annotations

import os

from bpfinspect.errors import EnvironmentProblem

_ENVS: dict = {}

# The templates and the marker type of the text each may write.
TEMPLATES = {"skel_c.h.j2": "bpfinspect.quote.c", "skel_python.py.j2": "bpfinspect.quote.python"}
_COMPILED = "compiled"
_MANIFEST = "manifest.json"


def template_text(name: str) -> str:
    # The installed package's copy (a plain directory beside this module's package, read
    # without importlib.resources, which costs milliseconds to import), then the same through
    # importlib.resources (an install in a zip file), then the checkout's.
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        with open(os.path.join(os.path.dirname(here), "templates", name), encoding="utf-8") as f:
            return f.read()
    except OSError:
        pass
    try:
        from importlib.resources import files
        res = files("bpfinspect.templates").joinpath(name)
        if res.is_file():
            return res.read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError, TypeError):
        pass
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
    checkout = os.path.join(root, "templates", name)
    try:
        with open(checkout, encoding="utf-8") as f:
            return f.read()
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

    loader = Loader()
    compiled = _compiled_loader(jinja2)
    cache_dir = _cache_dir()  # used only for a template compiled from its text
    env = jinja2.Environment(loader=loader if compiled is None else jinja2.ChoiceLoader([compiled, loader]),
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
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


def _compiled_dir() -> str | None:
    """Where the install keeps the compiled templates (None in a checkout that was not installed)."""
    try:
        import bpfinspect.templates as package
    except ImportError:
        return None
    return os.path.join(os.path.dirname(package.__file__), _COMPILED)


def _compiled_loader(jinja2):
    """jinja2's ModuleLoader over the templates compiled at install, answering only for those
    whose text and jinja2 version are the ones they were compiled from; None without any."""
    import hashlib
    import json

    where = _compiled_dir()
    try:
        with open(os.path.join(where, _MANIFEST), encoding="utf-8") as f:
            manifest = json.load(f)
    except (TypeError, OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("jinja2") != jinja2.__version__:
        return None
    compiled = manifest.get("templates") or {}

    class Compiled(jinja2.ModuleLoader):
        def load(self, environment, name, globals=None):
            digest = hashlib.sha256(template_text(name).encode("utf-8")).hexdigest()
            if compiled.get(name) != digest:
                raise jinja2.TemplateNotFound(name)
            return super().load(environment, name, globals)

    return Compiled(where)


def prebuild() -> list[str]:
    """Compile every template into a module of the installed package (see the module's text);
    returns the files written."""
    import hashlib
    import importlib
    import json

    import jinja2

    where = _compiled_dir()
    if where is None:
        return []
    os.makedirs(where, exist_ok=True)
    written = []
    manifest = {"jinja2": jinja2.__version__, "templates": {}}
    for name, quoting in TEMPLATES.items():
        text = template_text(name)
        env = _env(importlib.import_module(quoting).Code)
        # the form jinja2's own compile_templates() writes for ModuleLoader
        source = env.compile(text, name, None, raw=True, defer_init=True)
        path = os.path.join(where, jinja2.ModuleLoader.get_module_filename(name))
        _write(path, source)
        written.append(path)
        manifest["templates"][name] = hashlib.sha256(text.encode("utf-8")).hexdigest()
    path = os.path.join(where, _MANIFEST)
    _write(path, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return written + [path]


def _write(path: str, text: str) -> None:
    from bpfinspect.fileio import write_atomic
    write_atomic(path, text.encode("utf-8"))
