/* Per-slot mechanism facts on the card rig: OpenSC behind
 * count_provider.so (it passes every call on and counts the
 * C_GetMechanismInfo calls).  Signing with the completed
 * CKM_SHA256_RSA_PKCS ([mechanisms] hide) asks the token once; after the
 * card is removed and inserted again (no event is read by the application,
 * so only the session's card insertion tells), the first Init asks again,
 * then nothing more.  Each signature is verified with the certificate's
 * key.  argv[1] = p11overlay.so, argv[2] = count_provider.so. */
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "mtest.h"

#define HIDE "[mechanisms]\nhide = CKM_SHA256_RSA_PKCS\n"

static const char *counter_path;
static unsigned long (*info_calls)(void);
static unsigned char msg[300];

static void open_logged_in(void)
{
	assert_int_equal(
	    mt->C_OpenSession(mt_slot, CKF_SERIAL_SESSION, NULL, NULL, &mt_s),
	    CKR_OK);
	assert_int_equal(mt->C_Login(mt_s, CKU_USER, (CK_UTF8CHAR *)"1234", 4),
			 CKR_OK);
}

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

static void sign_and_check(void)
{
	CK_MECHANISM m = {CKM_SHA256_RSA_PKCS, NULL, 0};
	unsigned char sig[256];
	CK_ULONG len = sizeof(sig);

	assert_int_equal(
	    mt->C_SignInit(mt_s, &m, mt_find(CKO_PRIVATE_KEY, "\x01")), CKR_OK);
	assert_int_equal(mt->C_Sign(mt_s, msg, sizeof(msg), sig, &len), CKR_OK);
	EVP_PKEY *k = cert_key();
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	assert_true(EVP_DigestVerifyInit(c, NULL, EVP_sha256(), NULL, k) > 0);
	assert_int_equal(EVP_DigestVerify(c, sig, len, msg, sizeof(msg)), 1);
	EVP_MD_CTX_free(c);
	EVP_PKEY_free(k);
}

static void test_card_swap(void **state)
{
	(void)state;
	setenv("COUNT_PROVIDER_TARGET", getenv("RIG_OPENSC_MODULE"), 1);
	mt_start(counter_path, HIDE, "(Identification)", "1234");
	sign_and_check();
	unsigned long first = info_calls();
	for (int i = 0; i < 5; i++)
		sign_and_check();
	assert_int_equal(info_calls(), first);

	p11test_rig_cmd("remove");
	p11test_rig_cmd("insert");
	mt->C_CloseAllSessions(mt_slot);
	/* as an application would: the slot list first */
	assert_true(p11test_find_token(mt, "(Identification)", true, &mt_slot));
	open_logged_in();
	unsigned long before = info_calls();
	sign_and_check();
	unsigned long after = info_calls();
	assert_true(after > before); /* another card: asked again */
	for (int i = 0; i < 3; i++)
		sign_and_check();
	assert_int_equal(info_calls(), after);
	mt_stop();
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s p11overlay.so count_provider.so\n",
			argv[0]);
		return 2;
	}
	counter_path = argv[2];
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (unsigned char)(i * 5 + 2);
	p11test_rig_start();
	p11test_load(&mt_m, argv[1]);
	mt = mt_m.fl;
	void *counter = dlopen(counter_path, RTLD_NOW);
	info_calls = counter ? (unsigned long (*)(void))dlsym(
				   counter, "count_provider_mechanism_info")
			     : NULL;
	if (!info_calls) {
		fprintf(stderr, "no counter: %s\n", dlerror());
		p11test_rig_cmd("stop");
		return 1;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_card_swap),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	p11test_unload(&mt_m);
	dlclose(counter);
	p11test_rig_cmd("stop");
	return r;
}
