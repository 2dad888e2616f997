// SPDX-License-Identifier: GPL-2.0
/* What a process tool records at exec, with CO-RE: its pid, its parent's tgid, both
 * names, and a few CO-RE queries.  `expand --no-core` rewrites it for one kernel;
 * the tests load both and compare what they record. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

struct info {
	__u32 pid;
	__u32 ppid;
	char comm[16];
	char pcomm[16];
	__u64 comm_size;
	__u64 ringbuf;
	__u64 task_size;
	__u32 flags_exist;
	__u32 nothing_exists;
	int prio;
	__u32 in_execve;
};

/* a flavour with a field no kernel has: only its existence is asked */
struct task_struct___future {
	int no_such_field_anywhere;
} __attribute__((preserve_access_index));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct info);
} seen SEC(".maps");

SEC("tp/sched/sched_process_exec")
int on_exec(void *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct task_struct___future *future = (void *)task;
	struct info i = {};

	i.pid = BPF_CORE_READ(task, tgid);
	i.ppid = BPF_CORE_READ(task, real_parent, tgid);
	BPF_CORE_READ_STR_INTO(&i.comm, task, comm);
	BPF_CORE_READ_INTO(&i.pcomm, task, real_parent, comm);
	i.comm_size = bpf_core_field_size(task->comm);
	i.ringbuf = bpf_core_enum_value(enum bpf_map_type, BPF_MAP_TYPE_RINGBUF);
	i.task_size = bpf_core_type_size(struct task_struct);
	i.flags_exist = bpf_core_field_exists(task->flags);
	i.nothing_exists = bpf_core_field_exists(future->no_such_field_anywhere);
	bpf_core_read(&i.prio, sizeof(i.prio), &task->prio);
	i.in_execve = BPF_CORE_READ_BITFIELD_PROBED(task, in_execve);
	bpf_map_update_elem(&seen, &i.pid, &i, BPF_ANY);
	return 0;
}
