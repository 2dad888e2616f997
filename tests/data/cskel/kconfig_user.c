// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Reads fixtures/externs.bpf.o's Kconfig externs through the skeleton
 * ("skel.h") after a load that skips the programs (they need kernel symbols
 * this test does not care about): the values land where libbpf put them only
 * if the skeleton's .kconfig layout is libbpf's. Prints "NAME value" lines. */
#include <stdio.h>
#include "skel.h"
int main(void)
{
	struct externs_bpf *skel = externs_bpf__open();
	if (!skel) { perror("open"); return 1; }
	bpf_program__set_autoload(skel->progs.on_newtask, false);
	bpf_program__set_autoload(skel->progs.on_unlinkat, false);
	if (externs_bpf__load(skel)) { fprintf(stderr, "load failed\n"); return 1; }
	printf("CONFIG_HZ %d\n", skel->kconfig->CONFIG_HZ);
	printf("CONFIG_NR_CPUS %llu\n", (unsigned long long)skel->kconfig->CONFIG_NR_CPUS);
	printf("CONFIG_BPF_SYSCALL %d\n", (int)skel->kconfig->CONFIG_BPF_SYSCALL);
	printf("CONFIG_BPF_LSM %d\n", (int)skel->kconfig->CONFIG_BPF_LSM);
	printf("CONFIG_FIXTURE_NOT_A_REAL_OPTION %d\n", (int)skel->kconfig->CONFIG_FIXTURE_NOT_A_REAL_OPTION);
	printf("CONFIG_DEFAULT_HOSTNAME %s\n", skel->kconfig->CONFIG_DEFAULT_HOSTNAME);
	printf("LINUX_KERNEL_VERSION %d\n", skel->kconfig->LINUX_KERNEL_VERSION);
	externs_bpf__destroy(skel);
	return 0;
}
