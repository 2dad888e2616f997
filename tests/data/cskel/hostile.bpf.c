// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Names that clash with what a C skeleton generates or that C++ reserves:
 * a map called bss next to .bss, a map called kconfig next to Kconfig
 * externs, programs called obj, skeleton, maps and links, a variable called
 * new (a C++ keyword) and one called __pad0, two data sections whose names
 * give the same identifier (.data.a-b and .data.a_b), a misaligned gap,
 * a struct and an enum whose members are C++ keywords. */
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} bss SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} kconfig SEC(".maps");

extern int LINUX_KERNEL_VERSION __kconfig;

__u64 counter = 0;
__u64 new = 0;
__u32 __pad0 = 0;
static __u32 hidden = 0;
__u64 after_hidden = 0;
__u8 gap_before = 0;
static __u64 hidden_wide = 0;
__u8 gap_after __attribute__((aligned(8))) = 0;
__u32 ab_one SEC(".data.a-b") = 1;
__u32 ab_two SEC(".data.a_b") = 2;
const volatile __u8 small = 1;

/* C++ keywords as member and enumerator names (fine in C) */
enum cxx_enum { delete = 1, template = 2 };
struct cxx_words {
	int new;
	char class[4];
	unsigned int private: 3;
	int (*operator)(void);
	enum cxx_enum this;
} words SEC(".data.words") = { .new = 1 };
const volatile __u64 big = 2;

SEC("xdp")
int obj(struct xdp_md *ctx)
{
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&bss, &k);

	if (v)
		__sync_fetch_and_add(v, 1);
	counter += words.new + new + __pad0 + hidden + after_hidden + gap_before + gap_after + hidden_wide + ab_one + ab_two + small + big;
	hidden++;
	hidden_wide++;
	return XDP_PASS;
}

SEC("xdp")
int skeleton(struct xdp_md *ctx)
{
	__u32 k = 1, val = LINUX_KERNEL_VERSION;

	bpf_map_update_elem(&kconfig, &k, &val, BPF_ANY);
	return XDP_PASS;
}

SEC("tp/syscalls/sys_enter_getpid")
int maps(void *ctx)
{
	return 0;
}

SEC("tp/syscalls/sys_enter_getppid")
int links(void *ctx)
{
	return 0;
}
