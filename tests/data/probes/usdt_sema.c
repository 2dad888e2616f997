/* The USDT probe with a semaphore: the probe only fires while a tracer has raised
 * fixture_withsema_semaphore (the kernel does, through the uprobe's reference counter). */
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>

unsigned short fixture_withsema_semaphore __attribute__((unused, section(".probes")));

int sema_fired(int i)
{
	if (fixture_withsema_semaphore) {
		STAP_PROBE2(fixture, withsema, i, (short)-i);
		return 1;
	}
	return 0;
}
