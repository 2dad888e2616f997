/* Second file of the test library: another static `same`, and a static `wk`. */
static __attribute__((noinline)) int same(int x)
{
	__asm__ volatile("" ::: "memory");
	return x - 2;
}

int call_same_b(int x) { return same(x); }

static __attribute__((noinline)) int wk(int x)
{
	__asm__ volatile("" ::: "memory");
	return x ^ 2;
}

int call_wk_b(int x) { return wk(x); }
