// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* A small object for odd file names (1st-prog.v2.bpf.o, int.bpf.o): one
 * program, one global. */
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

__u64 calls = 0;

SEC("tp/syscalls/sys_enter_getpid")
int on_getpid(void *ctx)
{
	calls++;
	return 0;
}
