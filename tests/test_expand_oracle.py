"""`expand` against clang: every expanded use equals cpp's expansion of it, and
the expanded file compiles to the same BPF program as the original, on every
fixture source using the tracing macros, for x86, arm64 and riscv."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bpfinspect.expand import expand_source
from bpfinspect.expand.views import json_document
from expand_util import (
    CLANG, DATA, ORACLE_ARCHES, arch_vmlinux_dir, c_tokens, clang_e_expansions, compile_all,
    compile_command, fixture_build_flags, object_code, oracle_cases, private_cache, sources_using_macros,
)

SOURCES = sources_using_macros()

pytestmark = pytest.mark.skipif(CLANG is None, reason="clang is not installed")


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory):
    with private_cache(tmp_path_factory.mktemp("expand-cache")):
        yield


@pytest.fixture(scope="session")
def vmlinux_dirs(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("expand-vmlinux")
    return {arch: arch_vmlinux_dir(arch, base) for arch in ORACLE_ARCHES}


def _same_gap(out_text: str, source_text: str, *, after_site: bool) -> bool:
    """Text between expansions is copied; only a line break (and the line's
    indentation) may be inserted right after an expansion that ends a line."""
    if out_text == source_text:
        return True
    m = re.match(r"\n[ \t]*", out_text)
    return after_site and m is not None and out_text[m.end():] == source_text.lstrip(" \t")


def test_sources_found():
    names = {p.name for p in SOURCES}
    assert "tracing.bpf.c" in names and "plain.bpf.c" in names
    assert len(SOURCES) >= 3


@pytest.mark.parametrize(("source", "arch"), oracle_cases(), ids=lambda v: getattr(v, "name", v))
def test_expansion_matches_clang(source: Path, arch: str, vmlinux_dirs, tmp_path):
    vmdir = vmlinux_dirs[arch]
    result = expand_source(str(source), arch=arch, include_dirs=[str(vmdir)])
    doc = json_document(result)
    sites = doc["sites"]
    assert sites, f"no default macro expanded in {source.name}"

    # 1. Each use, token for token, what clang -E makes of it.
    expected = clang_e_expansions(source, sites, arch, [vmdir])
    for site, cpp in zip(sites, expected):
        assert c_tokens(site["expansion"]) == c_tokens(cpp), (
            f"{source.name}:{site['line']}:{site['column']} {site['macro']}")

    # 2. Everything else is the original text, byte for byte (comments
    # included); after an expansion that ends its line, a line break and the
    # line's indentation may come before the rest of the original line.
    raw = source.read_bytes().decode("latin-1")
    expanded = result.expanded
    pos = out = 0
    for site in result.sites:
        assert _same_gap(expanded[out:site.out_start], raw[pos:site.start], after_site=pos > 0), (
            f"text before line {site.line} changed")
        assert c_tokens(expanded[site.out_start:site.out_end]) == c_tokens(site.expansion)
        pos, out = site.end, site.out_end
    assert _same_gap(expanded[out:], raw[pos:], after_site=pos > 0)

    # 3. Same program: instructions, relocations, maps, data, symbols.
    expanded_src = tmp_path / source.name
    expanded_src.write_bytes(result.expanded.encode("latin-1"))
    before = tmp_path / "original.o"
    after = tmp_path / "expanded.o"
    extra = fixture_build_flags(source.name)
    compile_all([compile_command(source, before, arch, [vmdir], extra=extra),
                 compile_command(expanded_src, after, arch, [vmdir], quote_dir=source.parent, extra=extra)])
    code_before = object_code(before)
    code_after = object_code(after)
    assert any(name.startswith((".text", "license")) or "/" in name or name == ".maps"
               for name in code_before["sections"])
    assert code_after == code_before


# Registers the kprobe arguments are read from, per architecture (libbpf's
# bpf_tracing.h): x86 di/si/dx/cx/r8 and ax for the return value, arm64
# regs[0..], riscv a0.. .
REGISTERS = {
    "x86": (["((ctx)->di)", "((ctx)->si)", "((ctx)->dx)", "((ctx)->cx)", "((ctx)->r8)"], "((ctx)->ax)"),
    "arm64": ([f"((const struct user_pt_regs *)(ctx))->regs[{i}]" for i in range(5)],
              "((const struct user_pt_regs *)(ctx))->regs[0]"),
    "riscv": ([f"((const struct user_regs_struct *)(ctx))->a{i}" for i in range(5)],
              "((const struct user_regs_struct *)(ctx))->a0"),
}


@pytest.mark.parametrize("arch", ORACLE_ARCHES)
def test_register_reads_per_arch(arch, vmlinux_dirs):
    source = DATA / "tracing.bpf.c"
    result = expand_source(str(source), arch=arch, include_dirs=[str(vmlinux_dirs[arch])])
    by_name = {}
    for site in result.sites:
        m = re.match(r"\w+\((\w+)", site.original)
        if m and site.macro in ("BPF_KPROBE", "BPF_KRETPROBE"):
            by_name[m.group(1)] = "".join(site.expansion.split())
    args, ret = REGISTERS[arch]
    five = by_name["five_args"]
    for i, reg in enumerate(args):
        assert "".join(reg.split()) in five, f"argument {i + 1} not read from {reg}"
    assert "".join(ret.split()) in by_name["write_ret"]
    # no argument: only ctx is passed on
    assert "return____no_args(ctx);" in by_name["no_args"]
    assert "return____ret_no_args(ctx);" in by_name["ret_no_args"]
    other = {a: r for a, r in REGISTERS.items() if a != arch}
    for regs, _ in other.values():
        assert "".join(regs[1].split()) not in five
