"""Reference data for the section-name tests: UAPI enums and libbpf itself."""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

BPF_H = Path("/usr/include/linux/bpf.h")
VMLINUX = Path("/sys/kernel/btf/vmlinux")


def _enum_members(text: str, enum_name: str) -> dict[str, int]:
    m = re.search(r"enum\s+" + enum_name + r"\s*\{(.*?)\};", text, re.S)
    assert m, f"enum {enum_name} not found"
    body = re.sub(r"/\*.*?\*/", "", m.group(1), flags=re.S)
    out: dict[str, int] = {}
    value = -1
    for item in body.split(","):
        item = item.strip()
        if not item or item.startswith("#"):
            continue
        if "=" in item:
            name, expr = (s.strip() for s in item.split("=", 1))
            value = out[expr] if expr in out else int(expr, 0)
        else:
            name = item
            value += 1
        out[name] = value
    return out


@lru_cache(maxsize=1)
def uapi_enums() -> tuple[dict[str, int], dict[str, int]]:
    """(prog types, attach types) from the installed UAPI header, name -> value."""
    text = BPF_H.read_text()
    return _enum_members(text, "bpf_prog_type"), _enum_members(text, "bpf_attach_type")


@lru_cache(maxsize=1)
def kernel_enums() -> tuple[dict[str, int], dict[str, int]]:
    """The same two enums as the running kernel's BTF has them (through bpftool)."""
    bpftool = shutil.which("bpftool") or "/usr/sbin/bpftool"
    out = subprocess.run([bpftool, "btf", "dump", "file", str(VMLINUX)], check=True,
                         capture_output=True, text=True, timeout=120).stdout
    enums: dict[str, dict[str, int]] = {}
    current = None
    for line in out.splitlines():
        if line.startswith("["):
            m = re.match(r"\[\d+\] ENUM '(bpf_prog_type|bpf_attach_type)'", line)
            current = m.group(1) if m else None
            if current:
                enums[current] = {}
            continue
        if current:
            m = re.match(r"\s+'(\w+)' val=(-?\d+)", line)
            if m:
                enums[current][m.group(1)] = int(m.group(2))
    return enums["bpf_prog_type"], enums["bpf_attach_type"]


# libbpf keeps the print function it is given in a global of the process: this one must live as
# long as the process (a freed callback there crashes the next libbpf message, in any later test).
_QUIET = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)(lambda level, fmt, args: 0)


class Libbpf:
    """libbpf.so.1 through ctypes: libbpf_prog_type_by_name().  ``close()`` gives libbpf back the
    print function it had (bpfinspect's runtime, in a test process that loaded it first)."""

    def __init__(self) -> None:
        path = ctypes.util.find_library("bpf") or "libbpf.so.1"
        self.lib = ctypes.CDLL(path)
        fn = self.lib.libbpf_prog_type_by_name
        fn.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int)]
        fn.restype = ctypes.c_int
        self._fn = fn
        # Silence libbpf's own messages (it lists every known name on failure).
        self.lib.libbpf_set_print.argtypes = [ctypes.c_void_p]
        self.lib.libbpf_set_print.restype = ctypes.c_void_p
        self._previous = self.lib.libbpf_set_print(ctypes.cast(_QUIET, ctypes.c_void_p))

    def close(self) -> None:
        self.lib.libbpf_set_print(self._previous)

    def version(self) -> str:
        f = self.lib.libbpf_version_string
        f.restype = ctypes.c_char_p
        return f().decode()

    def prog_type_by_name(self, name: str) -> tuple[int, int] | None:
        pt = ctypes.c_int(-1)
        at = ctypes.c_int(-1)
        rc = self._fn(name.encode(), ctypes.byref(pt), ctypes.byref(at))
        if rc == 0:
            return pt.value, at.value
        assert rc == -errno.ESRCH, f"{name!r}: unexpected return {rc}"
        return None


def prog_type_enum_name(name: str) -> str:
    return "BPF_PROG_TYPE_" + name.upper()


def attach_type_enum_name(name: str) -> str:
    return "BPF_" + name.upper()


def _str_fn(lib, name):
    f = getattr(lib, name)
    f.argtypes = [ctypes.c_int]
    f.restype = ctypes.c_char_p
    return f


def libbpf_type_names(lib: Libbpf, prog_type: int, attach_type: int) -> tuple[str | None, str | None]:
    """libbpf's own names for the two enum values (libbpf_bpf_*_type_str)."""
    p = _str_fn(lib.lib, "libbpf_bpf_prog_type_str")(prog_type)
    a = _str_fn(lib.lib, "libbpf_bpf_attach_type_str")(attach_type)
    return (p.decode() if p else None), (a.decode() if a else None)


def generated_names(bases: list[str]) -> list[str]:
    """Many section names around the table's own: exact, with targets, near misses."""
    suffixes = ["", "/", "/x", "/a/b", "/a:b", "/a:b:c", "/do_sys_open+0x10", "x", "_", ".s",
                ".s/x", ".multi", ".multi/x", ".frags", ".w", ".w/x", "/ingress", "/egress",
                "/verdict", "/devmap", "/cpumap", " ", "//usr/bin/bash:readline"]
    names: set[str] = set()
    for b in bases:
        for s in suffixes:
            names.add(b + s)
        names.add(b.upper())
        names.add("x" + b)
        for i in range(1, len(b)):
            names.add(b[:i])
        if "/" in b:
            head, tail = b.split("/", 1)
            names.add(head)
            names.add(head + "/")
            names.add(head + "//" + tail)
            names.add(head + "/" + tail + "/x")
    names.discard("")
    return sorted(names)


def section_names_of_objects(paths: list[Path]) -> set[str]:
    """Executable section names of real BPF objects (read with pyelftools)."""
    from elftools.elf.elffile import ELFFile

    found: set[str] = set()
    for p in paths:
        try:
            with open(p, "rb") as f:
                elf = ELFFile(f)
                if elf["e_machine"] not in ("EM_BPF", 247):
                    continue
                for sec in elf.iter_sections():
                    if sec["sh_flags"] & 0x4 and sec["sh_type"] == "SHT_PROGBITS":
                        found.add(sec.name)
        except Exception:  # noqa: BLE001 - odd test inputs are skipped one by one
            continue
    return found
