/* Slot events counted against OpenSC itself on the card rig: right after
 * C_Initialize with the two-PIN card present, after the card is removed,
 * and after it is inserted again, the events C_WaitForSlotEvent
 * (CKF_DONT_BLOCK) returns are counted per token slot, first from
 * opensc-pkcs11.so directly, then through p11overlay.so in front of it (in
 * the same process, one after the other: it is the same OpenSC).  Each
 * slot must be reported as often through the proxy as directly (once:
 * OpenSC reports each PIN's slot of the card once), never twice.
 *
 * A phase counts until no event came for QUIET_MS (several of the proxy's
 * watcher polls), so a late duplicate is seen; the test asserts counts,
 * never times.  argv[1] = p11overlay.so. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "p11test.h"

#define QUIET_MS 1000
#define MAX_MS 15000
#define NSLOTS 2

enum { INITIAL, REMOVED, INSERTED, PHASES };
static const char *phase_name[PHASES] = {"initial", "removal", "insertion"};

/* counts[phase][slot index], the last column for slots not of the card */
typedef int counts[PHASES][NSLOTS + 1];

static const char *proxy_path;

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void count_phase(CK_FUNCTION_LIST_PTR fl, const CK_SLOT_ID *ids,
			int *out)
{
	long start = now_ms(), last = start;
	while (now_ms() - last < QUIET_MS && now_ms() - start < MAX_MS) {
		CK_SLOT_ID s;
		CK_RV rv = fl->C_WaitForSlotEvent(CKF_DONT_BLOCK, &s, NULL);
		if (rv == CKR_NO_EVENT) {
			usleep(10000);
			continue;
		}
		assert_int_equal(rv, CKR_OK);
		int k = NSLOTS;
		for (int i = 0; i < NSLOTS; i++)
			if (ids[i] == s)
				k = i;
		out[k]++;
		last = now_ms();
	}
}

static void run(const char *module, const char *config, counts c)
{
	p11test_module m;
	CK_SLOT_ID ids[8];

	memset(c, 0, sizeof(counts));
	if (config)
		p11test_write_config(getenv("RIG_OPENSC_MODULE"), config);
	p11test_load(&m, module);
	assert_int_equal(m.fl->C_Initialize(NULL), CKR_OK);
	assert_int_equal(p11test_token_slots(&m, ids, 8), NSLOTS);
	count_phase(m.fl, ids, c[INITIAL]);
	p11test_rig_cmd("remove");
	count_phase(m.fl, ids, c[REMOVED]);
	p11test_rig_cmd("insert");
	count_phase(m.fl, ids, c[INSERTED]);
	assert_int_equal(m.fl->C_Finalize(NULL), CKR_OK);
	p11test_unload(&m);
}

static void test_event_counts(void **state)
{
	(void)state;
	counts direct, proxy;

	run(getenv("RIG_OPENSC_MODULE"), NULL, direct);
	run(proxy_path, "", proxy);
	for (int p = 0; p < PHASES; p++) {
		for (int i = 0; i <= NSLOTS; i++) {
			fprintf(stderr, "%s, slot %d: OpenSC %d, proxy %d\n",
				phase_name[p], i, direct[p][i], proxy[p][i]);
			assert_int_equal(proxy[p][i], direct[p][i]);
		}
		/* every token slot reports each change */
		for (int i = 0; i < NSLOTS; i++)
			assert_true(proxy[p][i] >= 1);
	}
}

int main(int argc, char **argv)
{
	proxy_path = argc > 1 ? argv[1] : "build/p11overlay.so";
	p11test_rig_start();
	if (!getenv("RIG_OPENSC_MODULE") ||
	    access(getenv("RIG_OPENSC_MODULE"), R_OK) != 0) {
		p11test_rig_cmd("stop");
		return 77;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_event_counts),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	p11test_rig_cmd("stop");
	return rc;
}
