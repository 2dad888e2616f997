// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* Names a BPF program may use that mean something else in the languages its
 * skeletons are written in.  Nothing here includes a system header, so names
 * that are macros there (errno, NULL, EINVAL, linux...) are plain identifiers.
 *
 * Every text that would do harm if a skeleton wrote it raw carries a payload
 * that fails loudly once it is code: C payloads stop the compiler
 * (#error, _Static_assert), Python payloads create the file named by
 * SENTINEL (the test checks that it never appears).  SENTINEL is given with
 * -DSENTINEL='"..."' when the test compiles this file. */

#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name

typedef unsigned int __u32;
typedef unsigned long long __u64;

char LICENSE[] SEC("license") = "GPL";

/* -- program sections: quotes, triple quotes, comment ends, line breaks, escapes -------------- */

#define PY_PAYLOAD "open(" SENTINEL ",\"w\")"

SEC("kprobe/x\"\"\";" PY_PAYLOAD ";\"\"\"")
int triple_quotes(void *ctx) { return 0; }

SEC("kprobe/y';" PY_PAYLOAD ";'")
int single_quotes(void *ctx) { return 0; }

SEC("kprobe/z\"" PY_PAYLOAD "\"")
int double_quote(void *ctx) { return 0; }

SEC("tp/a*/_Static_assert(0, \"INJECTED\");/*b")
int comment_end(void *ctx) { return 0; }

SEC("tp/c\n#error INJECTED\n" PY_PAYLOAD "\n")
int line_breaks(void *ctx) { return 0; }

SEC("tp/\\N{BULLET}\\x41\\u0041\\U00000041\\\\")
int backslashes(void *ctx) { return 0; }

SEC("tp/trigraph??/\n_Static_assert(0, \"INJECTED\");")
int trigraph(void *ctx) { return 0; }

SEC("tp/\xff\xfe\x80 not utf-8")
int bad_utf8(void *ctx) { return 0; }

SEC("tp/caf\xc3\xa9/\xe2\x80\xae/rtl")
int unicode(void *ctx) { return 0; }

/* -- programs and maps named like keywords and macros ------------------------------------------ */

SEC("xdp") int linux(void *ctx) { return 0; }
SEC("xdp") int unix(void *ctx) { return 0; }
SEC("xdp") int i386(void *ctx) { return 0; }
SEC("xdp") int errno(void *ctx) { return 0; }
SEC("xdp") int EINVAL(void *ctx) { return 0; }
SEC("xdp") int lambda(void *ctx) { return 0; }
SEC("xdp") int _set(void *ctx) { return 0; }
SEC("xdp") int __class__(void *ctx) { return 0; }

struct {
	__uint(type, 2);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} NULL SEC(".maps"), SIZE_MAX SEC(".maps"), None SEC(".maps"), _items SEC(".maps"), true SEC(".maps");

/* -- globals named like C, C++ and Python keywords, macros, builtins and header names -------- */

int BYTE_ORDER = 1;
int stdin = 2;
int qsort = 3;
int bpf_object__open = 4;
int bool = 5;
int false = 6;
int new = 7;
int delete = 8;
int class = 9;
int this = 10;
int def = 11;
int import = 12;
int match = 13;
int type = 14;
int len = 15;
int __builtins__ = 16;
int ctypes = 17;
int ELF_BYTES = 18;
int _layout = 19;
int load SEC(".data.load") = 20;
int maps_ SEC(".data.maps") = 21;
int café = 22;
int naïve SEC(".data.\xc3\xa9\n#error INJECTED\n") = 23;
int star SEC(".data.x*/_Static_assert(0, \"INJECTED\");/*") = 24;
int quotes SEC(".data.q\"\"\";open(SENTINEL,'w');\"\"\"") = 25;

/* -- types named like all of the above, members too ------------------------------------------- */

typedef char size_t;            /* not the size of the host's size_t: renamed */
typedef int pid_t;              /* the host's pid_t: not defined again */

enum python_words {
	__slots__ = 1, mro = 2, ctype = 3, __private = 4, True = 5, NULL_ = 6, EOF = 7, stdout = 8,
};

enum { unix_ = 1, errno_2 = 2 } anon_enum_var;

struct ctypes_words {
	int _fields_;
	int from_buffer_copy;
	int __init__;
	int _pack_;
	int errno;
	int linux;
	int new;
	int None;
	enum python_words w;
} ctypes_words_var;

struct None { int lambda; int yield; } none_var;
struct len { int x; } len_var;
struct __builtins__ { int print; } builtins_var;
struct bpf_map { int not_libbpfs; } bpf_map_var;   /* libbpf.h only declares struct bpf_map */
union bpf_object { int clash; } bpf_object_var;   /* libbpf.h declares it a struct */
struct Ünïcode { int ä; } unicode_var;
struct timespec { long long when; } timespec_var;  /* the host's is 16 bytes */
size_t size_var;
pid_t pid_var;

struct nested_names {
	struct { int x; } ;
	union { int y; int z; } ;
	int named_after_anon;
} nested_var;
