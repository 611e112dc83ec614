/* C_SetTraceCallback (docs/architecture.md §6, §7) through p11overlay.so in
 * front of SoftHSM2: 4 threads call concurrently while the callback is set;
 * every record arrives whole, exactly once, never interleaved with another; the
 * callback calls C_GetInfo and C_HasNewEvent itself, and those calls are
 * neither traced nor delivered again (no re-entry, no deadlock) and do not
 * disturb the record being delivered.  They work from the C_Initialize
 * record on; only the header, delivered before the provider is
 * initialised, finds the module not initialised.
 * argv[1] = p11overlay.so, argv[2] = libsofthsm2.so. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "p11test.h"

#define THREADS 4
#define ROUNDS 150
#define MAX_RECORDS 8192
#define SLOT_BASE 0x7A000000UL

static p11test_module m;
static CK_FUNCTION_LIST_PTR fl;
static const char *softhsm;
static const char *dir;
static CK_RV (*SetTraceCallback)(CK_TRACE_CALLBACK);
static CK_RV (*HasNewEvent)(CK_ULONG_PTR);

/* ---- the callback -------------------------------------------------------- */

static pthread_mutex_t store_lock = PTHREAD_MUTEX_INITIALIZER;
static char *records[MAX_RECORDS];
static size_t nrecords;
static atomic_int depth_max, changed, nested_ok, nested_uninit, nested_bad;
static _Thread_local int depth;

static void on_record(const char *rec, CK_ULONG len)
{
	if (++depth > atomic_load(&depth_max))
		atomic_store(&depth_max, depth);
	char *copy = malloc(len + 1);
	memcpy(copy, rec, len);
	copy[len] = '\0';
	/* Re-entrant calls: answered, not traced, the record untouched. */
	CK_INFO info;
	CK_ULONG last = 0;
	CK_RV rv = fl->C_GetInfo(&info);
	CK_RV ev = HasNewEvent(&last);
	if (rv == CKR_OK && (ev == CKR_OK || ev == CKR_NO_EVENT))
		atomic_fetch_add(&nested_ok, 1);
	else if (rv == CKR_CRYPTOKI_NOT_INITIALIZED &&
		 ev == CKR_CRYPTOKI_NOT_INITIALIZED &&
		 strncmp(copy, "# p11overlay ", 13) == 0)
		atomic_fetch_add(&nested_uninit, 1); /* the header, first */
	else
		atomic_fetch_add(&nested_bad, 1);
	if (memcmp(copy, rec, len) != 0)
		atomic_fetch_add(&changed, 1);
	pthread_mutex_lock(&store_lock);
	if (nrecords < MAX_RECORDS)
		records[nrecords++] = copy;
	else
		free(copy);
	pthread_mutex_unlock(&store_lock);
	depth--;
}

static void clear_records(void)
{
	for (size_t i = 0; i < nrecords; i++)
		free(records[i]);
	nrecords = 0;
	atomic_store(&depth_max, 0);
	atomic_store(&changed, 0);
	atomic_store(&nested_ok, 0);
	atomic_store(&nested_uninit, 0);
	atomic_store(&nested_bad, 0);
}

static size_t count_prefix(const char *prefix)
{
	size_t n = 0;
	for (size_t i = 0; i < nrecords; i++)
		n += strncmp(records[i], prefix, strlen(prefix)) == 0;
	return n;
}

/* ---- the callers ------------------------------------------------------- */

/* Every call of thread t is recognisable: C_GetSlotInfo on a slot ID of
 * its own (invalid: the record shows it, the answer is an error). */
static void *caller(void *arg)
{
	unsigned long t = (unsigned long)(uintptr_t)arg;
	for (unsigned long i = 0; i < ROUNDS; i++) {
		CK_INFO info;
		CK_SLOT_INFO si;
		CK_ULONG n = 0, last = 0;
		if (fl->C_GetInfo(&info) != CKR_OK ||
		    fl->C_GetSlotList(CK_FALSE, NULL, &n) != CKR_OK ||
		    fl->C_GetSlotInfo(SLOT_BASE + t * 0x10000 + i, &si) ==
			CKR_OK)
			abort();
		HasNewEvent(&last);
	}
	return NULL;
}

static void run_callers(void)
{
	pthread_t th[THREADS];
	for (unsigned long t = 0; t < THREADS; t++)
		assert_int_equal(
		    pthread_create(&th[t], NULL, caller, (void *)(uintptr_t)t),
		    0);
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
}

/* One call record: its first line names one function, every other line
 * belongs to it (indented), the last one is "  = CKR_... <duration>". */
static const char *function_of(const char *rec, char *fn, size_t size)
{
	const char *nl = strchr(rec, '\n');
	const char *sp = nl ? memrchr(rec, ' ', (size_t)(nl - rec)) : NULL;
	assert_non_null(sp);
	snprintf(fn, size, "%.*s", (int)(nl - sp - 1), sp + 1);
	const char *last = NULL;
	for (const char *l = nl + 1; *l; l = strchr(l, '\n') + 1) {
		assert_true(l[0] == ' ' && l[1] == ' '); /* not interleaved */
		assert_non_null(strchr(l, '\n'));        /* whole lines */
		last = l;
	}
	assert_non_null(last);
	assert_memory_equal(last, "  = CKR_", 8);
	return fn;
}

/* Exactly THREADS * ROUNDS records of each function the callers made,
 * each C_GetSlotInfo slot ID once. */
static void check_call_records(void)
{
	static unsigned char seen[THREADS][ROUNDS];
	size_t info = 0, list = 0, slot = 0, event = 0;
	memset(seen, 0, sizeof(seen));
	for (size_t i = 0; i < nrecords; i++) {
		const char *r = records[i];
		char fn[64];
		if (r[0] == '#')
			continue;
		function_of(r, fn, sizeof(fn));
		info += strcmp(fn, "C_GetInfo") == 0;
		list += strcmp(fn, "C_GetSlotList") == 0;
		event += strcmp(fn, "C_HasNewEvent") == 0;
		const char *p = strstr(r, "slotID = 0x");
		if (strcmp(fn, "C_GetSlotInfo") != 0 || !p)
			continue;
		unsigned long id = strtoul(p + 11, NULL, 16) - SLOT_BASE;
		unsigned long t = id >> 16, k = id & 0xFFFF;
		assert_true(t < THREADS && k < ROUNDS);
		assert_int_equal(seen[t][k]++, 0);
		slot++;
	}
	assert_int_equal(info, THREADS * ROUNDS);
	assert_int_equal(list, THREADS * ROUNDS);
	assert_int_equal(slot, THREADS * ROUNDS);
	assert_int_equal(event, THREADS * ROUNDS);
	assert_int_equal(atomic_load(&depth_max), 1); /* never re-entered */
	assert_int_equal(atomic_load(&changed), 0);
	assert_int_equal(atomic_load(&nested_bad), 0);
}

static size_t file_count(const char *path, const char *what)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char line[4096];
	size_t n = 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, what) != NULL;
	fclose(f);
	return n;
}

/* ---- tests -------------------------------------------------------------- */

/* Set before C_Initialize, with a trace file too. */
static void test_callback_and_file(void **state)
{
	(void)state;
	char extra[512], path[300];
	snprintf(path, sizeof(path), "%s/trace.txt", dir);
	snprintf(extra, sizeof(extra),
		 "[trace]\npath = %s\nlevel = full\ninclude-events = yes\n",
		 path);
	p11test_write_config(softhsm, extra);
	clear_records();
	assert_int_equal(SetTraceCallback(on_record), CKR_OK);
	assert_int_equal(fl->C_Initialize(NULL), CKR_OK);
	assert_int_equal(count_prefix("# p11overlay "), 1); /* the header */
	assert_int_equal(count_prefix("# provider info:"), 1);
	/* The C_Initialize record's callback could call in already. */
	char fn[64];
	assert_string_equal(function_of(records[1], fn, sizeof(fn)),
			    "C_Initialize");
	assert_int_equal(atomic_load(&nested_bad), 0);
	assert_int_equal(atomic_load(&nested_uninit), 1);
	run_callers();
	pthread_mutex_lock(&store_lock);
	check_call_records();
	assert_true(atomic_load(&nested_ok) >= 4 * THREADS * ROUNDS);
	pthread_mutex_unlock(&store_lock);
	/* Off again: nothing more is delivered. */
	assert_int_equal(SetTraceCallback(NULL), CKR_OK);
	size_t before = nrecords;
	CK_INFO info;
	assert_int_equal(fl->C_GetInfo(&info), CKR_OK);
	assert_int_equal(nrecords, before);
	assert_int_equal(fl->C_Finalize(NULL), CKR_OK);
	/* The file has the callers' calls only (and one C_GetInfo more). */
	assert_int_equal(file_count(path, " C_GetInfo\n"),
			 THREADS * ROUNDS + 1);
	assert_int_equal(file_count(path, " C_HasNewEvent\n"),
			 THREADS * ROUNDS);
	assert_int_equal(file_count(path, " C_GetSlotInfo\n"),
			 THREADS * ROUNDS);
}

/* Set after C_Initialize: the header first, then records; the summary at
 * C_Finalize. */
static void test_callback_after_initialize(void **state)
{
	(void)state;
	p11test_write_config(softhsm, "[trace]\ninclude-events = yes\n");
	clear_records();
	assert_int_equal(SetTraceCallback(NULL), CKR_OK);
	assert_int_equal(fl->C_Initialize(NULL), CKR_OK);
	assert_int_equal(nrecords, 0);
	assert_int_equal(SetTraceCallback(on_record), CKR_OK);
	assert_int_equal(nrecords, 1);
	assert_int_equal(count_prefix("# p11overlay "), 1);
	assert_non_null(strstr(records[0], "PKCS11 - "));
	run_callers();
	check_call_records();
	assert_int_equal(fl->C_Finalize(NULL), CKR_OK);
	assert_true(count_prefix("# summary:") >= 1);
	char fn[64];
	assert_string_equal(function_of(records[nrecords - 1], fn, sizeof(fn)),
			    "C_Finalize");
	assert_int_equal(atomic_load(&nested_bad), 0);
	assert_int_equal(SetTraceCallback(NULL), CKR_OK);
	clear_records();
}

static int setup(void **state)
{
	(void)state;
	dir = p11test_softhsm_start(NULL, NULL, NULL);
	unsetenv("P11OVERLAY_TRACE");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return p11test_softhsm_stop();
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s p11overlay.so [libsofthsm2.so]\n",
			argv[0]);
		return 2;
	}
	softhsm = argc > 2 ? argv[2] : "/usr/lib/softhsm/libsofthsm2.so";
	p11test_load(&m, argv[1]);
	fl = m.fl;
	SetTraceCallback = p11test_sym(&m, "C_SetTraceCallback");
	HasNewEvent = p11test_sym(&m, "C_HasNewEvent");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_callback_and_file),
	    cmocka_unit_test(test_callback_after_initialize),
	};
	int rc = cmocka_run_group_tests(tests, setup, teardown);
	p11test_unload(&m);
	return rc;
}
