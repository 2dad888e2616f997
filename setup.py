"""The build step pyproject.toml cannot state: a wheel carries what ``bpfinspect.prebuild`` makes
(the grammars' parse tables and the compiled templates), built in the build directory; pip then
compiles every module's bytecode while installing.  ``make setup`` runs the same step over its
editable install."""

import os
import subprocess
import sys

from setuptools import setup
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


setup(cmdclass={"build_py": BuildPy})
