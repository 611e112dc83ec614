/* C_GetSlotList's per-call path (docs/architecture.md §3 "Slot list"): the
 * slots layer calls the providers itself and answers lists it saw before
 * from a memo.  Every answer is checked against what the providers said:
 * position by position, C_GetSlotInfo of the application's ID must name
 * the provider slot at that position ("<provider> slot <id>").  Lists that
 * keep their counts but change their IDs, a slot moving from one provider
 * to the other, more distinct lists than the memo keeps, short buffers,
 * errors, and lists switched by another thread while two threads list.
 *
 * argv: p11overlay.so, then one to four list providers (list_provider_a.so
 * ...): two are configured as module and soft-token, four as a module
 * list of three and a soft-token.  Providers after the second keep two
 * slots of their own throughout. */
#include <dlfcn.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "list_provider.h"
#include "p11test.h"

#define CANARY ((CK_SLOT_ID)0xC0FFEE5107)
#define ALL (2 * LIST_MAX)

static p11test_module m;
static CK_FUNCTION_LIST_PTR fl;
static struct list_control *ctl[4];
static const char *const names[4] = {"A", "B", "C", "D"};
static int providers;

/* What an answer must be: the description at each position. */
typedef struct expect {
	CK_ULONG n;
	char desc[ALL][65];
} expect;

/* Provider k's list s. */
static void set(int k, int s, const CK_SLOT_ID *ids, CK_ULONG n)
{
	memcpy(ctl[k]->ids[s], ids, n * sizeof(*ids));
	ctl[k]->n[s] = n;
}

static void use(int s)
{
	for (int k = 0; k < providers; k++)
		__atomic_store_n(&ctl[k]->state, s, __ATOMIC_RELEASE);
}

/* The answer list s of every provider but `skip` makes, in provider
 * order. */
static void expect_without(expect *e, int s, int skip)
{
	e->n = 0;
	for (int k = 0; k < providers; k++)
		for (CK_ULONG i = 0; i < ctl[k]->n[s] && k != skip; i++)
			snprintf(e->desc[e->n++], sizeof(e->desc[0]),
				 "%s slot %lu", names[k],
				 (unsigned long)ctl[k]->ids[s][i]);
}

static void expect_state(expect *e, int s)
{
	expect_without(e, s, -1);
}

static void desc_of(CK_SLOT_ID id, char *out)
{
	CK_SLOT_INFO si;
	assert_int_equal(fl->C_GetSlotInfo(id, &si), CKR_OK);
	p11test_trim(out, si.slotDescription, sizeof(si.slotDescription));
}

/* One C_GetSlotList with room for `room` IDs (canaries past it): the
 * answer e, nothing written past its count. */
static void check_list(const expect *e, CK_ULONG room)
{
	CK_SLOT_ID got[ALL + 4];
	for (size_t i = 0; i < ALL + 4; i++)
		got[i] = CANARY;
	CK_ULONG n = room;
	assert_int_equal(fl->C_GetSlotList(CK_FALSE, got, &n), CKR_OK);
	assert_int_equal(n, e->n);
	for (CK_ULONG p = 0; p < n; p++) {
		char d[65];
		desc_of(got[p], d);
		if (strcmp(d, e->desc[p]) != 0)
			fail_msg("position %lu: '%s', want '%s'",
				 (unsigned long)p, d, e->desc[p]);
		for (CK_ULONG q = 0; q < p; q++)
			assert_true(got[q] != got[p]);
	}
	for (size_t i = n; i < ALL + 4; i++)
		assert_true(got[i] == CANARY);
}

/* Lists s through the module three times (the memo's first answer and
 * the ones after it). */
static void check_state(int s)
{
	expect e;
	use(s);
	expect_state(&e, s);
	for (int i = 0; i < 3; i++)
		check_list(&e, ALL);
}

/* List 0: A [1, 2], B [7]. */
static void base_lists(void)
{
	set(0, 0, (CK_SLOT_ID[]){1, 2}, 2);
	if (providers >= 2)
		set(1, 0, (CK_SLOT_ID[]){7}, 1);
}

static void test_same_lists_same_answer(void **state)
{
	(void)state;
	base_lists();
	check_state(0);
	/* the providers were asked every time */
	unsigned long before = ctl[0]->calls;
	check_state(0);
	assert_true(ctl[0]->calls >= before + 3);
}

static void test_ids_change_counts_stay(void **state)
{
	(void)state;
	set(0, 0, (CK_SLOT_ID[]){1, 2}, 2);
	set(0, 1, (CK_SLOT_ID[]){2, 1}, 2); /* swapped */
	if (providers >= 2) {
		set(1, 0, (CK_SLOT_ID[]){7}, 1);
		set(1, 1, (CK_SLOT_ID[]){8}, 1);
	}
	check_state(0);
	check_state(1);
	check_state(0);
	set(0, 1, (CK_SLOT_ID[]){1, 3}, 2); /* a new slot */
	check_state(1);
	check_state(0);
}

/* The same IDs in a row, split differently between the providers: each
 * provider's own slots. */
static void test_slot_moves_between_providers(void **state)
{
	(void)state;
	if (providers < 2)
		skip();
	set(0, 0, (CK_SLOT_ID[]){1, 2}, 2);
	set(1, 0, (CK_SLOT_ID[]){7}, 1);
	set(0, 1, (CK_SLOT_ID[]){1}, 1);
	set(1, 1, (CK_SLOT_ID[]){2, 7}, 2);
	check_state(0);
	check_state(1);
	check_state(0);
	set(0, 1, (CK_SLOT_ID[]){0}, 0);
	set(1, 1, (CK_SLOT_ID[]){1, 2, 7}, 3);
	check_state(1);
}

/* More different lists than the memo keeps: each still right, and an
 * early one again afterwards. */
static void test_many_lists(void **state)
{
	(void)state;
	if (providers >= 2)
		set(1, 1, (CK_SLOT_ID[]){9}, 1);
	for (CK_SLOT_ID i = 0; i < 35; i++) {
		set(0, 1, (CK_SLOT_ID[]){100 + i, 1}, 2);
		check_state(1);
	}
	set(0, 1, (CK_SLOT_ID[]){100, 1}, 2);
	check_state(1);
	set(0, 0, (CK_SLOT_ID[]){1, 2}, 2);
	check_state(0);
}

static void test_long_lists(void **state)
{
	(void)state;
	CK_SLOT_ID ids[LIST_MAX];
	for (CK_ULONG i = 0; i < LIST_MAX; i++)
		ids[i] = 200 + i;
	set(0, 1, ids, LIST_MAX); /* longer than the memo keeps per provider */
	if (providers >= 2)
		set(1, 1, ids, 20);
	check_state(1);
	set(0, 1, ids, 16); /* as long as it keeps */
	if (providers >= 2)
		set(1, 1, ids + 5, 16);
	check_state(1);
}

static void test_short_buffer_and_count(void **state)
{
	(void)state;
	base_lists();
	use(0);
	expect e;
	expect_state(&e, 0);
	check_list(&e, ALL);
	CK_ULONG n = 0;
	assert_int_equal(fl->C_GetSlotList(CK_FALSE, NULL, &n), CKR_OK);
	assert_int_equal(n, e.n);
	CK_SLOT_ID got[8];
	for (size_t i = 0; i < 8; i++)
		got[i] = CANARY;
	n = e.n - 1;
	assert_int_equal(fl->C_GetSlotList(CK_FALSE, got, &n),
			 CKR_BUFFER_TOO_SMALL);
	assert_int_equal(n, e.n);
	for (size_t i = e.n - 1; i < 8; i++)
		assert_true(got[i] == CANARY);
	assert_int_equal(fl->C_GetSlotList(CK_FALSE, got, NULL),
			 CKR_ARGUMENTS_BAD);
	check_list(&e, e.n); /* exactly the room it needs */
}

static void test_provider_errors(void **state)
{
	(void)state;
	base_lists();
	check_state(0);
	CK_SLOT_ID got[8];
	CK_ULONG n = 8;
	__atomic_store_n(&ctl[0]->rv, CKR_DEVICE_ERROR, __ATOMIC_RELEASE);
	/* the first provider's error is the answer */
	assert_int_equal(fl->C_GetSlotList(CK_FALSE, got, &n),
			 CKR_DEVICE_ERROR);
	__atomic_store_n(&ctl[0]->rv, CKR_OK, __ATOMIC_RELEASE);
	check_state(0);
	if (providers < 2)
		return;
	/* a later provider that fails shows no slots */
	__atomic_store_n(&ctl[1]->rv, CKR_DEVICE_ERROR, __ATOMIC_RELEASE);
	expect e;
	expect_without(&e, 0, 1);
	check_list(&e, ALL);
	__atomic_store_n(&ctl[1]->rv, CKR_OK, __ATOMIC_RELEASE);
	check_state(0);
}

/* ---- lists switched while two threads list ---------------------------- */

#define ROUNDS 20000

/* The answers of every combination of the providers' two lists (the
 * switcher flips them one provider after the other, so a call may see
 * provider A's new list and B's old one: a true answer too). */
static CK_SLOT_ID answer[16][ALL];
static CK_ULONG answer_n[16];
static int stop_flag;

static void use_each(int combo)
{
	for (int k = 0; k < providers; k++)
		__atomic_store_n(&ctl[k]->state, (combo >> k) & 1,
				 __ATOMIC_RELEASE);
}

static void *lister(void *arg)
{
	unsigned long *bad = arg;
	for (int r = 0; r < ROUNDS; r++) {
		CK_SLOT_ID got[ALL];
		CK_ULONG n = ALL;
		if (fl->C_GetSlotList(CK_FALSE, got, &n) != CKR_OK) {
			(*bad)++;
			continue;
		}
		bool known = false;
		for (int c = 0; c < (1 << providers) && !known; c++)
			known = n == answer_n[c] &&
				memcmp(got, answer[c], n * sizeof(*got)) == 0;
		if (!known)
			(*bad)++;
	}
	return NULL;
}

static void *switcher(void *arg)
{
	(void)arg;
	for (int s = 0; !__atomic_load_n(&stop_flag, __ATOMIC_ACQUIRE); s ^= 1)
		use(s);
	return NULL;
}

static void test_lists_switched_meanwhile(void **state)
{
	(void)state;
	set(0, 0, (CK_SLOT_ID[]){1, 2}, 2);
	set(0, 1, (CK_SLOT_ID[]){2, 1, 3}, 3);
	if (providers >= 2) {
		set(1, 0, (CK_SLOT_ID[]){7}, 1);
		set(1, 1, (CK_SLOT_ID[]){0}, 0);
	}
	for (int c = 0; c < (1 << providers); c++) {
		use_each(c);
		answer_n[c] = ALL;
		assert_int_equal(
		    fl->C_GetSlotList(CK_FALSE, answer[c], &answer_n[c]),
		    CKR_OK);
	}
	unsigned long bad[2] = {0, 0};
	pthread_t t[3];
	__atomic_store_n(&stop_flag, 0, __ATOMIC_RELEASE);
	assert_int_equal(pthread_create(&t[2], NULL, switcher, NULL), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, lister, &bad[i]),
				 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	__atomic_store_n(&stop_flag, 1, __ATOMIC_RELEASE);
	pthread_join(t[2], NULL);
	assert_int_equal(bad[0] + bad[1], 0);
	check_state(0);
	check_state(1);
}

static struct list_control *control_of(const char *path)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
	if (!h)
		return NULL;
	struct list_control *(*fn)(void) =
	    (struct list_control * (*)(void)) dlsym(h, "list_control");
	struct list_control *c = fn ? fn() : NULL;
	dlclose(h); /* the module keeps it loaded */
	return c;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	providers = argc - 2 < 4 ? argc - 2 : 4;
	/* module = all but the last, soft-token = the last (one: module) */
	char config[2048] = "";
	size_t used = 0;
	for (int k = 1; k < providers - 1; k++)
		used += (size_t)snprintf(config + used, sizeof(config) - used,
					 ",%s", argv[2 + k]);
	char extra[600] = "";
	if (providers >= 2)
		snprintf(extra, sizeof(extra), "soft-token = %s\n",
			 argv[1 + providers]);
	char modules[2600];
	snprintf(modules, sizeof(modules), "%s%s", argv[2], config);
	p11test_write_config(modules, extra);
	p11test_load(&m, argv[1]);
	fl = m.fl;
	if (fl->C_Initialize(NULL) != CKR_OK)
		return 1;
	for (int k = 0; k < providers; k++)
		if (!(ctl[k] = control_of(argv[2 + k]))) {
			fprintf(stderr, "no list_control in %s\n", argv[2 + k]);
			return 1;
		}
	/* Providers after the second: two slots each, in both lists. */
	for (int k = 2; k < providers; k++)
		for (int st = 0; st < 2; st++)
			set(k, st,
			    (CK_SLOT_ID[]){20 + (CK_SLOT_ID)k,
					   30 + (CK_SLOT_ID)k},
			    2);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_same_lists_same_answer),
	    cmocka_unit_test(test_ids_change_counts_stay),
	    cmocka_unit_test(test_slot_moves_between_providers),
	    cmocka_unit_test(test_many_lists),
	    cmocka_unit_test(test_long_lists),
	    cmocka_unit_test(test_short_buffer_and_count),
	    cmocka_unit_test(test_provider_errors),
	    cmocka_unit_test(test_lists_switched_meanwhile),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	fl->C_Finalize(NULL);
	p11test_unload(&m);
	return rc;
}
