"""`asm` calls helpers by name (ids as the kernel's uapi header numbers them) and, with --btf,
kfuncs by name (ids as bpftool lists the BTF's FUNCs); errors quote the line with a caret."""

from __future__ import annotations

import re
import subprocess

import pytest

from conftest import BPFTOOL, LLVM_OBJDUMP, bpfinspect

UAPI = "/usr/include/linux/bpf.h"
VMLINUX = "/sys/kernel/btf/vmlinux"


def _uapi_helpers() -> list[str]:
    text = open(UAPI, encoding="utf-8").read()
    start = text.index("#define __BPF_FUNC_MAPPER(FN)")
    body = text[start:text.index("\n\n", start)]
    return re.findall(r"FN\((\w+)", body)


def _asm(tmp_path, text: str, *extra: str) -> tuple[subprocess.CompletedProcess, bytes]:
    src = tmp_path / "x.s"
    src.write_text(text)
    out = tmp_path / "x.bin"
    p = bpfinspect("asm", str(src), "-o", str(out), *extra)
    return p, out.read_bytes() if p.returncode == 0 else b""


def test_every_uapi_helper_by_name(tmp_path):
    names = _uapi_helpers()
    assert len(names) > 100 and names[0] == "unspec"
    text = "".join(f"call bpf_{n}\n" for n in names[1:])
    p, code = _asm(tmp_path, text)
    assert p.returncode == 0, p.stderr
    ids = [int.from_bytes(code[i + 4:i + 8], "little") for i in range(0, len(code), 8)]
    assert ids == list(range(1, len(names)))
    assert all(code[i] == 0x85 and code[i + 1] == 0 for i in range(0, len(code), 8))
    if LLVM_OBJDUMP:  # llvm reads the same calls back
        (tmp_path / "x.hex").write_bytes(code)
        numbers = [int(n, 16) for n in re.findall(r"call (0x[0-9a-f]+)", _objdump(tmp_path, code))]
        assert numbers == ids


def _objdump(tmp_path, code: bytes) -> str:
    """llvm-objdump-19 of raw instruction bytes, through an object made by llvm-mc's neighbour:
    clang compiles a section holding the bytes."""
    src = tmp_path / "raw.c"
    src.write_text('__attribute__((section("prog"), used)) static const unsigned char code[] = {'
                   + ",".join(str(b) for b in code) + "};\n")
    obj = tmp_path / "raw.o"
    subprocess.run(["clang", "-target", "bpf", "-c", str(src), "-o", str(obj)], check=True)
    # the bytes sit in a data section: disassemble it as code
    return subprocess.run([LLVM_OBJDUMP, "-D", "-j", "prog", str(obj)], capture_output=True, text=True,
                          check=True).stdout


@pytest.mark.skipif(BPFTOOL is None, reason="bpftool is not installed (scripts/setup.sh installs it)")
def test_kfunc_by_name_with_btf(tmp_path):
    import os

    if not os.path.exists(VMLINUX):
        pytest.skip(f"{VMLINUX} is missing: this kernel has no BTF")
    dump = subprocess.run([BPFTOOL, "btf", "dump", "file", VMLINUX], capture_output=True, text=True,
                          check=True).stdout
    ids = {m.group(2): int(m.group(1)) for m in re.finditer(r"^\[(\d+)\] FUNC '(\w+)'", dump, re.M)}
    names = [n for n in ("bpf_rcu_read_lock", "bpf_obj_new_impl", "bpf_task_acquire", "bpf_cgroup_release")
             if n in ids]
    assert names
    text = "".join(f"call {n}\ncall kfunc {n}\n" for n in names) + "call bpf_get_current_pid_tgid\nexit\n"
    p, code = _asm(tmp_path, text, "--btf", VMLINUX)
    assert p.returncode == 0, p.stderr
    slots = [code[i:i + 8] for i in range(0, len(code), 8)]
    for k, n in enumerate(names):
        for slot in slots[2 * k:2 * k + 2]:
            assert slot[0] == 0x85 and slot[1] == 0x20  # call, src_reg 2 (a kfunc)
            assert int.from_bytes(slot[4:], "little") == ids[n]
    assert int.from_bytes(slots[-2][4:], "little") == 14  # a helper's name still wins
    # disasm reads the kfunc call back (the lossless spelling)
    p, _ = _asm(tmp_path, f"call kfunc {names[0]}\n")
    assert p.returncode == 2 and "--btf" in p.stderr


@pytest.mark.parametrize("text, line, column, words", [
    ("r0 = 0\ncall bpf_get_curent_pid_tgid\nexit\n", 2, 6, "did you mean 'bpf_get_current_pid_tgid'"),
    ("r0 = 0\n  call nosuch_thing\n", 2, 8, "no helper named 'nosuch_thing'"),
    ("r0 = 0\nr0 += foo\n", 2, 7, "unexpected 'foo'"),
    ("\tr0 = 0\n\tw0 = r1\n", 2, 2, "same width"),
    # numbers out of range: the caret under the number
    ("r0 = 99999999999999999999\nexit\n", 1, 6, "does not fit in 32 bits"),
    ("exit\n  r1 = *(u32 *)(r2 - 70000)\n", 2, 22, "offset -0x11170 does not fit in 16 bits"),
    ("if r1 > 0x1ffffffff goto +1\nexit\n", 1, 9, "immediate 0x1ffffffff"),
])
def test_errors_quote_the_line_with_a_caret(tmp_path, text, line, column, words):
    p, _ = _asm(tmp_path, text)
    assert p.returncode == 2
    first, quoted, caret = p.stderr.splitlines()
    assert f"line {line} column {column}: " in first and words in first, first
    shown = text.splitlines()[line - 1]
    assert quoted == "  " + shown
    # the caret sits under the column, tabs kept so it lines up on a terminal
    assert caret[2:].expandtabs() == " " * (len(shown[:column - 1].expandtabs())) + "^"


def test_an_opcode_out_of_range_is_not_pinned_on_another_number(tmp_path):
    """check_fields looks at the opcode before the offset: the error has no column, not the
    column of the (also out of range) offset."""
    p, _ = _asm(tmp_path, ".insn op=0x100 dst=0 src=0 off=70000 imm=0\n")
    assert p.returncode == 2
    first = p.stderr.splitlines()[0]
    assert "opcode 0x100 does not fit in 8 bits" in first and "column" not in first
