/* Test shared library for `probe offsets`: versioned symbols (foo@VERS_1 and the default
 * foo@@VERS_2 at different code; bar@VERS_1 and bar@@VERS_2 at the same code), an alias,
 * a weak global `wk` beside a static `wk`, and static functions named `same` in two files. */
__attribute__((noinline)) int lib_plain(int x)
{
	__asm__ volatile("" ::: "memory");
	return x + 1;
}

int lib_alias(int x) __attribute__((alias("lib_plain")));

__attribute__((noinline)) int foo_v1(int x)
{
	__asm__ volatile("" ::: "memory");
	return x + 10;
}

__attribute__((noinline)) int foo_v2(int x)
{
	__asm__ volatile("" ::: "memory");
	return x + 20;
}

__asm__(".symver foo_v1, foo@VERS_1");
__asm__(".symver foo_v2, foo@@VERS_2");

__attribute__((noinline)) int bar_impl(int x)
{
	__asm__ volatile("" ::: "memory");
	return x * 5;
}

__asm__(".symver bar_impl, bar@VERS_1");
__asm__(".symver bar_impl, bar@@VERS_2");

static __attribute__((noinline)) int same(int x)
{
	__asm__ volatile("" ::: "memory");
	return x - 1;
}

int call_same_a(int x) { return same(x); }

__attribute__((weak, noinline)) int wk(int x)
{
	__asm__ volatile("" ::: "memory");
	return x ^ 1;
}
