/* The objects addon through p11overlay.so in front of OpenSC and the
 * virtual card (tests/card): card values (full serial, full label, ATR),
 * both PIN tokens, no login, UpdateCount steady and moving when another
 * process changes TokenInfo.  argv[1] = p11overlay.so, argv[2] =
 * retoken.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "obtest.h"

CK_FUNCTION_LIST_PTR fl;
static p11test_module m;
static const char *retoken;
static const char *rig_dir;

#define LABEL "p11overlay Virtual Test Card Number One"
#define SERIAL "2026000012345678abcd"
static const unsigned char atr[] = {0x3B, 0x8A, 0x80, 0x01, 0x70,
				    0x31, 0x31, 0x6F, 0x76, 0x65,
				    0x72, 0x6C, 0x61, 0x79, 0x01};

static int finalize(void **state)
{
	(void)state;
	fl->C_Finalize(NULL);
	return 0;
}

static size_t sessions(CK_SESSION_HANDLE *s)
{
	p11test_write_config(getenv("RIG_OPENSC_MODULE"), NULL);
	assert_int_equal(fl->C_Initialize(NULL), CKR_OK);
	CK_SLOT_ID ids[4];
	size_t n = p11test_token_slots(&m, ids, 4);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(fl->C_OpenSession(ids[i], CKF_SERIAL_SESSION,
						   NULL, NULL, &s[i]),
				 CKR_OK);
	return n;
}

static void test_card_values(void **state)
{
	(void)state;
	CK_SESSION_HANDLE s[4];
	assert_int_equal(sessions(s), 2);
	for (int i = 0; i < 2; i++) { /* both PIN tokens, no login */
		unsigned char v[128];
		long n = ob_value(s[i], "TokenSerialNumber", v, sizeof(v));
		assert_int_equal(n, strlen(SERIAL));
		assert_memory_equal(v, SERIAL, n);
		n = ob_value(s[i], "TokenLabel", v, sizeof(v));
		assert_int_equal(n, strlen(LABEL));
		assert_memory_equal(v, LABEL, n);
		assert_int_equal(ob_value(s[i], "ATR", v, sizeof(v)),
				 sizeof(atr));
		assert_memory_equal(v, atr, sizeof(atr));
		CK_OBJECT_HANDLE h = ob_by_label(s[i], "ATR");
		char app[64];
		CK_ATTRIBUTE a = {CKA_APPLICATION, app, sizeof(app)};
		assert_int_equal(fl->C_GetAttributeValue(s[i], h, &a, 1),
				 CKR_OK);
		assert_int_equal(a.ulValueLen, 8);
		assert_memory_equal(app, "PKCS #15", 8);
		/* Found with the card's public objects, by an empty
		 * template too. */
		CK_OBJECT_HANDLE found[OB_MAX_FOUND];
		size_t total = ob_find(s[i], NULL, 0, 2, found);
		char labels[1024];
		ob_labels(s[i], found, total, labels, sizeof(labels));
		assert_non_null(strstr(labels, "ATR,"));
		assert_non_null(strstr(labels, "TokenLabel,"));
		assert_true(total > 4);
		/* Matched by value. */
		CK_ATTRIBUTE t = {CKA_VALUE, (void *)atr, sizeof(atr)};
		assert_int_equal(ob_find(s[i], &t, 1, 5, found), 1);
		assert_int_equal(found[0], h);
	}
}

static long update_count(CK_SESSION_HANDLE s, unsigned char *v)
{
	return ob_value(s, "UpdateCount", v, 32);
}

static void test_update_count_other_process(void **state)
{
	(void)state;
	CK_SESSION_HANDLE s[4];
	assert_int_equal(sessions(s), 2);
	unsigned char u0[32], u1[32], u2[32], v[128];
	assert_int_equal(update_count(s[0], u0), 32);
	assert_int_equal(update_count(s[1], u1), 32);
	assert_memory_equal(u0, u1, 32); /* one card */
	assert_int_equal(update_count(s[0], u1), 32);
	assert_memory_equal(u0, u1, 32);
	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
		 "/usr/bin/python3 %s %s 'Number One' "
		 "'Number Two'",
		 retoken, rig_dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(update_count(s[1], u1), 32);
	assert_memory_not_equal(u0, u1, 32);
	assert_int_equal(update_count(s[0], u2), 32);
	assert_memory_equal(u1, u2, 32);
	long n = ob_value(s[0], "TokenLabel", v, sizeof(v));
	assert_int_equal(n, strlen(LABEL));
	assert_memory_equal(v, "p11overlay Virtual Test Card Number Two", n);
	snprintf(cmd, sizeof(cmd),
		 "/usr/bin/python3 %s %s 'Number Two' "
		 "'Number One'",
		 retoken, rig_dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(update_count(s[0], u2), 32);
	assert_memory_equal(u0, u2, 32);
}

static void test_reinsertion(void **state)
{
	(void)state;
	CK_SESSION_HANDLE s[4];
	assert_int_equal(sessions(s), 2);
	unsigned char v[128];
	assert_int_equal(ob_value(s[0], "ATR", v, sizeof(v)), sizeof(atr));
	p11test_rig_cmd("remove");
	p11test_rig_cmd("insert");
	CK_SLOT_ID ids[4];
	assert_int_equal(p11test_token_slots(&m, ids, 4), 2);
	CK_SESSION_HANDLE s2;
	assert_int_equal(
	    fl->C_OpenSession(ids[0], CKF_SERIAL_SESSION, NULL, NULL, &s2),
	    CKR_OK);
	long n = ob_value(s2, "TokenLabel", v, sizeof(v));
	assert_int_equal(n, strlen(LABEL));
	assert_int_equal(ob_value(s2, "ATR", v, sizeof(v)), sizeof(atr));
}

int main(int argc, char **argv)
{
	const char *module = argc > 1 ? argv[1] : "build/p11overlay.so";
	retoken = argc > 2 ? argv[2] : "tests/objects/retoken.py";
	rig_dir = p11test_rig_start();
	p11test_load(&m, module);
	fl = m.fl;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_card_values, finalize),
	    cmocka_unit_test_teardown(test_update_count_other_process,
				      finalize),
	    cmocka_unit_test_teardown(test_reinsertion, finalize),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	p11test_unload(&m);
	p11test_rig_cmd("stop");
	return rc;
}
