// SPDX-License-Identifier: GPL-2.0
/* BPF_PROG2 at its widest: twelve arguments, one of them a 16-byte struct
 * passed by value, so every argument's position is computed from the sizes
 * of the ones before it (the deepest macro nesting libbpf has). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct pair {
	__u64 lo;
	__u64 hi;
};

SEC("fentry/wide")
int BPF_PROG2(wide, int, a1, char, a2, struct pair, a3, short, a4, long, a5, void *, a6,
	      int, a7, int, a8, int, a9, int, a10, int, a11, int, a12)
{
	return a1 + a2 + a3.hi + a4 + a5 + (a6 != 0) + a7 + a8 + a9 + a10 + a11 + a12;
}

char LICENSE[] SEC("license") = "GPL";
