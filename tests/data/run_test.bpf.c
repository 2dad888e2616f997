/* Test object for `run`: every program shape it attaches, and every value shape it decodes.
 * Self-contained (no vmlinux.h, no libbpf headers):
 *   clang -O2 -g -target bpf -fdebug-prefix-map=$PWD=. -c run_test.bpf.c -o run_test.bpf.o
 *
 * on_getppid (tp/syscalls/sys_enter_getppid), for the process in `target_pid` only:
 * counts calls, sends a `struct event` (enum, char array, nested struct, array) through
 * the ring buffer `events`, prints a bpf_printk line when `verbose`, counts the call in the
 * log2 histogram `hist` (bucket log2(calls so far)) and in `by_kind` (keyed by an enum).
 * on_func (SEC("uprobe"), no target), on_raw (SEC("raw_tp"), no target), on_kprobe
 * (SEC("kprobe")) need --attach; count_xdp (SEC("xdp")) and count_tc (SEC("tc")) count
 * packets in `pkts` (0: XDP, 1: tc).
 */
typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef int __s32;
typedef unsigned long long __u64;

#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name

static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_map_update_elem)(void *map, const void *key, const void *value, __u64 flags) = (void *)2;
static long (*bpf_trace_printk)(const char *fmt, __u32 fmt_size, ...) = (void *)6;
static __u64 (*bpf_get_current_pid_tgid)(void) = (void *)14;
static long (*bpf_get_current_comm)(void *buf, __u32 size) = (void *)16;
static void *(*bpf_ringbuf_reserve)(void *ringbuf, __u64 size, __u64 flags) = (void *)131;
static void (*bpf_ringbuf_submit)(void *data, __u64 flags) = (void *)132;

enum kind { KIND_NONE = 0, KIND_CALL = 1, KIND_PROBE = 2, KIND_OTHER = 7 };

struct inner {
	__u16 a;
	__u8 b[3];
};

struct event {
	__u32 pid;
	enum kind kind;
	char comm[16];
	struct inner in;
	__u64 value;
	__u32 arr[2];
};

struct {
	__uint(type, 27); /* BPF_MAP_TYPE_RINGBUF */
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

struct {
	__uint(type, 2); /* BPF_MAP_TYPE_ARRAY */
	__uint(max_entries, 32);
	__type(key, __u32);
	__type(value, __u64);
} hist SEC(".maps");

struct {
	__uint(type, 1); /* BPF_MAP_TYPE_HASH */
	__uint(max_entries, 16);
	__type(key, enum kind);
	__type(value, __u64);
} by_kind SEC(".maps");

struct {
	__uint(type, 6); /* BPF_MAP_TYPE_PERCPU_ARRAY */
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} pkts SEC(".maps");

const volatile __u32 target_pid = 0;
const volatile enum kind mode = KIND_CALL;
const volatile _Bool verbose = 1;
const volatile char tag[8] = "dflt";
__u64 report_value = 7;
__u64 calls = 0;
__u64 uprobe_calls = 0;
__u64 raw_calls = 0;

static __attribute__((always_inline)) __u32 log2_u32(__u32 v)
{
	__u32 r, shift;

	r = (v > 0xFFFF) << 4; v >>= r;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r;
}

static __attribute__((always_inline)) void count(void *map, __u32 key)
{
	__u64 *c = bpf_map_lookup_elem(map, &key);

	if (c)
		__sync_fetch_and_add(c, 1);
}

SEC("tp/syscalls/sys_enter_getppid")
int on_getppid(void *ctx)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	enum kind k = mode;
	struct event *e;
	__u64 n, one = 1, *c;

	if (pid != target_pid)
		return 0;
	n = __sync_add_and_fetch(&calls, 1);
	count(&hist, log2_u32((__u32)n));
	c = bpf_map_lookup_elem(&by_kind, &k);
	if (c)
		__sync_fetch_and_add(c, 1);
	else
		bpf_map_update_elem(&by_kind, &k, &one, 0);
	if (verbose) {
		char fmt[] = "run_test pid=%d value=%llu tag=%s\n";
		bpf_trace_printk(fmt, sizeof(fmt), pid, report_value, tag);
	}
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = pid;
	e->kind = k;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->in.a = 0x1234;
	e->in.b[0] = 1;
	e->in.b[1] = 2;
	e->in.b[2] = 3;
	e->value = report_value;
	e->arr[0] = (__u32)n;
	e->arr[1] = (__u32)n * 2;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("uprobe")
int on_func(void *ctx)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	struct event *e;

	__sync_fetch_and_add(&uprobe_calls, 1);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	__builtin_memset(e, 0, sizeof(*e));
	e->pid = pid;
	e->kind = KIND_PROBE;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("raw_tp")
int on_raw(void *ctx)
{
	if ((bpf_get_current_pid_tgid() >> 32) == target_pid)
		__sync_fetch_and_add(&raw_calls, 1);
	return 0;
}

SEC("kprobe")
int on_kprobe(void *ctx)
{
	return 0;
}

SEC("xdp")
int count_xdp(void *ctx)
{
	count(&pkts, 0);
	return 2; /* XDP_PASS */
}

SEC("tc")
int count_tc(void *skb)
{
	count(&pkts, 1);
	return 0; /* TC_ACT_OK */
}

char LICENSE[] SEC("license") = "GPL";
