"""Inspection commands against llvm-readelf and bpftool, in the same run."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BPFI, ROOT, compare, table  # noqa: E402

VMLINUX = "/sys/kernel/btf/vmlinux"


def big_object(tmp: Path) -> Path:
    """A ~1 MB BPF object: many programs with debug info."""
    src = tmp / "big.bpf.c"
    parts = ['#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n',
             'struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 64); __type(key, int); '
             '__type(value, long); } counts SEC(".maps");\n']
    for i in range(600):
        parts.append(f'''
SEC("tp/syscalls/sys_enter_f{i}") int prog_{i}(void *ctx) {{
    int k = {i}; long *v = bpf_map_lookup_elem(&counts, &k);
    if (v) __sync_fetch_and_add(v, {i + 1});
    else {{ long one = 1; bpf_map_update_elem(&counts, &k, &one, BPF_ANY); }}
    return 0;
}}''')
    parts.append('\nchar LICENSE[] SEC("license") = "GPL";\n')
    src.write_text("".join(parts))
    out = tmp / "big.bpf.o"
    subprocess.run(["clang", "-O2", "-g", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu", "-c", str(src), "-o",
                    str(out)], check=True)
    return out


def main() -> None:
    readelf = shutil.which("llvm-readelf-19") or "llvm-readelf"
    bpftool = shutil.which("bpftool") or "/usr/sbin/bpftool"
    fixtures = sorted((ROOT / "fixtures").glob("*.bpf.o"), key=lambda p: p.stat().st_size)
    largest = fixtures[-1]
    rows = []
    with tempfile.TemporaryDirectory() as d:
        big = big_object(Path(d))
        for obj in (largest, big):
            label = f"{obj.name} ({obj.stat().st_size / 1e6:.2f} MB)"
            rows.append([f"sections {label}"] + compare("", BPFI + ["sections", str(obj)],
                                                         [readelf, "-S", str(obj)], "llvm-readelf -S")[1:])
            rows.append([f"progs {label}"] + compare("", BPFI + ["progs", str(obj)],
                                                      [readelf, "-s", str(obj)], "llvm-readelf -s")[1:])
            rows.append([f"btf --format raw {label}"] + compare(
                "", BPFI + ["btf", str(obj), "--format", "raw"],
                [bpftool, "btf", "dump", "file", str(obj), "format", "raw"], "bpftool")[1:])
    rows.append(["btf --format raw vmlinux"] + compare(
        "", BPFI + ["btf", VMLINUX, "--format", "raw"], [bpftool, "btf", "dump", "file", VMLINUX, "format", "raw"],
        "bpftool", runs=5)[1:])
    print("## Inspection (issue: foundation)\n")
    print("Targets: `sections` on a 1 MB object within 0.12 s wall; vmlinux raw dump within 1.5x bpftool.\n")
    print(table(rows, ["command", "bpfinspect (median)", "reference (median)", "ratio", "our peak RSS"]))
    print()


if __name__ == "__main__":
    main()
