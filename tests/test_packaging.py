"""A plain (non-editable) install gives a working command, templates included."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import FIXTURES, ROOT


def test_plain_pip_install_works(tmp_path):
    target = tmp_path / "site"
    p = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                        "--target", str(target), str(ROOT)], capture_output=True, text=True)
    if p.returncode != 0 and "bdist_wheel" in p.stderr:
        p = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                            str(ROOT)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-2000:]
    installed = target / "bpfinspect"
    assert (installed / "cli" / "main.py").exists()
    # templates/ at the top of the repository is installed inside the package
    assert (installed / "templates").is_dir()
    assert sorted(x.name for x in (installed / "templates").glob("*.j2")) == \
        sorted(x.name for x in (ROOT / "templates").glob("*.j2"))
    assert list(installed.rglob("*.lark")), "lark grammars missing from the install"
    env = dict(os.environ, PYTHONPATH=str(target))
    script = target / "bin" / "bpfinspect"
    assert script.exists()
    # run from a directory that is not the checkout, so only the install can be imported
    out = subprocess.run([sys.executable, str(script), "progs", str(FIXTURES / "bootstrap.bpf.o"), "--json"],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert '"handle_exec"' in out.stdout
    where = subprocess.run([sys.executable, "-c", "import bpfinspect, importlib.resources as r;"
                            "print(bpfinspect.__file__); print(r.files('bpfinspect.templates'))"],
                           capture_output=True, text=True, env=env, cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    assert str(target) in where.stdout.splitlines()[0]
