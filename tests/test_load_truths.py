"""`load` tells the truth fast: .text-only objects have no programs, a map libbpf cannot create
is the reason, and an object with one rejected program among many is bisected, not re-loaded
program by program."""

from __future__ import annotations

import json
import math
import platform
import shutil
import subprocess
import time

import pytest

from conftest import BPFTOOL, bpfinspect, needs_bpf

pytestmark = needs_bpf
CLANG = shutil.which("clang")
INCLUDE = f"-I/usr/include/{platform.machine()}-linux-gnu"


def _compile(tmp_path, name: str, source: str):
    if CLANG is None:
        pytest.skip("clang is not installed (scripts/setup.sh installs it)")
    src = tmp_path / f"{name}.bpf.c"
    src.write_text(source)
    out = tmp_path / f"{name}.bpf.o"
    subprocess.run([CLANG, "-g", "-O2", "-target", "bpf", INCLUDE, "-c", str(src), "-o", str(out)], check=True)
    return out


HEAD = """#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
"""


def many_programs(n_good: int, bad: list[int]) -> str:
    """n_good + len(bad) socket filters; those at the indexes in ``bad`` read a hash map value
    without checking for NULL (the verifier rejects them)."""
    lines = [HEAD,
             "struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, int); "
             "__type(value, long); } counts SEC(\".maps\");",
             "struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4); __type(key, int); "
             "__type(value, long); } h SEC(\".maps\");"]
    total = n_good + len(bad)
    for i in range(total):
        if i in bad:
            lines.append(f'SEC("socket") int prog_{i}(void *ctx) {{ int k = 0; long *v = '
                         f'bpf_map_lookup_elem(&h, &k); return *v; }}')
        else:
            lines.append(f'SEC("socket") int prog_{i}(void *ctx) {{ int k = 0; long *v = '
                         f'bpf_map_lookup_elem(&counts, &k); if (v) __sync_fetch_and_add(v, {i}); return 0; }}')
    lines.append('char LICENSE[] SEC("license") = "GPL";')
    return "\n".join(lines) + "\n"


def test_73_programs_with_a_rejected_one_load_in_under_2_seconds(tmp_path):
    from bpfinspect.runtime import loadcheck

    obj = _compile(tmp_path, "rejected73", many_programs(72, [41]))
    opens = []
    real_open = loadcheck._open

    def counting_open(*args, **kwargs):
        opens.append(args[2])
        return real_open(*args, **kwargs)

    loadcheck._open = counting_open
    try:
        start = time.monotonic()
        report = loadcheck.check_load(obj.read_bytes(), name="rejected73")
        elapsed = time.monotonic() - start
    finally:
        loadcheck._open = real_open
    verdicts = {v.name: v for v in report.programs}
    assert len(verdicts) == 73
    assert [n for n, v in verdicts.items() if not v.loaded] == ["prog_41"]
    assert "map_value_or_null" in verdicts["prog_41"].reason
    assert all(v.insns_xlated and v.id for n, v in verdicts.items() if n != "prog_41")  # per-program numbers
    # the whole load, then a bisection (two halves per level), then the full log of the rejected one
    assert len(opens) <= 1 + 2 * math.ceil(math.log2(73)) + 1, len(opens)
    assert elapsed < 2.0, elapsed
    # the same verdicts through the command line, exit 1
    p = bpfinspect("load", str(obj), "--json")
    doc = json.loads(p.stdout)
    assert p.returncode == 1
    assert [q["name"] for q in doc["programs"] if not q["loaded"]] == ["prog_41"]


def test_several_rejected_programs_are_each_found(tmp_path):
    obj = _compile(tmp_path, "rejected_some", many_programs(17, [0, 5, 19]))
    p = bpfinspect("load", str(obj), "--json")
    doc = json.loads(p.stdout)
    assert p.returncode == 1
    assert sorted(q["name"] for q in doc["programs"] if not q["loaded"]) == ["prog_0", "prog_19", "prog_5"]
    for q in doc["programs"]:
        assert q["isolated"] and (q["loaded"] or "map_value_or_null" in q["reason"])


def test_text_only_object_has_no_programs(tmp_path):
    obj = _compile(tmp_path, "textonly", 'int helper_only(int x) { return x + 1; }\n'
                                         'char LICENSE[] __attribute__((section("license"))) = "GPL";\n')
    # progs and bpftool agree: no programs
    progs = json.loads(bpfinspect("progs", str(obj), "--json").stdout)
    assert progs["programs"] == [] and [s["name"] for s in progs["subprograms"]] == ["helper_only"]
    if BPFTOOL:
        pin = f"/sys/fs/bpf/bpfinspect_textonly_{__import__('os').getpid()}"
        r = subprocess.run([BPFTOOL, "prog", "loadall", str(obj), pin], capture_output=True, text=True)
        subprocess.run(["rm", "-rf", pin])
        assert r.returncode == 0, r.stderr
    p = bpfinspect("load", str(obj), "--json")
    doc = json.loads(p.stdout)
    assert p.returncode == 0, p.stderr
    assert doc["programs"] == [] and doc["loaded"] and doc["error"] is None
    text = bpfinspect("load", str(obj)).stdout
    assert "unspec" not in text and "rejected" not in text
    p = bpfinspect("load", str(obj), "--prog", "helper_only")
    assert p.returncode == 2 and "subprogram" in p.stderr


def test_map_creation_failure_is_the_reason(tmp_path):
    obj = _compile(tmp_path, "badmap", HEAD + """
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 0); __type(key, int); __type(value, long); } start SEC(".maps");
SEC("socket") int p1(void *ctx) { int k = 0; long *v = bpf_map_lookup_elem(&start, &k); return v ? 1 : 0; }
SEC("socket") int p2(void *ctx) { return 0; }
char LICENSE[] SEC("license") = "GPL";
""")
    p = bpfinspect("load", str(obj), "--json")
    doc = json.loads(p.stdout)
    assert p.returncode == 1
    assert doc["error"].startswith("map 'start': failed to create: Invalid argument(-22)")
    for q in doc["programs"]:
        assert not q["loaded"] and "map 'start': failed to create" in q["reason"]
        assert "Retrying" not in q["error"]
    assert {m["name"]: m["created"] for m in doc["maps"]} == {"start": False}
    text = bpfinspect("load", str(obj)).stdout
    assert "object rejected: map 'start': failed to create" in text and "Retrying" not in text


def test_not_a_bpf_object_gets_a_json_document_too():
    p = bpfinspect("load", "/bin/ls", "--json")
    assert p.returncode == 2
    doc = json.loads(p.stdout)
    assert doc["schema"] == 1 and doc["loaded"] is False and doc["programs"] == []
    assert "not a BPF object (compile with clang -target bpf)" in doc["error"]
    assert p.stderr.count("\n") == 1 and "not a BPF object" in p.stderr


def test_kprobe_attach_without_kprobe_support_is_an_environment_problem():
    from bpfinspect.runtime.object import kprobes_supported
    from conftest import FIXTURES

    if kprobes_supported() is not False:
        pytest.skip("this kernel can make kprobes (a kprobe PMU or kprobe_events exists)")
    p = bpfinspect("load", str(FIXTURES / "kprobe.bpf.o"), "--attach", "--json")
    doc = json.loads(p.stdout)
    assert p.returncode == 3, p.stderr
    assert "no kprobe support" in doc["environment_problem"]
    for q in doc["programs"]:
        assert q["loaded"] and not q["attach"]["attached"] and "no kprobe support" in q["attach"]["error"]
    assert "No such file or directory" not in p.stderr
