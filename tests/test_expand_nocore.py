"""`expand --no-core`: the source rewritten without CO-RE for one kernel.

Checked against the real references: the rewrite compiles with clang-19 and the same flags,
`relocs` finds no CO-RE relocation in it, every number equals what `core` (the engine checked
against libbpf's log) resolves for the compiled original, and the rewritten tracepoint
program, loaded and attached beside its CO-RE original, records the same pid, parent's tgid,
name and parent's name for processes the test starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import BPF_REASON, FIXTURES, ROOT, bpfinspect
from expand_util import BPFTOOL, CLANG, arch_vmlinux_dir, clang_base_args

SRC = ROOT / "tests" / "data" / "nocore" / "procinfo.bpf.c"
VMLINUX = Path("/sys/kernel/btf/vmlinux")

pytestmark = [
    pytest.mark.skipif(CLANG is None, reason="clang-19 (or clang) is not installed"),
    pytest.mark.skipif(BPFTOOL is None, reason="bpftool is needed for the reference vmlinux.h"),
    pytest.mark.skipif(not VMLINUX.is_file(), reason="this kernel has no BTF at /sys/kernel/btf/vmlinux"),
]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(vmlinux.h dir, the rewrite's text, the original object, the rewritten object, --json doc)."""
    base = tmp_path_factory.mktemp("nocore")
    inc = arch_vmlinux_dir("x86", base)
    p = bpfinspect("expand", str(SRC), "--no-core", "-I", str(inc), "--arch", "x86")
    assert p.returncode == 0, p.stderr
    rewritten = base / "procinfo.nocore.bpf.c"
    rewritten.write_text(p.stdout)
    objs = {}
    for name, src in (("original", SRC), ("rewritten", rewritten)):
        out = base / f"{name}.bpf.o"
        cmd = [CLANG, "-g", "-c", *clang_base_args("x86", [inc]), "-o", str(out), str(src)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        assert r.returncode == 0, f"{name} does not compile:\n{r.stderr[-3000:]}"
        objs[name] = out
    doc = json.loads(bpfinspect("expand", str(SRC), "--no-core", "-I", str(inc), "--arch", "x86", "--json",
                                check=True).stdout)
    return inc, p.stdout, objs["original"], objs["rewritten"], doc


def _core_records(obj: Path) -> list:
    return json.loads(bpfinspect("relocs", str(obj), "--json", check=True).stdout)["core"]


def test_rewrite_compiles_and_has_no_core_relocations(built):
    _inc, text, original, rewritten, doc = built
    assert len(_core_records(original)) >= 10
    assert _core_records(rewritten) == []
    assert text.startswith("#define BPF_NO_PRESERVE_ACCESS_INDEX")
    assert "preserve_access_index" not in text.split("\n", 1)[1].replace("BPF_NO_PRESERVE_ACCESS_INDEX", "")
    assert doc["rewritten"] == text


def test_numbers_are_the_engines_for_the_original(built):
    """Each rewritten number equals `core`'s value for the original object's relocation with
    the same kind and path, and each site says where it came from."""
    _inc, text, original, _rewritten, doc = built
    core = json.loads(bpfinspect("core", str(original), "--json").stdout)
    by = {}
    for r in core["targets"][0]["relocations"]:
        by.setdefault((r["kind"], r["local"].split("] ", 1)[1]), set()).add(r["result"]["value"])
    kinds = set()
    for w in doc["rewrites"]:
        kinds.add(w["kind"])
        matches = [v for (k, local), v in by.items() if k == w["kind"] and _same_path(local, w["path"])]
        assert matches, (w["kind"], w["path"])
        assert all(v == {w["value"]} for v in matches), (w, matches)
        assert str(w["value"]) in w["replacement"] and "/*" in w["replacement"]
        assert w["path"].split(".")[0].split("::")[0].split()[-1] in w["replacement"]
    assert {"byte_off", "byte_sz", "field_exists", "signed", "lshift_u64", "rshift_u64", "type_size",
            "enumval_value"} <= kinds
    # a field no kernel has, asked only for its existence: 0, said so
    missing = [w for w in doc["rewrites"] if "no_such_field_anywhere" in w["path"]]
    assert missing and missing[0]["value"] == 0 and "not in" in missing[0]["replacement"]


def _same_path(local: str, path: str) -> bool:
    # "struct task_struct.comm (0:125 @ offset 1752)" ~ "task_struct.comm";
    # "enum e::A = 27" ~ "enum e::A"; "struct task_struct" ~ "struct task_struct"
    head = local.split(" (", 1)[0].split(" = ", 1)[0]
    return head.split(" ", 1)[-1] == path or head == path


@pytest.mark.skipif(BPF_REASON is not None, reason=BPF_REASON or "")
def test_rewritten_program_records_what_the_core_original_records(built):
    from bpfinspect.runtime.object import Object
    from runtime_util import tracefs_reason

    reason = tracefs_reason()
    if reason:
        pytest.skip(reason)
    _inc, _text, original, rewritten, _doc = built
    with Object.open(str(original)) as a, Object.open(str(rewritten)) as b:
        a.load()
        b.load()
        links = [a.programs["on_exec"].attach(), b.programs["on_exec"].attach()]
        try:
            children = []
            for prog in ("/bin/true", "/bin/sleep"):
                args = [prog] if prog == "/bin/true" else [prog, "0.05"]
                p = subprocess.Popen(args)
                p.wait()
                children.append((p.pid, os.path.basename(prog)))
            time.sleep(0.05)
            got = []
            for obj in (a, b):
                m = obj.maps["seen"]
                got.append({pid: m.lookup(pid.to_bytes(4, sys.byteorder)) for pid, _ in children})
        finally:
            for link in links:
                link.destroy()
    me = Path("/proc/self/comm").read_text().strip()
    for (pid, comm) in children:
        ra, rb = bytes(got[0][pid]), bytes(got[1][pid])
        assert ra == rb, (pid, comm)
        rec_pid, rec_ppid = int.from_bytes(ra[0:4], sys.byteorder), int.from_bytes(ra[4:8], sys.byteorder)
        name = ra[8:24].split(b"\0")[0].decode()
        parent = ra[24:40].split(b"\0")[0].decode()
        assert (rec_pid, rec_ppid, name, parent) == (pid, os.getpid(), comm, me)


def test_field_the_target_lacks_is_an_error_naming_it(built):
    inc = built[0]
    p = bpfinspect("expand", str(SRC), "--no-core", "-I", str(inc), "--arch", "x86",
                   "--btf", str(FIXTURES / "core-target-old.o"))
    assert p.returncode == 2 and p.stderr.count("\n") == 1
    # the old kernel has no BPF_MAP_TYPE_RINGBUF: named, at the line of the macro's use
    line = next(i for i, t in enumerate(SRC.read_text().splitlines(), 1) if "BPF_MAP_TYPE_RINGBUF" in t)
    assert f"procinfo.bpf.c:{line}:" in p.stderr
    assert "BPF_MAP_TYPE_RINGBUF" in p.stderr and "core-target-old.o" in p.stderr


def test_sites_are_at_the_uses_in_the_original(built):
    doc = built[4]
    lines = SRC.read_text().splitlines()
    for w in doc["rewrites"]:
        used = lines[w["line"] - 1][w["column"] - 1:]
        assert used.startswith(("BPF_CORE_READ", "bpf_core_")), (w["line"], w["column"], used)


def test_other_target_gives_its_numbers(built, tmp_path):
    inc = built[0]
    src = tmp_path / "small.bpf.c"
    src.write_text('#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n#include <bpf/bpf_core_read.h>\n'
                   'char LICENSE[] SEC("license") = "GPL";\n'
                   'SEC("tp/sched/sched_process_exec") int f(void *ctx) {\n'
                   '\tstruct task_struct *t = (void *)bpf_get_current_task();\n'
                   '\treturn BPF_CORE_READ(t, real_parent, tgid) + bpf_core_field_offset(t->comm);\n}\n')
    doc = json.loads(bpfinspect("expand", str(src), "--no-core", "-I", str(inc), "--json",
                                "--btf", str(FIXTURES / "core-target-old.o"), check=True).stdout)
    got = {(w["kind"], w["path"]): w["value"] for w in doc["rewrites"]}
    # the old layout's offsets (fixtures/src/core_target_old.c)
    assert got == {("byte_off", "task_struct.real_parent"): 48, ("byte_off", "task_struct.tgid"): 44,
                   ("byte_off", "task_struct.comm"): 64}


def test_usage_errors(tmp_path):
    p = bpfinspect("expand", str(SRC), "--no-core", "--keep", "BPF_CORE_READ")
    assert p.returncode == 2 and "--keep" in p.stderr
    bad = tmp_path / "deref.bpf.c"
    bad.write_text('#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n#include <bpf/bpf_core_read.h>\n'
                   'int f(struct task_struct *t) {\n'
                   '\treturn *(int *)__builtin_preserve_access_index(&t->real_parent->pid);\n}\n')
    p = bpfinspect("expand", str(bad), "--no-core", "-I", str(arch_vmlinux_dir("x86", tmp_path)))
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "deref.bpf.c:" in p.stderr


def _fixture_sources():
    """The fixture sources with something to rewrite (CO-RE macros, or tracing macros that use them)."""
    import re

    uses = re.compile(r"\b(BPF_CORE_READ\w*|bpf_core_\w+|BPF_K\w*PROBE\w*|BPF_KSYSCALL|BPF_U\w*PROBE)\b")
    return sorted(p for p in (ROOT / "fixtures" / "src").glob("*.bpf.c") if uses.search(p.read_text()))


@pytest.mark.parametrize("src", _fixture_sources(), ids=lambda p: p.name)
def test_fixture_sources_rewritten_compile_without_core(src, built, tmp_path):
    """Every fixture source, rewritten for this kernel, compiles with its build flags and has no
    CO-RE relocation; core.bpf.c reads fields no kernel has (guarded) and is refused, naming one."""
    inc = built[0]
    p = bpfinspect("expand", str(src), "--no-core", "-I", str(inc), "--arch", "x86")
    if src.name == "core.bpf.c":
        assert p.returncode == 2 and "task_struct___old.state" in p.stderr and p.stderr.count("\n") == 1
        return
    assert p.returncode == 0, p.stderr
    out = tmp_path / src.name
    out.write_text(p.stdout)
    from expand_util import fixture_build_flags

    obj = tmp_path / "x.bpf.o"
    cmd = [CLANG, "-g", "-c", "-iquote", str(src.parent), *clang_base_args("x86", [inc]), "-Wno-unused-function",
           *fixture_build_flags(src.name), "-o", str(obj), str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert _core_records(obj) == []
