/* Test object for the probe commands: a bare uprobe program that user space attaches
 * by function name (libbpf's own offset resolution is the oracle for `probe offsets`),
 * and a USDT program that reports libbpf's reading of each argument through a ring
 * buffer (the oracle for `probe usdt` and `probe trace`).
 *   clang -O2 -g -target bpf -D__TARGET_ARCH_x86 -idirafter /usr/include/x86_64-linux-gnu \
 *         -fdebug-prefix-map=$PWD=. -c probe_test.bpf.c -o probe_test.bpf.o
 */
#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct usdt_hit {
	__u64 cookie;
	__s64 args[4];
	__s32 arg_cnt;
	__u32 pid;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} hits SEC(".maps");

const volatile __u32 target_pid = 0;

SEC("uprobe")
int probe_func(struct pt_regs *ctx)
{
	return 0;
}

SEC("usdt")
int probe_usdt(struct pt_regs *ctx)
{
	struct usdt_hit h = {};
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	int i;

	if (target_pid && pid != target_pid)
		return 0;
	h.pid = pid;
	h.cookie = bpf_usdt_cookie(ctx);
	h.arg_cnt = bpf_usdt_arg_cnt(ctx);
	for (i = 0; i < 4; i++) {
		long v = 0;

		if (bpf_usdt_arg(ctx, i, &v) == 0)
			h.args[i] = v;
	}
	bpf_ringbuf_output(&hits, &h, sizeof(h), 0);
	return 0;
}
