/* Virtual slot IDs against the documented scheme (man/p11overlay.7,
 * "Stable slot IDs"; docs/architecture.md, slot view) and across
 * different provider slot numbering of the same reader (issue 18: an ID
 * that mixed in the provider's slot number passed every test).
 * argv[1] = p11overlay.so; the rig's two vpcd readers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "p11test.h"

static p11test_module m;
static CK_FUNCTION_LIST_PTR fl;

/* One slot as the application sees it: reader (slot description), token
 * label, and an ID (virtual or the provider's). */
typedef struct seen_slot {
	char reader[65];
	char label[33];
	CK_SLOT_ID id;
} seen_slot;

static void init_with(const char *extra)
{
	p11test_write_config(getenv("RIG_OPENSC_MODULE"), extra);
	assert_int_equal(fl->C_Initialize(NULL), CKR_OK);
}

/* Every slot of `f`'s C_GetSlotList(CK_FALSE), in its order. */
static size_t list_slots(CK_FUNCTION_LIST_PTR f, seen_slot *out, size_t max)
{
	CK_SLOT_ID ids[32];
	CK_ULONG n = 32;
	if (f->C_GetSlotList(CK_FALSE, ids, &n) != CKR_OK || n > max)
		return 0;
	for (CK_ULONG i = 0; i < n; i++) {
		CK_SLOT_INFO si;
		CK_TOKEN_INFO ti;
		out[i].id = ids[i];
		out[i].label[0] = '\0';
		if (f->C_GetSlotInfo(ids[i], &si) != CKR_OK)
			return 0;
		p11test_trim(out[i].reader, si.slotDescription, 64);
		if ((si.flags & CKF_TOKEN_PRESENT) &&
		    f->C_GetTokenInfo(ids[i], &ti) == CKR_OK)
			p11test_trim(out[i].label, ti.label, 32);
	}
	return n;
}

/* The provider's own view (OpenSC loaded directly), in a child so that
 * its C_Initialize does not meet the proxy's. */
static size_t provider_slots(seen_slot *out, size_t max)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		p11test_module direct;
		p11test_load(&direct, getenv("RIG_OPENSC_MODULE"));
		if (direct.fl->C_Initialize(NULL) != CKR_OK)
			_exit(3);
		size_t n = list_slots(direct.fl, out, max);
		if (write(p[1], out, n * sizeof(*out)) < 0)
			_exit(4);
		direct.fl->C_Finalize(NULL);
		_exit(0);
	}
	close(p[1]);
	size_t got = 0;
	ssize_t r;
	while ((r = read(p[0], (char *)out + got, max * sizeof(*out) - got)) >
	       0)
		got += (size_t)r;
	close(p[0]);
	int status;
	waitpid(pid, &status, 0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return got / sizeof(*out);
}

/* OpenSC's slots_per_card in the rig's opensc.conf (read at
 * C_Initialize): OpenSC numbers reader r's slots from r * slots_per_card,
 * so changing it gives the same reader other provider slot numbers. */
static void set_slots_per_card(int n)
{
	const char *path = getenv("OPENSC_CONF");
	char text[4096];
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t len = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[len] = '\0';
	char *p = strstr(text, "slots_per_card = ");
	assert_non_null(p);
	p[strlen("slots_per_card = ")] = (char)('0' + n);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static const seen_slot *find(const seen_slot *s, size_t n, const char *reader,
			     const char *label)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(s[i].reader, reader) &&
		    strstr(s[i].label, label) != NULL)
			return &s[i];
	return NULL;
}

/* The documented scheme, written out here independently of the proxy:
 * id = (FNV-1a-32(description without trailing blanks) mod 2^27) << 4
 *      | n, n = position among the provider slots with that description,
 * in the provider's order. */
static CK_SLOT_ID documented_id(const char *description, unsigned n)
{
	size_t len = strlen(description);
	while (len > 0 && description[len - 1] == ' ')
		len--;
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)description[i]) * 16777619u;
	return ((CK_SLOT_ID)(h & 0x7FFFFFFu) << 4) | n;
}

/* Every slot's ID follows the scheme, whatever the provider numbers it;
 * with cards in both readers and with one only in the second. */
static void check_scheme(void)
{
	seen_slot s[32];
	size_t n = list_slots(fl, s, 32);
	assert_true(n >= 2);
	for (size_t i = 0; i < n; i++) {
		unsigned k = 0;
		for (size_t j = 0; j < i; j++)
			k += strcmp(s[j].reader, s[i].reader) == 0;
		if (s[i].id != documented_id(s[i].reader, k))
			fail_msg("slot %zu (%s, '%s'): ID 0x%lx, the "
				 "documented scheme gives 0x%lx",
				 i, s[i].reader, s[i].label, s[i].id,
				 documented_id(s[i].reader, k));
	}
}

static void test_documented_scheme(void **state)
{
	(void)state;
	init_with(NULL); /* card in reader 0, reader 1 empty */
	check_scheme();
	assert_int_equal(fl->C_Finalize(NULL), CKR_OK);
	p11test_rig_cmd("insert --slot 1");
	init_with(NULL);
	check_scheme();
	assert_int_equal(fl->C_Finalize(NULL), CKR_OK);
	set_slots_per_card(2); /* other provider slot numbers */
	init_with(NULL);
	check_scheme();
	assert_int_equal(fl->C_Finalize(NULL), CKR_OK);
}

/* The same reader's tokens keep their IDs when the provider numbers its
 * slots differently: first the card in reader 1 alone (OpenSC slots 4
 * and 5), then, after a restart of the provider with another
 * slots_per_card and a card attached to reader 0 before it (slots 2
 * and 3). */
static void test_ids_survive_renumbering(void **state)
{
	(void)state;
	const char *r1 = getenv("RIG_READER1");
	p11test_rig_cmd("remove");
	p11test_rig_cmd("insert --slot 1");
	seen_slot before[32], after[32], pbefore[32], pafter[32];
	size_t npb = provider_slots(pbefore, 32);
	init_with(NULL);
	size_t nb = list_slots(fl, before, 32);
	assert_int_equal(fl->C_Finalize(NULL), CKR_OK);

	p11test_rig_cmd("insert");
	set_slots_per_card(2);
	size_t npa = provider_slots(pafter, 32);
	init_with(NULL);
	size_t na = list_slots(fl, after, 32);
	assert_int_equal(fl->C_Finalize(NULL), CKR_OK);

	bool renumbered = false;
	static const char *const pins[] = {"(Identification)", "(Signing)"};
	for (int i = 0; i < 2; i++) {
		const seen_slot *pb = find(pbefore, npb, r1, pins[i]);
		const seen_slot *pa = find(pafter, npa, r1, pins[i]);
		const seen_slot *b = find(before, nb, r1, pins[i]);
		const seen_slot *a = find(after, na, r1, pins[i]);
		assert_non_null(pb);
		assert_non_null(pa);
		assert_non_null(b);
		assert_non_null(a);
		renumbered |= pb->id != pa->id;
		if (a->id != b->id)
			fail_msg("%s %s: ID 0x%lx, was 0x%lx before a card "
				 "was attached to the first reader (provider "
				 "slot %lu, was %lu)",
				 r1, pins[i], a->id, b->id, pa->id, pb->id);
	}
	/* Otherwise this test proves nothing: OpenSC must have given the
	 * reader's slots other numbers. */
	assert_true(renumbered);
}

static int finalize(void **state)
{
	(void)state;
	fl->C_Finalize(NULL);
	return 0;
}

/* Every test starts with the rig as p11test_rig_start left it: the card
 * in reader 0 with its default PINs, reader 1 empty. */
static int restore_rig(void **state)
{
	(void)state;
	p11test_rig_cmd("remove --slot 1");
	p11test_card_reset();
	p11test_rig_cmd("insert");
	set_slots_per_card(4);
	return 0;
}

int main(int argc, char **argv)
{
	p11test_rig_start();
	p11test_load(&m, argc > 1 ? argv[1] : "build/p11overlay.so");
	fl = m.fl;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_documented_scheme, restore_rig,
					    finalize),
	    cmocka_unit_test_setup_teardown(test_ids_survive_renumbering,
					    restore_rig, finalize),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	p11test_unload(&m);
	p11test_rig_cmd("stop");
	return rc;
}
