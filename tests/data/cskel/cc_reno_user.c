// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* User space for cc_reno.bpf.c through its skeleton ("skel.h"): __attach
 * registers the .struct_ops congestion control and fills links.bpfi_cc,
 * __detach and __destroy unregister it. Prints "key 0|1" lines. */
#include <stdio.h>
#include <string.h>
#include "skel.h"
static int available(void)
{
	char buf[4096] = "";
	FILE *f = fopen("/proc/sys/net/ipv4/tcp_available_congestion_control", "r");
	if (!f) return -1;
	if (!fgets(buf, sizeof(buf), f)) buf[0] = 0;
	fclose(f);
	return strstr(buf, "bpfi_skel_cc") != NULL;
}
int main(void)
{
	struct cc_reno_bpf *skel;

	printf("before %d\n", available());
	skel = cc_reno_bpf__open_and_load();
	if (!skel) { perror("open_and_load"); return 1; }
	if (cc_reno_bpf__attach(skel)) { fprintf(stderr, "attach failed\n"); return 1; }
	printf("link %d\n", skel->links.bpfi_cc != NULL);
	printf("attached %d\n", available());
	cc_reno_bpf__detach(skel);
	printf("link_after_detach %d\n", skel->links.bpfi_cc != NULL);
	printf("detached %d\n", available());
	cc_reno_bpf__destroy(skel);

	skel = cc_reno_bpf__open_and_load();
	if (!skel) { perror("open_and_load"); return 1; }
	if (cc_reno_bpf__attach(skel)) { fprintf(stderr, "attach failed\n"); return 1; }
	printf("attached_again %d\n", available());
	cc_reno_bpf__destroy(skel);
	printf("destroyed %d\n", available());
	return 0;
}
