"""Helpers for the probe tests: test binaries built with gcc, and libbpf's own answers.

``built`` (session fixture) compiles fixtures/probes/ into a temporary directory:
exe_pie / exe_nopie (a PIE and a non-PIE executable), libprobes.so (versioned, weak and
same-named symbols), stripped copies of both, and usdt_test (USDT probes with and without a
semaphore).  ``libbpf_offset`` attaches tests/data/probe_test.bpf.o's uprobe program by
function name through libbpf and reads back the offset the kernel received from
``bpftool perf show`` (only this process's own perf events).
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import BPF_REASON, BPFTOOL, ROOT

DATA = ROOT / "tests" / "data"
SRC = ROOT / "fixtures" / "probes"
PROBE_OBJ = DATA / "probe_test.bpf.o"
GCC = shutil.which("gcc")
READELF = shutil.which("readelf")
SDT_H = any(Path(d, "sys", "sdt.h").exists() for d in ("/usr/include", "/usr/include/x86_64-linux-gnu",
                                                          "/usr/include/aarch64-linux-gnu"))


def gcc(out: Path, *args: str) -> Path:
    subprocess.run([GCC, *args, "-o", str(out)], check=True, capture_output=True, text=True, cwd=SRC)
    return out


def build_all(outdir: Path) -> dict[str, Path]:
    """Build every test binary into ``outdir`` with gcc (fixtures/probes/build.sh, plus stripped copies and a
    non-PIE USDT binary); returns name -> path."""
    if GCC is None:
        pytest.skip("gcc is not installed (scripts/setup.sh installs it)")
    if not SDT_H:
        pytest.skip("sys/sdt.h is missing (Debian systemtap-sdt-dev, installed by scripts/setup.sh)")
    subprocess.run([str(SRC / "build.sh"), str(outdir)], check=True, capture_output=True, text=True)
    out = {name: outdir / name for name in ("exe_nopie", "exe_pie", "libprobes.so", "usdt_test")}
    for name in ("exe_pie", "libprobes.so"):
        stripped = outdir / (name.replace(".so", "") + "_stripped" + (".so" if name.endswith(".so") else ""))
        shutil.copy(out[name], stripped)
        subprocess.run(["strip", "--strip-all", str(stripped)], check=True)
        out[stripped.name] = stripped
    out["usdt_test_nopie"] = gcc(outdir / "usdt_test_nopie", "-O2", "-fno-pie", "-no-pie", "usdt_main.c",
                                 "usdt_sema.c")
    return out


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> dict[str, Path]:
    return build_all(tmp_path_factory.mktemp("probe-binaries"))


def readelf_symbols(path: Path) -> list[dict]:
    """``readelf -sW --dyn-syms`` rows: table, index, value, size, type, bind, ndx, name (as printed)."""
    p = subprocess.run([READELF, "-sW", "--dyn-syms", str(path)], capture_output=True, text=True, check=True)
    rows, table = [], None
    for line in p.stdout.splitlines():
        m = re.match(r"Symbol table '(\.\w+)'", line)
        if m:
            table = m.group(1)
            continue
        m = re.match(r"\s*(\d+):\s+([0-9a-f]+)\s+(\d+|0x[0-9a-f]+)\s+(\w+)\s+(\w+)\s+(\w+)\s+(\w+)\s*(.*)$", line)
        if m and table:
            rows.append({"table": table, "index": int(m.group(1)), "value": int(m.group(2), 16),
                         "size": int(m.group(3), 0), "type": m.group(4), "bind": m.group(5),
                         "ndx": m.group(7), "name": m.group(8)})
    return rows


def readelf_notes(path: Path) -> list[dict]:
    """The stapsdt notes as ``readelf -n`` prints them."""
    p = subprocess.run([READELF, "-n", str(path)], capture_output=True, text=True, check=True)
    out, cur = [], None
    for line in p.stdout.splitlines():
        s = line.strip()
        if s.startswith("Provider:"):
            cur = {"provider": s.split(":", 1)[1].strip()}
            out.append(cur)
        elif cur is not None and s.startswith("Name:"):
            cur["name"] = s.split(":", 1)[1].strip()
        elif cur is not None and s.startswith("Location:"):
            for part in s.split(","):
                k, v = part.split(":")
                cur[k.strip().lower()] = int(v, 16)
        elif cur is not None and s.startswith("Arguments:"):
            cur["arguments"] = s.split(":", 1)[1].strip()
    return out


# ---------------------------------------------------------------- libbpf as the oracle

def own_uprobes() -> list[dict]:
    """This process's perf-event uprobes as ``bpftool perf show`` lists them."""
    p = subprocess.run([BPFTOOL, "-j", "perf", "show"], capture_output=True, text=True, check=True)
    pid = os.getpid()
    return [r for r in json.loads(p.stdout or "[]") if r.get("pid") == pid and r.get("fd_type") in
            ("uprobe", "uretprobe")]


class LibbpfOracle:
    """probe_test.bpf.o loaded once; ``offset(binary, func)`` attaches by name and reports what the
    kernel got: ("ok", offset) or ("error", errno)."""

    def __init__(self) -> None:
        from bpfinspect.runtime import Object

        self.obj = Object.open(str(PROBE_OBJ))
        self.obj.load()
        self.prog = self.obj.programs["probe_func"]

    def offset(self, binary: str, func: str) -> tuple[str, int]:
        before = {(r["fd"]) for r in own_uprobes()}
        try:
            link = self.prog.attach_uprobe(binary, func_name=func)
        except Exception as exc:  # the runtime's LibbpfError carries the errno
            return "error", abs(getattr(exc, "errno", 0) or 0)
        try:
            new = [r for r in own_uprobes() if r["fd"] not in before]
            assert len(new) == 1, new
            return "ok", new[0]["offset"]
        finally:
            link.destroy()

    def close(self) -> None:
        self.obj.close()


@pytest.fixture(scope="module")
def libbpf_oracle():
    if BPF_REASON is not None:
        pytest.skip(BPF_REASON)
    if BPFTOOL is None:
        pytest.skip("bpftool is not installed (scripts/setup.sh installs it)")
    oracle = LibbpfOracle()
    yield oracle
    oracle.close()


LIBBPF_ERRNO_FORMAT = 4001
ERRNO_OF_REASON = {"not_found": errno.ENOENT, "zero": errno.ENOENT, "stripped": errno.ENOENT,
                   "ambiguous": LIBBPF_ERRNO_FORMAT}


# ---------------------------------------------------------------- the kernel's uprobe_events as the oracle

TRACEFS = "/sys/kernel/tracing"


def uprobe_events_reason() -> str | None:
    """None when this process may write uprobe_events, else why not."""
    if os.geteuid() != 0:
        return "writing uprobe_events needs root"
    if not os.path.exists(os.path.join(TRACEFS, "uprobe_events")):
        return f"{TRACEFS}/uprobe_events is missing (no tracefs, or a kernel without uprobe events)"
    return None


def _events() -> list[str]:
    with open(os.path.join(TRACEFS, "uprobe_events")) as f:
        return f.read().splitlines()


def _error_log() -> list[str]:
    with open(os.path.join(TRACEFS, "error_log")) as f:
        return f.read().splitlines()


def _write(path: str, text: str) -> OSError | None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, text.encode("utf-8", "surrogateescape"))
        return None
    except OSError as exc:
        return exc
    finally:
        os.close(fd)


def kernel_verdict(line: str, token: str) -> tuple[bool, int | None, str | None, str | None]:
    """Write ``line`` to uprobe_events: (accepted, the error_log column or None, its message or the errno's
    name, the line the kernel lists).  Events the line created are removed at once; only events whose listing holds ``token``
    (a name unique to this test process) are ever touched, others' events are left alone."""
    before = set(_events())
    log_before = _error_log()[-3:]
    err = _write(os.path.join(TRACEFS, "uprobe_events"), line + "\n")
    listed = None
    for entry in _events():
        if entry in before or token not in entry:
            continue
        listed = entry
        _write(os.path.join(TRACEFS, "uprobe_events"), f"-:{entry.split()[0].split(':', 1)[1]}\n")
    if err is None:
        return True, None, None, listed
    log = _error_log()
    col, msg = None, errno.errorcode.get(err.errno, str(err.errno))
    command = " ".join(line.split())
    if log[-3:] != log_before and len(log) >= 3 and log[-2].strip() == f"Command: {command}":
        msg = log[-3].split("error: ", 1)[1]
        col = log[-1].index("^") - len("  Command: ")
    return False, col, msg, listed
