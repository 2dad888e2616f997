"""Shared test facts: where the fixtures and the reference tools are, and what this machine can do."""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"

FIXTURE_OBJECTS = sorted(FIXTURES.glob("*.bpf.o"))

# Real-world objects shipped by Debian packages (installed by the test set-up).
DEBIAN_OBJECT_PACKAGES = ("libxdp1", "xdp-tools", "golang-github-cilium-ebpf-dev")


def _debian_objects() -> list[Path]:
    out: list[Path] = []
    for pkg in DEBIAN_OBJECT_PACKAGES:
        try:
            files = subprocess.run(["dpkg", "-L", pkg], capture_output=True, text=True, check=False).stdout
        except FileNotFoundError:
            continue
        for line in files.splitlines():
            if line.endswith((".o", ".elf")) and os.path.isfile(line):
                with open(line, "rb") as f:
                    head = f.read(20)
                if head[:4] == b"\x7fELF":
                    out.append(Path(line))
    return sorted(set(out))


DEBIAN_OBJECTS = _debian_objects()
ALL_OBJECTS = FIXTURE_OBJECTS + DEBIAN_OBJECTS


def obj_id(p: Path) -> str:
    return p.name if p.parent == FIXTURES else f"{p.parent.name}/{p.name}"


def tool(name: str) -> str | None:
    return shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)


BPFTOOL = tool("bpftool")
LLVM_OBJDUMP = tool("llvm-objdump-19")
LLVM_READELF = tool("llvm-readelf") or tool("llvm-readelf-19")


def bpf_syscall_reason() -> str | None:
    """None when this process may load BPF programs, else the precise reason it may not."""
    if sys.platform != "linux":
        return f"bpf() needs Linux, this is {sys.platform}"
    if os.geteuid() != 0:
        return "loading BPF programs needs root (CAP_BPF + CAP_PERFMON); running as uid %d" % os.geteuid()
    libc = ctypes.CDLL(None, use_errno=True)
    # BPF_PROG_LOAD with a NULL attr: EFAULT means the syscall exists; ENOSYS means it does not.
    nr = {"x86_64": 321, "aarch64": 280}.get(os.uname().machine)
    if nr is None:
        return None
    r = libc.syscall(nr, 5, None, 0)
    err = ctypes.get_errno()
    if r < 0 and err == 38:
        return "this kernel has no bpf() syscall (ENOSYS)"
    if r < 0 and err == 1:
        return "bpf() is refused with EPERM (unprivileged or locked down)"
    return None


BPF_REASON = bpf_syscall_reason()
needs_bpf = pytest.mark.skipif(BPF_REASON is not None, reason=BPF_REASON or "")


def fixture_vmlinux_sha(name: str) -> str | None:
    """The sha256 of the vmlinux.h ``fixtures/NAME`` was built from, as fixtures/build-info.txt records it
    (the line of the object when it was rebuilt alone, else the full build's)."""
    import re

    info = FIXTURES / "build-info.txt"
    if not info.exists():
        return None
    text = info.read_text()
    own = re.search(rf"^{re.escape(name)} vmlinux\.h sha256: (\w+)", text, re.M)
    full = re.search(r"^vmlinux\.h sha256: (\w+)", text, re.M)
    return own.group(1) if own else (full.group(1) if full else None)


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def bpfinspect(*args: str, check: bool = False, input: str | None = None) -> subprocess.CompletedProcess:
    """Run the installed command line as a user would (a new process, output piped)."""
    cmd = [sys.executable, "-m", "bpfinspect", *args]
    p = subprocess.run(cmd, capture_output=True, text=True, input=input, cwd=ROOT)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {p.returncode}: {p.stderr}")
    return p


@pytest.fixture(scope="session")
def fixture_objects() -> list[Path]:
    assert FIXTURE_OBJECTS, "fixtures/*.bpf.o are missing: run fixtures/build.sh"
    return FIXTURE_OBJECTS


@pytest.fixture(autouse=True)
def _sigint_state_as_found():
    """Every test leaves SIGINT's handler and the interrupt machinery as it found them: a test
    that leaves a shield open or a command's phase behind would make a later Ctrl-C test pass or
    fail for reasons of its own.  The leak is reported on the test that caused it."""
    import signal

    from bpfinspect import interrupts

    before = signal.getsignal(signal.SIGINT)
    yield
    s = interrupts._State
    leaks = []
    now = signal.getsignal(signal.SIGINT)
    library_mode = now is interrupts._handler and before is signal.default_int_handler  # the runtime installs it
    if now is not before and not library_mode:
        leaks.append(f"SIGINT handler {signal.getsignal(signal.SIGINT)!r}, was {before!r}")
        signal.signal(signal.SIGINT, before)
    if s.depth:
        leaks.append(f"{s.depth} shielded block(s) still open")
        s.depth = 0
    if s.pending or s.deferred:
        leaks.append(f"a Ctrl-C held back (pending={s.pending}, deferred={s.deferred})")
        s.pending = s.deferred = False
    if s.phase not in (interrupts._LIBRARY,):
        leaks.append(f"a command's phase {s.phase} left behind")
        s.phase = interrupts._LIBRARY
    if leaks:
        pytest.fail("interrupt state leaked: " + "; ".join(leaks), pytrace=False)


def cannot_compile_reason() -> str | None:
    """Why this machine's set-up could not compile the engine (None: it could)."""
    import importlib.util
    import sysconfig

    if importlib.util.find_spec("Cython") is None:
        return "Cython is not installed in this environment"
    include = sysconfig.get_paths()["include"]
    if not os.path.exists(os.path.join(include, "Python.h")):
        return f"no Python.h in {include} (the interpreter's development headers)"
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None:
        return f"no C compiler ({cc})"
    return None


def pytest_sessionstart(session):
    """The installed package's compiled modules (bpfinspect/compiled.py) must be built from the
    sources in the checkout: a module edited since `make setup` would otherwise be tested as it
    was.  (Under `make test`, `python -P -m pytest`, the tests that import bpfinspect import the
    install, compiled modules and all; the commands they run through `python -m bpfinspect`
    from the checkout run its source.)"""
    p = subprocess.run([sys.executable, "-P", "-c", "import bpfinspect, bpfinspect.compiled as c;"
                        "print(' '.join(c.stale(bpfinspect.__path__[0])))"],
                       capture_output=True, text=True, cwd="/")
    if p.returncode == 0 and p.stdout.strip():
        pytest.exit(f"the installed compiled modules are older than their source ({p.stdout.strip()}): "
                    "run `make setup`", returncode=3)
