/* The mechanisms addon in front of OpenSC and the virtual card
 * (tests/card).  The card pads PKCS#1 v1.5 itself (no raw RSA), so OpenSC
 * offers CKM_RSA_PKCS and its own SHA*-RSA-PKCS; [mechanisms] hide makes
 * the layer build SHA-256/384/512-RSA-PKCS over CKM_RSA_PKCS instead.  PSS
 * and OAEP need raw RSA for the private key, so the proxy offers them only
 * with [mechanisms] public-only = yes, for the public-key functions: PSS
 * verify and OAEP encrypt in software,
 * checked against OpenSSL with the card's private key file from the rig's
 * state dir; signatures are verified with the certificate's key (read
 * through CKA_VALUE).  argv[1] = p11overlay.so. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "mtest.h"

#define OFF "[mechanisms]\nenabled = no\n"
#define HIDE                                                                   \
	"[mechanisms]\nhide = CKM_SHA256_RSA_PKCS, CKM_SHA384_RSA_PKCS, "      \
	"CKM_SHA512_RSA_PKCS\n"
#define PUB HIDE "public-only = yes\n"

static unsigned char msg[3000];

static void start(const char *conf, bool login)
{
	mt_start(getenv("RIG_OPENSC_MODULE"), conf, "(Identification)",
		 login ? "1234" : NULL);
}

/* The certificate's public key, read through the proxy. */
static EVP_PKEY *cert_key(void)
{
	static unsigned char der[4096];
	CK_ATTRIBUTE a = {CKA_VALUE, der, sizeof(der)};
	const unsigned char *p = der;

	assert_int_equal(mt->C_GetAttributeValue(
			     mt_s, mt_find(CKO_CERTIFICATE, "\x01"), &a, 1),
			 CKR_OK);
	X509 *x = d2i_X509(NULL, &p, (long)a.ulValueLen);
	assert_non_null(x);
	EVP_PKEY *k = X509_get_pubkey(x);
	X509_free(x);
	assert_non_null(k);
	return k;
}

/* The card's private key, from the rig's state dir (test side only). */
static EVP_PKEY *card_private_key(void)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/key1.key.pem", getenv("RIG_STATE"));
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(k);
	return k;
}

static bool ossl_verify(EVP_PKEY *k, const EVP_MD *md, bool pss,
			const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc;
	bool ok = EVP_DigestVerifyInit(c, &pc, md, NULL, k) > 0 &&
		  (!pss || EVP_PKEY_CTX_set_rsa_padding(
			       pc, RSA_PKCS1_PSS_PADDING) > 0) &&
		  EVP_DigestVerify(c, sig, siglen, msg, sizeof(msg)) == 1;
	EVP_MD_CTX_free(c);
	return ok;
}

static void test_info(void **state)
{
	(void)state;
	CK_MECHANISM_INFO base, i;

	start(OFF, false);
	assert_int_equal(mt_info(CKM_RSA_PKCS, &base), CKR_OK);
	assert_int_equal(mt_info(CKM_RSA_PKCS_PSS, &i), CKR_MECHANISM_INVALID);
	assert_int_equal(mt_info(CKM_RSA_X_509, &i), CKR_MECHANISM_INVALID);
	mt_stop();
	start(HIDE, false);
	assert_true(mt_listed(CKM_SHA384_RSA_PKCS));
	assert_int_equal(mt_info(CKM_SHA384_RSA_PKCS, &i), CKR_OK);
	assert_int_equal(i.flags, CKF_SIGN | CKF_VERIFY);
	assert_int_equal(i.ulMinKeySize, base.ulMinKeySize);
	assert_int_equal(i.ulMaxKeySize, base.ulMaxKeySize);
	/* no raw RSA on the card: by default neither PSS nor OAEP (GnuTLS
	 * and NSS would take them for mechanisms the card signs with) */
	assert_false(mt_listed(CKM_RSA_PKCS_PSS));
	assert_false(mt_listed(CKM_SHA256_RSA_PKCS_PSS));
	assert_false(mt_listed(CKM_RSA_PKCS_OAEP));
	assert_int_equal(mt_info(CKM_SHA256_RSA_PKCS_PSS, &i),
			 CKR_MECHANISM_INVALID);
	assert_int_equal(mt_info(CKM_RSA_PKCS_OAEP, &i), CKR_MECHANISM_INVALID);
	assert_int_equal(mt_info(CKM_RSA_PKCS, &i), CKR_OK);
	assert_int_equal(i.flags, base.flags | CKF_ENCRYPT | CKF_VERIFY);
	mt_stop();
	/* public-only: PSS and OAEP for the public key only */
	start(PUB, false);
	assert_true(mt_listed(CKM_SHA256_RSA_PKCS_PSS));
	assert_int_equal(mt_info(CKM_SHA256_RSA_PKCS_PSS, &i), CKR_OK);
	assert_int_equal(i.flags, CKF_VERIFY);
	assert_int_equal(mt_info(CKM_RSA_PKCS_OAEP, &i), CKR_OK);
	assert_int_equal(i.flags, CKF_ENCRYPT);
	assert_int_equal(mt_info(CKM_RSA_PKCS, &i), CKR_OK);
	assert_int_equal(i.flags, base.flags | CKF_ENCRYPT | CKF_VERIFY);
	mt_stop();
}

static void test_sign(void **state)
{
	(void)state;
	static const CK_MECHANISM_TYPE mech[] = {
	    CKM_SHA256_RSA_PKCS, CKM_SHA384_RSA_PKCS, CKM_SHA512_RSA_PKCS};
	const EVP_MD *md[] = {EVP_sha256(), EVP_sha384(), EVP_sha512()};
	unsigned char native[3][256], sig[256];
	CK_ULONG len;

	start(OFF, true);
	for (int i = 0; i < 3; i++) {
		CK_MECHANISM m = {mech[i], NULL, 0};
		len = 256;
		assert_int_equal(mt_sign(&m, mt_find(CKO_PRIVATE_KEY, "\x01"),
					 msg, sizeof(msg), 0, native[i], &len),
				 CKR_OK);
	}
	mt_stop();
	start(HIDE, true);
	EVP_PKEY *k = cert_key();
	for (int i = 0; i < 3; i++) {
		CK_MECHANISM m = {mech[i], NULL, 0};
		for (int parts = 0; parts <= 4; parts += 4) {
			len = 256;
			assert_int_equal(
			    mt_sign(&m, mt_find(CKO_PRIVATE_KEY, "\x01"), msg,
				    sizeof(msg), parts, sig, &len),
			    CKR_OK);
			assert_int_equal(len, 256);
			assert_true(ossl_verify(k, md[i], false, sig, len));
			assert_memory_equal(sig, native[i], 256);
		}
		/* and verified in software through the public key object */
		assert_int_equal(mt_verify(&m, mt_find(CKO_PUBLIC_KEY, "\x01"),
					   msg, sizeof(msg), 2, sig, 256),
				 CKR_OK);
	}
	EVP_PKEY_free(k);
	mt_stop();
}

static void test_pss(void **state)
{
	(void)state;
	CK_RSA_PKCS_PSS_PARAMS p = {CKM_SHA256, CKG_MGF1_SHA256, 32};
	CK_MECHANISM m = {CKM_SHA256_RSA_PKCS_PSS, &p, sizeof(p)};
	EVP_PKEY *k = card_private_key();
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc;
	unsigned char sig[256];
	size_t sl = sizeof(sig);

	assert_true(EVP_DigestSignInit(c, &pc, EVP_sha256(), NULL, k) > 0);
	assert_true(EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) >
		    0);
	assert_true(EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, 32) > 0);
	assert_true(EVP_DigestSign(c, sig, &sl, msg, sizeof(msg)) > 0);
	EVP_MD_CTX_free(c);
	EVP_PKEY_free(k);

	start(PUB, true);
	CK_OBJECT_HANDLE pub = mt_find(CKO_PUBLIC_KEY, "\x01");
	assert_int_equal(mt_verify(&m, pub, msg, sizeof(msg), 0, sig, sl),
			 CKR_OK);
	assert_int_equal(mt_verify(&m, pub, msg, sizeof(msg), 3, sig, sl),
			 CKR_OK);
	sig[5] ^= 4;
	assert_int_equal(mt_verify(&m, pub, msg, sizeof(msg), 0, sig, sl),
			 CKR_SIGNATURE_INVALID);
	/* signing would need raw RSA: OpenSC's answer */
	assert_int_equal(
	    mt->C_SignInit(mt_s, &m, mt_find(CKO_PRIVATE_KEY, "\x01")),
	    CKR_MECHANISM_INVALID);
	mt_stop();
}

static void test_encrypt(void **state)
{
	(void)state;
	CK_RSA_PKCS_OAEP_PARAMS p = {CKM_SHA256, CKG_MGF1_SHA256,
				     CKZ_DATA_SPECIFIED, (void *)"card", 4};
	CK_MECHANISM o = {CKM_RSA_PKCS_OAEP, &p, sizeof(p)};
	CK_MECHANISM v15 = {CKM_RSA_PKCS, NULL, 0};
	unsigned char ct[256], pt[256];
	CK_ULONG len = sizeof(ct);
	size_t pl = sizeof(pt);

	start(PUB, true);
	assert_int_equal(
	    mt_encrypt(&o, mt_find(CKO_PUBLIC_KEY, "\x01"), msg, 60, ct, &len),
	    CKR_OK);
	assert_int_equal(len, 256);
	assert_int_equal(
	    mt->C_DecryptInit(mt_s, &o, mt_find(CKO_PRIVATE_KEY, "\x01")),
	    CKR_MECHANISM_INVALID);
	/* PKCS#1 v1.5: encrypted in software, deciphered by the card */
	unsigned char ct15[256];
	len = sizeof(ct15);
	assert_int_equal(mt_encrypt(&v15, mt_find(CKO_PUBLIC_KEY, "\x01"), msg,
				    70, ct15, &len),
			 CKR_OK);
	len = sizeof(pt);
	assert_int_equal(mt_decrypt(&v15, mt_find(CKO_PRIVATE_KEY, "\x01"),
				    ct15, 256, pt, &len),
			 CKR_OK);
	assert_int_equal(len, 70);
	assert_memory_equal(pt, msg, 70);
	mt_stop();

	EVP_PKEY *k = card_private_key();
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
	assert_true(EVP_PKEY_decrypt_init(c) > 0);
	assert_true(EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) >
		    0);
	assert_true(EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha256()) > 0);
	assert_true(EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha256()) > 0);
	assert_true(EVP_PKEY_CTX_set0_rsa_oaep_label(
			c, OPENSSL_memdup("card", 4), 4) > 0);
	assert_true(EVP_PKEY_decrypt(c, pt, &pl, ct, 256) > 0);
	assert_int_equal(pl, 60);
	assert_memory_equal(pt, msg, 60);
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(k);
}

int main(int argc, char **argv)
{
	const char *module = argc > 1 ? argv[1] : "build/p11overlay.so";
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (unsigned char)(i ^ (i >> 8));
	p11test_rig_start();
	p11test_load(&mt_m, module);
	mt = mt_m.fl;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_info),
	    cmocka_unit_test(test_sign),
	    cmocka_unit_test(test_pss),
	    cmocka_unit_test(test_encrypt),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	p11test_unload(&mt_m);
	p11test_rig_cmd("stop");
	return rc;
}
