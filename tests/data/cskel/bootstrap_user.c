// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* User space for fixtures/bootstrap.bpf.o, written against the API of a
 * bpftool-generated skeleton ("bootstrap.skel.h"): open, set rodata, load,
 * attach, run a child process, read ring buffer events and bss counters.
 *
 * Prints one line per fact, "key value", for the test to check:
 *   exec <pid> <comm> <filename>   an exec event of the child
 *   exit <pid> <exit_code>         an exit event of the child
 *   child <pid>                    the pid of the child
 *   seen_exec <n> / seen_exit <n>  bss counters
 *   min_duration_ns <n>            rodata as the program saw it
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/types.h>
#include <bpf/libbpf.h>

/* The types the skeleton's globals use, as users of bpftool's headers define them. */
typedef __u32 u32;
typedef __u64 u64;
#include "../../../fixtures/src/bootstrap.h"
#include "bootstrap.skel.h"

static pid_t child_pid;
static int exec_events, exit_events;

static int on_event(void *ctx, void *data, size_t size)
{
	const struct event *e = data;

	(void)ctx;
	if (size < sizeof(*e))
		return 0;
	if (e->pid != child_pid)
		return 0;
	if (e->exit_event) {
		exit_events++;
		printf("exit %d %u\n", e->pid, e->exit_code);
	} else {
		exec_events++;
		printf("exec %d %s %s\n", e->pid, e->comm, e->filename);
	}
	fflush(stdout);
	return 0;
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, args);
}

int main(int argc, char **argv)
{
	struct ring_buffer *rb = NULL;
	struct bootstrap_bpf *skel;
	const char *prog = argc > 1 ? argv[1] : "/bin/true";
	int err, status, i;

	libbpf_set_print(libbpf_quiet);

	skel = bootstrap_bpf__open();
	if (!skel) {
		fprintf(stderr, "open failed: %s\n", strerror(errno));
		return 1;
	}
	/* 0: report exec events too */
	skel->rodata->min_duration_ns = 0;

	err = bootstrap_bpf__load(skel);
	if (err) {
		fprintf(stderr, "load failed: %d\n", err);
		goto out;
	}
	err = bootstrap_bpf__attach(skel);
	if (err) {
		fprintf(stderr, "attach failed: %d\n", err);
		goto out;
	}
	rb = ring_buffer__new(bpf_map__fd(skel->maps.rb), on_event, NULL, NULL);
	if (!rb) {
		err = -errno;
		fprintf(stderr, "ring buffer failed: %d\n", err);
		goto out;
	}

	child_pid = fork();
	if (child_pid < 0) {
		err = -errno;
		goto out;
	}
	if (child_pid == 0) {
		/* give the parent time to know our pid before exec */
		usleep(100000);
		execl(prog, prog, (char *)NULL);
		_exit(127);
	}
	printf("child %d\n", child_pid);
	fflush(stdout);
	if (waitpid(child_pid, &status, 0) < 0) {
		err = -errno;
		goto out;
	}
	for (i = 0; i < 50 && (exec_events < 1 || exit_events < 1); i++) {
		err = ring_buffer__poll(rb, 100);
		if (err < 0 && err != -EINTR)
			goto out;
	}
	err = 0;
	printf("seen_exec %llu\n", (unsigned long long)skel->bss->seen_exec);
	printf("seen_exit %llu\n", (unsigned long long)skel->bss->seen_exit);
	printf("min_duration_ns %llu\n", (unsigned long long)skel->rodata->min_duration_ns);
	printf("exit_code_mask %u\n", skel->data->exit_code_mask);
	{
		size_t sz = 0;
		const void *bytes = bootstrap_bpf__elf_bytes(&sz);
		printf("elf_bytes %zu %d\n", sz, (int)(((unsigned long)bytes) % 8));
	}
out:
	ring_buffer__free(rb);
	bootstrap_bpf__destroy(skel);
	return err ? 1 : 0;
}
