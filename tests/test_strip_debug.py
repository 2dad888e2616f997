"""`gen-skel --strip-debug`: the object embedded without the contents of its DWARF sections.
llvm-readelf, llvm-objdump, bpftool and libbpf read the stripped object as they read the
original; the skeletons embed exactly those bytes."""

from __future__ import annotations

import base64
import re
import subprocess
import sys

import pytest

from conftest import BPFTOOL, FIXTURES, LLVM_OBJDUMP, LLVM_READELF, bpfinspect

OBJECTS = ["bootstrap.bpf.o", "kprobe.bpf.o", "maps-eb.bpf.o", "calls.bpf.o", "v4.stripped.bpf.o"]


def stripped(name: str) -> tuple[bytes, bytes]:
    from bpfinspect.elf import ElfFile
    from bpfinspect.elf.strip import without_debug

    data = (FIXTURES / name).read_bytes()
    return data, without_debug(ElfFile(data))


@pytest.mark.parametrize("name", OBJECTS)
def test_only_dwarf_goes(name, tmp_path):
    from bpfinspect.elf import ElfFile
    from bpfinspect.elf.strip import is_debug

    data, out = stripped(name)
    old, new = ElfFile(data), ElfFile(out)
    assert len(old.sections) == len(new.sections)
    for a, b in zip(old.sections, new.sections):
        assert (a.name, a.type, a.flags, a.link, a.info, a.align, a.entsize) == \
            (b.name, b.type, b.flags, b.link, b.info, b.align, b.entsize)
        if is_debug(old, a.index):
            assert b.size == 0
        else:
            assert b.data() == a.data() and b.size == a.size
            assert b.offset % max(1, b.align) == 0
    sym = lambda elf: [(s.name, s.shndx, s.value, s.size) for s in elf.symbols]  # noqa: E731
    assert sym(old) == sym(new)
    if any(is_debug(old, s.index) for s in old.sections[1:]):
        assert len(out) < len(data)
    path = tmp_path / name
    path.write_bytes(out)
    if LLVM_READELF:  # the reference reads it without complaint, sections and symbols as before
        r = subprocess.run([LLVM_READELF, "-S", "-s", "-r", str(path)], capture_output=True, text=True)
        assert r.returncode == 0 and "warning" not in r.stderr.lower(), r.stderr
    if LLVM_OBJDUMP:
        dis = [subprocess.run([LLVM_OBJDUMP, "-d", "-r", str(p)], capture_output=True, text=True,
                              check=True).stdout.split("\n", 2)[2] for p in (FIXTURES / name, path)]
        assert dis[0] == dis[1]
    # (maps is left out: it reads record types from DWARF when BTF lacks them, which is the point)
    for cmd in (["progs", "--json"], ["globals", "--json"], ["btf"], ["relocs", "--json"]):
        a = bpfinspect(cmd[0], str(FIXTURES / name), *cmd[1:]).stdout.replace(str(FIXTURES / name), "X")
        b = bpfinspect(cmd[0], str(path), *cmd[1:]).stdout.replace(str(path), "X")
        assert a == b, cmd


@pytest.mark.skipif(BPFTOOL is None, reason="bpftool is not installed (scripts/setup.sh installs it)")
def test_bpftool_makes_the_same_skeleton_from_the_stripped_object(tmp_path):
    data, out = stripped("bootstrap.bpf.o")
    path = tmp_path / "bootstrap.bpf.o"
    path.write_bytes(out)
    a = subprocess.run([BPFTOOL, "gen", "skeleton", str(FIXTURES / "bootstrap.bpf.o")], capture_output=True,
                       text=True, check=True).stdout
    b = subprocess.run([BPFTOOL, "gen", "skeleton", str(path)], capture_output=True, text=True, check=True).stdout
    strip = lambda t: re.sub(r"(?s)(__elf_bytes\(size_t \*sz\)\n\{).*?\n\}\n", "", t)  # noqa: E731 - the bytes
    assert strip(a) == strip(b) and len(b) < len(a) / 5


def test_python_skeleton_embeds_the_stripped_bytes(tmp_path):
    data, out = stripped("bootstrap.bpf.o")
    p = bpfinspect("gen-skel", str(FIXTURES / "bootstrap.bpf.o"), "--lang", "python", "--strip-debug",
                   "-o", str(tmp_path / "boot_skel.py"))
    assert p.returncode == 0, p.stderr
    text = (tmp_path / "boot_skel.py").read_text()
    full = bpfinspect("gen-skel", str(FIXTURES / "bootstrap.bpf.o"), "--lang", "python").stdout
    assert len(text) < len(full) / 10  # the 926 KB module of the issue, mostly debug info
    blob = re.search(r"ELF_BYTES = _base64\.b64decode\((.*?)\)\n", text, re.S).group(1)
    decoded = base64.b64decode("".join(re.findall(r"'([A-Za-z0-9+/=]*)'", blob)))
    assert decoded == out
    # the module imports (it checks the embedded bytes against their size and sha256)
    r = subprocess.run([sys.executable, "-c", "import boot_skel"], cwd=tmp_path, capture_output=True, text=True,
                       env={"PYTHONPATH": f"{tmp_path}:{FIXTURES.parent}"})
    assert r.returncode == 0, r.stderr


def test_c_skeleton_embeds_the_stripped_bytes(tmp_path):
    data, out = stripped("bootstrap.bpf.o")
    p = bpfinspect("gen-skel", str(FIXTURES / "bootstrap.bpf.o"), "--strip-debug", "--types")
    assert p.returncode == 0, p.stderr
    assert len(p.stdout) < 200_000
    (tmp_path / "skel.h").write_text("#include <bpf/libbpf.h>\n" + p.stdout)
    (tmp_path / "dump.c").write_text(
        '#include <stdio.h>\n#include "skel.h"\nint main(void) { size_t sz = 0; '
        'const void *p = bootstrap_bpf__elf_bytes(&sz); return fwrite(p, 1, sz, stdout) != sz; }\n')
    subprocess.run(["gcc", "-std=gnu11", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-o", "dump", "dump.c",
                    "-lbpf"], cwd=tmp_path, check=True, capture_output=True)
    assert subprocess.run([str(tmp_path / "dump")], capture_output=True, check=True).stdout == out


def test_default_embeds_the_exact_bytes():
    full = bpfinspect("gen-skel", str(FIXTURES / "kprobe.bpf.o"), "--lang", "python").stdout
    blob = re.search(r"ELF_BYTES = _base64\.b64decode\((.*?)\)\n", full, re.S).group(1)
    assert base64.b64decode("".join(re.findall(r"'([A-Za-z0-9+/=]*)'", blob))) == \
        (FIXTURES / "kprobe.bpf.o").read_bytes()
