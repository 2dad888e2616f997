/* Test object for the runtime and the Python skeleton: one tracepoint on
 * getppid() that, for the process in `target_pid`, counts in .bss, copies a
 * .data value, and reports a record through a ring buffer, a perf buffer, a
 * hash map with struct key/value (with bitfields), a per-CPU array and an
 * array of structs.  A bare SEC("kprobe") program cannot be auto-attached.
 * Self-contained (no vmlinux.h, no libbpf headers):
 *   clang -O2 -g -target bpf -fdebug-prefix-map=$PWD=. -c runtime_test.bpf.c -o runtime_test.bpf.o
 */
typedef unsigned char __u8;
typedef unsigned int __u32;
typedef int __s32;
typedef unsigned long long __u64;

#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name

static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_map_update_elem)(void *map, const void *key, const void *value, __u64 flags) = (void *)2;
static __u64 (*bpf_get_current_pid_tgid)(void) = (void *)14;
static long (*bpf_get_current_comm)(void *buf, __u32 size) = (void *)16;
static long (*bpf_perf_event_output)(void *ctx, void *map, __u64 flags, void *data, __u64 size) = (void *)25;
static long (*bpf_ringbuf_output)(void *ringbuf, void *data, __u64 size, __u64 flags) = (void *)130;

struct key_t {
	__u32 pid;
	__u32 tag;
};

struct val_t {
	__u64 count;
	char comm[16];
	unsigned int flags : 3;
	unsigned int mode : 5;
	unsigned int rest : 24;
};

struct rec {
	__u32 pid;
	__u32 seq;
	__u64 cookie;
};

struct {
	__uint(type, 27); /* BPF_MAP_TYPE_RINGBUF */
	__uint(max_entries, 64 * 1024);
} rb SEC(".maps");

struct {
	__uint(type, 4); /* BPF_MAP_TYPE_PERF_EVENT_ARRAY */
	__uint(key_size, sizeof(int));
	__uint(value_size, sizeof(int));
} events SEC(".maps");

struct {
	__uint(type, 1); /* BPF_MAP_TYPE_HASH */
	__uint(max_entries, 128);
	__type(key, struct key_t);
	__type(value, struct val_t);
} stats SEC(".maps");

struct {
	__uint(type, 6); /* BPF_MAP_TYPE_PERCPU_ARRAY */
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} pcpu SEC(".maps");

struct {
	__uint(type, 2); /* BPF_MAP_TYPE_ARRAY */
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, struct rec);
} arr SEC(".maps");

const volatile __u32 target_pid = 0;
__u64 hits = 0;
struct rec last = {};
__u64 cookie = 0x1122334455667788ULL;

SEC("tp/syscalls/sys_enter_getppid")
int on_getppid(void *ctx)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	struct key_t key = { .pid = pid, .tag = 1 };
	struct val_t *v, fresh = {};
	struct rec r;
	__u32 zero = 0;
	__u64 *c;

	if (pid != target_pid)
		return 0;
	r.seq = __sync_add_and_fetch(&hits, 1);
	r.pid = pid;
	r.cookie = cookie;
	last = r;
	bpf_ringbuf_output(&rb, &r, sizeof(r), 0);
	bpf_perf_event_output(ctx, &events, 0xffffffffULL, &r, sizeof(r));
	c = bpf_map_lookup_elem(&pcpu, &zero);
	if (c)
		*c += 1;
	bpf_map_update_elem(&arr, &zero, &r, 0);
	v = bpf_map_lookup_elem(&stats, &key);
	if (v) {
		v->count++;
		v->mode = 5;
	} else {
		fresh.count = 1;
		fresh.flags = 3;
		fresh.mode = 4;
		bpf_get_current_comm(fresh.comm, sizeof(fresh.comm));
		bpf_map_update_elem(&stats, &key, &fresh, 0);
	}
	return 0;
}

SEC("kprobe")
int bare(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
