"""Helpers for the CO-RE tests: libbpf's own per-relocation log, read from bpftool."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path

from conftest import BPFTOOL, FIXTURES

CORE_OBJ = FIXTURES / "core.bpf.o"
VMLINUX = Path("/sys/kernel/btf/vmlinux")
SYNTHETIC = [FIXTURES / "core-target-old.o", FIXTURES / "core-target-new.o", FIXTURES / "core-target-flavours.o"]

_RELO = re.compile(r"^libbpf: prog '([^']*)': relo #(\d+): (.*)$")
_CAND = re.compile(r"^(non-matching|matching) candidate #(\d+) <(\w+)> (.*)$")


def bpftool_reason() -> str | None:
    if BPFTOOL is None:
        return "bpftool is not installed (apt install bpftool)"
    return None


def vmlinux_reason() -> str | None:
    if not VMLINUX.is_file() or not os.access(VMLINUX, os.R_OK):
        return f"{VMLINUX} is missing or unreadable (kernel without CONFIG_DEBUG_INFO_BTF)"
    return None


def libbpf_log(target: Path | str, *objects: Path | str) -> tuple[int, dict, bytes | None]:
    """(bpftool's exit code, {(section, relo#): {"local", "candidates", "found"}}, the min BTF bytes)
    from `bpftool -d gen min_core_btf TARGET OUT OBJ...` (libbpf's debug log)."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "min.btf")
        p = subprocess.run([BPFTOOL, "-d", "gen", "min_core_btf", str(target), out, *map(str, objects)],
                           capture_output=True, text=True, timeout=120)
        data = Path(out).read_bytes() if p.returncode == 0 and os.path.exists(out) else None
    log: dict = {}
    for line in p.stderr.splitlines():
        m = _RELO.match(line)
        if not m:
            continue
        key = (m.group(1), int(m.group(2)))
        rest = m.group(3)
        e = log.setdefault(key, {"local": None, "candidates": [], "found": True})
        c = _CAND.match(rest)
        if c:
            e["candidates"].append((int(c.group(2)), c.group(1) == "matching", c.group(4)))
        elif rest == "no matching targets found":
            e["found"] = False
        elif rest.startswith("<") and "> " in rest and e["local"] is None:
            e["local"] = rest.split("> ", 1)[1]
    return p.returncode, log, data


def ours(doc_target: dict) -> dict:
    """The same shape from one target of `core --json` (bpftool names a program by its section)."""
    out = {}
    for r in doc_target["relocations"]:
        out[(r["section"], r["index"])] = {
            "local": r["local"],
            "candidates": [(i, c["matched"], c["spec"]) for i, c in enumerate(r["candidates"])],
            "found": r["result"]["status"] != "not_found",
        }
    return out
