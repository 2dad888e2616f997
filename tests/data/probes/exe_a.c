/* Test executable for `probe offsets` and `probe trace` (built as PIE and as non-PIE):
 * a plain function, two static functions named `dup` in two files (libbpf: ambiguous),
 * a static `wl` beside a weak global `wl` (the weak one loses), and a main loop that
 * calls them a given number of times, waiting for a line on stdin first when asked
 * (so a tracer can attach to the running process). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((noinline)) int func_1(int a, int b)
{
	__asm__ volatile("" ::: "memory");
	return a + b;
}

__attribute__((noinline)) long func_str(const char *s, long n)
{
	__asm__ volatile("" ::: "memory");
	return (long)strlen(s) * n;
}

static __attribute__((noinline)) int dup(int x)
{
	__asm__ volatile("" ::: "memory");
	return x * 2;
}

int call_dup_a(int x) { return dup(x); }

static __attribute__((noinline)) int wl(int x)
{
	__asm__ volatile("" ::: "memory");
	return x - 1;
}

int call_wl_a(int x) { return wl(x); }

int call_dup_b(int x);
int call_wl_b(int x);

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 3;
	long s = 0;
	char line[16];

	if (argc > 2 && strcmp(argv[2], "wait") == 0) {
		printf("ready\n");
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			return 1;
	}
	for (int i = 0; i < n; i++) {
		s += func_1(i, 7);
		s += func_str("hello probe", i);
		s += call_dup_a(i) + call_dup_b(i) + call_wl_a(i) + call_wl_b(i);
	}
	printf("%ld\n", s);
	return 0;
}
