/* Lifecycle (issue 11): C_Initialize / C_Finalize cycles on SoftHSM2 and
 * dlopen / C_Initialize / C_Finalize / dlclose cycles of p11overlay.so,
 * without growth in file descriptors, threads or memory (VmRSS within a
 * bound); leaks are the sanitizer / valgrind runs' job.
 * argv: p11overlay.so [init cycles [dlopen cycles]] */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include "rel.h"

static void one_cycle(CK_FUNCTION_LIST_PTR fl, int i)
{
	CK_RV rv = fl->C_Initialize(NULL);
	if (rv != CKR_OK) {
		rel_fail("cycle %d: C_Initialize 0x%lx", i, rv);
		return;
	}
	CK_ULONG n = 0;
	REL_CHECK(fl->C_GetSlotList(CK_TRUE, NULL, &n) == CKR_OK && n >= 1,
		  "cycle %d: no slot", i);
	rv = fl->C_Finalize(NULL);
	REL_CHECK(rv == CKR_OK, "cycle %d: C_Finalize 0x%lx", i, rv);
}

/* Sanitizer and valgrind runtimes hold freed memory in quarantine:
 * REL_RSS_BOUND_KB widens the bound there (-1: not checked; ASan's
 * quarantine alone is 256 MB). */
static long rss_bound(long kb)
{
	const char *e = secure_getenv("REL_RSS_BOUND_KB");
	return e ? atol(e) : kb;
}

static void measure(const char *what, int *fds, int *threads, long *rss)
{
	*fds = rel_count_fds();
	*threads = rel_count_threads();
	*rss = rel_rss_kb();
	printf("%-22s fds %d threads %d VmRSS %ld kB\n", what, *fds, *threads,
	       *rss);
}

static void compare(const char *what, int fds0, int th0, long rss0, int fds1,
		    int th1, long rss1, long rss_bound)
{
	REL_CHECK(fds1 <= fds0, "%s: file descriptors %d -> %d", what, fds0,
		  fds1);
	REL_CHECK(th1 <= th0, "%s: threads %d -> %d", what, th0, th1);
	if (rss_bound < 0)
		printf("%s: VmRSS not checked here (sanitizer quarantine)\n",
		       what);
	else
		REL_CHECK(rss1 - rss0 <= rss_bound, "%s: VmRSS %ld -> %ld kB",
			  what, rss0, rss1);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	int init_cycles = argc > 2 ? atoi(argv[2]) : 1000;
	int dl_cycles = argc > 3 ? atoi(argv[3]) : 200;
	rel_watchdog(600, "test_lifecycle");
	p11test_softhsm_start("Lifecycle", "1234", "5678");
	p11test_write_config("/usr/lib/softhsm/libsofthsm2.so", NULL);
	int f0, t0, f1, t1;
	long r0, r1;

	p11test_module m;
	p11test_load(&m, argv[1]);
	/* Warm-up: first-use allocations of libc, OpenSSL, SoftHSM2. */
	for (int i = 0; i < 20; i++)
		one_cycle(m.fl, i);
	measure("init cycles: before", &f0, &t0, &r0);
	for (int i = 0; i < init_cycles; i++)
		one_cycle(m.fl, i);
	measure("init cycles: after", &f1, &t1, &r1);
	/* A leak of 1 kB per cycle would show as 1 MB. */
	compare("init cycles", f0, t0, r0, f1, t1, r1, rss_bound(2048));
	p11test_unload(&m);

	for (int i = 0; i < 5; i++) {
		p11test_load(&m, argv[1]);
		one_cycle(m.fl, i);
		p11test_unload(&m);
	}
	measure("dlopen cycles: before", &f0, &t0, &r0);
	for (int i = 0; i < dl_cycles; i++) {
		p11test_load(&m, argv[1]);
		one_cycle(m.fl, i);
		p11test_unload(&m);
	}
	measure("dlopen cycles: after", &f1, &t1, &r1);
	compare("dlopen cycles", f0, t0, r0, f1, t1, r1, rss_bound(4096));
	printf("%d C_Initialize/C_Finalize cycles, %d dlopen/dlclose cycles\n",
	       init_cycles, dl_cycles);
	p11test_softhsm_stop();
	return rel_done("test_lifecycle");
}
