"""Typed bytes read through BTF (:mod:`bpfinspect.btf.values`), against gcc: a C program with the
same type definitions as the BPF objects fills a value, prints its bytes and its fields; our
reading of those bytes through the object's BTF must give the fields gcc printed."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from bpfinspect.btf import values as V
from bpfinspect.obj import open_object
from runtime_util import DATA

GCC = shutil.which("gcc")

C_PROGRAM = r"""
#include <stdio.h>
#include <string.h>
typedef unsigned char __u8; typedef unsigned short __u16; typedef unsigned int __u32;
typedef unsigned long long __u64;
enum kind { KIND_NONE = 0, KIND_CALL = 1, KIND_PROBE = 2, KIND_OTHER = 7 };
struct inner { __u16 a; __u8 b[3]; };
struct event { __u32 pid; enum kind kind; char comm[16]; struct inner in; __u64 value; __u32 arr[2]; };
struct val_t { __u64 count; char comm[16]; unsigned int flags : 3; unsigned int mode : 5; unsigned int rest : 24; };
static void hex(const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		printf("%02x", c[i]);
	printf("\n");
}
int main(void)
{
	struct event e; struct val_t v;
	memset(&e, 0xa5, sizeof(e)); memset(&v, 0x5a, sizeof(v));
	e.pid = 4242; e.kind = KIND_OTHER; strcpy(e.comm, "a \"q\" \x1b"); e.in.a = 65535;
	e.in.b[0] = 1; e.in.b[1] = 200; e.in.b[2] = 3; e.value = 18446744073709551615ULL; e.arr[0] = 7; e.arr[1] = 0;
	v.count = 12345678901ULL; memcpy(v.comm, "exactly16bytes!!", 16); v.flags = 5; v.mode = 31; v.rest = 0xabcdef;
	hex(&e, sizeof(e));
	printf("%u %d %s %u %u %u %u %llu %u %u\n", e.pid, e.kind, e.comm, e.in.a, e.in.b[0], e.in.b[1], e.in.b[2],
	       e.value, e.arr[0], e.arr[1]);
	hex(&v, sizeof(v));
	printf("%llu %u %u %u\n", v.count, v.flags, v.mode, v.rest);
	return 0;
}
"""


@pytest.fixture(scope="module")
def gcc_output(tmp_path_factory):
    if GCC is None:
        pytest.skip("gcc is not installed")
    d = tmp_path_factory.mktemp("values")
    (d / "v.c").write_text(C_PROGRAM)
    subprocess.run([GCC, "-O0", "-o", str(d / "v"), str(d / "v.c")], check=True)
    return subprocess.run([str(d / "v")], capture_output=True, text=True, check=True).stdout.splitlines()


def _type(btf, name):
    from bpfinspect.btf import Kind
    return btf.find(name, Kind.STRUCT)[0]


def test_struct_with_enum_char_array_nested_struct_and_arrays(gcc_output):
    from bpfinspect.typesrc import TypeSource
    ts = TypeSource(open_object(str(DATA / "run_test.bpf.o")))
    ref = ts.find("struct event")     # a local's type: from the object's DWARF
    data = bytes.fromhex(gcc_output[0])
    f = gcc_output[1].split(" ")
    got = V.read(ts.btf, ref.id, data)
    assert got == {"pid": int(f[0]), "kind": "KIND_OTHER", "comm": 'a "q" \x1b', "in": {"a": int(f[5]),
                   "b": [int(f[6]), int(f[7]), int(f[8])]}, "value": int(f[9]), "arr": [int(f[10]), int(f[11])]}
    assert int(f[1]) == 7
    assert V.fields(ts.btf, ref.id) == ["pid", "kind", "comm", "in", "value", "arr"]
    # shown on one line, the control character escaped
    assert V.text(got["comm"]) == '"a \\"q\\" \\x1b"'


def test_bitfields_read_as_gcc_lays_them_out(gcc_output):
    btf = open_object(str(DATA / "runtime_test.bpf.o")).btf
    tid = _type(btf, "val_t")
    got = V.read(btf, tid, bytes.fromhex(gcc_output[2]))
    count, flags, mode, rest = map(int, gcc_output[3].split())
    assert got == {"count": count, "comm": "exactly16bytes!!", "flags": flags, "mode": mode, "rest": rest}


def test_short_input_reads_as_zero_and_unknown_kinds_as_hex():
    btf = open_object(str(DATA / "runtime_test.bpf.o")).btf
    tid = _type(btf, "rec")
    assert V.read(btf, tid, b"\x01\x00\x00\x00") == {"pid": 1, "seq": 0, "cookie": 0}
