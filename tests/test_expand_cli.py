"""`bpfinspect expand` as a user runs it: views, options, errors, vmlinux.h."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from expand_util import DATA, ROOT, c_tokens, private_cache

TRACING = DATA / "tracing.bpf.c"
PLAIN = DATA / "plain.bpf.c"


def expand(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    return subprocess.run([sys.executable, "-m", "bpfinspect", "expand", *args], capture_output=True,
                          text=True, cwd=ROOT, env=full_env)


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory):
    with private_cache(tmp_path_factory.mktemp("expand-cache")):
        yield


@pytest.fixture(scope="module")
def vmlinux_dir(tmp_path_factory) -> Path:
    from expand_util import arch_vmlinux_dir

    return arch_vmlinux_dir("x86", tmp_path_factory.mktemp("cli-vmlinux"))


def test_plain_output_is_the_default_view_and_uncoloured(vmlinux_dir):
    p = expand(str(TRACING), "-I", str(vmlinux_dir), "--arch", "x86")
    assert p.returncode == 0, p.stderr
    assert "\x1b[" not in p.stdout
    assert "BPF_KPROBE(" not in p.stdout.split("#if 0")[0]
    assert "int five_args(struct pt_regs *ctx);" in p.stdout
    # comments and user macros stay
    assert "/* three arguments or fewer: bpf_trace_printk */" in p.stdout
    assert "#define TASK_COMM 16   /* user macros are not expanded unless asked */" in p.stdout
    assert "char comm[TASK_COMM];" in p.stdout
    # the disabled branch is untouched
    assert "int BPF_KPROBE(not_compiled, int x)" in p.stdout


def test_layout_statements_on_their_own_lines(vmlinux_dir):
    p = expand(str(TRACING), "-I", str(vmlinux_dir), "--arch", "x86")
    lines = p.stdout.splitlines()
    # the statement expression of bpf_printk, laid out at the body's indentation
    start = next(k for k, line in enumerate(lines) if line == "\tif (count > 4096)")
    assert lines[start + 1] == "\t\t({"
    assert lines[start + 2] == '\t\t\tstatic const char ____fmt[] = "big";'
    assert lines[start + 3] == "\t\t\tbpf_trace_printk(____fmt, sizeof(____fmt));"
    assert lines[start + 4] == "\t\t});"
    # the kprobe wrapper: declaration, prototype, body with pragmas, definition head
    k = lines.index("int no_args(struct pt_regs *ctx);")
    assert lines[k - 1] == '_Pragma("GCC diagnostic pop")'
    assert lines[k + 2] == "typeof(no_args(0)) no_args(struct pt_regs *ctx)"
    assert lines[k + 3] == "{"
    assert lines[k + 4] == '\t_Pragma("GCC diagnostic push")'
    assert lines[k + 6] == "\treturn ____no_args(ctx);"
    # long argument lists continue on the next line (SEC in the middle of a
    # declaration stays on its line)
    assert max(len(line.expandtabs(8)) for line in lines if '_Pragma("GCC diagnostic push") _Pragma' not in line) < 200
    k = lines.index("\treturn ____five_args(ctx, (void *)((ctx)->di), (void *)((ctx)->si), (void *)((ctx)->dx),")
    assert lines[k + 1] == "\t\t(void *)((ctx)->cx), (void *)((ctx)->r8));"


def test_four_space_indentation_is_followed():
    p = expand(str(PLAIN), "--arch", "x86")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    k = lines.index("        if (*value % 1000 == 0)")
    assert lines[k + 1] == "            ({"
    assert lines[k + 2].startswith("                static const char ____fmt[] = ")
    assert lines[k + 4] == "            });"


def test_json_schema(vmlinux_dir):
    p = expand(str(TRACING), "-I", str(vmlinux_dir), "--arch", "arm64", "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert set(doc) == {"schema", "file", "arch", "sites", "expanded"}
    assert doc["schema"] == 1 and doc["arch"] == "arm64" and doc["file"] == str(TRACING)
    assert doc["sites"]
    source_lines = TRACING.read_text().splitlines()
    for site in doc["sites"]:
        assert set(site) == {"line", "column", "end_line", "end_column", "macro", "original", "expansion"}
        assert site["original"].startswith(site["macro"])
        first = source_lines[site["line"] - 1]
        assert first[site["column"] - 1:].startswith(site["macro"])
        if site["line"] == site["end_line"]:
            assert first[site["column"] - 1:site["end_column"] - 1] == site["original"]
    macros = {s["macro"] for s in doc["sites"]}
    assert {"SEC", "BPF_KPROBE", "BPF_KRETPROBE", "BPF_KSYSCALL", "BPF_KPROBE_SYSCALL", "BPF_PROG",
            "BPF_PROG2", "BPF_CORE_READ", "BPF_CORE_READ_INTO", "BPF_CORE_READ_STR_INTO",
            "bpf_printk", "__uint", "__type", "__array"} <= macros
    plain = expand(str(TRACING), "-I", str(vmlinux_dir), "--arch", "arm64")
    assert doc["expanded"] == plain.stdout


def test_sites_view(vmlinux_dir):
    p = expand(str(TRACING), "-I", str(vmlinux_dir), "--arch", "riscv", "--sites")
    assert p.returncode == 0, p.stderr
    doc = json.loads(expand(str(TRACING), "-I", str(vmlinux_dir), "--arch", "riscv", "--json").stdout)
    heads = [line for line in p.stdout.splitlines() if line.startswith(str(TRACING) + ":")]
    assert heads == [f"{TRACING}:{s['line']}:{s['column']}: {s['macro']}" for s in doc["sites"]]
    assert "->a0" in p.stdout


@pytest.mark.skipif(shutil.which("patch") is None, reason="patch(1) is not installed")
def test_diff_applies_to_the_original(vmlinux_dir, tmp_path):
    p = expand(str(TRACING), "-I", str(vmlinux_dir), "--arch", "x86", "--diff")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith(f"--- {TRACING}\n+++ {TRACING} (expanded, x86)\n")
    copy = tmp_path / "t.c"
    shutil.copy(TRACING, copy)
    r = subprocess.run(["patch", "-s", str(copy)], input=p.stdout, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr + r.stdout
    plain = expand(str(TRACING), "-I", str(vmlinux_dir), "--arch", "x86").stdout
    assert copy.read_text() == plain


def test_macro_choice_default_and_keep(vmlinux_dir):
    only = json.loads(expand(str(TRACING), "-I", str(vmlinux_dir), "--arch", "x86", "-m", "bpf_printk",
                             "--json").stdout)
    assert {s["macro"] for s in only["sites"]} == {"bpf_printk"}
    assert "SEC(\"license\")" in only["expanded"]
    both = json.loads(expand(str(TRACING), "-I", str(vmlinux_dir), "--arch", "x86", "-m", "default",
                             "-m", "TASK_COMM", "--json").stdout)
    assert "TASK_COMM" in {s["macro"] for s in both["sites"]}
    assert "char comm[16];" in both["expanded"]
    kept = json.loads(expand(str(TRACING), "-I", str(vmlinux_dir), "--arch", "x86", "-m", "BPF_KPROBE",
                             "--keep", "PT_REGS_PARM1", "--keep", "__always_inline", "--json").stdout)
    five = next(s for s in kept["sites"] if s["original"].startswith("BPF_KPROBE(five_args"))
    assert "(void *)PT_REGS_PARM1(ctx)" in five["expansion"]
    assert "static __always_inline typeof(five_args(0))" in five["expansion"]
    assert "((ctx)->si)" in five["expansion"]


def test_defines_reach_the_parse(tmp_path):
    src = tmp_path / "d.bpf.c"
    src.write_text('#include <bpf/bpf_helpers.h>\n#ifdef ALT\n#define NAME "alt"\n#else\n#define NAME "main"\n'
                   "#endif\nSEC(NAME) int prog(void *ctx) { return 0; }\n")
    a = expand(str(src), "--json")
    b = expand(str(src), "-D", "ALT", "--json")
    assert '"main"' in json.loads(a.stdout)["sites"][0]["expansion"]
    assert '"alt"' in json.loads(b.stdout)["sites"][0]["expansion"]


def test_missing_file():
    p = expand("does/not/exist.bpf.c")
    assert p.returncode == 2
    assert p.stderr == "bpfinspect: does/not/exist.bpf.c: no such file\n"


def test_unparsable_source_reports_clang_errors(tmp_path):
    src = tmp_path / "bad.bpf.c"
    src.write_text("#include <bpf/bpf_helpers.h>\nSEC(\"xdp\") int f(void *ctx) {\n\treturn 0\n}\n"
                   "int g(void) { return ; ; ) }\n")
    p = expand(str(src))
    assert p.returncode == 2
    lines = p.stderr.splitlines()
    assert lines and all(line.startswith(f"bpfinspect: {src}:") and ": error: " in line for line in lines)
    assert any(line.startswith(f"bpfinspect: {src}:3:") for line in lines)
    assert any(line.startswith(f"bpfinspect: {src}:5:") for line in lines)
    assert "Traceback" not in p.stderr


def test_missing_include_is_an_error(tmp_path):
    src = tmp_path / "inc.bpf.c"
    src.write_text("#include <no/such/header.h>\nint x;\n")
    p = expand(str(src))
    assert p.returncode == 2
    assert p.stderr.startswith(f"bpfinspect: {src}:1:10: error: 'no/such/header.h' file not found")


def test_unknown_arch_is_a_usage_error():
    p = expand(str(PLAIN), "--arch", "vax")
    assert p.returncode == 2 and "invalid choice" in p.stderr


def test_vmlinux_h_printed_from_btf_and_cached(tmp_path):
    src = tmp_path / "k.bpf.c"
    shutil.copy(DATA / "tracing.bpf.c", src)
    cache = tmp_path / "cache"
    p = expand(str(src), "--arch", "x86", "--json", env={"XDG_CACHE_HOME": str(cache)})
    assert p.returncode == 0, p.stderr
    headers = list(cache.glob("bpfinspect/vmlinux/*/vmlinux.h"))
    assert len(headers) == 1
    text = headers[0].read_text()
    assert "struct task_struct {" in text and text.startswith("#ifndef __VMLINUX_H__")
    stamp = headers[0].stat().st_mtime_ns
    again = expand(str(src), "--arch", "x86", "--json", env={"XDG_CACHE_HOME": str(cache)})
    assert again.returncode == 0 and again.stdout == p.stdout
    assert headers[0].stat().st_mtime_ns == stamp
    doc = json.loads(p.stdout)
    five = next(s for s in doc["sites"] if s["original"].startswith("BPF_KPROBE(five_args"))
    assert "((ctx)->r8)" in five["expansion"]


def test_btf_option_names_the_source_of_vmlinux_h(tmp_path):
    src = tmp_path / "k.bpf.c"
    shutil.copy(DATA / "tracing.bpf.c", src)
    missing = expand(str(src), "--btf", str(tmp_path / "nope"), env={"XDG_CACHE_HOME": str(tmp_path)})
    assert missing.returncode == 2
    assert "no such BTF file" in missing.stderr
    # an object's .BTF is accepted too: the header holds that object's types only
    obj = ROOT / "fixtures" / "kprobe.bpf.o"
    cache = tmp_path / "c2"
    p = expand(str(src), "--btf", str(obj), env={"XDG_CACHE_HOME": str(cache)})
    assert p.returncode == 0, p.stderr
    headers = list(cache.glob("bpfinspect/vmlinux/*/vmlinux.h"))
    assert len(headers) == 1
    text = headers[0].read_text()
    assert "struct pt_regs {" in text and "struct task_struct {" not in text


def test_expansion_tokens_identical_across_views(vmlinux_dir):
    doc = json.loads(expand(str(TRACING), "-I", str(vmlinux_dir), "--arch", "x86", "--json").stdout)
    for site in doc["sites"]:
        assert c_tokens(site["expansion"]) and site["expansion"] == site["expansion"].strip("\n")


def test_btf_option_ignored_with_a_warning_when_a_header_is_found(vmlinux_dir):
    p = expand(str(TRACING), "-I", str(vmlinux_dir), "--btf", "/sys/kernel/btf/vmlinux")
    assert p.returncode == 0
    assert p.stderr == (f"bpfinspect: warning: --btf /sys/kernel/btf/vmlinux not used: the source gets "
                        f"vmlinux.h from {vmlinux_dir}/vmlinux.h\n")


def test_directory_is_not_a_source(tmp_path):
    p = expand(str(tmp_path))
    assert p.returncode == 2
    assert p.stderr == f"bpfinspect: {tmp_path}: is a directory\n"


def test_missing_resource_headers_is_an_environment_problem(monkeypatch, tmp_path):
    from bpfinspect.errors import EnvironmentProblem
    from bpfinspect.expand import clangfront, expand_source

    src = tmp_path / "s.bpf.c"
    src.write_text("#include <stddef.h>\nsize_t n;\n")
    monkeypatch.setattr(clangfront, "find_resource_dir", lambda *a: None)
    with pytest.raises(EnvironmentProblem) as info:
        expand_source(str(src), arch="x86")
    assert "resource headers" in str(info.value) and info.value.exit_code == 3


def test_arch_the_headers_do_not_know(vmlinux_dir):
    knows = "loongarch" in Path("/usr/include/bpf/bpf_tracing.h").read_text()
    p = expand(str(TRACING), "-I", str(vmlinux_dir), "--arch", "loongarch")
    if knows:
        assert p.returncode == 0, p.stderr
        return
    assert p.returncode == 2
    lines = p.stderr.splitlines()
    assert all(": error: Must specify a BPF target arch" in line for line in lines[:-1])
    assert lines[-1].startswith("bpfinspect: note: the bpf_tracing.h on the include path does not know "
                                "__TARGET_ARCH_loongarch")


def test_precompiled_vmlinux_h_changes_nothing_but_time(vmlinux_dir, tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    args = (str(TRACING), "-I", str(vmlinux_dir), "--json")
    first = expand(*args, "--arch", "x86", env=env)             # plain parse
    assert first.returncode == 0, first.stderr
    assert not list((tmp_path / "cache").glob("bpfinspect/pch/*.pch"))
    second = expand(*args, "--arch", "x86", env=env)            # builds the PCH
    pchs = list((tmp_path / "cache").glob("bpfinspect/pch/*.pch"))
    assert len(pchs) == 1 and second.stdout == first.stdout
    again = expand(*args, "--arch", "x86", env=env)             # loads it
    without = expand(*args, "--arch", "x86", env={**env, "BPFINSPECT_NO_PCH": "1"})
    assert first.stdout == again.stdout == without.stdout
    # one precompiled header serves every architecture
    arm = expand(*args, "--arch", "arm64", env=env)
    arm_without = expand(*args, "--arch", "arm64", env={**env, "BPFINSPECT_NO_PCH": "1"})
    assert arm.stdout == arm_without.stdout != first.stdout
    assert list((tmp_path / "cache").glob("bpfinspect/pch/*.pch")) == pchs
    # a damaged one is dropped, and the parse done without it
    pchs[0].write_bytes(b"not a precompiled header" * 100)
    damaged = expand(*args, "--arch", "x86", env=env)
    assert damaged.returncode == 0 and damaged.stdout == first.stdout
    assert not pchs[0].exists()


def test_vmlinux_h_outside_the_cache_is_never_written(tmp_path):
    src = tmp_path / "src" / "a.bpf.c"
    src.parent.mkdir()
    src.write_text('#include "../../escape/vmlinux.h"\nint x;\n')
    cache = tmp_path / "cache"
    p = expand(str(src), env={"XDG_CACHE_HOME": str(cache)})
    assert p.returncode == 2
    assert "'../../escape/vmlinux.h' file not found" in p.stderr
    assert not cache.exists() and not (tmp_path.parent / "escape").exists()


def test_many_errors_are_capped(tmp_path):
    src = tmp_path / "many.bpf.c"
    src.write_text("int a b;\n" * 120)
    p = expand(str(src))
    assert p.returncode == 2
    lines = p.stderr.splitlines()
    assert len(lines) == 51
    assert lines[0].startswith(f"bpfinspect: {src}:1:6: error: ")
    assert lines[-1] == "bpfinspect: ... and 70 more errors"


def test_cli_architectures_are_the_expanders():
    from bpfinspect.cli.cmd_expand import ARCH_CHOICES
    from bpfinspect.expand.clangfront import ARCHES
    assert ARCH_CHOICES == ARCHES


def test_json_keeps_non_ascii_text(tmp_path):
    src = tmp_path / "cafe.bpf.c"
    src.write_text('/* café */\n#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n'
                   'SEC("xdp") int f(void *ctx) { return 2; }\n')
    p = subprocess.run([sys.executable, "-m", "bpfinspect", "expand", str(src), "--json"], capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stderr
    assert "café" in p.stdout and json.loads(p.stdout)["sites"]
