/* Test executable for `probe usdt` and `probe trace`: USDT probes without a semaphore
 * (this file) and with one (usdt_sema.c), with register, memory, constant and
 * RIP-relative (global variable) arguments.  `usdt_test N [wait]` fires each probe N
 * times; with "wait" it first prints "ready" and waits for a line on stdin. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sdt.h>

long usdt_global = -7;
int sema_fired(int i);

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 3;
	volatile long big = 1234567890123L;
	char line[16];

	if (argc > 2 && strcmp(argv[2], "wait") == 0) {
		printf("ready\n");
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			return 1;
	}
	for (int i = 0; i < n; i++) {
		long neg = -3L * i;
		STAP_PROBE4(fixture, nosema, i, neg, big, (unsigned char)(i + 200));
		STAP_PROBE1(fixture, global, usdt_global);
		STAP_PROBE(fixture, noargs);
		sema_fired(i);
	}
	printf("done\n");
	return 0;
}
