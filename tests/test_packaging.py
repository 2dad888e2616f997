"""A plain (non-editable) install gives a working command, templates included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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
    # The wheel's build compiled the engine's hot modules (Cython is in this environment, as
    # in the build environment pyproject.toml asks for), from the sources it carries.
    from conftest import cannot_compile_reason

    if not os.environ.get("BPFINSPECT_PURE") and not cannot_compile_reason():
        engine = subprocess.run([sys.executable, "-c", "import json, bpfinspect, bpfinspect.compiled as c;"
                                 "print(json.dumps([c.status(), c.stale(bpfinspect.__path__[0])]))"],
                                capture_output=True, text=True, env=env, cwd=tmp_path)
        assert engine.returncode == 0, engine.stderr
        status, stale = json.loads(engine.stdout)
        assert set(status.values()) == {"compiled"} and stale == [], engine.stdout


def _bytecode_missing(package) -> list[str]:
    """The modules of an installed package without up-to-date bytecode beside them."""
    import importlib.util

    missing = []
    for py in sorted(package.rglob("*.py")):
        pyc = importlib.util.cache_from_source(str(py))
        try:
            with open(pyc, "rb") as f:
                header = f.read(16)
            # timestamp pyc: flags 0, then the source's mtime and size (what the import checks)
            st = os.stat(py)
            stale = int.from_bytes(header[8:12], "little") != int(st.st_mtime) & 0xFFFFFFFF or \
                int.from_bytes(header[12:16], "little") != st.st_size & 0xFFFFFFFF
        except OSError:
            stale = True
        if stale:
            missing.append(str(py.relative_to(package)))
    return missing


# Run in the installed package: every grammar and template is loaded without being analysed or
# compiled (the methods doing that are replaced by ones that fail).
_NOTHING_BUILT_AT_RUN_TIME = """
import jinja2, lark.lark
def refuse(*a, **k):
    raise AssertionError("built at run time")
lark.lark.Lark._build_parser = refuse
jinja2.Environment.compile = refuse
from bpfinspect import lalr
import importlib
for name in lalr.GRAMMARS:
    importlib.import_module(name)._parser()
from bpfinspect.skel import c_template
for name, quoting in c_template.TEMPLATES.items():
    c_template._env(importlib.import_module(quoting).Code).get_template(name)
print("ok")
"""


def test_plain_install_is_prebuilt(tmp_path):
    """A plain pip install carries the bytecode of every module, the grammars' parse tables and
    the compiled templates; a template edited after the install is read from its text."""
    target = tmp_path / "site"
    p = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                        "--target", str(target), str(ROOT)], capture_output=True, text=True,
                       # (the engine compiled or not: test_plain_pip_install_works compiles it)
                       env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1", BPFINSPECT_PURE="1"))
    assert p.returncode == 0, p.stderr[-2000:]
    package = target / "bpfinspect"
    assert _bytecode_missing(package) == []
    assert sorted(x.name for x in package.rglob("*.lark.tables")) == \
        sorted(x.name + ".tables" for x in (ROOT / "bpfinspect").rglob("*.lark"))
    env = dict(os.environ, PYTHONPATH=str(target), PYTHONDONTWRITEBYTECODE="1")
    run = subprocess.run([sys.executable, "-P", "-c", _NOTHING_BUILT_AT_RUN_TIME], capture_output=True,
                         text=True, env=env, cwd=tmp_path)
    assert run.returncode == 0 and run.stdout == "ok\n", run.stderr[-2000:]

    def skel():
        out = subprocess.run([sys.executable, "-P", "-m", "bpfinspect", "gen-skel", str(FIXTURES / "maps.bpf.o")],
                             capture_output=True, text=True, env=env, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        return out.stdout

    before = skel()
    template = package / "templates" / "skel_c.h.j2"
    template.write_text(template.read_text() + "/* edited after the install */\n")
    after = skel()
    assert after == before + "/* edited after the install */\n"


def test_setup_prebuilds_its_install(tmp_path):
    """`make setup` (which made this environment) leaves the same: bytecode and parse tables."""
    where = subprocess.run([sys.executable, "-P", "-c", "import bpfinspect; print(bpfinspect.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    package = Path(where.stdout.strip()).parent
    if "__editable__" not in str(package):
        pytest.skip(f"this environment's bpfinspect ({package}) is not make setup's editable install")
    # (a module edited since the last `make setup` is listed here: make test runs the set-up first)
    assert _bytecode_missing(package) == [], "stale bytecode: run make setup"
    run = subprocess.run([sys.executable, "-P", "-c", _NOTHING_BUILT_AT_RUN_TIME], capture_output=True,
                         text=True, cwd=tmp_path)
    assert run.returncode == 0 and run.stdout == "ok\n", run.stderr[-2000:]


# Parses with every grammar, printed as plain nested lists (a loaded parser names rules with
# str, an analysed one with lark's Token: equal strings).
_PARSES = """
import json
from bpfinspect.isa import asm
from bpfinspect.probes import line_syntax as lines
from bpfinspect.sections import spec

def plain(t):
    if hasattr(t, "children"):
        return [str(t.data), [plain(c) for c in t.children]]
    return [getattr(t, "type", None), str(t)]

out = [plain(spec._parser().parse(text, start=start)) for text, start in (
    ("/usr/lib/libc.so.6:malloc+0x10", "uprobe"), ("do_sys_open+4", "kprobe"), ("sched/sched_switch", "tracepoint"))]
out += [plain(lines._parser().parse(text, start=start)) for text, start in (
    ("fd=%di:s32", "fetch"), ("+8(%sp):u64", "fetch"))]
out.append(asm.assemble("r0 = 0\\nr1 = *(u32 *)(r1 + 4)\\nif r1 > 3 goto +1\\nexit\\nexit\\n").hex())
print(json.dumps(out))
"""


def test_prebuilt_tables_parse_as_the_grammars(tmp_path):
    """The installed parse tables give the parses the grammars give when analysed afresh."""
    installed = subprocess.run([sys.executable, "-P", "-c", _PARSES], capture_output=True, text=True, cwd=tmp_path)
    fresh = subprocess.run([sys.executable, "-P", "-c", _PARSES], capture_output=True, text=True, cwd=tmp_path,
                           env=dict(os.environ, PYTHONPATH=str(ROOT)))  # the checkout: no tables beside it
    assert installed.returncode == 0 and fresh.returncode == 0, installed.stderr + fresh.stderr
    assert installed.stdout == fresh.stdout
