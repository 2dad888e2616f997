/* Two programs: the kernel accepts `good` and rejects `bad`, which
 * dereferences a map value without checking the lookup for NULL.
 * Build: clang -O2 -g -target bpf -c runtime_rejected.bpf.c -o runtime_rejected.bpf.o
 * (needs only the headers below, no vmlinux.h). */
typedef unsigned int __u32;
typedef unsigned long long __u64;

#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name

static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;

struct {
	__uint(type, 2); /* BPF_MAP_TYPE_ARRAY */
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

SEC("tp/syscalls/sys_enter_getpid")
int good(void *ctx)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&counters, &key);

	if (v)
		__sync_fetch_and_add(v, 1);
	return 0;
}

SEC("tp/syscalls/sys_enter_getppid")
int bad(void *ctx)
{
	__u32 key = 1;
	__u64 *v = bpf_map_lookup_elem(&counters, &key);

	*v += 1; /* no NULL check: the verifier says no */
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
