// SPDX-License-Identifier: GPL-2.0
/* Every tracing macro expand handles by default, in the shapes people write
 * them: argument counts from zero to five, syscalls, fentry/fexit with
 * BPF_PROG and BPF_PROG2, CO-RE reads of one to three levels, printk with few
 * and many arguments, maps with __uint/__type/__array. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

#define TASK_COMM 16   /* user macros are not expanded unless asked */

struct event {
	int pid;
	int ppid;
	char comm[TASK_COMM];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} inner0 SEC(".maps"), inner1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner);
} outer SEC(".maps") = {
	.values = { &inner0, &inner1 },
};

SEC("kprobe/do_nanosleep")
int BPF_KPROBE(no_args)
{
	return 0;
}

SEC("kprobe/vfs_write")
int BPF_KPROBE(five_args, struct file *file, const char *buf, size_t count,
	       loff_t *pos, int extra)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	pid_t ppid = BPF_CORE_READ(task, real_parent, tgid);
	const unsigned char *name = BPF_CORE_READ(file, f_path.dentry, d_name.name);

	/* three arguments or fewer: bpf_trace_printk */
	bpf_printk("write %zu bytes at %p by %d", count, pos, ppid);
	/* more than three: bpf_trace_vprintk through an array */
	bpf_printk("%s %p %zu %p %d", name, buf, count, pos, extra);
	if (count > 4096)
		bpf_printk("big");
	return 0;
}

SEC("kretprobe/vfs_write")
int BPF_KRETPROBE(write_ret, long ret)
{
	struct event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = ret;
	BPF_CORE_READ_INTO(&e->ppid, (struct task_struct *)bpf_get_current_task(), real_parent, tgid);
	BPF_CORE_READ_STR_INTO(&e->comm, (struct task_struct *)bpf_get_current_task(), comm);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("kretprobe/do_nanosleep")
int BPF_KRETPROBE(ret_no_args)
{
	return 1;
}

SEC("ksyscall/openat")
int BPF_KSYSCALL(openat_entry, int dfd, const char *path, int flags, umode_t mode)
{
	bpf_printk("openat %d %s %d %d", dfd, path, flags, mode);
	return 0;
}

SEC("ksyscall/close")
int BPF_KPROBE_SYSCALL(close_entry, int fd)
{
	return fd < 0;
}

SEC("fentry/do_unlinkat")
int BPF_PROG(unlink_entry, int dfd, struct filename *name)
{
	pid_t pid = bpf_get_current_pid_tgid() >> 32;

	bpf_printk("fentry: pid = %d, filename = %s", pid, name->name);
	return 0;
}

SEC("fexit/do_unlinkat")
int BPF_PROG(unlink_exit, int dfd, struct filename *name, long ret)
{
	return ret != 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(no_prog_args)
{
	return 0;
}

SEC("fentry/tcp_v4_connect")
int BPF_PROG2(connect_entry, struct sock *, sk, struct sockaddr *, uaddr, int, addr_len)
{
	/* a CO-RE read nested in a printk: one site, expanded as a whole */
	bpf_printk("connect %d %d", addr_len, BPF_CORE_READ(sk, __sk_common.skc_family));
	return 0;
}

#if 0
SEC("kprobe/never")
int BPF_KPROBE(not_compiled, int x)
{
	return x;
}
#endif
