"""Arena maps: ``__ulong(map_extra, ...)`` writes map_extra as an enum of one value (libbpf 1.4+
reads ENUM and ENUM64 there); the object is read, not refused."""

from __future__ import annotations

import json
import platform
import shutil

import pytest

from btf_util import compile_bpf
from conftest import bpfinspect

CLANG = shutil.which("clang-19") or shutil.which("clang")

SOURCE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#ifndef __ulong
#define __ulong(name, val) enum { ___bpf_concat(__unique_value, __COUNTER__) = val } name
#endif
struct {
	__uint(type, 33 /* BPF_MAP_TYPE_ARENA */);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 10);
	__ulong(map_extra, %s);
} arena SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, int);
	__type(value, long);
	__uint(map_extra, 7);
} plain SEC(".maps");

SEC("syscall") int prog(void *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";
"""


@pytest.mark.skipif(CLANG is None, reason="no clang on this machine (scripts/setup.sh installs it)")
@pytest.mark.parametrize("value, expected", [
    ("0x100000000ULL", 0x100000000),          # enum64: an address above 4 GiB
    ("(1ull << 44)", 1 << 44),
    ("0x1000", 0x1000),                       # a 32-bit enum
    ("0", 0),
])
def test_ulong_map_extra_is_read(tmp_path, value, expected):
    obj = compile_bpf(CLANG, SOURCE % value, tmp_path / "arena.bpf.o", extra=(f"-I/usr/include/{platform.machine()}-linux-gnu",))
    p = bpfinspect("maps", str(obj), "--json")
    assert p.returncode == 0, p.stderr
    maps = {m["name"]: m for m in json.loads(p.stdout)["maps"]}
    assert maps["arena"]["map_extra"] == expected
    assert maps["arena"]["type"] == "arena" or maps["arena"]["type"].startswith(("type_33", "33", "arena"))
    assert maps["plain"]["map_extra"] == 7  # __uint still reads as before
    for command in ("info", "progs", "globals"):
        assert bpfinspect(command, str(obj)).returncode == 0
