"""The compiled engine: the BTF engine's hot modules built as C extension modules by Cython.

What is compiled is the Python source of those modules, unchanged: there is one engine, and
this is a second way to run it.  Python imports an extension module in preference to the
``.py`` beside it, so an install with the modules built runs them compiled and an install
without them (no Cython, no C compiler, or ``BPFINSPECT_PURE=1`` when it was set up) runs the
same source in the interpreter, with the same output.  The tests hold the two to the same
bytes on every fixture, this kernel's BTF and hostile BTF (``tests/test_compiled.py``).

Beside some modules, a ``.pxd`` file (Cython's declarations, read only by Cython) declares the
engine's classes that every walk goes through (the table view, layout, declarator, ordering
walk, names and C renderer) as extension types: their attributes are slots of a C structure
instead of entries of an instance dictionary (every ``self.w``, ``self.pos`` is a load).  Their
methods are the Python source's; what changes is that an instance of one of those classes takes
no attribute its class does not declare (subclasses, in Python, take any).  Two of them also
give C types to the locals of a loop over the whole type section (``btf._walk_records``, the
record walk that decodes a blob; ``order.references``, the scan for what each type refers to):
the words are read as a C array and the loop makes no integer object.  The source of those
loops is an index loop that means the same in both engines: indexing stays bounds-checked
(IndexError as in the interpreter), and a word is an unsigned 32-bit integer in both.

Nothing here changes what the modules do on hostile input: their bounds are explicit (every
walk counts its depth against a limit far below what the C stack holds), never Python's
recursion limit alone, which compiled code does not check on every call.

Built by :mod:`bpfinspect.prebuild` into the installed package (``make setup``'s editable tree,
or a wheel's build directory), never into the checkout: the checkout stays the pure engine.
``compiled.json`` beside the package records the SHA-256 of each source built, so a set-up run
rebuilds only the modules whose source changed, and the tests refuse to run modules built
from an older source (:func:`stale`).

Public API: ``MODULES``; ``status() -> dict`` (module -> ``"compiled"`` or ``"python"``);
``describe(found=None) -> str`` (the same in words);
``stale(package_dir) -> list``; ``build(package_dir) -> list`` (the modules built);
``remove(package_dir) -> list`` (the modules whose extension it removed).
"""

from __future__ import annotations

import os

# (hashlib and json are imported where the manifest is read or written: `--version` asks only
# how the modules are found, and importing them would cost it about 4 ms)

# The modules of `btf --format c|raw|json`, `gen-skel`'s type declarations and the CO-RE views'
# type walks, by where their CPU time goes (bench/bench_btf.py).
MODULES = (
    "bpfinspect.btf.kinds", "bpfinspect.btf.table", "bpfinspect.btf.btf", "bpfinspect.btf.layout",
    "bpfinspect.btf.decl", "bpfinspect.btf.order", "bpfinspect.btf.c_render", "bpfinspect.btf.c_dump",
    "bpfinspect.btf.raw",
)
MANIFEST = "compiled.json"
# Cython's options: the annotations stay documentation (typed arguments would turn a wrong
# type into a TypeError the interpreter does not raise); everything else is Cython's default
# (bounds-checked indexing, wrap-around of negative indices, Python's division).
DIRECTIVES = {"annotation_typing": False, "language_level": 3}
CFLAGS = ["-O2", "-g0"]


def _source(package_dir: str, module: str) -> str:
    return os.path.join(os.path.dirname(package_dir), *module.split(".")) + ".py"


def source_hash(path: str) -> str:
    """SHA-256 of a module's source and of every Cython declaration file (``.pxd``) of the engine
    beside it: a module that imports another's declarations is built against the layout of its
    extension types, so a change to any of them rebuilds them all."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    folder = os.path.dirname(path)
    for name in sorted(os.listdir(folder)):
        if name.endswith(".pxd"):
            with open(os.path.join(folder, name), "rb") as f:
                h.update(b"\0" + name.encode() + b"\0" + f.read())
    return h.hexdigest()


def _manifest(package_dir: str) -> dict:
    import json

    try:
        with open(os.path.join(package_dir, MANIFEST)) as f:
            doc = json.load(f)
        return doc if isinstance(doc, dict) else {}
    except (OSError, ValueError):
        return {}


def _extension_files(package_dir: str, module: str) -> list[str]:
    """The extension module files of ``module`` in the package (any ABI tag)."""
    from importlib.machinery import EXTENSION_SUFFIXES

    base = _source(package_dir, module)[:-3]
    folder, stem = os.path.split(base)
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return sorted(os.path.join(folder, n) for n in names
                  if n.startswith(stem + ".") and n.endswith(tuple(EXTENSION_SUFFIXES)))


def status() -> dict[str, str]:
    """How each module of :data:`MODULES` is run: ``"compiled"`` (an extension module) or
    ``"python"``, as the import system finds it (nothing is imported but the packages)."""
    from importlib.machinery import EXTENSION_SUFFIXES
    from importlib.util import find_spec

    out = {}
    for m in MODULES:
        spec = find_spec(m)
        origin = spec.origin if spec is not None else ""
        out[m] = "compiled" if origin and origin.endswith(tuple(EXTENSION_SUFFIXES)) else "python"
    return out


def describe(found: dict[str, str] | None = None) -> str:
    """How the engine runs, in words (``--version``, the benchmarks), from ``found`` (default
    :func:`status`): ``compiled (9 modules, Cython)``, ``Python source (not compiled)`` or
    ``N of 9 modules compiled``."""
    found = status() if found is None else found
    n = sum(v == "compiled" for v in found.values())
    if n == len(found):
        return f"compiled ({n} modules, Cython)"
    if n == 0:
        return "Python source (not compiled)"
    return f"{n} of {len(found)} modules compiled"


def stale(package_dir: str) -> list[str]:
    """The modules whose extension in ``package_dir`` was not built from the source beside it."""
    recorded = _manifest(package_dir)
    out = []
    for m in MODULES:
        if _extension_files(package_dir, m):
            try:
                current = source_hash(_source(package_dir, m))
            except OSError:
                current = None
            if recorded.get(m) != current:
                out.append(m)
    return out


def remove(package_dir: str) -> list[str]:
    """Remove every extension of :data:`MODULES` from ``package_dir``; the modules that had one."""
    out = []
    for m in MODULES:
        files = _extension_files(package_dir, m)
        for f in files:
            os.unlink(f)
        if files:
            out.append(m)
    try:
        os.unlink(os.path.join(package_dir, MANIFEST))
    except OSError:
        pass
    return out


def build(package_dir: str, *, log=print) -> list[str]:
    """Compile the modules whose source changed since they were last built into
    ``package_dir`` (the installed ``bpfinspect`` directory); the modules built.  Raises
    ImportError without Cython and setuptools.  The modules are built all or none: they import
    each other's extension types, so when one fails to compile (the failure is logged) no
    extension is kept and the interpreter runs the source of all of them."""
    import tempfile

    from Cython.Build import cythonize
    from setuptools import Distribution, Extension
    from setuptools.command.build_ext import build_ext

    recorded = _manifest(package_dir)
    todo = []
    for m in MODULES:
        h = source_hash(_source(package_dir, m))
        if recorded.get(m) != h or not _extension_files(package_dir, m):
            todo.append((m, h))
    built = []
    with tempfile.TemporaryDirectory(prefix="bpfinspect-compile-") as tmp:
        for m, h in todo:
            # (a stale extension must not outlive a failed rebuild)
            for old in _extension_files(package_dir, m):
                os.unlink(old)
            recorded.pop(m, None)
            try:
                ext = Extension(m, [_source(package_dir, m)], extra_compile_args=CFLAGS)
                exts = cythonize([ext], build_dir=os.path.join(tmp, "c"), quiet=True,
                                 compiler_directives=DIRECTIVES)
                cmd = build_ext(Distribution({"ext_modules": exts, "script_name": "prebuild"}))
                cmd.build_lib = os.path.dirname(package_dir)
                cmd.build_temp = os.path.join(tmp, "o")
                cmd.ensure_finalized()
                cmd.run()
            except Exception as exc:  # noqa: BLE001 - any failure leaves the engine to the interpreter
                log(f"compiled: {m} not compiled ({type(exc).__name__}: {exc}); the engine runs as source")
                remove(package_dir)
                return []
            recorded[m] = h
            built.append(m)
    for m in list(recorded):
        if m not in MODULES:
            del recorded[m]
    import json

    path = os.path.join(package_dir, MANIFEST)
    with open(path + ".tmp", "w") as f:
        json.dump(dict(sorted(recorded.items())), f, indent=1)
        f.write("\n")
    os.replace(path + ".tmp", path)
    return built
