/* C_Finalize while other threads are inside calls (issue 16).  Eight
 * threads keep calling (slot list, token info, sessions, searches, the
 * objects addon's special objects) while the main thread finalises and
 * initialises p11overlay again, ROUNDS times (argv[3], default 10000),
 * against a throw-away SoftHSM2 token.  Then, against lying_provider.c
 * (whose C_WaitForSlotEvent has no events), four of the threads block in
 * C_WaitForSlotEvent while the others call, with and without
 * CKF_LIBRARY_CANT_CREATE_OS_THREADS: C_Finalize must end those waits
 * (CKR_CRYPTOKI_NOT_INITIALIZED) and finish.
 *
 * Every CKR must be one the standard allows (calls racing a C_Finalize
 * get CKR_CRYPTOKI_NOT_INITIALIZED, stale handles their _INVALID codes);
 * the ASan run adds: no use of anything C_Finalize freed.  A C_Finalize
 * that waits forever ends in the watchdog.
 * argv: p11overlay.so lying_provider.so [rounds] */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rel.h"

#define THREADS 8
#define SOFTHSM "/usr/lib/softhsm/libsofthsm2.so"

static CK_FUNCTION_LIST_PTR fl;
static atomic_int stop;
static atomic_ulong progress; /* calls that reached an initialised stack */
static atomic_ulong waits_ended;
static int waiters; /* threads that block in C_WaitForSlotEvent */
/* The mock gives every session the same handle, so UpdateCount's own
 * search would meet the workers' (CKR_OPERATION_ACTIVE): SoftHSM2 only. */
static bool update_count;

/* One special object of the objects addon: found by label, read with a
 * size query and then its value. */
static void special(CK_SESSION_HANDLE s, const char *label)
{
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)},
			    {CKA_LABEL, (void *)label, strlen(label)}};
	CK_OBJECT_HANDLE h[2] = {0, 0};
	CK_ULONG n = 0;
	if (REL_CALL(fl, C_FindObjectsInit, s, t, 2) != CKR_OK)
		return;
	if (REL_CALL(fl, C_FindObjects, s, h, 2, &n) != CKR_OK)
		n = 0;
	REL_CALL(fl, C_FindObjectsFinal, s);
	if (n < 1 || n > 2)
		return;
	unsigned char v[256];
	CK_ATTRIBUTE a = {CKA_VALUE, NULL, 0};
	if (REL_CALL(fl, C_GetAttributeValue, s, h[0], &a, 1) != CKR_OK ||
	    a.ulValueLen > sizeof(v))
		return;
	a.pValue = v;
	REL_CALL(fl, C_GetAttributeValue, s, h[0], &a, 1);
}

static void calls(void)
{
	CK_SLOT_ID ids[8];
	CK_ULONG n = 8;
	if (REL_CALL(fl, C_GetSlotList, CK_TRUE, ids, &n) != CKR_OK || !n) {
		sched_yield();
		return;
	}
	atomic_fetch_add(&progress, 1);
	CK_TOKEN_INFO ti;
	REL_CALL(fl, C_GetTokenInfo, ids[0], &ti);
	CK_SESSION_HANDLE s;
	if (REL_CALL(fl, C_OpenSession, ids[0], CKF_SERIAL_SESSION, NULL, NULL,
		     &s) != CKR_OK)
		return;
	CK_SESSION_INFO si;
	REL_CALL(fl, C_GetSessionInfo, s, &si);
	special(s, "TokenLabel");
	if (update_count)
		special(s, "UpdateCount");
	CK_OBJECT_HANDLE h[4];
	if (REL_CALL(fl, C_FindObjectsInit, s, NULL, 0) == CKR_OK) {
		REL_CALL(fl, C_FindObjects, s, h, 4, &n);
		REL_CALL(fl, C_FindObjectsFinal, s);
	}
	REL_CALL(fl, C_CloseSession, s);
}

static void *worker(void *arg)
{
	long k = (long)arg;
	while (!atomic_load(&stop)) {
		if (k < waiters) {
			CK_SLOT_ID slot;
			CK_RV rv =
			    REL_CALL(fl, C_WaitForSlotEvent, 0, &slot, NULL);
			if (rv == CKR_CRYPTOKI_NOT_INITIALIZED)
				atomic_fetch_add(&waits_ended, 1);
			if (rv != CKR_OK)
				sched_yield();
		} else {
			calls();
		}
	}
	return NULL;
}

/* `rounds` of C_Finalize + C_Initialize under the workers; each round
 * finalises only once a call has reached the new stack. */
static void storm(const char *what, unsigned long rounds, bool no_threads)
{
	pthread_t th[THREADS];
	CK_C_INITIALIZE_ARGS args = {0};
	atomic_store(&stop, 0);
	REL_CHECK(fl->C_Initialize(NULL) == CKR_OK, "%s: C_Initialize", what);
	for (long i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, worker, (void *)i);
	unsigned long failed = 0;
	for (unsigned long r = 0; r < rounds; r++) {
		unsigned long seen = atomic_load(&progress);
		while (atomic_load(&progress) == seen)
			sched_yield();
		failed += fl->C_Finalize(NULL) != CKR_OK;
		args.flags = no_threads && (r & 1)
				 ? CKF_LIBRARY_CANT_CREATE_OS_THREADS
				 : 0;
		failed += fl->C_Initialize(&args) != CKR_OK;
	}
	atomic_store(&stop, 1);
	/* Waiters still blocked leave with this C_Finalize. */
	failed += fl->C_Finalize(NULL) != CKR_OK;
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	REL_CHECK(failed == 0, "%s: %lu C_Initialize/C_Finalize failed", what,
		  failed);
	printf("%s: %lu rounds, %lu calls reached a stack, %lu waits "
	       "answered CKR_CRYPTOKI_NOT_INITIALIZED\n",
	       what, rounds, atomic_load(&progress), atomic_load(&waits_ended));
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s p11overlay.so lying.so [rounds]\n",
			argv[0]);
		return 2;
	}
	unsigned long rounds = argc > 3 ? strtoul(argv[3], NULL, 10) : 10000;
	rel_watchdog(1500, "test_finalize_storm");
	unsetenv("P11OVERLAY_TRACE");
	p11test_module m;
	p11test_load(&m, argv[1]);
	fl = m.fl;

	p11test_softhsm_start("Storm Token", "1234", "5678");
	p11test_write_config(SOFTHSM, NULL);
	waiters = 0;
	update_count = true;
	storm("softhsm", rounds, false);
	REL_CHECK(p11test_softhsm_stop() == 0, "SoftHSM2 dir not removed");

	p11test_write_config(argv[2], NULL);
	setenv("LYING_MODE", "none", 1);
	waiters = THREADS / 2;
	update_count = false;
	atomic_store(&waits_ended, 0);
	storm("blocked waits", rounds / 10 ? rounds / 10 : 1, true);
	REL_CHECK(atomic_load(&waits_ended) > 0,
		  "no C_WaitForSlotEvent was ended by C_Finalize");

	p11test_unload(&m);
	unlink(getenv("P11OVERLAY_CONF"));
	return rel_done("test_finalize_storm");
}
