/* Golden-file tests of the trace format: every decoder, both levels,
 * header lines, summary, callback.  Regenerate the golden files with
 * P11O_UPDATE_GOLDEN=1 after an intended format change. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "trace_mock.h"

/* A session exercising every argument kind and parameter decoder. */
static void run_session(mock_rig *r)
{
	CK_C_INITIALIZE_ARGS ia = {.flags = CKF_OS_LOCKING_OK};
	CK_INFO info;
	CK_SLOT_ID slots[4];
	CK_ULONG n;
	CK_SLOT_INFO si;
	CK_TOKEN_INFO ti;
	CK_MECHANISM_TYPE mechs[8];
	CK_MECHANISM_INFO mi;
	CK_SESSION_HANDLE h;
	CK_SESSION_INFO sess;

	CALL(r, C_Initialize, &ia);
	CALL(r, C_GetInfo, &info);
	n = 0;
	CALL(r, C_GetSlotList, CK_TRUE, NULL, &n);
	n = 1;
	CALL(r, C_GetSlotList, CK_TRUE, slots, &n);
	n = 4;
	CALL(r, C_GetSlotList, CK_TRUE, slots, &n);
	CALL(r, C_GetSlotInfo, 1, &si);
	CALL(r, C_GetTokenInfo, 1, &ti);
	n = 8;
	CALL(r, C_GetMechanismList, 1, mechs, &n);
	CALL(r, C_GetMechanismInfo, 1, CKM_RSA_PKCS, &mi);
	CALL(r, C_OpenSession, 1, CKF_RW_SESSION | CKF_SERIAL_SESSION, NULL,
	     NULL, &h);
	CALL(r, C_Login, h, CKU_USER, (CK_UTF8CHAR_PTR) "123456", 6);
	CALL(r, C_GetSessionInfo, h, &sess);

	/* templates */
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE find[] = {{CKA_CLASS, &cls, sizeof(cls)},
			       {CKA_TOKEN, &yes, sizeof(yes)},
			       {CKA_LABEL, "key 1", 5},
			       {CKA_VENDOR_DEFINED | 0x77, "\x00\xff", 2}};
	CALL(r, C_FindObjectsInit, h, find, 4);
	CK_OBJECT_HANDLE objs[10];
	CALL(r, C_FindObjects, h, objs, 10, &n);
	CALL(r, C_FindObjectsFinal, h);

	char label[64], small[8], date[8];
	CK_ULONG kt;
	CK_MECHANISM_TYPE allowed[4];
	CK_ATTRIBUTE get[] = {
	    {CKA_LABEL, label, sizeof(label)},
	    {CKA_ID, NULL, 0},
	    {CKA_MODULUS, small, sizeof(small)},
	    {CKA_KEY_TYPE, &kt, sizeof(kt)},
	    {CKA_PRIVATE_EXPONENT, small, sizeof(small)},
	    {CKA_START_DATE, date, sizeof(date)},
	    {CKA_ALLOWED_MECHANISMS, allowed, sizeof(allowed)}};
	CALL(r, C_GetAttributeValue, h, 0x10, get, 7);
	unsigned char big[512];
	CK_ATTRIBUTE get2[] = {{CKA_MODULUS, big, sizeof(big)}};
	CALL(r, C_GetAttributeValue, h, 0x10, get2, 1);
	mock_fail_fn = P11O_FN_C_GetAttributeValue;
	mock_rv = CKR_OBJECT_HANDLE_INVALID;
	CALL(r, C_GetAttributeValue, h, 0x99, get2, 1);
	mock_fail_fn = P11O_FN_COUNT;

	/* mechanisms */
	CK_RSA_PKCS_PSS_PARAMS pss = {CKM_SHA256, CKG_MGF1_SHA256, 32};
	CK_MECHANISM m_pss = {CKM_SHA256_RSA_PKCS_PSS, &pss, sizeof(pss)};
	CALL(r, C_SignInit, h, &m_pss, 0x11);
	CK_BYTE data[] = "hello, world";
	CK_BYTE sig[256];
	CK_ULONG sl = 0;
	CALL(r, C_Sign, h, data, 12, NULL, &sl);
	sl = 8;
	CALL(r, C_Sign, h, data, 12, sig, &sl);
	sl = sizeof(sig);
	CALL(r, C_Sign, h, data, 12, sig, &sl);

	CK_RSA_PKCS_OAEP_PARAMS oaep = {CKM_SHA_1, CKG_MGF1_SHA1,
					CKZ_DATA_SPECIFIED, "label", 5};
	CK_MECHANISM m_oaep = {CKM_RSA_PKCS_OAEP, &oaep, sizeof(oaep)};
	CALL(r, C_DecryptInit, h, &m_oaep, 0x11);
	CK_BYTE iv[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
	CK_GCM_PARAMS gcm = {iv, 12, 96, (CK_BYTE_PTR) "aad", 3, 128};
	CK_MECHANISM m_gcm = {CKM_AES_GCM, &gcm, sizeof(gcm)};
	CALL(r, C_EncryptInit, h, &m_gcm, 0x20);
	CK_BYTE iv16[16] = {0};
	CK_MECHANISM m_cbc = {CKM_AES_CBC_PAD, iv16, sizeof(iv16)};
	CALL(r, C_EncryptInit, h, &m_cbc, 0x20);
	/* never read: the length is wrong (and so is the pointer) */
	CK_MECHANISM m_badlen = {CKM_AES_CBC, (void *)(uintptr_t)0x1000, 15};
	mock_fail_fn = P11O_FN_C_EncryptInit;
	mock_rv = CKR_MECHANISM_PARAM_INVALID;
	CALL(r, C_EncryptInit, h, &m_badlen, 0x20);
	mock_fail_fn = P11O_FN_COUNT;
	CK_BYTE ct[32];
	CK_ULONG cl = sizeof(ct);
	CALL(r, C_Encrypt, h, data, 12, ct, &cl);
	CK_MECHANISM m_sha = {CKM_SHA256, NULL, 0};
	CALL(r, C_DigestInit, h, &m_sha);

	CK_BYTE point[65] = {4};
	CK_ECDH1_DERIVE_PARAMS ecdh = {CKD_NULL, 0, NULL, sizeof(point), point};
	CK_MECHANISM m_ecdh = {CKM_ECDH1_DERIVE, &ecdh, sizeof(ecdh)};
	CK_OBJECT_CLASS sk = CKO_SECRET_KEY;
	CK_KEY_TYPE aes = CKK_AES;
	CK_ULONG vlen = 32;
	CK_ATTRIBUTE dt[] = {{CKA_CLASS, &sk, sizeof(sk)},
			     {CKA_KEY_TYPE, &aes, sizeof(aes)},
			     {CKA_VALUE_LEN, &vlen, sizeof(vlen)}};
	CK_OBJECT_HANDLE k;
	CALL(r, C_DeriveKey, h, &m_ecdh, 0x41, dt, 3, &k);

	CK_MECHANISM m_gen = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
	CK_BYTE ecparams[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
			      0xce, 0x3d, 0x03, 0x01, 0x07};
	CK_ATTRIBUTE pubt[] = {{CKA_EC_PARAMS, ecparams, sizeof(ecparams)},
			       {CKA_VERIFY, &yes, 1}};
	CK_ATTRIBUTE privt[] = {{CKA_SIGN, &yes, 1},
				{CKA_START_DATE, "2024", 4}};
	CK_OBJECT_HANDLE pub, priv;
	CALL(r, C_GenerateKeyPair, h, &m_gen, pubt, 2, privt, 2, &pub, &priv);

	CK_BYTE rnd[16];
	CALL(r, C_GenerateRandom, h, rnd, sizeof(rnd));
	CALL(r, C_SeedRandom, h, data, 12);
	CALL(r, C_InitToken, 1, (CK_UTF8CHAR_PTR) "so-pin", 6,
	     (CK_UTF8CHAR_PTR) "My Token                        ");
	CALL(r, C_LoginUser, h, CKU_CONTEXT_SPECIFIC,
	     (CK_UTF8CHAR_PTR) "123456", 6, (CK_UTF8CHAR_PTR) "alice", 5);
	CALL(r, C_SessionCancel, h, CKF_SIGN | CKF_DECRYPT);
	CK_BYTE pt[4] = {1, 2, 3, 4}, ct2[4] = {9, 8, 7, 6};
	CK_ULONG ctl = 4;
	CALL(r, C_EncryptMessageNext, h, iv, sizeof(iv), pt, 4, ct2, &ctl,
	     CKF_END_OF_MESSAGE);
	CALL(r, C_SetVariable, "label-format", "%t");
	char var[64];
	CALL(r, C_GetVariable, "system-info", var, sizeof(var));
	CALL(r, C_GetVariable, "system-info", var, 2);
	CK_ULONG ev = 0;
	CALL(r, C_HasNewEvent, &ev);
	CK_SLOT_ID es;
	CALL(r, C_WaitForSlotEvent, CKF_DONT_BLOCK, &es, NULL);
	CALL(r, C_LockToken, 1, 30);
	CK_BYTE chal[8];
	CK_ULONG chl = sizeof(chal);
	CALL(r, C_GetUnlockChallenge, h, chal, &chl);
	CALL(r, C_RegisterEngine, CKM_SHA256, "soft-sha", NULL);
	mock_fail_fn = P11O_FN_C_CloseSession;
	mock_rv = CKR_SESSION_HANDLE_INVALID;
	CALL(r, C_CloseSession, 0x9999);
	mock_fail_fn = P11O_FN_COUNT;
	CALL(r, C_CloseAllSessions, 1);
	CALL(r, C_Finalize, NULL);
}

static void test_golden_full(void **state)
{
	(void)state;
	mock_rig r;
	mock_rig_init(&r, P11O_TRACE_FULL, false, 32, true);
	run_session(&r);
	char *trace = mock_read_trace(&r, NULL);
	assert_non_null(trace);
	char *masked = mock_masked_records(trace);
	assert_int_equal(mock_check_golden("full.txt", masked), 0);
	free(masked);
	free(trace);
	mock_rig_free(&r);
}

static void test_golden_calls(void **state)
{
	(void)state;
	mock_rig r;
	mock_rig_init(&r, P11O_TRACE_CALLS, true, 256, true);
	run_session(&r);
	char *trace = mock_read_trace(&r, NULL);
	assert_non_null(trace);
	char *masked = mock_masked_records(trace);
	assert_int_equal(mock_check_golden("calls.txt", masked), 0);
	free(masked);
	free(trace);
	mock_rig_free(&r);
}

static void test_header(void **state)
{
	(void)state;
	mock_rig r;
	mock_rig_init(&r, P11O_TRACE_FULL, false, 256, true);
	CALL(&r, C_Initialize, NULL);
	char *t = mock_read_trace(&r, NULL);
	char want[64];
	snprintf(want, sizeof(want),
		 "\nPKCS11 - %s endian build (%zu-bits CK_ULONG)\n",
		 __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? "Little" : "Big",
		 sizeof(CK_ULONG) * 8);
	char *first = strstr(t, want);
	assert_non_null(first);
	assert_null(strstr(first + strlen(want), "endian build"));
	assert_true(!strncmp(t, "# p11overlay ", 13));
	assert_non_null(strstr(t, "\n# provider: /usr/lib/mock-pkcs11.so\n"));
	assert_non_null(strstr(t, "\n# config: built-in defaults\n"));
	assert_non_null(strstr(t, "\n# process: pid "));
	assert_non_null(
	    strstr(t, "level=full include-events=no max-value=256"));
	assert_non_null(strstr(
	    t, "# config diagnostic: test.conf:3: unknown key 'colour'"));
	/* the provider's CK_INFO only after C_Initialize succeeded */
	char *init = strstr(t, " C_Initialize\n");
	char *pinfo = strstr(t, "# provider info: cryptokiVersion 2.40, "
				"manufacturerID \"Mock Provider\"");
	assert_non_null(init);
	assert_non_null(pinfo);
	assert_true(pinfo > init);
	free(t);
	mock_rig_free(&r);
}

static void test_summary(void **state)
{
	(void)state;
	mock_rig r;
	mock_rig_init(&r, P11O_TRACE_CALLS, false, 256, true);
	CK_SESSION_INFO si;
	for (int i = 0; i < 5; i++)
		CALL(&r, C_GetSessionInfo, 1, &si);
	mock_fail_fn = P11O_FN_C_Logout;
	mock_rv = CKR_USER_NOT_LOGGED_IN;
	CALL(&r, C_Logout, 1);
	CALL(&r, C_Logout, 1);
	CALL(&r, C_Finalize, NULL);
	char *t = mock_read_trace(&r, NULL);
	char fn[64];
	unsigned long calls, errs;
	char *l = strstr(t, "# summary: C_GetSessionInfo");
	assert_non_null(l);
	assert_int_equal(
	    sscanf(l, "# summary: %63s %lu %lu", fn, &calls, &errs), 3);
	assert_int_equal(calls, 5);
	assert_int_equal(errs, 0);
	l = strstr(t, "# summary: C_Logout");
	assert_non_null(l);
	assert_int_equal(
	    sscanf(l, "# summary: %63s %lu %lu", fn, &calls, &errs), 3);
	assert_int_equal(calls, 2);
	assert_int_equal(errs, 2);
	/* summary comes before the C_Finalize record */
	assert_true(strstr(t, "# summary:") < strstr(t, " C_Finalize = "));
	assert_null(strstr(t, "# summary: C_Finalize"));
	free(t);
	mock_rig_free(&r);
}

static char cb_buf[1 << 16];
static size_t cb_len;
static int cb_records;

static void cb(const char *rec, CK_ULONG len)
{
	if (cb_len + len < sizeof(cb_buf)) {
		memcpy(cb_buf + cb_len, rec, len);
		cb_len += len;
	}
	cb_records++;
}

static void test_callback(void **state)
{
	(void)state;
	mock_rig r;
	mock_rig_init(&r, P11O_TRACE_OFF, false, 256, false);
	assert_false(p11o_trace_active(r.trace));
	assert_int_equal(p11o_trace_set_callback(r.trace, cb), CKR_OK);
	assert_true(p11o_trace_active(r.trace));
	CK_SESSION_INFO si;
	CALL(&r, C_GetSessionInfo, 7, &si);
	cb_buf[cb_len] = 0;
	assert_int_equal(cb_records, 2); /* header + one record */
	assert_non_null(strstr(cb_buf, "endian build"));
	assert_non_null(strstr(cb_buf, " C_GetSessionInfo\n  > hSession = 0x7\n"
				       "  < pInfo = { slotID = 0x1"));
	p11o_trace_set_callback(r.trace, NULL);
	assert_false(p11o_trace_active(r.trace));
	CALL(&r, C_GetSessionInfo, 7, &si);
	assert_int_equal(cb_records, 2);
	p11o_trace_note(r.trace, "unused %d", 1);
	mock_rig_free(&r);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(p11o_trace_name(P11O_NT_CKR, CKR_OK), "CKR_OK");
	assert_string_equal(p11o_trace_name(P11O_NT_CKR, CKR_NO_EVENT),
			    "CKR_NO_EVENT");
	assert_string_equal(p11o_trace_name(P11O_NT_CKA, CKA_EC_PARAMS),
			    "CKA_EC_PARAMS");
	assert_string_equal(p11o_trace_name(P11O_NT_CKM, CKM_EC_KEY_PAIR_GEN),
			    "CKM_EC_KEY_PAIR_GEN");
	assert_string_equal(p11o_trace_name(P11O_NT_CKK, CKK_EC), "CKK_EC");
	assert_string_equal(p11o_trace_name(P11O_NT_CKO, CKO_SECRET_KEY),
			    "CKO_SECRET_KEY");
	assert_string_equal(p11o_trace_name(P11O_NT_CKU, CKU_SO), "CKU_SO");
	assert_null(p11o_trace_name(P11O_NT_CKM, 0x7ffffff0));
	assert_int_equal(p11o_trace_attr_kind(CKA_VALUE), P11O_AT_SECRET);
	assert_int_equal(p11o_trace_attr_kind(CKA_TOKEN), P11O_AT_BOOL);
	char buf[64];
	p11o_tbuf b;
	p11o_tb_init(&b, buf, sizeof(buf));
	p11o_tb_flags(&b, P11O_FG_TOKEN,
		      CKF_RNG | CKF_USER_PIN_LOCKED | 1UL << 30);
	*b.p = 0;
	assert_string_equal(buf, "CKF_RNG|CKF_USER_PIN_LOCKED|0x40000000");
	p11o_tb_init(&b, buf, sizeof(buf));
	p11o_tb_utc(&b, 951782400123456789ull); /* leap day 2000 */
	*b.p = 0;
	assert_string_equal(buf, "2000-02-29T00:00:00.123456Z");
	/* every function of functions.h has a descriptor */
	for (int i = 0; i < P11O_FN_COUNT; i++) {
		assert_non_null(p11o_trace_fns[i].name);
		assert_true(p11o_trace_fns[i].nargs >= 1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_header),
	    cmocka_unit_test(test_golden_full),
	    cmocka_unit_test(test_golden_calls),
	    cmocka_unit_test(test_summary),
	    cmocka_unit_test(test_callback),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
