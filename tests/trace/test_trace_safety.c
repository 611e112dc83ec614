/* Trace safety: secrets never written, pointers the provider would not read
 * never read, records of concurrent threads never interleaved. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "trace_mock.h"

static void assert_absent(const char *trace, const char *secret)
{
	char hex[256] = "";
	for (size_t i = 0; secret[i] && i < 100; i++)
		sprintf(hex + 2 * i, "%02x", (unsigned char)secret[i]);
	if (strstr(trace, secret) || strstr(trace, hex))
		fail_msg("secret %s found in trace", secret);
}

static void test_redaction(void **state)
{
	(void)state;
	mock_rig r;
	mock_rig_init(&r, P11O_TRACE_FULL, true, 4096, true);
	CK_SESSION_HANDLE h = 1;
	CALL(&r, C_Login, h, CKU_USER, (CK_UTF8CHAR_PTR) "S3CR3TPIN1", 10);
	CALL(&r, C_Login, h, CKU_SO, (CK_UTF8CHAR_PTR) "S3CR3TPIN2", 10);
	CALL(&r, C_SetPIN, h, (CK_UTF8CHAR_PTR) "OLDPIN0001", 10,
	     (CK_UTF8CHAR_PTR) "NEWPIN0002", 10);
	CALL(&r, C_InitPIN, h, (CK_UTF8CHAR_PTR) "INITPIN003", 10);
	CALL(&r, C_InitToken, 1, (CK_UTF8CHAR_PTR) "SOPIN00004", 10,
	     (CK_UTF8CHAR_PTR) "label                           ");
	CALL(&r, C_LoginUser, h, CKU_USER, (CK_UTF8CHAR_PTR) "S3CR3TPIN3", 10,
	     (CK_UTF8CHAR_PTR) "bob", 3);
	CALL(&r, C_UnlockPIN, h, (CK_UTF8CHAR_PTR) "PUK9876543", 10,
	     (CK_UTF8CHAR_PTR) "NEWPIN0005", 10);
	CALL(&r, C_UnlockPINWithResponse, h, (CK_BYTE_PTR) "RESPONSE77", 10,
	     (CK_UTF8CHAR_PTR) "NEWPIN0006", 10);
	CALL(&r, C_ResetToken, 1, (CK_UTF8CHAR_PTR) "RESETPIN07", 10);
	CALL(&r, C_SetVariable, "User-PIN", "VARSECRET1");
	CALL(&r, C_SetVariable, "soPassword", "VARSECRET2");
	CALL(&r, C_SetVariable, "unlock-RESPONSE", "VARSECRET3");
	CALL(&r, C_SetVariable, "init-puk", "VARSECRET4");
	CALL(&r, C_SetVariable, "my-secret", "VARSECRET5");
	CALL(&r, C_SetVariable, "transport-key", "VARSECRET6");
	CALL(&r, C_SetVariable, "label-format", "VISIBLEVAR");
	char v[64];
	CALL(&r, C_GetVariable, "user-pin", v, sizeof(v));

	/* provider returns CKA_VALUE: unknown class, then private key */
	char val[64], cls[sizeof(CK_ULONG)];
	CK_ATTRIBUTE g1[] = {{CKA_VALUE, val, sizeof(val)}};
	CALL(&r, C_GetAttributeValue, h, 0x10, g1, 1);
	CK_ATTRIBUTE g2[] = {{CKA_VALUE, val, sizeof(val)},
			     {CKA_CLASS, cls, sizeof(cls)}};
	CALL(&r, C_GetAttributeValue, h, 0x10, g2, 2);

	CK_OBJECT_CLASS sk = CKO_SECRET_KEY, pk = CKO_PRIVATE_KEY,
			cert = CKO_CERTIFICATE;
	CK_ATTRIBUTE c1[] = {{CKA_VALUE, "CREATESECRET1", 13},
			     {CKA_CLASS, &sk, sizeof(sk)}};
	CALL(&r, C_CreateObject, h, c1, 2, NULL);
	CK_ATTRIBUTE c2[] = {{CKA_CLASS, &pk, sizeof(pk)},
			     {CKA_PRIVATE_EXPONENT, "PRIVEXPSECRET", 13},
			     {CKA_PRIME_1, "PRIME1SECRET", 12},
			     {CKA_PRIME_2, "PRIME2SECRET", 12},
			     {CKA_EXPONENT_1, "EXP1SECRET", 10},
			     {CKA_EXPONENT_2, "EXP2SECRET", 10},
			     {CKA_COEFFICIENT, "COEFSECRET", 10},
			     {CKA_VALUE, "ECPRIVSECRET", 12}};
	CALL(&r, C_CreateObject, h, c2, 8, NULL);
	CK_ATTRIBUTE c3[] = {{CKA_PRIVATE_EXPONENT, "NOCLASSSECRET1", 14},
			     {CKA_VALUE, "NOCLASSSECRET2", 14}};
	CALL(&r, C_CreateObject, h, c3, 2, NULL);
	CALL(&r, C_UnwrapKey, h, NULL, 1, (CK_BYTE_PTR) "wrapped", 7, c1, 2,
	     NULL);
	CK_ATTRIBUTE c4[] = {{CKA_CLASS, &cert, sizeof(cert)},
			     {CKA_VALUE, "CERTVALUEVISIBLE", 16}};
	CALL(&r, C_CreateObject, h, c4, 2, NULL);
	CALL(&r, C_Finalize, NULL);

	char *t = mock_read_trace(&r, NULL);
	const char *secrets[] = {
	    "S3CR3TPIN1",     "S3CR3TPIN2",    "OLDPIN0001",   "NEWPIN0002",
	    "INITPIN003",     "SOPIN00004",    "S3CR3TPIN3",   "PUK9876543",
	    "NEWPIN0005",     "RESPONSE77",    "NEWPIN0006",   "RESETPIN07",
	    "VARSECRET1",     "VARSECRET2",    "VARSECRET3",   "VARSECRET4",
	    "VARSECRET5",     "VARSECRET6",    "GETVARSECRET", "TOPSECRETKEY",
	    "CREATESECRET1",  "PRIVEXPSECRET", "PRIME1SECRET", "PRIME2SECRET",
	    "EXP1SECRET",     "EXP2SECRET",    "COEFSECRET",   "ECPRIVSECRET",
	    "NOCLASSSECRET1", "NOCLASSSECRET2"};
	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		assert_absent(t, secrets[i]);
	assert_non_null(strstr(t, "pPin = ***(len 10)"));
	assert_non_null(strstr(t, "pPuk = ***(len 10)"));
	assert_non_null(strstr(t, "pResponse = ***(len 10)"));
	assert_non_null(strstr(t, "value = ***(len 10)"));
	assert_non_null(strstr(t, "\"VISIBLEVAR\""));
	assert_non_null(strstr(t, "CKA_VALUE = ***(len 17)"));
	assert_non_null(strstr(t, "CERTVALUEVISIBLE"));
	free(t);
	mock_rig_free(&r);
}

#define GARBAGE 0xdeadbeefUL
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wint-to-pointer-cast"
#define GARG_(kind, type, param) (type)(uintptr_t) garbage
#define GCALL_(name, ...) CALL(r, name, P11O_MAPC(GARG_, __VA_ARGS__));
static void call_all(mock_rig *r, uintptr_t garbage)
{
	P11O_FUNCTIONS(GCALL_)
}
#pragma GCC diagnostic pop

/* Every function, every argument 0xdeadbeef, rv that says the provider
 * read nothing: the trace must not touch any of it. */
static void test_garbage_not_dereferenced(void **state)
{
	(void)state;
	static const CK_RV rvs[] = {
	    CKR_CRYPTOKI_NOT_INITIALIZED, CKR_ARGUMENTS_BAD,
	    CKR_SESSION_HANDLE_INVALID,   CKR_SLOT_ID_INVALID,
	    CKR_FUNCTION_NOT_SUPPORTED,   CKR_CRYPTOKI_ALREADY_INITIALIZED};
	mock_rig r;
	mock_rig_init(&r, P11O_TRACE_FULL, true, 256, true);
	mock_rig_defaults(&r);
	mock_all = true;
	for (size_t i = 0; i < sizeof(rvs) / sizeof(rvs[0]); i++) {
		mock_rv = rvs[i];
		call_all(&r, GARBAGE);
	}
	/* NULL everything, even with CKR_OK */
	mock_rv = CKR_OK;
	call_all(&r, 0);

	/* outputs not read on failure; nested mechanism buffers not read
	 * unless the call succeeded; bad parameter lengths not decoded */
	CK_BYTE data[4] = {0};
	mock_rv = CKR_DEVICE_ERROR;
	CALL(&r, C_Sign, 1, data, 4, (CK_BYTE_PTR)GARBAGE,
	     (CK_ULONG_PTR)GARBAGE);
	CALL(&r, C_GetSessionInfo, 1, (CK_SESSION_INFO_PTR)GARBAGE);
	CK_MECHANISM m = {CKM_AES_GCM, (void *)GARBAGE, GARBAGE};
	mock_rv = CKR_MECHANISM_PARAM_INVALID;
	CALL(&r, C_EncryptInit, 1, &m, 2);
	mock_rv = CKR_OK;
	CALL(&r, C_EncryptInit, 1, &m, 2);
	CK_GCM_PARAMS gcm = {(CK_BYTE_PTR)GARBAGE, GARBAGE, 96,
			     (CK_BYTE_PTR)GARBAGE, GARBAGE, 128};
	CK_MECHANISM m2 = {CKM_AES_GCM, &gcm, sizeof(gcm)};
	mock_rv = CKR_MECHANISM_PARAM_INVALID;
	CALL(&r, C_EncryptInit, 1, &m2, 2);
	/* input lengths refused by the provider: data not read */
	mock_rv = CKR_DATA_LEN_RANGE;
	CALL(&r, C_Encrypt, 1, data, GARBAGE, NULL, NULL);
	/* C_GetAttributeValue: unavailable and NULL values not read */
	CK_ATTRIBUTE t[] = {
	    {CKA_VALUE, (void *)GARBAGE, CK_UNAVAILABLE_INFORMATION},
	    {CKA_LABEL, NULL, GARBAGE}};
	mock_rv = CKR_ATTRIBUTE_SENSITIVE;
	CALL(&r, C_GetAttributeValue, 1, 2, t, 2);
	mock_all = false;
	char *tr = mock_read_trace(&r, NULL);
	assert_non_null(strstr(tr, "pMechanism = 0xdeadbeef"));
	assert_non_null(strstr(tr, "pTemplate = 0xdeadbeef[3735928559]"));
	assert_non_null(strstr(tr, "pData = 0xdeadbeef (len 3735928559)"));
	assert_non_null(strstr(tr, "CKM_AES_GCM { pParameter = 0xdeadbeef, "
				   "ulParameterLen = 3735928559 }"));
	assert_non_null(
	    strstr(tr, "pIv = 0xdeadbeef (len 3735928559), ulIvBits = 96"));
	free(tr);
	mock_rig_free(&r);
}

/* ---- threads ------------------------------------------------------------ */

#define THREADS 4
#define CALLS 1500

static mock_rig *trig;

static void *worker(void *arg)
{
	CK_SESSION_HANDLE h = 0x100 + (uintptr_t)arg;
	CK_SESSION_INFO si;
	char label[64];
	for (int i = 0; i < CALLS; i++) {
		CALL(trig, C_GetSessionInfo, h, &si);
		CK_ATTRIBUTE t[] = {{CKA_LABEL, label, sizeof(label)},
				    {CKA_MODULUS, NULL, 0}};
		CALL(trig, C_GetAttributeValue, h, 1, t, 2);
	}
	return NULL;
}

static void test_threads_no_interleaving(void **state)
{
	(void)state;
	mock_rig r;
	pthread_t th[THREADS];
	mock_rig_init(&r, P11O_TRACE_FULL, false, 256, true);
	trig = &r;
	for (uintptr_t i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, worker, (void *)i);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	char *t = mock_read_trace(&r, NULL);
	unsigned long records = 0, tid = 0, sess_of_tid[THREADS][2] = {{0}};
	size_t known = 0;
	bool in_record = false;
	unsigned long cur_sess = 0;
	for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n")) {
		if (line[0] == '#' || !strncmp(line, "PKCS11 - ", 9))
			continue;
		if (line[0] >= '0' && line[0] <= '9') {
			assert_false(in_record);
			unsigned long pid;
			assert_int_equal(sscanf(strchr(line, ' ') + 1,
						"%lu:%lu", &pid, &tid),
					 2);
			in_record = true;
			cur_sess = 0;
			continue;
		}
		assert_true(in_record);
		assert_true(line[0] == ' ' && line[1] == ' ');
		if (sscanf(line, "  > hSession = %lx", &cur_sess) == 1) {
			size_t k;
			for (k = 0; k < known; k++)
				if (sess_of_tid[k][0] == tid)
					break;
			if (k == known) {
				assert_true(known < THREADS);
				sess_of_tid[known][0] = tid;
				sess_of_tid[known++][1] = cur_sess;
			}
			/* one thread, one session: a mixed record fails */
			assert_int_equal(sess_of_tid[k][1], cur_sess);
		}
		if (!strncmp(line, "  = CKR_", 8)) {
			assert_true(cur_sess != 0);
			in_record = false;
			records++;
		}
	}
	assert_false(in_record);
	assert_int_equal(records, THREADS * CALLS * 2);
	assert_int_equal(known, THREADS);
	free(t);
	mock_rig_free(&r);
}

/* A record bigger than the per-thread buffer is cut with a marker. */
static void test_truncation(void **state)
{
	(void)state;
	mock_rig r;
	mock_rig_init(&r, P11O_TRACE_FULL, false, 1 << 20, true);
	static unsigned char big[1 << 16];
	CK_ATTRIBUTE t[] = {{CKA_LABEL, big, sizeof(big)}};
	CALL(&r, C_CreateObject, 1, t, 1, NULL);
	CK_SESSION_INFO si;
	CALL(&r, C_GetSessionInfo, 1, &si);
	char *tr = mock_read_trace(&r, NULL);
	char *cut = strstr(tr, "\n  ...[record truncated]\n");
	assert_non_null(cut);
	assert_non_null(strstr(cut, " C_GetSessionInfo\n"));
	free(tr);
	mock_rig_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_redaction),
	    cmocka_unit_test(test_garbage_not_dereferenced),
	    cmocka_unit_test(test_threads_no_interleaving),
	    cmocka_unit_test(test_truncation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
