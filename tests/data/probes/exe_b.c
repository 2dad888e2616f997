/* Second file of the test executable: another static `dup`, and a weak global `wl`. */
static __attribute__((noinline)) int dup(int x)
{
	__asm__ volatile("" ::: "memory");
	return x * 3;
}

int call_dup_b(int x) { return dup(x); }

__attribute__((weak, noinline)) int wl(int x)
{
	__asm__ volatile("" ::: "memory");
	return x - 2;
}

int call_wl_b(int x) { return wl(x); }
