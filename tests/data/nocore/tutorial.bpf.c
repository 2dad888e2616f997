// SPDX-License-Identifier: GPL-2.0
/* The tutorial's question, "what if the kernel is too old for CO-RE?", on a source that
 * declares the kernel types it reads itself (no vmlinux.h), for `expand --no-core`. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct {
	int pid;
	int tgid;
	struct task_struct *real_parent;
	char comm[16];
} __attribute__((preserve_access_index));

char LICENSE[] SEC("license") = "GPL";

SEC("tp/sched/sched_process_exec")
int on_exec(void *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	char comm[16];
	int ppid;

	ppid = BPF_CORE_READ(task, real_parent, tgid);
	BPF_CORE_READ_STR_INTO(&comm, task, comm);
	if (bpf_core_field_exists(task->pid))
		bpf_printk("%s: parent %d", comm, ppid);
	return 0;
}
