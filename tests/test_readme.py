"""The README's example outputs are what the commands print today."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def test_readme_examples_are_current():
    p = subprocess.run([sys.executable, str(ROOT / "scripts" / "readme_examples.py"), "--check"],
                       capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr + " (run scripts/readme_examples.py and commit README.md)"


def test_readme_names_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
