"""Shared pieces for the BTF tests: bpftool references, printer stress sources, hand-built BTF blobs."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

from conftest import BPFTOOL

VMLINUX = Path("/sys/kernel/btf/vmlinux")


def bpftool_dump(path, fmt: str, *, base=None, json_out: bool = False) -> bytes | None:
    """bpftool's dump of ``path`` (bytes), or None when bpftool refuses the input."""
    cmd = [BPFTOOL]
    if json_out:
        cmd.append("-j")
    if base is not None:
        cmd += ["-B", str(base)]
    cmd += ["btf", "dump", "file", str(path), "format", fmt]
    r = subprocess.run(cmd, capture_output=True, check=False)
    if r.returncode != 0:
        return None
    return r.stdout


def bpftool_dump_or_skip(path, fmt: str, *, json_out: bool = False) -> bytes:
    """bpftool's dump of ``path``; the test is skipped, saying why, when bpftool refuses it (it
    must then still be parsed by us: the callers check that first)."""
    cmd = [BPFTOOL] + (["-j"] if json_out else []) + ["btf", "dump", "file", str(path), "format", fmt]
    r = subprocess.run(cmd, capture_output=True, check=False)
    if r.returncode != 0:
        why = (r.stderr.decode(errors="replace").strip().splitlines() or ["no message"])[-1]
        import pytest
        pytest.skip(f"the reference refuses {path}: bpftool exits {r.returncode} ({why})")
    return r.stdout


def has_btf(path) -> bool:
    from elftools.elf.elffile import ELFFile
    with open(path, "rb") as f:
        return ELFFile(f).get_section_by_name(".BTF") is not None


# C that exercises the printer: bitfields, packing, padding, anonymous members, enums of every
# size and sign, qualifiers, function pointers and arrays of them, tags, cycles through pointers.
STRESS_C = r"""
typedef unsigned int u32;
typedef unsigned long long u64;
struct fwd_only;
union fwd_union;
struct bits { u32 a: 3; u32 b: 5; int c: 7; unsigned long long d: 33; char e; unsigned short f: 9;
              long g; u32 h: 1; };
struct __attribute__((packed)) packed1 { char a; int b; short c; };
struct __attribute__((packed)) packed2 { int a; char b; };
struct aligned8 { char a; long b __attribute__((aligned(16))); char c; };
struct padded { char a; char pad[0]; long b; char c; };
struct gap { int a; int :32; int b; long :64; char c; };
struct nested {
	struct { int x; union { int y; float z; }; } anon;
	union { struct { char p, q; }; short pq; };
	enum { NA = 1, NB = -2 } e;
	enum : long long { BIG = 0x1234567890LL, NEG = -5 } e64;
	struct nested *self;
	struct fwd_only *fo;
	union fwd_union *fu;
};
enum small : unsigned char { S1, S2 = 200 };
enum sgn { MINUS = -1, PLUS = 1 };
enum u64e : unsigned long long { HUGE = 0xffffffffffffffffULL };
typedef int (*fnptr)(int, char *, ...);
typedef void (*fnptrs[4])(void);
typedef const volatile int cvint;
typedef int * const cptr;
typedef char * restrict rptr;
typedef const char * const * volatile weird;
typedef int arr3[2][3][4];
typedef int (*parr)[5];
typedef int (*(*fret)(int))[3];
typedef struct { int q; } anon_td;
typedef union { int q; long r; } anon_u;
typedef enum { TA, TB } anon_e;
struct dup { int a; };
struct with_fp {
	int (*cb)(struct with_fp *, void *);
	void (*cbs[3])(int);
	const char *(*getname)(const struct with_fp *);
	struct bits (*retstruct)(void);
	int arr2[2][3];
	char *ptrs[4];
	char (*ptrarr)[8];
	const int carr[2];
	volatile long vl;
	anon_td at;
	struct { int z; } *anonptr;
	int flex[];
};
#if __clang_major__ >= 15
#define __tag1 __attribute__((btf_type_tag("tag1")))
#define __tag2 __attribute__((btf_type_tag("tag2")))
#else
#define __tag1
#define __tag2
#endif
#define __dtag __attribute__((btf_decl_tag("dtag")))
struct tagged { int __tag1 *p1; int __tag1 __tag2 *p2; const int __tag1 *p3; int x __dtag; } __dtag;
struct empty {};
union uempty {};
struct only_bf { int a: 4; };
struct tail { long a; char b; };
struct bf_end { long a; int b: 3; };
struct bf_gap { char a; int b: 4; long c: 20; int d; char e: 2; };
struct big_bf { unsigned long long a: 60; unsigned long long b: 10; };
struct mixed { char c; short s; char c2; int i; char c3; long l; char c4; };
struct u128 { __int128 x; char y; };
struct arrs { char a[3]; int b; char c[0]; };
struct recur_a;
struct recur_b { struct recur_a *a; };
struct recur_a { struct recur_b b; };
typedef struct td_self td_self_t;
struct td_self { td_self_t *next; int v; };
struct func_params { void (*f)(struct { int a; } *x); };
struct decls {
	const char *restrict const q1;
	volatile unsigned long *const volatile q2;
	const int *const *const q5;
	int *volatile *restrict q6;
	char *restrict *const volatile restrict q13;
	struct dup *(*const volatile f5)(union uempty *, enum sgn);
	long (*(*f6)(int))[3];
	void (*(*f7)(void (*)(int)))(int);
	int (*const f11[2])(const void *restrict, u64);
	void *(*f12)(void *const, const volatile void *);
	const u64 (*const a5)[2][2];
	char *(*a4[3])[5];
	int (*(*a7)[4])[8];
	const struct { int k; } t8[2];
	struct { int n; } *t7;
};
int __dtag tagged_func(int x __dtag) { return x; }
struct all {
	struct bits a; struct packed1 b; struct packed2 c; struct aligned8 d; struct padded e;
	struct gap f; struct nested g; enum small h; enum sgn i; enum u64e j; fnptr k; fnptrs l;
	cvint m; cptr n; rptr o; weird p; arr3 q; parr r; fret s; anon_td t; anon_u u; anon_e v;
	struct with_fp *w; struct tagged x; struct empty y; union uempty z; struct only_bf aa;
	struct tail bb; struct bf_end cc; struct bf_gap dd; struct big_bf ee; struct mixed ff;
	struct u128 gg; struct arrs hh; struct recur_a ii; struct td_self jj; struct func_params kk;
	struct packed1 pk[2];
	struct decls ll;
};
struct all g_all;
struct with_fp g_fp;
struct dup g_dup;
int prog(void *ctx) { return tagged_func(g_all.a.a) + g_dup.a; }
"""

# A second unit whose names clash with the first: linking both makes bpftool print ___2 names.
DUP_C = r"""
struct dup { long b; char c; };
typedef int dup;
enum dupe { dup_v = 3, A1 };
enum dupe2 { A1x = 7 };
struct dup g_dup2;
dup g_dupt;
enum dupe g_e;
enum dupe2 g_e2;
int other(void *ctx) { return g_dup2.c; }
"""


def compile_bpf(cc: str, source: str, out: Path, extra=()) -> Path:
    src = out.with_suffix(".c")
    src.write_text(source)
    subprocess.run([cc, "-g", "-O2", "-target", "bpf", "-Wno-everything", *extra, "-c", str(src), "-o", str(out)],
                   check=True, capture_output=True)
    return out


# -- hand-built BTF ------------------------------------------------------------------------------

class BtfBuilder:
    """Builds a little-endian raw BTF blob type by type (ids count from 1)."""

    def __init__(self) -> None:
        self.strings = bytearray(b"\0")
        self.types = bytearray()
        self.count = 0

    def s(self, text: str) -> int:
        off = len(self.strings)
        self.strings += text.encode() + b"\0"
        return off

    def _add(self, name_off: int, kind: int, vlen: int, third: int, extra: bytes = b"", kflag: int = 0) -> int:
        self.types += struct.pack("<III", name_off, (kflag << 31) | (kind << 24) | vlen, third) + extra
        self.count += 1
        return self.count

    def int_(self, name: str, size: int = 4, signed: bool = True) -> int:
        return self._add(self.s(name), 1, 0, size, struct.pack("<I", (1 << 24 if signed else 0) | size * 8))

    def ptr(self, target: int) -> int:
        return self._add(0, 2, 0, target)

    def typedef(self, name: str, target: int) -> int:
        return self._add(self.s(name), 8, 0, target)

    def const(self, target: int) -> int:
        return self._add(0, 10, 0, target)

    def array(self, elem: int, index: int, n: int) -> int:
        return self._add(0, 3, 0, 0, struct.pack("<III", elem, index, n))

    def struct(self, name: str, size: int, members, *, union: bool = False, name_off: int | None = None) -> int:
        extra = b"".join(struct.pack("<III", self.s(mn) if mn else 0, mt, off) for mn, mt, off in members)
        noff = name_off if name_off is not None else (self.s(name) if name else 0)
        return self._add(noff, 5 if union else 4, len(members), size, extra)

    def raw_type(self, name_off: int, kind: int, vlen: int, third: int, extra: bytes = b"") -> int:
        return self._add(name_off, kind, vlen, third, extra)

    def blob(self) -> bytes:
        hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(self.types), len(self.types), len(self.strings))
        return hdr + bytes(self.types) + bytes(self.strings)
