"""The build steps pyproject.toml cannot state: a wheel carries what ``bpfinspect.prebuild`` makes
(the grammars' parse tables, the compiled templates and, when Cython and a C compiler are there,
the BTF engine's hot modules compiled to extension modules: ``bpfinspect/compiled.py``), built in
the build directory; pip then compiles every module's bytecode while installing.  ``make setup``
runs the same step over its editable install."""

import importlib.util
import os
import subprocess
import sys

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py


class BuildPy(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        lib = os.path.abspath(self.build_lib)
        # -P and cwd: the package imported is the one just copied to the build directory
        subprocess.run([sys.executable, "-P", "-m", "bpfinspect.prebuild", "--no-compile"], cwd=lib,
                       env=dict(os.environ, PYTHONPATH=lib), check=True)


class MaybeBinary(Distribution):
    """A wheel that may carry extension modules is tagged for this interpreter and platform."""

    def has_ext_modules(self):
        return not os.environ.get("BPFINSPECT_PURE") and importlib.util.find_spec("Cython") is not None


setup(cmdclass={"build_py": BuildPy}, distclass=MaybeBinary)
