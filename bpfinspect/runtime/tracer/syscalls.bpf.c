// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/* The recorder behind `--trace-syscalls`: the system calls one process (the
 * thread group `target_tgid`) makes to set up BPF, seen from the kernel's
 * syscall tracepoints and written to a ring buffer as they happen.
 *
 * Recorded: bpf() with its `union bpf_attr` and what the attribute points to
 * that tells what the call does (a program's instructions and license, a BTF
 * blob's first bytes, map keys and values, path and tracepoint names, the
 * fd_array of a program load); perf_event_open() with its perf_event_attr
 * (and the probed function or file of kprobe/uprobe PMU events); ioctl() on
 * perf events (type '$': PERF_EVENT_IOC_*); mmap() of shared file mappings
 * (a BPF map's memory); munmap(); close().  Every call gives an ENTER record
 * with its raw arguments, followed by DATA records, and an EXIT record
 * with the result.  The decoder (bpfinspect/systrace) pairs them per thread.
 *
 * Every copy from user memory is bounded (the sizes below); a copy that
 * faults is still recorded, with the error, so the decoder can tell.
 *
 * Built by scripts/build-tracer.sh into syscalls.bpf.o (committed); the
 * record layout here and in bpfinspect/systrace/records.py is one contract.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

enum record_kind { REC_ENTER = 1, REC_EXIT = 2, REC_DATA = 3 };
enum syscall_id { SC_BPF = 1, SC_PERF_EVENT_OPEN = 2, SC_IOCTL = 3, SC_MMAP = 4, SC_MUNMAP = 5, SC_CLOSE = 6 };
enum data_tag {
	D_ATTR = 1,		/* the bpf() attribute, up to ATTR_MAX bytes */
	D_PERF_ATTR = 2,	/* perf_event_attr, up to ATTR_MAX bytes */
	D_INSNS = 3,		/* BPF_PROG_LOAD instructions, DATA_MAX bytes a record */
	D_LICENSE = 4,		/* BPF_PROG_LOAD license string */
	D_STRING = 5,		/* a path or name the call points to */
	D_KEY = 6,		/* BPF_MAP_*_ELEM key (first KEY_MAX bytes) */
	D_VALUE = 7,		/* BPF_MAP_UPDATE_ELEM value (first VALUE_MAX bytes) */
	D_BTF = 8,		/* BPF_BTF_LOAD blob (first BTF_MAX bytes) */
	D_FD_ARRAY = 9,		/* BPF_PROG_LOAD fd_array (first FD_ARRAY_MAX bytes) */
};

#define ATTR_MAX	256
#define DATA_MAX	16384
#define STR_MAX		256
#define KEY_MAX		64
#define VALUE_MAX	256
#define BTF_MAX		1024
#define FD_ARRAY_MAX	256
#define INSN_CHUNKS	64	/* at most 64 * DATA_MAX bytes: 131072 instructions */

#define PERF_TYPE_MAX	6	/* dynamic PMUs (kprobe, uprobe) have larger type numbers */
#define MAP_SHARED	0x01
#define PERF_IOC_MAGIC	'$'

struct head {
	__u16 kind;
	__u16 call;
	__u32 tid;
	__u64 ts;
};

struct enter_rec {
	struct head h;
	__u64 args[6];
};

struct exit_rec {
	struct head h;
	__s64 ret;
};

struct data_head {
	struct head h;
	__u16 tag;
	__u16 reserved;
	__s32 err;	/* 0, or what bpf_probe_read_user*() returned */
	__u32 len;	/* bytes that follow */
	__u32 off;	/* where they start in what was copied (D_INSNS chunks) */
};

struct data_rec {
	struct data_head d;
	__u8 bytes[DATA_MAX];
};

/* The layout every syscalls/sys_enter_* and sys_exit_* tracepoint shares. */
struct sys_enter_ctx {
	__u64 common;
	__s32 nr;
	__u32 pad;
	__u64 args[6];
};

struct sys_exit_ctx {
	__u64 common;
	__s32 nr;
	__u32 pad;
	__s64 ret;
};

const volatile __u32 target_tgid = 0;
__u64 lost = 0;		/* records the ring buffer had no room for */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} records SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct data_rec);
} scratch SEC(".maps");

static __always_inline int ours(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

static __always_inline void fill_head(struct head *h, __u16 kind, __u16 call)
{
	h->kind = kind;
	h->call = call;
	h->tid = (__u32)bpf_get_current_pid_tgid();
	h->ts = bpf_ktime_get_ns();
}

static __always_inline void emit(void *rec, __u64 size)
{
	if (bpf_ringbuf_output(&records, rec, size, 0))
		__sync_fetch_and_add(&lost, 1);
}

/* Only the arguments the call has: the kernel refuses to attach a program
 * that reads past the end of a tracepoint's record (EACCES). */
static __always_inline void record_enter(struct sys_enter_ctx *ctx, __u16 call, int nargs)
{
	struct enter_rec r = {};

	fill_head(&r.h, REC_ENTER, call);
	/* spelled out: a loop would walk a pointer into ctx, which the verifier refuses */
	r.args[0] = ctx->args[0];
	if (nargs > 1)
		r.args[1] = ctx->args[1];
	if (nargs > 2)
		r.args[2] = ctx->args[2];
	if (nargs > 3)
		r.args[3] = ctx->args[3];
	if (nargs > 4)
		r.args[4] = ctx->args[4];
	if (nargs > 5)
		r.args[5] = ctx->args[5];
	emit(&r, sizeof(r));
}

static __always_inline void record_exit(struct sys_exit_ctx *ctx, __u16 call)
{
	struct exit_rec r;

	fill_head(&r.h, REC_EXIT, call);
	r.ret = ctx->ret;
	emit(&r, sizeof(r));
}

static __always_inline struct data_rec *data_start(__u32 call, __u32 tag, __u32 off)
{
	__u32 zero = 0;
	struct data_rec *r = bpf_map_lookup_elem(&scratch, &zero);

	if (!r)
		return 0;
	fill_head(&r->d.h, REC_DATA, call);
	r->d.tag = tag;
	r->d.reserved = 0;
	r->d.off = off;
	return r;
}

/* The two copy functions are global (not inlined, not static): the verifier
 * checks a global function once, not at every call, which keeps the 64-chunk
 * instruction copy of BPF_PROG_LOAD cheap to verify. */

/* Copy len bytes (at most DATA_MAX) of user memory at uptr into one record. */
__noinline int copy_mem(__u32 call, __u32 tag, __u64 uptr, __u64 len, __u32 off)
{
	struct data_rec *r = data_start(call, tag, off);

	if (!r)
		return 0;
	if (len > DATA_MAX)
		len = DATA_MAX;
	r->d.err = bpf_probe_read_user(r->bytes, len, (const void *)uptr);
	r->d.len = len;
	emit(r, sizeof(r->d) + len);
	return 0;
}

/* Copy a NUL-terminated string (at most STR_MAX bytes with its NUL). */
__noinline int copy_str(__u32 call, __u32 tag, __u64 uptr)
{
	struct data_rec *r = data_start(call, tag, 0);
	long n;

	if (!r)
		return 0;
	n = bpf_probe_read_user_str(r->bytes, STR_MAX, (const void *)uptr);
	r->d.err = n < 0 ? n : 0;
	if (n < 0)
		n = 0;
	if (n > STR_MAX)
		n = STR_MAX;
	r->d.len = n;
	emit(r, sizeof(r->d) + n);
	return 0;
}

static __always_inline __u64 user_u64(__u64 uptr)
{
	__u64 v = 0;

	bpf_probe_read_user(&v, sizeof(v), (const void *)uptr);
	return v;
}

static __always_inline __u32 user_u32(__u64 uptr)
{
	__u32 v = 0;

	bpf_probe_read_user(&v, sizeof(v), (const void *)uptr);
	return v;
}

/* The end of a bpf_attr field: the kernel reads only the first `size` bytes. */
#define ATTR_END(field) (__builtin_offsetof(union bpf_attr, field) + sizeof(((union bpf_attr *)0)->field))
#define ATTR_AT(attr, field) ((attr) + __builtin_offsetof(union bpf_attr, field))

static __always_inline void bpf_prog_load_data(__u64 attr, __u64 size)
{
	__u64 bytes, insns;

	if (size < ATTR_END(license))
		return;
	bytes = (__u64)user_u32(ATTR_AT(attr, insn_cnt)) * 8;
	insns = user_u64(ATTR_AT(attr, insns));
	copy_str(SC_BPF, D_LICENSE, user_u64(ATTR_AT(attr, license)));
	for (int i = 0; i < INSN_CHUNKS; i++) {
		__u64 off = (__u64)i * DATA_MAX;

		if (off >= bytes)
			break;
		copy_mem(SC_BPF, D_INSNS, insns + off, bytes - off, off);
	}
	if (size >= ATTR_END(fd_array)) {
		__u64 fd_array = user_u64(ATTR_AT(attr, fd_array));

		if (fd_array)
			copy_mem(SC_BPF, D_FD_ARRAY, fd_array, FD_ARRAY_MAX, 0);
	}
}

SEC("tp/syscalls/sys_enter_bpf")
int enter_bpf(struct sys_enter_ctx *ctx)
{
	__u64 cmd, attr, size;

	if (!ours())
		return 0;
	cmd = ctx->args[0];
	attr = ctx->args[1];
	size = ctx->args[2];
	record_enter(ctx, SC_BPF, 3);
	if (!attr)
		return 0;
	copy_mem(SC_BPF, D_ATTR, attr, size > ATTR_MAX ? ATTR_MAX : size, 0);
	switch (cmd) {
	case BPF_PROG_LOAD:
		bpf_prog_load_data(attr, size);
		break;
	case BPF_BTF_LOAD:
		if (size >= ATTR_END(btf_size)) {
			__u64 btf_size = user_u32(ATTR_AT(attr, btf_size));

			copy_mem(SC_BPF, D_BTF, user_u64(ATTR_AT(attr, btf)),
				 btf_size > BTF_MAX ? BTF_MAX : btf_size, 0);
		}
		break;
	case BPF_MAP_LOOKUP_ELEM:
	case BPF_MAP_UPDATE_ELEM:
	case BPF_MAP_DELETE_ELEM:
	case BPF_MAP_GET_NEXT_KEY:
	case BPF_MAP_LOOKUP_AND_DELETE_ELEM:
		if (size >= ATTR_END(key)) {
			__u64 key = user_u64(ATTR_AT(attr, key));

			if (key)
				copy_mem(SC_BPF, D_KEY, key, KEY_MAX, 0);
		}
		if (cmd == BPF_MAP_UPDATE_ELEM && size >= ATTR_END(value)) {
			__u64 value = user_u64(ATTR_AT(attr, value));

			if (value)
				copy_mem(SC_BPF, D_VALUE, value, VALUE_MAX, 0);
		}
		break;
	case BPF_OBJ_PIN:
	case BPF_OBJ_GET:
		if (size >= ATTR_END(pathname))
			copy_str(SC_BPF, D_STRING, user_u64(ATTR_AT(attr, pathname)));
		break;
	case BPF_RAW_TRACEPOINT_OPEN:
		if (size >= ATTR_END(raw_tracepoint.name)) {
			__u64 name = user_u64(ATTR_AT(attr, raw_tracepoint.name));

			if (name)
				copy_str(SC_BPF, D_STRING, name);
		}
		break;
	}
	return 0;
}

SEC("tp/syscalls/sys_enter_perf_event_open")
int enter_perf_event_open(struct sys_enter_ctx *ctx)
{
	__u64 attr = ctx->args[0];
	__u32 size;

	if (!ours())
		return 0;
	record_enter(ctx, SC_PERF_EVENT_OPEN, 5);
	if (!attr)
		return 0;
	/* struct perf_event_attr: type at 0, size at 4 (0 means the first version,
	 * 64 bytes), config1 at 56 (kprobe_func / uprobe_path for those PMUs) */
	size = user_u32(attr + 4);
	if (size == 0)
		size = 64;
	copy_mem(SC_PERF_EVENT_OPEN, D_PERF_ATTR, attr, size > ATTR_MAX ? ATTR_MAX : size, 0);
	if (user_u32(attr) >= PERF_TYPE_MAX) {
		__u64 name = user_u64(attr + 56);

		if (name)
			copy_str(SC_PERF_EVENT_OPEN, D_STRING, name);
	}
	return 0;
}

SEC("tp/syscalls/sys_enter_ioctl")
int enter_ioctl(struct sys_enter_ctx *ctx)
{
	/* only perf events' requests (_IOC_TYPE '$'); the exit of any other
	 * ioctl finds no ENTER to pair with and is dropped by the decoder */
	if (ours() && ((ctx->args[1] >> 8) & 0xff) == PERF_IOC_MAGIC)
		record_enter(ctx, SC_IOCTL, 3);
	return 0;
}

SEC("tp/syscalls/sys_enter_mmap")
int enter_mmap(struct sys_enter_ctx *ctx)
{
	/* shared mappings of a file descriptor only (maps' memory, ring buffers) */
	if (ours() && (__s32)ctx->args[4] >= 0 && (ctx->args[3] & MAP_SHARED))
		record_enter(ctx, SC_MMAP, 6);
	return 0;
}

/* The calls recorded without filter or extra data: their arguments, and every result. */
#define RECORD_ENTER(name, id, nargs)					\
	SEC("tp/syscalls/sys_enter_" #name)				\
	int enter_##name(struct sys_enter_ctx *ctx)			\
	{								\
		if (ours())						\
			record_enter(ctx, id, nargs);			\
		return 0;						\
	}
#define RECORD_EXIT(name, id)						\
	SEC("tp/syscalls/sys_exit_" #name)				\
	int exit_##name(struct sys_exit_ctx *ctx)			\
	{								\
		if (ours())						\
			record_exit(ctx, id);				\
		return 0;						\
	}

RECORD_ENTER(munmap, SC_MUNMAP, 2)
RECORD_ENTER(close, SC_CLOSE, 1)
RECORD_EXIT(bpf, SC_BPF)
RECORD_EXIT(perf_event_open, SC_PERF_EVENT_OPEN)
RECORD_EXIT(ioctl, SC_IOCTL)
RECORD_EXIT(mmap, SC_MMAP)
RECORD_EXIT(munmap, SC_MUNMAP)
RECORD_EXIT(close, SC_CLOSE)
