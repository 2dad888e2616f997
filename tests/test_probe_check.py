"""`probe check` and `progs`' uprobe column, against libbpf's own attach and the kernel's lists.

The oracle for what can attach is libbpf: an object of tracepoint, raw tracepoint, kprobe and
uprobe programs (targets that exist here and targets that do not) is loaded through our ctypes
runtime and each program attached with bpf_program__attach: `probe check` must call a program
fine exactly when that attach succeeds.  Kinds this kernel refuses to load (fentry, lsm,
tp_btf, iter) are checked against the names bpftool prints from /sys/kernel/btf/vmlinux; USDT
targets against readelf -n.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import BPF_REASON, BPFTOOL, ROOT
from probes_util import built, libbpf_oracle, readelf_notes  # noqa: F401

from bpfinspect.probes.check import Machine, check_object, uprobe_target

CLANG = shutil.which("clang")
BPFI = [sys.executable, "-m", "bpfinspect"]


def bpf_object(tmp_path, name: str, sections: dict[str, str]):
    """A BPF object with one trivial program per section (program name -> section name)."""
    if CLANG is None:
        pytest.skip("clang is not installed (scripts/setup.sh installs it)")
    src = tmp_path / f"{name}.bpf.c"
    body = ['#define SEC(n) __attribute__((section(n), used))', 'char LICENSE[] SEC("license") = "GPL";']
    for prog, sec in sections.items():
        body.append(f'SEC("{sec}") int {prog}(void *ctx) {{ return 0; }}')
    src.write_text("\n".join(body) + "\n")
    out = tmp_path / f"{name}.bpf.o"
    subprocess.run([CLANG, "-target", "bpf", "-O2", "-c", str(src), "-o", str(out)], check=True,
                   capture_output=True, text=True)
    return out


def attachable_sections(built) -> dict[str, str]:
    exe, lib = built["exe_pie"], built["libprobes.so"]
    return {
        "tp_here": "tracepoint/syscalls/sys_enter_getppid",
        "tp_missing": "tracepoint/nosuchcategory/nosuchevent",
        "tp_short": "tp/sched/sched_process_exit",
        "raw_here": "raw_tp/sys_enter",
        "raw_missing": "raw_tp/no_such_tracepoint_xyz",
        "kp_here": "kprobe/do_unlinkat",
        "kp_missing": "kprobe/no_such_function_xyz",
        "up_here": f"uprobe/{exe}:func_1",
        "up_plus": f"uprobe/{exe}:func_str+0x4",
        "uret_here": f"uretprobe/{exe}:func_1",
        "up_dup": f"uprobe/{exe}:dup",
        "up_missing": f"uprobe/{exe}:no_such_function",
        "up_lib": f"uprobe/{lib}:lib_plain",
        "up_lib_foo": f"uprobe/{lib}:foo",
        "up_address": f"uprobe/{exe}:0x1000",
        "up_nofile": "uprobe//no/such/binary:main",
        "up_libc": "uprobe/libc.so.6:malloc",
    }


@pytest.mark.skipif(BPF_REASON is not None, reason=BPF_REASON or "")
def test_check_agrees_with_libbpf_attach(built, tmp_path, libbpf_oracle):
    from bpfinspect.obj import open_object
    from bpfinspect.runtime import Object

    sections = attachable_sections(built)
    path = bpf_object(tmp_path, "attach", sections)
    checks = {c.name: c for c in check_object(open_object(str(path)))}
    attached = {}
    with Object.from_path(str(path)) as o:
        o.load()
        for name in sections:
            try:
                o.program(name).attach()
                attached[name] = True
            except Exception:  # noqa: BLE001 - any refusal is "cannot attach"
                attached[name] = False
    verdicts = {n: checks[n].ok for n in sections}
    assert verdicts == attached
    # the cases the object exists for happened
    assert attached["tp_here"] and attached["up_here"] and attached["up_lib"] and attached["raw_here"]
    assert not attached["kp_here"] and not attached["up_dup"] and not attached["up_address"]
    assert [p.problem for p in checks["kp_here"].problems] == ["no_support"]
    assert {p.problem for p in checks["kp_missing"].problems} == {"not_found", "no_support"}
    assert "ambiguous" in checks["up_dup"].problems[0].message
    assert "as a function name" in checks["up_address"].problems[0].message
    # the offsets shown are libbpf's
    for name, func, binary in (("up_here", "func_1", "exe_pie"), ("up_lib", "lib_plain", "libprobes.so")):
        assert checks[name].uprobe.offset == libbpf_oracle.offset(str(built[binary]), func)[1]
    t = checks["up_plus"].uprobe
    assert t.offset == libbpf_oracle.offset(str(built["exe_pie"]), "func_str")[1] + 4
    assert checks["up_libc"].uprobe.path == libbpf_oracle_path("libc.so.6")


def libbpf_oracle_path(name: str) -> str:
    from bpfinspect.probes.paths import libbpf_resolve
    return libbpf_resolve(name)


def bpftool_btf_names(path: str = "/sys/kernel/btf/vmlinux") -> dict[str, set[str]]:
    if BPFTOOL is None:
        pytest.skip("bpftool is not installed (scripts/setup.sh installs it)")
    base = [] if path.endswith("/vmlinux") else ["base", "/sys/kernel/btf/vmlinux"]
    p = subprocess.run([BPFTOOL, "btf", "dump", "file", path, *base, "format", "raw"],
                       capture_output=True, text=True, check=True)
    out: dict[str, set[str]] = {"FUNC": set(), "TYPEDEF": set()}
    for m in re.finditer(r"^\[\d+\] (FUNC|TYPEDEF) '([^']*)'", p.stdout, re.M):
        out[m.group(1)].add(m.group(2))
    return out


@pytest.mark.skipif(not os.path.exists("/sys/kernel/btf/vmlinux"), reason="no /sys/kernel/btf/vmlinux")
def test_btf_targets_against_bpftool(tmp_path):
    names = bpftool_btf_names()
    sections = {"fe_here": "fentry/do_unlinkat", "fe_missing": "fentry/no_such_function_xyz",
                "fx_here": "fexit/vfs_read", "fm_here": "fmod_ret/security_file_open",
                "fe_sleep": "fentry.s/__x64_sys_getpgid",
                "lsm_here": "lsm/file_open", "lsm_missing": "lsm/no_such_hook",
                "tpb_here": "tp_btf/sched_switch", "tpb_missing": "tp_btf/no_such_tp_xyz",
                "it_here": "iter/task", "it_missing": "iter/no_such_iter"}
    want = {}
    for prog, sec in sections.items():
        kind, target = sec.split("/", 1)
        if kind.startswith(("fentry", "fexit", "fmod_ret")):
            want[prog] = target in names["FUNC"]
        elif kind == "lsm":
            want[prog] = f"bpf_lsm_{target}" in names["FUNC"]
        elif kind == "tp_btf":
            want[prog] = f"btf_trace_{target}" in names["TYPEDEF"]
        else:
            want[prog] = f"bpf_iter_{target}" in names["FUNC"]
    from bpfinspect.obj import open_object

    checks = {c.name: c for c in check_object(open_object(str(bpf_object(tmp_path, "btf", sections))))}
    assert {n: c.ok for n, c in checks.items()} == want
    assert want["fe_here"] and not want["fe_missing"] and want["lsm_here"] and want["tpb_here"]
    assert checks["fe_missing"].problems[0].message == ("function no_such_function_xyz (func no_such_function_xyz) "
                                                        "is not in /sys/kernel/btf/vmlinux")


def test_usdt_targets_against_readelf(built, tmp_path):
    notes = readelf_notes(built["usdt_test"])
    assert notes
    first = notes[0]
    sections = {"us_here": f"usdt/{built['usdt_test']}:{first['provider']}:{first['name']}",
                "us_missing": f"usdt/{built['usdt_test']}:{first['provider']}:no_such_note",
                "us_nonotes": f"usdt/{built['exe_pie']}:p:n"}
    from bpfinspect.obj import open_object

    checks = {c.name: c for c in check_object(open_object(str(bpf_object(tmp_path, "usdt", sections))))}
    assert checks["us_here"].ok
    assert [p.problem for p in checks["us_missing"].problems] == ["not_found"]
    assert not checks["us_nonotes"].ok


def test_unknown_and_bad_sections(tmp_path):
    from bpfinspect.obj import open_object

    sections = {"custom": "fixture/custom_handler", "plain_xdp": "xdp", "bare_kprobe": "kprobe",
                "new_tcx": "tcx/ingress"}
    checks = {c.name: c for c in check_object(open_object(str(bpf_object(tmp_path, "misc", sections))))}
    assert [p.problem for p in checks["custom"].problems] == ["unknown_section"]
    assert checks["plain_xdp"].ok and checks["plain_xdp"].kind is None
    assert checks["bare_kprobe"].ok and checks["bare_kprobe"].checked[0].startswith("no target")
    assert [p.problem for p in checks["new_tcx"].problems] == ["old_libbpf"]


def test_missing_machine_files(tmp_path, built):
    """Without kallsyms or vmlinux BTF the check says what it could not read."""
    from bpfinspect.obj import open_object

    obj = open_object(str(bpf_object(tmp_path, "m", {"fe": "fentry/do_unlinkat", "rt": "raw_tp/sys_enter",
                                                       "kp": "kprobe/do_unlinkat"})))
    m = Machine(kallsyms=str(tmp_path / "none"), vmlinux=str(tmp_path / "none"), pmu_dir=str(tmp_path))
    checks = {c.name: c for c in check_object(obj, m)}
    assert {p.problem for p in checks["fe"].problems} == {"unreadable"}
    assert {p.problem for p in checks["kp"].problems} >= {"unreadable"}


def test_module_targets(tmp_path):
    """fentry/MOD:FUNC looks in the module's split BTF: a module that is not loaded is named as such."""
    from bpfinspect.obj import open_object

    mods = sorted(n for n in os.listdir("/sys/kernel/btf") if n != "vmlinux") if os.path.isdir(
        "/sys/kernel/btf") else []
    sections = {"absent": "fentry/no_such_module_xyz:some_func", "core": "fexit/vmlinux:vfs_read"}
    checks = {c.name: c for c in check_object(open_object(str(bpf_object(tmp_path, "mod", sections))))}
    assert checks["absent"].problems[0].message == ("the module no_such_module_xyz is not loaded "
                                                    "(no /sys/kernel/btf/no_such_module_xyz)")
    assert checks["core"].ok
    if mods:  # a loaded module's own function, found in its split BTF
        names = bpftool_btf_names(f"/sys/kernel/btf/{mods[0]}")
        own = sorted(names["FUNC"] - bpftool_btf_names()["FUNC"])
        if own:
            sections = {"modfunc": f"fentry/{mods[0]}:{own[0]}"}
            checks = check_object(open_object(str(bpf_object(tmp_path, "mod2", sections))))
            assert checks[0].ok, checks[0].problems


def test_check_command(built, tmp_path):
    path = bpf_object(tmp_path, "cmd", {"good": "tracepoint/syscalls/sys_enter_getppid",
                                        "bad": f"uprobe/{built['exe_pie']}:no_such_function"})
    p = subprocess.run(BPFI + ["probe", "check", str(path), "--json"], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 1
    assert p.stderr.count("\n") == 1 and "1 of 2 programs cannot attach on this machine (bad: " in p.stderr
    doc = json.loads(p.stdout)
    assert doc["schema"] == 1 and doc["ok"] is False
    progs = {x["name"]: x for x in doc["programs"]}
    assert progs["good"]["ok"] and progs["good"]["problems"] == []
    assert progs["bad"]["problems"][0]["problem"] == "not_found"
    assert progs["bad"]["uprobe"]["function"] == "no_such_function" and progs["bad"]["uprobe"]["offset"] is None
    p = subprocess.run(BPFI + ["probe", "check", str(path)], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 1 and "2 programs, 1 cannot attach here" in p.stdout
    ok = bpf_object(tmp_path, "ok", {"good": "tracepoint/syscalls/sys_enter_getppid"})
    p = subprocess.run(BPFI + ["probe", "check", str(ok)], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0 and p.stderr == "" and "all can attach here" in p.stdout


def test_progs_shows_uprobe_offsets(built, tmp_path, libbpf_oracle):
    exe = built["exe_nopie"]
    path = bpf_object(tmp_path, "progs", {"f1": f"uprobe/{exe}:func_1", "nope": f"uretprobe/{exe}:nosuch",
                                          "tp": "tp/sched/sched_process_exit"})
    p = subprocess.run(BPFI + ["progs", str(path), "--json"], capture_output=True, text=True, cwd=ROOT, check=True)
    progs = {x["name"]: x for x in json.loads(p.stdout)["programs"]}
    want = libbpf_oracle.offset(str(exe), "func_1")[1]
    assert progs["f1"]["uprobe"] == {"binary": str(exe), "path": str(exe), "function": "func_1",
                                     "function_offset": None, "offset": want, "retprobe": False, "error": None}
    assert progs["nope"]["uprobe"]["retprobe"] and progs["nope"]["uprobe"]["error"]
    assert "uprobe" not in progs["tp"]
    p = subprocess.run(BPFI + ["progs", str(path)], capture_output=True, text=True, cwd=ROOT, check=True)
    assert f"{exe}:func_1 at file offset {want:#x}" in p.stdout


def test_uprobe_target_without_a_binary():
    from bpfinspect.sections.spec import parse_section

    assert uprobe_target(parse_section("uprobe")) is None
    assert uprobe_target(parse_section("tp/a/b")) is None
    t = uprobe_target(parse_section("uretprobe//bin/true:main+4"))
    assert t.error == "libbpf takes no +offset for a uretprobe"


def test_names_from_the_object_are_escaped(tmp_path):
    """A section naming a binary with terminal control characters: shown escaped, kept exact in JSON."""
    path = bpf_object(tmp_path, "esc", {"p1": "uprobe//tmp/a\\x1b[2Jb:main"})
    p = subprocess.run(BPFI + ["progs", str(path)], capture_output=True, text=True, cwd=ROOT, check=True)
    assert "/tmp/a\\x1b[2Jb:main: no such file" in p.stdout
    p = subprocess.run(BPFI + ["probe", "check", str(path)], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 1 and "\x1b" not in p.stdout + p.stderr and "main in /tmp/a\\x1b[2Jb" in p.stdout
    p = subprocess.run(BPFI + ["probe", "check", str(path), "--json"], capture_output=True, text=True, cwd=ROOT)
    assert json.loads(p.stdout)["programs"][0]["uprobe"]["binary"] == "/tmp/a\x1b[2Jb"
