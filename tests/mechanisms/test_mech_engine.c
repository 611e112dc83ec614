/* C_RegisterEngine in front of SoftHSM2: an RSA engine (the test holds
 * the key in OpenSSL; SoftHSM2 holds the same key as objects, CKA_ID "e1")
 * signs and decrypts where the token's RSA is hidden, a digest engine and
 * a random engine replace the token's, from several threads too.
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
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "mtest.h"

static const char *softhsm;
static EVP_PKEY *key;
static unsigned char msg[777], native_sig[256];
static atomic_int ops, begins, updates, ends, aborted;
static unsigned char last_ref[16];
static CK_ULONG last_ref_len, last_in_len;
static CK_RV (*reg)(CK_MECHANISM_TYPE, const char *, CK_ENGINE_PTR);

#define HIDE_RSA                                                               \
	"[mechanisms]\nhide = CKM_RSA_PKCS, CKM_RSA_X_509, "                   \
	"CKM_SHA256_RSA_PKCS, CKM_SHA256\n"

static CK_RV rsa_operate(CK_VOID_PTR ctx, CK_FLAGS op, CK_MECHANISM_PTR m,
			 CK_BYTE_PTR ref, CK_ULONG reflen, CK_BYTE_PTR in,
			 CK_ULONG inlen, CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, ctx, NULL);
	size_t ol = *outlen;
	int ok;

	atomic_fetch_add(&ops, 1);
	if (m->mechanism != CKM_RSA_PKCS || reflen > sizeof(last_ref))
		return CKR_GENERAL_ERROR;
	memcpy(last_ref, ref, reflen);
	last_ref_len = reflen;
	last_in_len = inlen;
	if (op == CKF_SIGN)
		ok = EVP_PKEY_sign_init(c) > 0 &&
		     EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) > 0 &&
		     EVP_PKEY_sign(c, out, &ol, in, inlen) > 0;
	else
		ok = EVP_PKEY_decrypt_init(c) > 0 &&
		     EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) > 0 &&
		     EVP_PKEY_decrypt(c, out, &ol, in, inlen) > 0;
	EVP_PKEY_CTX_free(c);
	*outlen = ol;
	return ok ? CKR_OK : CKR_FUNCTION_FAILED;
}

/* SHA-256 with every byte ^ 0x5a, so the engine's output is recognised. */
static CK_RV dg_begin(CK_VOID_PTR ctx, CK_MECHANISM_PTR m, CK_VOID_PTR_PTR st)
{
	(void)ctx;
	atomic_fetch_add(&begins, 1);
	if (m->mechanism != CKM_SHA256)
		return CKR_GENERAL_ERROR;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	EVP_DigestInit_ex(c, EVP_sha256(), NULL);
	*st = c;
	return CKR_OK;
}

/* test_engine_reenters: the next update calls the module on mt_s.
 * test_engines_crossed: each thread's update calls the module on the
 * other thread's session while both are inside. */
static atomic_int reenter, crossing;
static CK_RV reentered;
static struct {
	pthread_barrier_t inside, tried;
	CK_SESSION_HANDLE session[2];
	CK_RV cross[2], digest[2];
	unsigned char out[2][32];
} crossed;
static _Thread_local int crossing_me = -1;

static CK_RV dg_update(CK_VOID_PTR ctx, CK_VOID_PTR st, CK_BYTE_PTR p,
		       CK_ULONG n)
{
	(void)ctx;
	atomic_fetch_add(&updates, 1);
	if (atomic_exchange(&reenter, 0))
		reentered = mt->C_DigestUpdate(mt_s, p, n);
	if (atomic_load(&crossing) && crossing_me >= 0) {
		const int me = crossing_me;
		pthread_barrier_wait(&crossed.inside);
		crossed.cross[me] =
		    mt->C_DigestUpdate(crossed.session[1 - me], p, n);
		pthread_barrier_wait(&crossed.tried);
	}
	EVP_DigestUpdate(st, p, n);
	return CKR_OK;
}

static CK_RV dg_end(CK_VOID_PTR ctx, CK_VOID_PTR st, CK_BYTE_PTR out,
		    CK_ULONG_PTR len)
{
	(void)ctx;
	unsigned l;
	atomic_fetch_add(out ? &ends : &aborted, 1);
	if (out) {
		EVP_DigestFinal_ex(st, out, &l);
		for (unsigned i = 0; i < l; i++)
			out[i] ^= 0x5a;
		*len = l;
	}
	EVP_MD_CTX_free(st);
	return CKR_OK;
}

static CK_RV rnd_operate(CK_VOID_PTR ctx, CK_FLAGS op, CK_MECHANISM_PTR m,
			 CK_BYTE_PTR ref, CK_ULONG reflen, CK_BYTE_PTR in,
			 CK_ULONG inlen, CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
	(void)ctx, (void)ref, (void)reflen, (void)in, (void)inlen;
	if (op != CKF_GENERATE || m->mechanism != CKM_P11O_RANDOM)
		return CKR_GENERAL_ERROR;
	memset(out, 0xa5, *outlen);
	return CKR_OK;
}

static CK_ENGINE rsa_engine(void)
{
	CK_ENGINE e = {CK_P11O_ENGINE_VERSION,
		       key,
		       CKF_SIGN | CKF_DECRYPT,
		       1024,
		       4096,
		       rsa_operate,
		       NULL,
		       NULL,
		       NULL};
	return e;
}

static CK_ENGINE digest_engine(void)
{
	CK_ENGINE e = {CK_P11O_ENGINE_VERSION,
		       NULL,
		       CKF_DIGEST,
		       0,
		       0,
		       NULL,
		       dg_begin,
		       dg_update,
		       dg_end};
	return e;
}

static void put_bn(CK_ATTRIBUTE *a, CK_ATTRIBUTE_TYPE t, const char *name,
		   unsigned char *buf)
{
	BIGNUM *bn = NULL;
	assert_true(EVP_PKEY_get_bn_param(key, name, &bn));
	a->type = t;
	a->pValue = buf;
	a->ulValueLen = (CK_ULONG)BN_bn2bin(bn, buf);
	BN_free(bn);
}

static void import_key(void)
{
	static const char *names[] = {
	    OSSL_PKEY_PARAM_RSA_N,         OSSL_PKEY_PARAM_RSA_E,
	    OSSL_PKEY_PARAM_RSA_D,         OSSL_PKEY_PARAM_RSA_FACTOR1,
	    OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
	    OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1};
	static const CK_ATTRIBUTE_TYPE types[] = {
	    CKA_MODULUS,    CKA_PUBLIC_EXPONENT, CKA_PRIVATE_EXPONENT,
	    CKA_PRIME_1,    CKA_PRIME_2,         CKA_EXPONENT_1,
	    CKA_EXPONENT_2, CKA_COEFFICIENT};
	static unsigned char bufs[8][512];
	CK_OBJECT_CLASS pc = CKO_PRIVATE_KEY, uc = CKO_PUBLIC_KEY;
	CK_KEY_TYPE kt = CKK_RSA;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE t[14] = {
	    {CKA_CLASS, &pc, sizeof(pc)}, {CKA_KEY_TYPE, &kt, sizeof(kt)},
	    {CKA_TOKEN, &yes, 1},         {CKA_ID, "e1", 2},
	    {CKA_SIGN, &yes, 1},          {CKA_DECRYPT, &yes, 1}};
	CK_OBJECT_HANDLE h;

	for (int i = 0; i < 8; i++)
		put_bn(&t[6 + i], types[i], names[i], bufs[i]);
	assert_int_equal(mt->C_CreateObject(mt_s, t, 14, &h), CKR_OK);
	t[0].pValue = &uc;
	t[4].type = CKA_VERIFY;
	t[5].type = CKA_ENCRYPT;
	assert_int_equal(mt->C_CreateObject(mt_s, t, 8, &h), CKR_OK);
}

static int setup(void **state)
{
	(void)state;
	p11test_softhsm_start("mech engine", "1234", "5678");
	key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	assert_non_null(key);
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (unsigned char)(i * 13);
	mt_start(softhsm, "[mechanisms]\nenabled = no\n", "mech engine",
		 "1234");
	import_key();
	CK_MECHANISM m = {CKM_SHA256_RSA_PKCS, NULL, 0};
	CK_ULONG len = 256;
	assert_int_equal(mt_sign(&m, mt_find(CKO_PRIVATE_KEY, "e1"), msg,
				 sizeof(msg), 0, native_sig, &len),
			 CKR_OK);
	mt_stop();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(key);
	return p11test_softhsm_stop();
}

static void test_register_rules(void **state)
{
	(void)state;
	mt_start(softhsm, HIDE_RSA, "mech engine", "1234");
	CK_ENGINE e = rsa_engine();
	assert_int_equal(reg(CKM_AES_CBC, "aes", &e), CKR_MECHANISM_INVALID);
	e.ulVersion = 2;
	assert_int_equal(reg(CKM_RSA_PKCS, "v2", &e), CKR_ARGUMENTS_BAD);
	e = rsa_engine();
	e.flags |= CKF_DIGEST;
	assert_int_equal(reg(CKM_RSA_PKCS, "rsa", &e), CKR_ARGUMENTS_BAD);
	e = digest_engine();
	e.DigestEnd = NULL;
	assert_int_equal(reg(CKM_SHA256, "sha", &e), CKR_ARGUMENTS_BAD);
	assert_int_equal(reg(CKM_SHA256, "none", NULL), CKR_OK);
	mt_stop();
}

static void test_rsa_engine(void **state)
{
	(void)state;
	CK_MECHANISM m = {CKM_SHA256_RSA_PKCS, NULL, 0};
	CK_MECHANISM v15 = {CKM_RSA_PKCS, NULL, 0};
	CK_MECHANISM_INFO i;
	unsigned char sig[256], ct[256], pt[256];
	CK_ULONG len = 0;

	mt_start(softhsm, HIDE_RSA, "mech engine", "1234");
	/* without the engine no key can sign or decrypt with it: not offered
	 * for the public-key functions either ([mechanisms] public-only) */
	assert_int_equal(mt_info(CKM_RSA_PKCS, &i), CKR_MECHANISM_INVALID);
	CK_ENGINE e = rsa_engine();
	assert_int_equal(reg(CKM_RSA_PKCS, "test rsa", &e), CKR_OK);
	memset(&e, 0, sizeof(e)); /* the proxy keeps its own copy */
	assert_int_equal(mt_info(CKM_RSA_PKCS, &i), CKR_OK);
	assert_int_equal(i.flags,
			 CKF_SIGN | CKF_DECRYPT | CKF_VERIFY | CKF_ENCRYPT);
	assert_int_equal(i.ulMinKeySize, 1024);
	assert_int_equal(i.ulMaxKeySize, 4096);
	assert_true(mt_listed(CKM_SHA256_RSA_PKCS));

	/* the size query does not reach the engine; one call per signature */
	CK_OBJECT_HANDLE priv = mt_find(CKO_PRIVATE_KEY, "e1");
	atomic_store(&ops, 0);
	assert_int_equal(mt->C_SignInit(mt_s, &m, priv), CKR_OK);
	assert_int_equal(mt->C_SignUpdate(mt_s, msg, 100), CKR_OK);
	assert_int_equal(mt->C_SignUpdate(mt_s, msg + 100, sizeof(msg) - 100),
			 CKR_OK);
	assert_int_equal(mt->C_SignFinal(mt_s, NULL, &len), CKR_OK);
	assert_int_equal(len, 256);
	assert_int_equal(atomic_load(&ops), 0);
	len = 256;
	assert_int_equal(mt->C_SignFinal(mt_s, sig, &len), CKR_OK);
	assert_int_equal(atomic_load(&ops), 1);
	assert_memory_equal(sig, native_sig, 256);
	assert_int_equal(last_ref_len, 2);
	assert_memory_equal(last_ref, "e1", 2);
	assert_int_equal(last_in_len, 19 + 32); /* a SHA-256 DigestInfo */

	/* decrypt: OpenSSL encrypts with the public key */
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
	size_t cl = sizeof(ct);
	assert_true(EVP_PKEY_encrypt_init(c) > 0);
	assert_true(EVP_PKEY_encrypt(c, ct, &cl, msg, 42) > 0);
	EVP_PKEY_CTX_free(c);
	len = sizeof(pt);
	assert_int_equal(mt_decrypt(&v15, priv, ct, cl, pt, &len), CKR_OK);
	assert_int_equal(len, 42);
	assert_memory_equal(pt, msg, 42);
	mt_stop();
}

static void *signer(void *arg)
{
	CK_OBJECT_HANDLE priv = *(CK_OBJECT_HANDLE *)arg;
	CK_SESSION_HANDLE s;
	CK_MECHANISM m = {CKM_SHA256_RSA_PKCS, NULL, 0};
	unsigned char sig[256];
	long bad = 0;

	if (mt->C_OpenSession(mt_slot, CKF_SERIAL_SESSION, NULL, NULL, &s))
		return (void *)1L;
	for (int i = 0; i < 25; i++) {
		CK_ULONG len = sizeof(sig);
		bad += mt->C_SignInit(s, &m, priv) != CKR_OK ||
		       mt->C_Sign(s, msg, sizeof(msg), sig, &len) != CKR_OK ||
		       memcmp(sig, native_sig, 256) != 0;
	}
	mt->C_CloseSession(s);
	return (void *)bad;
}

static void test_threads(void **state)
{
	(void)state;
	pthread_t t[4];
	void *r;

	mt_start(softhsm, HIDE_RSA, "mech engine", "1234");
	CK_ENGINE e = rsa_engine();
	assert_int_equal(reg(CKM_RSA_PKCS, "test rsa", &e), CKR_OK);
	CK_OBJECT_HANDLE priv = mt_find(CKO_PRIVATE_KEY, "e1");
	atomic_store(&ops, 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, signer, &priv), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], &r), 0);
		assert_null(r);
	}
	assert_int_equal(atomic_load(&ops), 100);
	mt_stop();
}

static void test_digest_and_random(void **state)
{
	(void)state;
	unsigned char want[32], out[32], rnd[40];
	unsigned l;
	CK_ULONG len = 32;

	EVP_Digest(msg, sizeof(msg), want, &l, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		want[i] ^= 0x5a;
	for (int prefer = 0; prefer < 2; prefer++) {
		mt_start(softhsm,
			 prefer ? "[mechanisms]\nprefer-engine = yes\n"
				: HIDE_RSA,
			 "mech engine", "1234");
		CK_ENGINE e = digest_engine();
		assert_int_equal(reg(CKM_SHA256, "sha", &e), CKR_OK);
		atomic_store(&begins, 0);
		atomic_store(&ends, 0);
		atomic_store(&aborted, 0);
		len = 32;
		assert_int_equal(
		    mt_digest(CKM_SHA256, msg, sizeof(msg), 3, out, &len),
		    CKR_OK);
		assert_memory_equal(out, want, 32);
		assert_int_equal(atomic_load(&begins), 1);
		assert_int_equal(atomic_load(&ends), 1);
		/* abandoned: the state goes back to the engine */
		CK_MECHANISM m = {CKM_SHA256, NULL, 0};
		assert_int_equal(mt->C_DigestInit(mt_s, &m), CKR_OK);
		assert_int_equal(mt->C_CloseSession(mt_s), CKR_OK);
		assert_int_equal(atomic_load(&aborted), 1);
		assert_int_equal(mt->C_OpenSession(mt_slot, CKF_SERIAL_SESSION,
						   NULL, NULL, &mt_s),
				 CKR_OK);
		/* removed: OpenSSL (hidden) or the token again */
		assert_int_equal(reg(CKM_SHA256, NULL, NULL), CKR_OK);
		len = 32;
		assert_int_equal(
		    mt_digest(CKM_SHA256, msg, sizeof(msg), 0, out, &len),
		    CKR_OK);
		out[0] ^= 0x5a;
		assert_memory_not_equal(out, want, 32);
		if (prefer) {
			CK_ENGINE r = {CK_P11O_ENGINE_VERSION,
				       NULL,
				       CKF_GENERATE,
				       0,
				       0,
				       rnd_operate,
				       NULL,
				       NULL,
				       NULL};
			assert_int_equal(reg(CKM_P11O_RANDOM, "rnd", &r),
					 CKR_OK);
			assert_int_equal(
			    mt->C_GenerateRandom(mt_s, rnd, sizeof(rnd)),
			    CKR_OK);
			for (size_t i = 0; i < sizeof(rnd); i++)
				assert_int_equal(rnd[i], 0xa5);
		}
		mt_stop();
	}
}

/* SoftHSM2 with SHA-256 hidden and the digest engine registered; `want`
 * gets what the engine makes of msg. */
static void start_digest_engine(unsigned char want[32])
{
	unsigned l;
	EVP_Digest(msg, sizeof(msg), want, &l, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		want[i] ^= 0x5a;
	mt_start(softhsm, HIDE_RSA, "mech engine", "1234");
	CK_ENGINE e = digest_engine();
	assert_int_equal(reg(CKM_SHA256, "sha", &e), CKR_OK);
}

/* An engine that calls the module on the session it works for, from
 * inside the proxy's operation (the session's record locked by its own
 * thread): the call fails at once with CKR_FUNCTION_FAILED instead of
 * waiting for its own thread (docs/architecture.md §3), and the digest is
 * still right.  SIGALRM ends the test if it waits. */
static void test_engine_reenters(void **state)
{
	(void)state;
	unsigned char want[32], out[32];
	CK_ULONG len = sizeof(out);
	start_digest_engine(want);
	CK_MECHANISM m = {CKM_SHA256, NULL, 0};
	assert_int_equal(mt->C_DigestInit(mt_s, &m), CKR_OK);
	reentered = CKR_OK;
	atomic_store(&reenter, 1);
	alarm(20);
	CK_RV rv = mt->C_DigestUpdate(mt_s, msg, sizeof(msg));
	alarm(0);
	assert_int_equal(rv, CKR_OK);
	assert_int_equal(reentered, CKR_FUNCTION_FAILED);
	assert_int_equal(mt->C_DigestFinal(mt_s, out, &len), CKR_OK);
	assert_int_equal(len, 32);
	assert_memory_equal(out, want, 32);
	assert_int_equal(reg(CKM_SHA256, NULL, NULL), CKR_OK);
	mt_stop();
}

static void *crossing_digester(void *arg)
{
	const int me = (int)(intptr_t)arg;
	CK_MECHANISM m = {CKM_SHA256, NULL, 0};
	CK_ULONG len = sizeof(crossed.out[me]);
	crossing_me = me;
	CK_RV rv = mt->C_DigestInit(crossed.session[me], &m);
	if (rv == CKR_OK)
		rv = mt->C_DigestUpdate(crossed.session[me], msg, sizeof(msg));
	crossing_me = -1;
	if (rv == CKR_OK)
		rv = mt->C_DigestFinal(crossed.session[me], crossed.out[me],
				       &len);
	crossed.digest[me] = rv;
	return NULL;
}

/* Two threads digest in two sessions with an engine, and each one's
 * engine calls the module on the other's session while both are inside
 * (each holding its own session's record): neither waits for the other,
 * both calls fail with CKR_FUNCTION_FAILED, both digests are right.
 * SIGALRM ends the test if they wait for each other. */
static void test_engines_crossed(void **state)
{
	(void)state;
	unsigned char want[32];
	start_digest_engine(want);
	for (int i = 0; i < 2; i++)
		assert_int_equal(mt->C_OpenSession(mt_slot, CKF_SERIAL_SESSION,
						   NULL, NULL,
						   &crossed.session[i]),
				 CKR_OK);
	pthread_barrier_init(&crossed.inside, NULL, 2);
	pthread_barrier_init(&crossed.tried, NULL, 2);
	atomic_store(&crossing, 1);
	alarm(20);
	pthread_t t[2];
	for (intptr_t i = 0; i < 2; i++)
		assert_int_equal(
		    pthread_create(&t[i], NULL, crossing_digester, (void *)i),
		    0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	alarm(0);
	atomic_store(&crossing, 0);
	pthread_barrier_destroy(&crossed.inside);
	pthread_barrier_destroy(&crossed.tried);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(crossed.cross[i], CKR_FUNCTION_FAILED);
		assert_int_equal(crossed.digest[i], CKR_OK);
		assert_memory_equal(crossed.out[i], want, 32);
		assert_int_equal(mt->C_CloseSession(crossed.session[i]),
				 CKR_OK);
	}
	assert_int_equal(reg(CKM_SHA256, NULL, NULL), CKR_OK);
	mt_stop();
}

/* The engine is promised at most k - 11 bytes to sign and a k-byte
 * ciphertext (include/p11overlay.h): other lengths get the standard error
 * without reaching it, and the session goes on. */
static void test_engine_input_lengths(void **state)
{
	(void)state;
	static const CK_ULONG too_long[] = {246, 256, 300};
	CK_MECHANISM v15 = {CKM_RSA_PKCS, NULL, 0};
	unsigned char sig[256], out[256];
	CK_ULONG len;

	mt_start(softhsm, HIDE_RSA, "mech engine", "1234");
	CK_ENGINE e = rsa_engine();
	assert_int_equal(reg(CKM_RSA_PKCS, "test rsa", &e), CKR_OK);
	CK_OBJECT_HANDLE priv = mt_find(CKO_PRIVATE_KEY, "e1");
	atomic_store(&ops, 0);
	for (size_t i = 0; i < 3; i++) {
		len = sizeof(sig);
		assert_int_equal(mt->C_SignInit(mt_s, &v15, priv), CKR_OK);
		assert_int_equal(mt->C_Sign(mt_s, msg, too_long[i], sig, &len),
				 CKR_DATA_LEN_RANGE);
		len = 0;
		assert_int_equal(mt->C_SignInit(mt_s, &v15, priv), CKR_OK);
		assert_int_equal(mt->C_Sign(mt_s, msg, too_long[i], NULL, &len),
				 CKR_DATA_LEN_RANGE);
	}
	assert_int_equal(atomic_load(&ops), 0);
	len = sizeof(sig);
	assert_int_equal(mt_sign(&v15, priv, msg, 245, 0, sig, &len), CKR_OK);
	assert_int_equal(atomic_load(&ops), 1);
	assert_int_equal(last_in_len, 245);
	/* what the engine signed is the message: OpenSSL recovers it */
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
	size_t rl = sizeof(out);
	assert_true(EVP_PKEY_verify_recover_init(c) > 0);
	assert_true(EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) > 0);
	assert_true(EVP_PKEY_verify_recover(c, out, &rl, sig, len) > 0);
	EVP_PKEY_CTX_free(c);
	assert_int_equal(rl, 245);
	assert_memory_equal(out, msg, 245);
	/* a ciphertext of 255 or 257 bytes is not one of this key */
	len = sizeof(out);
	assert_int_equal(mt_decrypt(&v15, priv, msg, 255, out, &len),
			 CKR_ENCRYPTED_DATA_LEN_RANGE);
	len = sizeof(out);
	assert_int_equal(mt_decrypt(&v15, priv, msg, 257, out, &len),
			 CKR_ENCRYPTED_DATA_LEN_RANGE);
	assert_int_equal(atomic_load(&ops), 1);
	mt_stop();
}

/* prefer-engine: the RSA_PKCS engine comes before the token, also for the
 * mechanisms built on it that SoftHSM2 has itself; its key sizes are the
 * mechanism's. */
static void test_prefer_engine_base(void **state)
{
	(void)state;
	CK_MECHANISM m = {CKM_SHA256_RSA_PKCS, NULL, 0};
	CK_MECHANISM_INFO tok, i;
	unsigned char sig[256];
	CK_ULONG len;

	mt_start(softhsm, "[mechanisms]\nprefer-engine = yes\n", "mech engine",
		 "1234");
	assert_int_equal(mt_info(CKM_SHA256_RSA_PKCS, &tok), CKR_OK);
	assert_int_not_equal(tok.ulMaxKeySize, 4096); /* SoftHSM2's */
	CK_ENGINE e = rsa_engine();
	assert_int_equal(reg(CKM_RSA_PKCS, "test rsa", &e), CKR_OK);
	assert_int_equal(mt_info(CKM_SHA256_RSA_PKCS, &i), CKR_OK);
	assert_true(i.flags & CKF_SIGN);
	assert_true(i.flags & CKF_VERIFY); /* still the token's */
	assert_int_equal(i.ulMinKeySize, 1024);
	assert_int_equal(i.ulMaxKeySize, 4096);
	CK_OBJECT_HANDLE priv = mt_find(CKO_PRIVATE_KEY, "e1");
	atomic_store(&ops, 0);
	len = sizeof(sig);
	assert_int_equal(mt_sign(&m, priv, msg, sizeof(msg), 0, sig, &len),
			 CKR_OK);
	assert_memory_equal(sig, native_sig, 256);
	assert_int_equal(atomic_load(&ops), 1);
	assert_int_equal(last_in_len, 19 + 32);
	assert_int_equal(mt_verify(&m, mt_find(CKO_PUBLIC_KEY, "e1"), msg,
				   sizeof(msg), 0, sig, len),
			 CKR_OK);
	/* removed: the token's mechanism and sizes again */
	assert_int_equal(reg(CKM_RSA_PKCS, NULL, NULL), CKR_OK);
	assert_int_equal(mt_info(CKM_SHA256_RSA_PKCS, &i), CKR_OK);
	assert_int_equal(i.ulMaxKeySize, tok.ulMaxKeySize);
	len = sizeof(sig);
	assert_int_equal(mt_sign(&m, priv, msg, sizeof(msg), 0, sig, &len),
			 CKR_OK);
	assert_memory_equal(sig, native_sig, 256);
	assert_int_equal(atomic_load(&ops), 1);
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
	reg = (CK_RV(*)(CK_MECHANISM_TYPE, const char *,
			CK_ENGINE_PTR))p11test_sym(&mt_m, "C_RegisterEngine");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_register_rules),
	    cmocka_unit_test(test_rsa_engine),
	    cmocka_unit_test(test_threads),
	    cmocka_unit_test(test_digest_and_random),
	    cmocka_unit_test(test_engine_reenters),
	    cmocka_unit_test(test_engines_crossed),
	    cmocka_unit_test(test_engine_input_lengths),
	    cmocka_unit_test(test_prefer_engine_base),
	};
	int r = cmocka_run_group_tests(tests, setup, teardown);
	p11test_unload(&mt_m);
	return r;
}
