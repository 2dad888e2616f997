// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Data sections without variables: a .rodata.str1.1 of merged strings and a
 * .rodata holding only an unnamed array of pointers to them. Skeleton
 * structs for them have no members to show. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp/syscalls/sys_enter_getpid")
int pick(void *ctx)
{
	const char *names[] = {"alpha", "beta"};
	char buf[8];

	bpf_probe_read_kernel_str(buf, sizeof(buf), names[bpf_get_prandom_u32() & 1]);
	return buf[0];
}
