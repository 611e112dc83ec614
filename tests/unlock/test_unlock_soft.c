/* Unlock addon on SoftHSM2 (issue 7): C_InitToken with init-user-pin,
 * C_ResetToken, the card-only functions, variables before C_Initialize.
 * argv[1] = p11overlay.so, argv[2] = libsofthsm2.so. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "p11test.h"

static p11test_module m;
static CK_FUNCTION_LIST_PTR fl;
static CK_P11OVERLAY_FUNCTION_LIST *x;
static const char *softhsm;

#define U(s) (CK_UTF8CHAR_PTR)(s), (CK_ULONG)strlen(s)

static CK_UTF8CHAR label32[32];

static CK_SLOT_ID find_slot(bool initialized)
{
	CK_SLOT_ID ids[16];
	CK_ULONG n = 16;
	assert_int_equal(fl->C_GetSlotList(CK_TRUE, ids, &n), CKR_OK);
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		assert_int_equal(fl->C_GetTokenInfo(ids[i], &ti), CKR_OK);
		bool init = ti.flags & CKF_TOKEN_INITIALIZED;
		if (init == initialized &&
		    (!init || !memcmp(ti.label, label32, 32)))
			return ids[i];
	}
	fail_msg("no %s token", initialized ? "initialised" : "empty");
	return 0;
}

static CK_SESSION_HANDLE login(CK_SLOT_ID slot, const char *pin)
{
	CK_SESSION_HANDLE s;
	assert_int_equal(fl->C_OpenSession(slot,
					   CKF_SERIAL_SESSION | CKF_RW_SESSION,
					   NULL, NULL, &s),
			 CKR_OK);
	assert_int_equal(fl->C_Login(s, CKU_USER, U(pin)), CKR_OK);
	return s;
}

static void create_data(CK_SESSION_HANDLE s, CK_BBOOL destroyable)
{
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE t[] = {
	    {CKA_CLASS, &cls, sizeof(cls)},
	    {CKA_TOKEN, &yes, sizeof(yes)},
	    {CKA_PRIVATE, &yes, sizeof(yes)},
	    {CKA_DESTROYABLE, &destroyable, sizeof(destroyable)}};
	CK_OBJECT_HANDLE h;
	assert_int_equal(fl->C_CreateObject(s, t, 4, &h), CKR_OK);
}

static CK_ULONG count_objects(CK_SESSION_HANDLE s)
{
	CK_OBJECT_HANDLE h[16];
	CK_ULONG n = 0;
	assert_int_equal(fl->C_FindObjectsInit(s, NULL, 0), CKR_OK);
	assert_int_equal(fl->C_FindObjects(s, h, 16, &n), CKR_OK);
	assert_int_equal(fl->C_FindObjectsFinal(s), CKR_OK);
	return n;
}

static void test_variables_before_initialize(void **state)
{
	(void)state;
	char v[256];
	assert_int_equal(x->C_GetVariable("system-info", v, sizeof(v)), CKR_OK);
	assert_non_null(strstr(v, "PKCS11 - "));
	assert_int_equal(x->C_GetVariable("netid-system-info", v, sizeof(v)),
			 CKR_OK);
	assert_int_equal(x->C_GetVariable("provider", v, sizeof(v)), CKR_OK);
	assert_string_equal(v, softhsm);
	assert_int_equal(x->C_SetVariable("netid-init-pin-names", "a"), CKR_OK);
	assert_int_equal(x->C_GetVariable("init-pin-names", v, sizeof(v)),
			 CKR_OK);
	assert_string_equal(v, "a");
	assert_int_equal(x->C_SetVariable("init-pin-names", NULL), CKR_OK);
	assert_int_equal(x->C_GetVariable("init-pin-names", v, sizeof(v)),
			 CKR_OK);
	assert_string_equal(v, "");
}

static void test_init_and_reset(void **state)
{
	(void)state;
	assert_int_equal(fl->C_Initialize(NULL), CKR_OK);
	memset(label32, ' ', 32);
	memcpy(label32, "unlock-test", 11);
	CK_SLOT_ID slot = find_slot(false);
	/* A PUK is not something a soft token has. */
	assert_int_equal(x->C_SetVariable("init-puk", "87654321"), CKR_OK);
	assert_int_equal(fl->C_InitToken(slot, U("so-secret"), label32),
			 CKR_FUNCTION_NOT_SUPPORTED);
	/* Token and user PIN in one call; the secret is used once. */
	char v[64];
	assert_int_equal(x->C_SetVariable("init-user-pin", "1111"), CKR_OK);
	assert_int_equal(x->C_GetVariable("init-user-pin", v, sizeof(v)),
			 CKR_ATTRIBUTE_SENSITIVE);
	assert_int_equal(fl->C_InitToken(slot, U("so-secret"), label32),
			 CKR_OK);
	slot = find_slot(true);
	CK_SESSION_HANDLE s = login(slot, "1111");
	/* Card-only functions. */
	assert_int_equal(x->C_UnlockPIN(s, U("12345678"), U("2222")),
			 CKR_FUNCTION_NOT_SUPPORTED);
	assert_int_equal(x->C_LockToken(slot, 5), CKR_FUNCTION_NOT_SUPPORTED);
	CK_ULONG n = 0;
	assert_int_equal(x->C_GetUnlockChallenge(s, NULL, &n),
			 CKR_FUNCTION_NOT_SUPPORTED);
	/* Objects the proxy adds (special data objects) are not the
	 * token's: counted relative to what is there. */
	CK_ULONG base = count_objects(s);
	create_data(s, CK_TRUE);
	create_data(s, CK_TRUE);
	create_data(s, CK_FALSE);
	assert_int_equal(count_objects(s), base + 3);
	assert_int_equal(fl->C_Logout(s), CKR_OK);
	/* The user's PIN is proven first; while logged in it cannot be. */
	assert_int_equal(x->C_ResetToken(slot, U("0000")), CKR_PIN_INCORRECT);
	assert_int_equal(x->C_ResetToken(slot, U("1111")), CKR_OK);
	assert_int_equal(fl->C_Login(s, CKU_USER, U("1111")), CKR_OK);
	assert_int_equal(count_objects(s),
			 base + 1); /* kept: not destroyable */
	assert_int_equal(x->C_ResetToken(slot, U("1111")),
			 CKR_USER_ALREADY_LOGGED_IN);
	assert_int_equal(fl->C_CloseSession(s), CKR_OK);
	/* Without variables C_InitToken is the provider's. */
	assert_int_equal(fl->C_InitToken(slot, U("wrong"), label32),
			 CKR_PIN_INCORRECT);
	assert_int_equal(fl->C_Finalize(NULL), CKR_OK);
}

int main(int argc, char **argv)
{
	if (argc < 3 || access(argv[2], R_OK) != 0) {
		fprintf(stderr, "SoftHSM2 not found: skipped\n");
		return 77;
	}
	softhsm = argv[2];
	p11test_softhsm_start(NULL, NULL, NULL);
	p11test_write_config(softhsm, NULL);
	p11test_load(&m, argv[1]);
	fl = m.fl;
	CK_C_GetInterface gi = p11test_sym(&m, "C_GetInterface");
	CK_INTERFACE_PTR itf;
	if (gi((CK_UTF8CHAR_PTR)P11OVERLAY_INTERFACE_NAME, NULL, &itf, 0))
		return 2;
	x = itf->pFunctionList;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_variables_before_initialize),
	    cmocka_unit_test(test_init_and_reset),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	p11test_unload(&m);
	p11test_softhsm_stop();
	return rc;
}
