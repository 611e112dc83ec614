/* The mechanisms addon in front of SoftHSM2.  SoftHSM2 has most
 * mechanisms itself, so [mechanisms] hide makes the layer treat some as
 * absent and complete them; the results are compared with SoftHSM2's own
 * (PKCS#1 v1.5 signatures and digests byte for byte, PSS / OAEP / ECDSA by
 * verifying or decrypting on the other side).  In the same process the
 * proxy is re-initialised with each config; SoftHSM2 is the same library
 * instance, so its own list is also read directly.
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

#include "mtest.h"
#include "p11test_canary.h"

static const char *softhsm;
static unsigned char msg[1000];

#define OFF "[mechanisms]\nenabled = no\n"
#define DEF ""
#define HIDE_LIST                                                              \
	"CKM_SHA1_RSA_PKCS, CKM_SHA224_RSA_PKCS, CKM_SHA256_RSA_PKCS, "        \
	"CKM_SHA384_RSA_PKCS, CKM_SHA512_RSA_PKCS, CKM_RSA_PKCS_PSS, "         \
	"CKM_SHA256_RSA_PKCS_PSS, CKM_SHA384_RSA_PKCS_PSS, "                   \
	"CKM_RSA_PKCS_OAEP, "                                                  \
	"CKM_MD5, CKM_SHA_1, CKM_SHA256, CKM_SHA512"
/* composites over the token's CKM_RSA_PKCS / CKM_RSA_X_509 */
#define HIDE_A "[mechanisms]\nhide = " HIDE_LIST "\n"
/* everything over CKM_RSA_X_509 */
#define HIDE_B "[mechanisms]\nhide = " HIDE_LIST ", CKM_RSA_PKCS\n"

static void start(const char *conf)
{
	mt_start(softhsm, conf, "mech soft", "1234");
}

static void keypair(const char *id, CK_KEY_TYPE kt, CK_BBOOL allow)
{
	static const CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
				       0xce, 0x3d, 0x03, 0x01, 0x07};
	CK_OBJECT_CLASS pubc = CKO_PUBLIC_KEY, privc = CKO_PRIVATE_KEY;
	CK_BBOOL yes = CK_TRUE;
	CK_ULONG bits = 2048;
	CK_BYTE e[] = {1, 0, 1};
	bool rsa = kt == CKK_RSA;
	CK_ATTRIBUTE pub[] = {
	    {CKA_CLASS, &pubc, sizeof(pubc)},
	    {CKA_TOKEN, &yes, 1},
	    {CKA_ID, (void *)id, strlen(id)},
	    {CKA_VERIFY, &allow, 1},
	    {rsa ? CKA_MODULUS_BITS : CKA_EC_PARAMS,
	     rsa ? (void *)&bits : (void *)p256,
	     rsa ? sizeof(bits) : sizeof(p256)},
	    {CKA_ENCRYPT, &allow, 1},
	    {CKA_PUBLIC_EXPONENT, e, 3},
	};
	CK_ATTRIBUTE priv[] = {
	    {CKA_CLASS, &privc, sizeof(privc)},
	    {CKA_TOKEN, &yes, 1},
	    {CKA_ID, (void *)id, strlen(id)},
	    {CKA_SIGN, &allow, 1},
	    {CKA_PRIVATE, &yes, 1},
	    {CKA_DECRYPT, &allow, 1},
	};
	CK_MECHANISM m = {rsa ? CKM_RSA_PKCS_KEY_PAIR_GEN : CKM_EC_KEY_PAIR_GEN,
			  NULL, 0};
	CK_OBJECT_HANDLE a, b;
	assert_int_equal(mt->C_GenerateKeyPair(mt_s, &m, pub, rsa ? 7 : 5, priv,
					       rsa ? 6 : 5, &a, &b),
			 CKR_OK);
}

static int setup(void **state)
{
	(void)state;
	p11test_softhsm_start("mech soft", "1234", "5678");
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (unsigned char)(i * 7 + 3);
	start(OFF);
	keypair("01", CKK_RSA, CK_TRUE);
	keypair("02", CKK_EC, CK_TRUE);
	keypair("03", CKK_RSA, CK_FALSE);
	mt_stop();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return p11test_softhsm_stop();
}

#define PRIV(id) mt_find(CKO_PRIVATE_KEY, id)
#define PUB(id) mt_find(CKO_PUBLIC_KEY, id)

static const CK_MECHANISM_TYPE rsa_hash[] = {
    CKM_SHA1_RSA_PKCS, CKM_SHA224_RSA_PKCS, CKM_SHA256_RSA_PKCS,
    CKM_SHA384_RSA_PKCS, CKM_SHA512_RSA_PKCS};
#define NHASH (sizeof(rsa_hash) / sizeof(rsa_hash[0]))

/* A SHA-256 DigestInfo, for CKM_RSA_PKCS. */
static const unsigned char di[51] = {
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
    0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20, 1,    2,    3,
    4,    5,    6,    7,    8,    9,    10,   11,   12,   13,   14,
    15,   16,   17,   18,   19,   20,   21,   22,   23,   24,   25,
    26,   27,   28,   29,   30,   31,   32};

static void test_info(void **state)
{
	(void)state;
	CK_MECHANISM_INFO base, i;
	start(OFF);
	assert_int_equal(mt_info(CKM_RSA_PKCS, &base), CKR_OK);
	mt_stop();

	start(HIDE_A);
	assert_true(mt_listed(CKM_SHA256_RSA_PKCS));
	assert_int_equal(mt_info(CKM_SHA256_RSA_PKCS, &i), CKR_OK);
	assert_int_equal(i.flags, CKF_SIGN | CKF_VERIFY);
	assert_int_equal(i.ulMinKeySize, base.ulMinKeySize);
	assert_int_equal(i.ulMaxKeySize, base.ulMaxKeySize);
	assert_int_equal(mt_info(CKM_SHA256_RSA_PKCS_PSS, &i), CKR_OK);
	assert_int_equal(i.flags, CKF_SIGN | CKF_VERIFY);
	assert_int_equal(mt_info(CKM_RSA_PKCS_OAEP, &i), CKR_OK);
	assert_int_equal(i.flags, CKF_ENCRYPT | CKF_DECRYPT);
	assert_int_equal(mt_info(CKM_SHA256, &i), CKR_OK);
	assert_int_equal(i.flags, CKF_DIGEST);
	mt_stop();

	start(HIDE_B); /* CKM_RSA_PKCS itself over CKM_RSA_X_509, no wrap */
	assert_true(mt_listed(CKM_RSA_PKCS));
	assert_int_equal(mt_info(CKM_RSA_PKCS, &i), CKR_OK);
	assert_int_equal(i.flags,
			 CKF_SIGN | CKF_VERIFY | CKF_ENCRYPT | CKF_DECRYPT);
	assert_int_equal(i.ulMaxKeySize, base.ulMaxKeySize);
	mt_stop();
}

static void test_rsa_pkcs_identical(void **state)
{
	(void)state;
	static const char *confs[] = {HIDE_A, HIDE_B};
	unsigned char native[NHASH + 1][256], sig[300];
	CK_ULONG len;

	start(OFF);
	for (size_t i = 0; i <= NHASH; i++) {
		CK_MECHANISM m = {i < NHASH ? rsa_hash[i] : CKM_RSA_PKCS, NULL,
				  0};
		len = sizeof(sig);
		assert_int_equal(mt_sign(&m, PRIV("01"), i < NHASH ? msg : di,
					 i < NHASH ? sizeof(msg) : sizeof(di),
					 0, native[i], &len),
				 CKR_OK);
		assert_int_equal(len, 256);
	}
	mt_stop();
	for (size_t c = 0; c < 2; c++) {
		start(confs[c]);
		for (size_t i = 0; i <= NHASH; i++) {
			CK_MECHANISM m = {
			    i < NHASH ? rsa_hash[i] : CKM_RSA_PKCS, NULL, 0};
			const void *d = i < NHASH ? msg : di;
			size_t dl = i < NHASH ? sizeof(msg) : sizeof(di);
			for (int parts = 0; parts <= (i < NHASH ? 3 : 0);
			     parts += 3) {
				len = sizeof(sig);
				assert_int_equal(mt_sign(&m, PRIV("01"), d, dl,
							 parts, sig, &len),
						 CKR_OK);
				assert_int_equal(len, 256);
				assert_memory_equal(sig, native[i], 256);
			}
			/* verify in software from the public key */
			assert_int_equal(
			    mt_verify(&m, PUB("01"), d, dl, 0, native[i], 256),
			    CKR_OK);
			sig[10] ^= 1;
			assert_int_equal(
			    mt_verify(&m, PUB("01"), d, dl, 0, sig, 256),
			    CKR_SIGNATURE_INVALID);
		}
		/* a short buffer keeps the operation for the retry */
		CK_MECHANISM m = {CKM_SHA256_RSA_PKCS, NULL, 0};
		assert_int_equal(mt->C_SignInit(mt_s, &m, PRIV("01")), CKR_OK);
		len = 10;
		CK_BYTE *short_sig = p11test_canary_alloc(len);
		assert_int_equal(
		    mt->C_Sign(mt_s, msg, sizeof(msg), short_sig, &len),
		    CKR_BUFFER_TOO_SMALL);
		assert_true(p11test_canary_free(short_sig, "C_Sign short"));
		assert_int_equal(len, 256);
		assert_int_equal(mt->C_Sign(mt_s, msg, sizeof(msg), sig, &len),
				 CKR_OK);
		assert_memory_equal(sig, native[2], 256);
		mt_stop();
	}
}

static void test_pss(void **state)
{
	(void)state;
	CK_RSA_PKCS_PSS_PARAMS p256 = {CKM_SHA256, CKG_MGF1_SHA256, 32};
	CK_RSA_PKCS_PSS_PARAMS p384 = {CKM_SHA384, CKG_MGF1_SHA384, 48};
	CK_MECHANISM hm = {CKM_SHA256_RSA_PKCS_PSS, &p256, sizeof(p256)};
	CK_MECHANISM rm = {CKM_RSA_PKCS_PSS, &p384, sizeof(p384)};
	CK_MECHANISM_TYPE sha384 = CKM_SHA384;
	unsigned char h[48], nat[2][256], emu[2][2][256];
	CK_ULONG len = sizeof(h);
	static const char *confs[] = {HIDE_A, HIDE_B};

	start(OFF);
	assert_int_equal(mt_digest(sha384, msg, sizeof(msg), 0, h, &len),
			 CKR_OK);
	len = 256;
	assert_int_equal(
	    mt_sign(&hm, PRIV("01"), msg, sizeof(msg), 0, nat[0], &len),
	    CKR_OK);
	len = 256;
	assert_int_equal(mt_sign(&rm, PRIV("01"), h, 48, 0, nat[1], &len),
			 CKR_OK);
	mt_stop();
	for (size_t c = 0; c < 2; c++) {
		start(confs[c]);
		len = 256;
		assert_int_equal(mt_sign(&hm, PRIV("01"), msg, sizeof(msg), 3,
					 emu[c][0], &len),
				 CKR_OK);
		assert_int_equal(len, 256);
		len = 256;
		assert_int_equal(
		    mt_sign(&rm, PRIV("01"), h, 48, 0, emu[c][1], &len),
		    CKR_OK);
		assert_int_equal(
		    mt_verify(&hm, PUB("01"), msg, sizeof(msg), 2, nat[0], 256),
		    CKR_OK);
		assert_int_equal(
		    mt_verify(&rm, PUB("01"), h, 48, 0, nat[1], 256), CKR_OK);
		nat[0][100] ^= 0x80;
		assert_int_equal(
		    mt_verify(&hm, PUB("01"), msg, sizeof(msg), 0, nat[0], 256),
		    CKR_SIGNATURE_INVALID);
		nat[0][100] ^= 0x80;
		/* the composite's hash must be its own */
		CK_MECHANISM bad = {CKM_SHA256_RSA_PKCS_PSS, &p384,
				    sizeof(p384)};
		assert_int_equal(mt->C_SignInit(mt_s, &bad, PRIV("01")),
				 CKR_MECHANISM_PARAM_INVALID);
		mt_stop();
	}
	start(OFF); /* SoftHSM2 accepts what the layer made */
	for (size_t c = 0; c < 2; c++) {
		assert_int_equal(mt_verify(&hm, PUB("01"), msg, sizeof(msg), 0,
					   emu[c][0], 256),
				 CKR_OK);
		assert_int_equal(
		    mt_verify(&rm, PUB("01"), h, 48, 0, emu[c][1], 256),
		    CKR_OK);
	}
	mt_stop();
}

static void test_oaep(void **state)
{
	(void)state;
	CK_RSA_PKCS_OAEP_PARAMS p1 = {CKM_SHA_1, CKG_MGF1_SHA1,
				      CKZ_DATA_SPECIFIED, NULL, 0};
	CK_RSA_PKCS_OAEP_PARAMS pl = {CKM_SHA256, CKG_MGF1_SHA256,
				      CKZ_DATA_SPECIFIED, (void *)"label", 5};
	CK_MECHANISM o1 = {CKM_RSA_PKCS_OAEP, &p1, sizeof(p1)};
	CK_MECHANISM ol = {CKM_RSA_PKCS_OAEP, &pl, sizeof(pl)};
	CK_MECHANISM v15 = {CKM_RSA_PKCS, NULL, 0};
	unsigned char ctn[256], ctn15[256], cte[256], cte15[256], pt[256];
	CK_ULONG len;

	start(OFF);
	len = 256;
	assert_int_equal(mt_encrypt(&o1, PUB("01"), msg, 40, ctn, &len),
			 CKR_OK);
	len = 256;
	assert_int_equal(mt_encrypt(&v15, PUB("01"), msg, 50, ctn15, &len),
			 CKR_OK);
	mt_stop();

	start(HIDE_B);
	len = sizeof(pt);
	assert_int_equal(mt_decrypt(&o1, PRIV("01"), ctn, 256, pt, &len),
			 CKR_OK);
	assert_int_equal(len, 40);
	assert_memory_equal(pt, msg, 40);
	len = sizeof(pt);
	assert_int_equal(mt_decrypt(&v15, PRIV("01"), ctn15, 256, pt, &len),
			 CKR_OK);
	assert_int_equal(len, 50);
	assert_memory_equal(pt, msg, 50);
	len = 256;
	assert_int_equal(mt_encrypt(&o1, PUB("01"), msg, 33, cte, &len),
			 CKR_OK);
	len = 256;
	assert_int_equal(mt_encrypt(&v15, PUB("01"), msg, 34, cte15, &len),
			 CKR_OK);
	/* a label, SHA-256: round trip, and the wrong label is refused */
	len = 256;
	assert_int_equal(mt_encrypt(&ol, PUB("01"), msg, 20, ctn, &len),
			 CKR_OK);
	len = sizeof(pt);
	assert_int_equal(mt_decrypt(&ol, PRIV("01"), ctn, 256, pt, &len),
			 CKR_OK);
	assert_memory_equal(pt, msg, 20);
	pl.ulSourceDataLen = 4;
	len = sizeof(pt);
	assert_int_equal(mt_decrypt(&ol, PRIV("01"), ctn, 256, pt, &len),
			 CKR_ENCRYPTED_DATA_INVALID);
	/* a short output buffer keeps the plaintext for the retry */
	assert_int_equal(mt->C_DecryptInit(mt_s, &o1, PRIV("01")), CKR_OK);
	len = 5;
	CK_BYTE *short_pt = p11test_canary_alloc(len);
	assert_int_equal(mt->C_Decrypt(mt_s, cte, 256, short_pt, &len),
			 CKR_BUFFER_TOO_SMALL);
	assert_true(p11test_canary_free(short_pt, "C_Decrypt short"));
	assert_int_equal(len, 33);
	len = sizeof(pt);
	assert_int_equal(mt->C_Decrypt(mt_s, cte, 256, pt, &len), CKR_OK);
	assert_int_equal(len, 33);
	assert_memory_equal(pt, msg, 33);
	mt_stop();

	start(OFF);
	len = sizeof(pt);
	assert_int_equal(mt_decrypt(&o1, PRIV("01"), cte, 256, pt, &len),
			 CKR_OK);
	assert_int_equal(len, 33);
	assert_memory_equal(pt, msg, 33);
	len = sizeof(pt);
	assert_int_equal(mt_decrypt(&v15, PRIV("01"), cte15, 256, pt, &len),
			 CKR_OK);
	assert_int_equal(len, 34);
	mt_stop();
}

static void test_ecdsa(void **state)
{
	(void)state;
	CK_MECHANISM es = {CKM_ECDSA_SHA256, NULL, 0}, e = {CKM_ECDSA, NULL, 0};
	CK_MECHANISM_INFO i, base;
	unsigned char h[32], sig[64], nsig[64];
	CK_ULONG len = 32;
	bool native;

	start(OFF);
	native = mt_info(CKM_ECDSA_SHA256, &i) == CKR_OK;
	assert_int_equal(mt_info(CKM_ECDSA, &base), CKR_OK);
	assert_int_equal(mt_digest(CKM_SHA256, msg, sizeof(msg), 0, h, &len),
			 CKR_OK);
	len = 64;
	assert_int_equal(mt_sign(&e, PRIV("02"), h, 32, 0, nsig, &len), CKR_OK);
	mt_stop();

	start(native ? "[mechanisms]\nhide = CKM_ECDSA_SHA256\n" : DEF);
	assert_true(mt_listed(CKM_ECDSA_SHA256));
	assert_int_equal(mt_info(CKM_ECDSA_SHA256, &i), CKR_OK);
	assert_int_equal(i.flags,
			 CKF_SIGN | CKF_VERIFY |
			     (base.flags & ~(CKF_HW | CKF_SIGN | CKF_VERIFY)));
	assert_int_equal(i.ulMaxKeySize, base.ulMaxKeySize);
	len = 64;
	assert_int_equal(
	    mt_sign(&es, PRIV("02"), msg, sizeof(msg), 4, sig, &len), CKR_OK);
	assert_int_equal(len, 64);
	assert_int_equal(
	    mt_verify(&es, PUB("02"), msg, sizeof(msg), 0, sig, 64), CKR_OK);
	assert_int_equal(
	    mt_verify(&es, PUB("02"), msg, sizeof(msg), 3, nsig, 64), CKR_OK);
	assert_int_equal(
	    mt_verify(&es, PUB("02"), msg, sizeof(msg), 0, sig, 63),
	    CKR_SIGNATURE_LEN_RANGE);
	assert_int_equal(mt->C_SignInit(mt_s, &es, PRIV("01")),
			 CKR_KEY_TYPE_INCONSISTENT);
	mt_stop();

	start(OFF);
	assert_int_equal(mt_verify(&e, PUB("02"), h, 32, 0, sig, 64), CKR_OK);
	mt_stop();
}

static void test_digest(void **state)
{
	(void)state;
	static const CK_MECHANISM_TYPE d[] = {CKM_MD5, CKM_SHA_1, CKM_SHA256,
					      CKM_SHA512};
	unsigned char nat[4][64], out[64];
	CK_ULONG len;

	start(OFF);
	for (size_t i = 0; i < 4; i++) {
		len = 64;
		assert_int_equal(
		    mt_digest(d[i], msg, sizeof(msg), 0, nat[i], &len), CKR_OK);
	}
	mt_stop();
	start(HIDE_A);
	for (size_t i = 0; i < 4; i++) {
		assert_true(mt_listed(d[i]));
		for (int parts = 0; parts <= 5; parts += 5) {
			len = 64;
			assert_int_equal(
			    mt_digest(d[i], msg, sizeof(msg), parts, out, &len),
			    CKR_OK);
			assert_memory_equal(out, nat[i], len);
		}
	}
	CK_MECHANISM m = {CKM_SHA256, NULL, 0};
	assert_int_equal(mt->C_DigestInit(mt_s, &m), CKR_OK);
	assert_int_equal(mt->C_DigestInit(mt_s, &m), CKR_OPERATION_ACTIVE);
	assert_int_equal(mt->C_GetOperationState(mt_s, NULL, &len),
			 CKR_STATE_UNSAVEABLE);
	len = 0;
	assert_int_equal(mt->C_Digest(mt_s, msg, sizeof(msg), NULL, &len),
			 CKR_OK);
	assert_int_equal(len, 32);
	len = 31;
	CK_BYTE *short_md = p11test_canary_alloc(len);
	assert_int_equal(mt->C_Digest(mt_s, msg, sizeof(msg), short_md, &len),
			 CKR_BUFFER_TOO_SMALL);
	assert_true(p11test_canary_free(short_md, "C_Digest short"));
	len = 32;
	assert_int_equal(mt->C_Digest(mt_s, msg, sizeof(msg), out, &len),
			 CKR_OK);
	assert_memory_equal(out, nat[2], 32);
	/* an operation left open is freed when the session closes */
	assert_int_equal(mt->C_DigestInit(mt_s, &m), CKR_OK);
	assert_int_equal(mt->C_CloseSession(mt_s), CKR_OK);
	assert_int_equal(
	    mt->C_OpenSession(mt_slot, CKF_SERIAL_SESSION, NULL, NULL, &mt_s),
	    CKR_OK);
	len = 64;
	assert_int_equal(mt_digest(CKM_SHA256, msg, 10, 0, out, &len), CKR_OK);
	mt_stop();
}

static void test_not_permitted(void **state)
{
	(void)state;
	CK_RSA_PKCS_OAEP_PARAMS p1 = {CKM_SHA_1, CKG_MGF1_SHA1,
				      CKZ_DATA_SPECIFIED, NULL, 0};
	CK_MECHANISM o = {CKM_RSA_PKCS_OAEP, &p1, sizeof(p1)};
	CK_MECHANISM s = {CKM_SHA256_RSA_PKCS, NULL, 0};

	start(HIDE_B);
	assert_int_equal(mt->C_SignInit(mt_s, &s, PRIV("03")),
			 CKR_KEY_FUNCTION_NOT_PERMITTED);
	assert_int_equal(mt->C_VerifyInit(mt_s, &s, PUB("03")),
			 CKR_KEY_FUNCTION_NOT_PERMITTED);
	assert_int_equal(mt->C_EncryptInit(mt_s, &o, PUB("03")),
			 CKR_KEY_FUNCTION_NOT_PERMITTED);
	assert_int_equal(mt->C_DecryptInit(mt_s, &o, PRIV("03")),
			 CKR_KEY_FUNCTION_NOT_PERMITTED);
	/* verify needs the public key object */
	assert_int_equal(mt->C_VerifyInit(mt_s, &s, PRIV("01")),
			 CKR_KEY_TYPE_INCONSISTENT);
	assert_int_equal(mt->C_SignInit(mt_s, &s, 0x7fffff00),
			 CKR_KEY_HANDLE_INVALID);
	mt_stop();
}

static void test_disable_and_off(void **state)
{
	(void)state;
	CK_MECHANISM s = {CKM_SHA256_RSA_PKCS, NULL, 0};
	CK_MECHANISM es = {CKM_ECDSA_SHA256, NULL, 0};
	CK_MECHANISM s3 = {CKM_SHA384_RSA_PKCS, NULL, 0};
	unsigned char sig[256];
	CK_ULONG len = 256;

	start("[mechanisms]\nhide = CKM_SHA256_RSA_PKCS\n"
	      "disable = CKM_SHA256_RSA_PKCS, CKM_ECDSA_SHA256\n");
	assert_false(mt_listed(CKM_SHA256_RSA_PKCS));
	assert_int_equal(mt->C_SignInit(mt_s, &s, PRIV("01")),
			 CKR_MECHANISM_INVALID);
	assert_false(mt_listed(CKM_ECDSA_SHA256) &&
		     mt->C_SignInit(mt_s, &es, PRIV("02")) ==
			 CKR_MECHANISM_INVALID);
	assert_int_equal(mt_sign(&s3, PRIV("01"), msg, 9, 0, sig, &len),
			 CKR_OK);
	mt_stop();

	/* enabled = no: SoftHSM2's own list, and no engines */
	p11test_module direct;
	CK_MECHANISM_TYPE a[512], b[512];
	CK_ULONG na = 512, nb = 512;
	start(OFF);
	p11test_load(&direct, softhsm); /* the same, initialised instance */
	assert_int_equal(mt->C_GetMechanismList(mt_slot, a, &na), CKR_OK);
	CK_SLOT_ID pid = (CK_SLOT_ID)-1;
	p11test_find_token(direct.fl, "mech soft", false, &pid);
	assert_int_equal(direct.fl->C_GetMechanismList(pid, b, &nb), CKR_OK);
	assert_int_equal(na, nb);
	assert_memory_equal(a, b, na * sizeof(a[0]));
	CK_RV(*reg)
	(CK_MECHANISM_TYPE, const char *, CK_ENGINE_PTR) =
	    (CK_RV(*)(CK_MECHANISM_TYPE, const char *,
		      CK_ENGINE_PTR))p11test_sym(&mt_m, "C_RegisterEngine");
	assert_int_equal(reg(CKM_SHA256, "x", NULL),
			 CKR_FUNCTION_NOT_SUPPORTED);
	mt_stop();
	p11test_unload(&direct);
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
	    cmocka_unit_test(test_info),
	    cmocka_unit_test(test_rsa_pkcs_identical),
	    cmocka_unit_test(test_pss),
	    cmocka_unit_test(test_oaep),
	    cmocka_unit_test(test_ecdsa),
	    cmocka_unit_test(test_digest),
	    cmocka_unit_test(test_not_permitted),
	    cmocka_unit_test(test_disable_and_off),
	};
	int r = cmocka_run_group_tests(tests, setup, teardown);
	p11test_unload(&mt_m);
	return r;
}
