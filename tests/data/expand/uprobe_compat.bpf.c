// SPDX-License-Identifier: GPL-2.0
/* BPF_UPROBE/BPF_URETPROBE came with libbpf 1.2; older headers lack them, so
 * this source brings its own when needed (as projects supporting both do). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#ifndef BPF_UPROBE
#define BPF_UPROBE(name, args...)	BPF_KPROBE(name, ##args)
#define BPF_URETPROBE(name, args...)	BPF_KRETPROBE(name, ##args)
#endif

char LICENSE[] SEC("license") = "GPL";

SEC("uprobe//bin/bash:readline")
int BPF_UPROBE(readline_entry, const void *prompt)
{
	bpf_printk("readline(%p)", prompt);
	return 0;
}

SEC("uretprobe//bin/bash:readline")
int BPF_URETPROBE(readline_exit, const char *line)
{
	bpf_printk("readline -> %p", line);
	return 0;
}
