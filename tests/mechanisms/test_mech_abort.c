/* A completed sign or decrypt that fails in the mechanisms addon ends the
 * operation in the token too.  With [mechanisms] hide, the addon completes
 * CKM_RSA_PKCS and the PSS mechanisms over SoftHSM2's CKM_RSA_X_509: it
 * begins the token's operation at Init, and bad input found at C_Sign used
 * to leave that operation open, so every later C_SignInit or C_DecryptInit
 * of the session answered CKR_OPERATION_ACTIVE.  Each case below fails one
 * operation, then checks that the same session begins and completes the
 * next one (the signature byte for byte equal to SoftHSM2's own).  The
 * same sequence runs against SoftHSM2 through the proxy with the addon off
 * (enabled = no), where the later Init works as well.
 * argv[1] = p11overlay.so, argv[2] = libsofthsm2.so. */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "mtest.h"

static const char *softhsm;
static unsigned char msg[300], native245[256];

#define OFF "[mechanisms]\nenabled = no\n"
#define HIDE                                                                   \
	"[mechanisms]\nhide = CKM_RSA_PKCS, CKM_RSA_PKCS_PSS, "                \
	"CKM_SHA256_RSA_PKCS_PSS\n"

#define PRIV() mt_find(CKO_PRIVATE_KEY, "a1")
#define PUB() mt_find(CKO_PUBLIC_KEY, "a1")

static void start(const char *conf)
{
	mt_start(softhsm, conf, "mech abort", "1234");
}

static void keypair(void)
{
	CK_OBJECT_CLASS pubc = CKO_PUBLIC_KEY, privc = CKO_PRIVATE_KEY;
	CK_BBOOL yes = CK_TRUE;
	CK_ULONG bits = 2048;
	CK_BYTE e[] = {1, 0, 1};
	CK_ATTRIBUTE pub[] = {
	    {CKA_CLASS, &pubc, sizeof(pubc)},
	    {CKA_TOKEN, &yes, 1},
	    {CKA_ID, "a1", 2},
	    {CKA_VERIFY, &yes, 1},
	    {CKA_ENCRYPT, &yes, 1},
	    {CKA_MODULUS_BITS, &bits, sizeof(bits)},
	    {CKA_PUBLIC_EXPONENT, e, 3},
	};
	CK_ATTRIBUTE priv[] = {
	    {CKA_CLASS, &privc, sizeof(privc)},
	    {CKA_TOKEN, &yes, 1},
	    {CKA_ID, "a1", 2},
	    {CKA_SIGN, &yes, 1},
	    {CKA_PRIVATE, &yes, 1},
	    {CKA_DECRYPT, &yes, 1},
	};
	CK_MECHANISM m = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
	CK_OBJECT_HANDLE a, b;
	assert_int_equal(
	    mt->C_GenerateKeyPair(mt_s, &m, pub, 7, priv, 6, &a, &b), CKR_OK);
}

static int setup(void **state)
{
	(void)state;
	CK_MECHANISM m = {CKM_RSA_PKCS, NULL, 0};
	CK_ULONG len = sizeof(native245);

	p11test_softhsm_start("mech abort", "1234", "5678");
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (unsigned char)(i * 11 + 5);
	start(OFF);
	keypair();
	assert_int_equal(mt_sign(&m, PRIV(), msg, 245, 0, native245, &len),
			 CKR_OK);
	mt_stop();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return p11test_softhsm_stop();
}

/* The session can begin and finish a signature (and a decryption) again. */
static void session_usable(CK_OBJECT_HANDLE priv)
{
	CK_MECHANISM m = {CKM_RSA_PKCS, NULL, 0};
	unsigned char sig[256], ct[256], pt[256];
	CK_ULONG len = sizeof(sig), cl = sizeof(ct), pl = sizeof(pt);

	assert_int_equal(mt->C_SignInit(mt_s, &m, priv), CKR_OK);
	assert_int_equal(mt->C_Sign(mt_s, msg, 245, sig, &len), CKR_OK);
	assert_int_equal(len, 256);
	assert_memory_equal(sig, native245, 256);
	assert_int_equal(mt_encrypt(&m, PUB(), msg, 100, ct, &cl), CKR_OK);
	assert_int_equal(mt_decrypt(&m, priv, ct, cl, pt, &pl), CKR_OK);
	assert_int_equal(pl, 100);
	assert_memory_equal(pt, msg, 100);
}

static void sign_too_long(bool completed)
{
	CK_MECHANISM m = {CKM_RSA_PKCS, NULL, 0};
	unsigned char sig[256];
	static const CK_ULONG lens[] = {246, 256, 300};

	start(completed ? HIDE : OFF);
	CK_OBJECT_HANDLE priv = PRIV();
	for (size_t i = 0; i < 3; i++) {
		CK_ULONG len = sizeof(sig);
		assert_int_equal(mt->C_SignInit(mt_s, &m, priv), CKR_OK);
		CK_RV rv = mt->C_Sign(mt_s, msg, lens[i], sig, &len);
		if (completed)
			assert_int_equal(rv, CKR_DATA_LEN_RANGE);
		else
			assert_int_not_equal(rv, CKR_OK);
		session_usable(priv);
	}
	/* the size query finds the bad length too */
	CK_ULONG len = 0;
	assert_int_equal(mt->C_SignInit(mt_s, &m, priv), CKR_OK);
	CK_RV rv = mt->C_Sign(mt_s, msg, 246, NULL, &len);
	if (rv == CKR_OK) /* SoftHSM2 answers the size, fails the next */
		rv = mt->C_Sign(mt_s, msg, 246, sig, &len);
	assert_int_not_equal(rv, CKR_OK);
	session_usable(priv);
	mt_stop();
}

static void test_sign_too_long(void **state)
{
	(void)state;
	sign_too_long(false);
	sign_too_long(true);
}

static void test_pss_bad_input(void **state)
{
	(void)state;
	CK_RSA_PKCS_PSS_PARAMS big = {CKM_SHA256, CKG_MGF1_SHA256, 300};
	CK_RSA_PKCS_PSS_PARAMS most = {CKM_SHA256, CKG_MGF1_SHA256, 222};
	CK_RSA_PKCS_PSS_PARAMS over = {CKM_SHA256, CKG_MGF1_SHA256, 223};
	CK_RSA_PKCS_PSS_PARAMS p32 = {CKM_SHA256, CKG_MGF1_SHA256, 32};
	CK_MECHANISM hm = {CKM_SHA256_RSA_PKCS_PSS, &big, sizeof(big)};
	CK_MECHANISM rm = {CKM_RSA_PKCS_PSS, &p32, sizeof(p32)};
	unsigned char sig[256];
	CK_ULONG len;

	start(HIDE);
	CK_OBJECT_HANDLE priv = PRIV();
	/* a salt that cannot fit a 2048-bit key with SHA-256: refused at
	 * Init, nothing begun in the token */
	assert_int_equal(mt->C_SignInit(mt_s, &hm, priv),
			 CKR_MECHANISM_PARAM_INVALID);
	hm.pParameter = &over;
	assert_int_equal(mt->C_SignInit(mt_s, &hm, priv),
			 CKR_MECHANISM_PARAM_INVALID);
	session_usable(priv);
	/* the largest salt that fits signs and verifies */
	hm.pParameter = &most;
	len = sizeof(sig);
	assert_int_equal(mt_sign(&hm, priv, msg, 100, 0, sig, &len), CKR_OK);
	assert_int_equal(mt_verify(&hm, PUB(), msg, 100, 0, sig, len), CKR_OK);
	/* CKM_RSA_PKCS_PSS takes exactly the hash: 31 bytes fail at C_Sign */
	len = sizeof(sig);
	assert_int_equal(mt->C_SignInit(mt_s, &rm, priv), CKR_OK);
	assert_int_equal(mt->C_Sign(mt_s, msg, 31, sig, &len),
			 CKR_DATA_LEN_RANGE);
	session_usable(priv);
	mt_stop();
}

/* Multi-part calls on single-part completed mechanisms fail and end the
 * operation everywhere. */
static void test_single_part(void **state)
{
	(void)state;
	CK_MECHANISM m = {CKM_RSA_PKCS, NULL, 0};
	unsigned char out[256];
	CK_ULONG len = sizeof(out);

	start(HIDE);
	CK_OBJECT_HANDLE priv = PRIV();
	assert_int_equal(mt->C_SignInit(mt_s, &m, priv), CKR_OK);
	assert_int_not_equal(mt->C_SignUpdate(mt_s, msg, 10), CKR_OK);
	session_usable(priv);
	assert_int_equal(mt->C_SignInit(mt_s, &m, priv), CKR_OK);
	assert_int_not_equal(mt->C_SignFinal(mt_s, out, &len), CKR_OK);
	session_usable(priv);
	assert_int_equal(mt->C_DecryptInit(mt_s, &m, priv), CKR_OK);
	len = sizeof(out);
	assert_int_not_equal(mt->C_DecryptUpdate(mt_s, msg, 256, out, &len),
			     CKR_OK);
	session_usable(priv);
	assert_int_equal(mt->C_DecryptInit(mt_s, &m, priv), CKR_OK);
	len = sizeof(out);
	assert_int_not_equal(mt->C_DecryptFinal(mt_s, out, &len), CKR_OK);
	session_usable(priv);
	mt_stop();
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s p11overlay.so libsofthsm2.so\n",
			argv[0]);
		return 2;
	}
	softhsm = argv[2];
	if (access(softhsm, R_OK) != 0)
		return 77;
	p11test_load(&mt_m, argv[1]);
	mt = mt_m.fl;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sign_too_long),
	    cmocka_unit_test(test_pss_bad_input),
	    cmocka_unit_test(test_single_part),
	};
	int r = cmocka_run_group_tests(tests, setup, teardown);
	p11test_unload(&mt_m);
	return r;
}
