"""What the install builds once, so that no run has to: ``python -m bpfinspect.prebuild``.

Run against the package it is imported from (the installed copy, or a build
directory): the grammars' parse tables (:mod:`bpfinspect.lalr`), the compiled
skeleton templates (:mod:`bpfinspect.skel.c_template`), the BTF engine's hot
modules as C extension modules (:mod:`bpfinspect.compiled`; skipped without
Cython, and removed with ``BPFINSPECT_PURE=1``), then the bytecode of every
module (a run never writes bytecode itself when ``PYTHONDONTWRITEBYTECODE`` is
set, and pays 20-50 ms a command compiling it in memory).  ``make setup`` runs
it over its editable install; a wheel build (``pip install .``) runs it over
the build directory (see ``setup.py``) and pip compiles the bytecode while
installing.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv not in ([], ["--no-compile"]):
        print("usage: python -m bpfinspect.prebuild [--no-compile]", file=sys.stderr)
        return 2
    import bpfinspect
    from bpfinspect import lalr
    from bpfinspect.skel import c_template

    package = os.path.dirname(bpfinspect.__file__)
    lalr.prebuild()
    c_template.prebuild()
    _compile_engine(package)
    if "--no-compile" not in argv:
        import compileall

        # the package's own tree only (per-file links are followed; linked directories are not
        # in it); quiet=1 lists only the failures
        if not compileall.compile_dir(package, quiet=1, workers=1):
            return 1
    return 0


def _compile_engine(package: str) -> None:
    from bpfinspect import compiled

    if os.environ.get("BPFINSPECT_PURE"):
        for m in compiled.remove(package):
            print(f"prebuild: {m} runs as Python source (BPFINSPECT_PURE)")
        return
    try:
        built = compiled.build(package, log=lambda msg: print("prebuild: " + msg, file=sys.stderr))
    except ImportError as exc:
        print(f"prebuild: the engine runs as Python source ({exc.name or exc} is not installed)", file=sys.stderr)
        return
    if built:
        print(f"prebuild: compiled {len(built)} modules of the engine")


if __name__ == "__main__":
    raise SystemExit(main())
