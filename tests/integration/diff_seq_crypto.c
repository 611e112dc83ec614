/* Sequences: fixed and generated keys, sign and verify. */
#include <string.h>

#include "diff_keys.h"
#include "diff_record.h"

static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
static CK_OBJECT_CLASS c_priv = CKO_PRIVATE_KEY, c_pub = CKO_PUBLIC_KEY,
		       c_secret = CKO_SECRET_KEY;
static CK_KEY_TYPE k_rsa = CKK_RSA, k_ec = CKK_EC, k_aes = CKK_AES;

const unsigned char aes_value[32] = {
    0x60, 0x3d, 0xeb, 0x10, 0x15, 0xca, 0x71, 0xbe, 0x2b, 0x73, 0xae,
    0xf0, 0x85, 0x7d, 0x77, 0x81, 0x1f, 0x35, 0x2c, 0x07, 0x3b, 0x61,
    0x08, 0xd7, 0x2d, 0x98, 0x10, 0xa3, 0x09, 0x14, 0xdf, 0xf4};
const unsigned char aes2_value[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55,
				      0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
				      0xcc, 0xdd, 0xee, 0xff};

static void import_keys(CK_SESSION_HANDLE s)
{
	rec_step("import");
	CK_ATTRIBUTE rpriv[] = {ATTR(CKA_CLASS, &c_priv),
				ATTR(CKA_KEY_TYPE, &k_rsa),
				ATTR(CKA_TOKEN, &no),
				ATTR(CKA_PRIVATE, &yes),
				ATTR(CKA_SENSITIVE, &yes),
				ATTR(CKA_SIGN, &yes),
				ATTR(CKA_DECRYPT, &yes),
				ATTR(CKA_UNWRAP, &yes),
				ATTR_S(CKA_LABEL, "rsa"),
				ATTR_S(CKA_ID, "\x01"),
				ATTR_A(CKA_MODULUS, rsa_n),
				ATTR_A(CKA_PUBLIC_EXPONENT, rsa_e),
				ATTR_A(CKA_PRIVATE_EXPONENT, rsa_d),
				ATTR_A(CKA_PRIME_1, rsa_p),
				ATTR_A(CKA_PRIME_2, rsa_q),
				ATTR_A(CKA_EXPONENT_1, rsa_dp),
				ATTR_A(CKA_EXPONENT_2, rsa_dq),
				ATTR_A(CKA_COEFFICIENT, rsa_qinv)};
	D.rsa_priv = diff_create(s, rpriv, sizeof(rpriv) / sizeof(rpriv[0]));
	CK_ATTRIBUTE rpub[] = {
	    ATTR(CKA_CLASS, &c_pub),    ATTR(CKA_KEY_TYPE, &k_rsa),
	    ATTR(CKA_TOKEN, &no),       ATTR(CKA_VERIFY, &yes),
	    ATTR(CKA_ENCRYPT, &yes),    ATTR(CKA_WRAP, &yes),
	    ATTR_S(CKA_LABEL, "rsa"),   ATTR_S(CKA_ID, "\x01"),
	    ATTR_A(CKA_MODULUS, rsa_n), ATTR_A(CKA_PUBLIC_EXPONENT, rsa_e)};
	D.rsa_pub = diff_create(s, rpub, sizeof(rpub) / sizeof(rpub[0]));
	CK_ATTRIBUTE epriv[] = {ATTR(CKA_CLASS, &c_priv),
				ATTR(CKA_KEY_TYPE, &k_ec),
				ATTR(CKA_TOKEN, &no),
				ATTR(CKA_PRIVATE, &yes),
				ATTR(CKA_SENSITIVE, &yes),
				ATTR(CKA_SIGN, &yes),
				ATTR(CKA_DERIVE, &yes),
				ATTR_S(CKA_LABEL, "ec"),
				ATTR_A(CKA_EC_PARAMS, ec_params),
				ATTR_A(CKA_VALUE, ec_d)};
	D.ec_priv = diff_create(s, epriv, sizeof(epriv) / sizeof(epriv[0]));
	CK_ATTRIBUTE epub[] = {
	    ATTR(CKA_CLASS, &c_pub),       ATTR(CKA_KEY_TYPE, &k_ec),
	    ATTR(CKA_TOKEN, &no),          ATTR(CKA_VERIFY, &yes),
	    ATTR_S(CKA_LABEL, "ec"),       ATTR_A(CKA_EC_PARAMS, ec_params),
	    ATTR_A(CKA_EC_POINT, ec_point)};
	D.ec_pub = diff_create(s, epub, sizeof(epub) / sizeof(epub[0]));
	CK_ATTRIBUTE aes[] = {
	    ATTR(CKA_CLASS, &c_secret),  ATTR(CKA_KEY_TYPE, &k_aes),
	    ATTR(CKA_TOKEN, &no),        ATTR(CKA_SENSITIVE, &no),
	    ATTR(CKA_EXTRACTABLE, &yes), ATTR(CKA_ENCRYPT, &yes),
	    ATTR(CKA_DECRYPT, &yes),     ATTR(CKA_WRAP, &yes),
	    ATTR(CKA_UNWRAP, &yes),      ATTR(CKA_SIGN, &yes),
	    ATTR(CKA_VERIFY, &yes),      ATTR_S(CKA_LABEL, "aes"),
	    ATTR_A(CKA_VALUE, aes_value)};
	D.aes = diff_create(s, aes, sizeof(aes) / sizeof(aes[0]));
	CK_ATTRIBUTE aes2[] = {
	    ATTR(CKA_CLASS, &c_secret),   ATTR(CKA_KEY_TYPE, &k_aes),
	    ATTR(CKA_TOKEN, &no),         ATTR(CKA_SENSITIVE, &no),
	    ATTR(CKA_EXTRACTABLE, &yes),  ATTR(CKA_ENCRYPT, &yes),
	    ATTR(CKA_DECRYPT, &yes),      ATTR_S(CKA_LABEL, "aes2"),
	    ATTR_A(CKA_VALUE, aes2_value)};
	D.aes2 = diff_create(s, aes2, sizeof(aes2) / sizeof(aes2[0]));

	rec_step("key-attrs");
	CK_ATTRIBUTE_TYPE rsa_attrs[] = {
	    CKA_KEY_TYPE,          CKA_MODULUS,
	    CKA_PUBLIC_EXPONENT,   CKA_PRIVATE_EXPONENT,
	    CKA_PRIME_1,           CKA_LOCAL,
	    CKA_ALWAYS_SENSITIVE,  CKA_NEVER_EXTRACTABLE,
	    CKA_KEY_GEN_MECHANISM, CKA_ID,
	    CKA_MODULUS_BITS};
	for (size_t i = 0; i < sizeof(rsa_attrs) / sizeof(rsa_attrs[0]); i++) {
		diff_get_attr(s, D.rsa_priv, rsa_attrs[i]);
		diff_get_attr(s, D.rsa_pub, rsa_attrs[i]);
	}
	diff_get_attr(s, D.ec_priv, CKA_VALUE);
	diff_get_attr(s, D.ec_priv, CKA_EC_PARAMS);
	diff_get_attr(s, D.ec_pub, CKA_EC_POINT);
	diff_get_attr(s, D.aes, CKA_VALUE);
	diff_get_attr(s, D.aes, CKA_VALUE_LEN);
	diff_get_attr(s, D.aes, CKA_CHECK_VALUE);
	/* The private key sensitive attribute mixed with readable ones. */
	unsigned char b1[512], b2[512];
	CK_KEY_TYPE kt = 0;
	CK_ATTRIBUTE mix[] = {{CKA_KEY_TYPE, &kt, sizeof(kt)},
			      {CKA_PRIVATE_EXPONENT, b1, sizeof(b1)},
			      {CKA_MODULUS, b2, sizeof(b2)}};
	CALL(C_GetAttributeValue, s, D.rsa_priv, mix, 3);
	rec_template(mix, 3);
}

static CK_OBJECT_HANDLE gen_rsa, gen_rsa_pub, gen_ec, gen_ec_pub, gen_aes;

static void generate(CK_SESSION_HANDLE s)
{
	rec_step("generate");
	CK_ULONG bits = 2048;
	CK_BYTE e[] = {1, 0, 1};
	CK_MECHANISM m = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
	CK_ATTRIBUTE pub[] = {ATTR(CKA_TOKEN, &no), ATTR(CKA_VERIFY, &yes),
			      ATTR(CKA_ENCRYPT, &yes),
			      ATTR(CKA_MODULUS_BITS, &bits),
			      ATTR_A(CKA_PUBLIC_EXPONENT, e)};
	CK_ATTRIBUTE priv[] = {ATTR(CKA_TOKEN, &no), ATTR(CKA_PRIVATE, &yes),
			       ATTR(CKA_SIGN, &yes), ATTR(CKA_DECRYPT, &yes),
			       ATTR(CKA_SENSITIVE, &yes)};
	if (CALL(C_GenerateKeyPair, s, &m, pub, 5, priv, 5, &gen_rsa_pub,
		 &gen_rsa) == CKR_OK) {
		rec_obj("pub", gen_rsa_pub);
		rec_obj("priv", gen_rsa);
	}
	CK_OBJECT_HANDLE h1 = 0, h2 = 0;
	CALL(C_GenerateKeyPair, s, NULL, pub, 5, priv, 5, &h1, &h2);
	CALL(C_GenerateKeyPair, s, &m, pub, 5, priv, 5, NULL, &h2);
	CALL(C_GenerateKeyPair, s, &m, NULL, 5, priv, 5, &h1, &h2);
	CK_MECHANISM bad = {0x8000abcdUL, NULL, 0};
	CALL(C_GenerateKeyPair, s, &bad, pub, 5, priv, 5, &h1, &h2);
	CALL(C_GenerateKeyPair, 12345, &m, pub, 5, priv, 5, &h1, &h2);
	CALL(C_GenerateKeyPair, s, &m, pub, 4, priv, 5, &h1, &h2);
	diff_get_len(s, gen_rsa_pub, CKA_MODULUS);
	diff_get_attr(s, gen_rsa_pub, CKA_PUBLIC_EXPONENT);
	diff_get_attr(s, gen_rsa_pub, CKA_MODULUS_BITS);
	diff_get_attr(s, gen_rsa, CKA_LOCAL);
	diff_get_attr(s, gen_rsa, CKA_KEY_GEN_MECHANISM);
	diff_get_attr(s, gen_rsa, CKA_PRIVATE_EXPONENT);

	CK_MECHANISM me = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
	CK_ATTRIBUTE epub[] = {ATTR(CKA_TOKEN, &no), ATTR(CKA_VERIFY, &yes),
			       ATTR_A(CKA_EC_PARAMS, ec_params)};
	CK_ATTRIBUTE epriv[] = {ATTR(CKA_TOKEN, &no), ATTR(CKA_SIGN, &yes),
				ATTR(CKA_PRIVATE, &yes),
				ATTR(CKA_DERIVE, &yes)};
	if (CALL(C_GenerateKeyPair, s, &me, epub, 3, epriv, 4, &gen_ec_pub,
		 &gen_ec) == CKR_OK) {
		rec_obj("pub", gen_ec_pub);
		rec_obj("priv", gen_ec);
	}
	diff_get_attr(s, gen_ec_pub, CKA_EC_PARAMS);
	diff_get_len(s, gen_ec_pub, CKA_EC_POINT);
	diff_get_len(s, gen_ec, CKA_VALUE);

	CK_MECHANISM ma = {CKM_AES_KEY_GEN, NULL, 0};
	CK_ULONG len = 32;
	CK_ATTRIBUTE aes[] = {ATTR(CKA_TOKEN, &no), ATTR(CKA_VALUE_LEN, &len),
			      ATTR(CKA_ENCRYPT, &yes), ATTR(CKA_DECRYPT, &yes),
			      ATTR(CKA_EXTRACTABLE, &no)};
	if (CALL(C_GenerateKey, s, &ma, aes, 5, &gen_aes) == CKR_OK)
		rec_obj("h", gen_aes);
	diff_get_attr(s, gen_aes, CKA_VALUE_LEN);
	diff_get_attr(s, gen_aes, CKA_VALUE);
	D.gen_aes = gen_aes;
	CALL(C_GenerateKey, s, &ma, aes, 5, NULL);
	CALL(C_GenerateKey, s, NULL, aes, 5, &h1);
	CALL(C_GenerateKey, s, &ma, aes, 1, &h1);
}

/* Sign + verify, single-part.  `det`: the signature is deterministic
 * and recorded byte for byte; otherwise by length. */
static void sign1(CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE k,
		  CK_OBJECT_HANDLE pub, const void *data, CK_ULONG n, int det)
{
	CK_BYTE sig[1024];
	CK_ULONG len = 0;
	memset(sig, 0, sizeof(sig));
	CALL(C_SignInit, s, m, k);
	CALL(C_SignInit, s, m, k);
	CALL(C_Sign, s, (CK_BYTE_PTR)data, n, NULL, &len);
	rec_ul("len", len);
	CK_ULONG need = len;
	len = need ? need - 1 : 0;
	CK_BYTE *short_sig = rec_canary_buf(len);
	CALL(C_Sign, s, (CK_BYTE_PTR)data, n, short_sig, &len);
	rec_ul("len", len);
	rec_canary("canary", short_sig);
	len = sizeof(sig);
	if (CALL(C_Sign, s, (CK_BYTE_PTR)data, n, sig, &len) == CKR_OK) {
		if (det)
			rec_hex("sig", sig, len);
		else
			rec_ul("len", len);
	}
	CALL(C_Sign, s, (CK_BYTE_PTR)data, n, sig, &len);
	CALL(C_VerifyInit, s, m, pub);
	CALL(C_Verify, s, (CK_BYTE_PTR)data, n, sig, len);
	sig[len / 2] ^= 1;
	CALL(C_VerifyInit, s, m, pub);
	CALL(C_Verify, s, (CK_BYTE_PTR)data, n, sig, len);
	CALL(C_VerifyInit, s, m, pub);
	CALL(C_Verify, s, (CK_BYTE_PTR)data, n, sig, len - 1);
	CALL(C_Verify, s, (CK_BYTE_PTR)data, n, sig, len);
}

static void sign_multi(CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE k,
		       CK_OBJECT_HANDLE pub, int det)
{
	static const char *parts[] = {"first part ", "", "and the third"};
	CK_BYTE sig[1024];
	CK_ULONG len = 0;
	memset(sig, 0, sizeof(sig));
	CALL(C_SignInit, s, m, k);
	for (int i = 0; i < 3; i++)
		CALL(C_SignUpdate, s, (CK_BYTE_PTR)parts[i], strlen(parts[i]));
	CALL(C_SignFinal, s, NULL, &len);
	rec_ul("len", len);
	CK_ULONG need = len;
	len = need ? need - 1 : 0;
	CK_BYTE *short_sig = rec_canary_buf(len);
	CALL(C_SignFinal, s, short_sig, &len);
	rec_ul("len", len);
	rec_canary("canary", short_sig);
	CALL(C_SignFinal, s, sig, NULL);
	len = sizeof(sig);
	if (CALL(C_SignFinal, s, sig, &len) == CKR_OK) {
		if (det)
			rec_hex("sig", sig, len);
		else
			rec_ul("len", len);
	}
	CALL(C_SignUpdate, s, (CK_BYTE_PTR) "x", 1);
	CALL(C_VerifyInit, s, m, pub);
	for (int i = 0; i < 3; i++)
		CALL(C_VerifyUpdate, s, (CK_BYTE_PTR)parts[i],
		     strlen(parts[i]));
	CALL(C_VerifyFinal, s, sig, len);
	CALL(C_VerifyInit, s, m, pub);
	CALL(C_VerifyUpdate, s, (CK_BYTE_PTR) "other", 5);
	CALL(C_VerifyFinal, s, sig, len);
}

void seq_keys_sign(void)
{
	CK_SESSION_HANDLE s = D.rw;
	import_keys(s);
	generate(s);

	static const CK_BYTE hash[32] = "0123456789abcdef0123456789abcde";
	rec_step("sign-rsa");
	CK_MECHANISM pkcs = {CKM_RSA_PKCS, NULL, 0};
	sign1(s, &pkcs, D.rsa_priv, D.rsa_pub, hash, 32, 1);
	sign1(s, &pkcs, gen_rsa, gen_rsa_pub, hash, 32, 0);
	CK_MECHANISM x509 = {CKM_RSA_X_509, NULL, 0};
	sign1(s, &x509, D.rsa_priv, D.rsa_pub, hash, 32, 1);
	CK_MECHANISM sha = {CKM_SHA256_RSA_PKCS, NULL, 0};
	sign1(s, &sha, D.rsa_priv, D.rsa_pub, "message", 7, 1);
	sign_multi(s, &sha, D.rsa_priv, D.rsa_pub, 1);
	sign_multi(s, &sha, gen_rsa, gen_rsa_pub, 0);

	rec_step("sign-pss");
	CK_RSA_PKCS_PSS_PARAMS pp = {CKM_SHA256, CKG_MGF1_SHA256, 32};
	CK_MECHANISM pss = {CKM_RSA_PKCS_PSS, &pp, sizeof(pp)};
	sign1(s, &pss, D.rsa_priv, D.rsa_pub, hash, 32, 0);
	CK_MECHANISM spss = {CKM_SHA256_RSA_PKCS_PSS, &pp, sizeof(pp)};
	sign1(s, &spss, D.rsa_priv, D.rsa_pub, "message", 7, 0);
	sign_multi(s, &spss, D.rsa_priv, D.rsa_pub, 0);
	CK_MECHANISM pss_bad = {CKM_RSA_PKCS_PSS, &pp, sizeof(pp) - 1};
	CALL(C_SignInit, s, &pss_bad, D.rsa_priv);
	CK_MECHANISM pss_null = {CKM_RSA_PKCS_PSS, NULL, 0};
	CALL(C_SignInit, s, &pss_null, D.rsa_priv);

	rec_step("sign-ec");
	CK_MECHANISM ecdsa = {CKM_ECDSA, NULL, 0};
	sign1(s, &ecdsa, D.ec_priv, D.ec_pub, hash, 32, 0);
	sign1(s, &ecdsa, gen_ec, gen_ec_pub, hash, 32, 0);
	CK_MECHANISM ecdsa256 = {CKM_ECDSA_SHA256, NULL, 0};
	CK_MECHANISM_INFO mi;
	if (CALL(C_GetMechanismInfo, D.slot_a, CKM_ECDSA_SHA256, &mi) == CKR_OK)
		sign_multi(s, &ecdsa256, D.ec_priv, D.ec_pub, 0);

	rec_step("sign-mac");
	CK_MECHANISM hmac = {CKM_SHA256_HMAC, NULL, 0};
	sign1(s, &hmac, D.aes, D.aes, "message", 7, 1);
	CK_MECHANISM cmac = {CKM_AES_CMAC, NULL, 0};
	if (CALL(C_GetMechanismInfo, D.slot_a, CKM_AES_CMAC, &mi) == CKR_OK)
		sign_multi(s, &cmac, D.aes, D.aes, 1);

	rec_step("sign-errors");
	CALL(C_Sign, s, (CK_BYTE_PTR)hash, 32, NULL, NULL);
	CK_ULONG len = 0;
	CALL(C_Sign, s, (CK_BYTE_PTR)hash, 32, NULL, &len);
	CALL(C_SignUpdate, s, (CK_BYTE_PTR)hash, 32);
	CALL(C_SignInit, s, NULL, D.rsa_priv);
	CALL(C_SignInit, s, &pkcs, 0);
	CALL(C_SignInit, s, &pkcs, 12345);
	CALL(C_SignInit, s, &pkcs, D.rsa_pub);
	CALL(C_SignInit, s, &pkcs, D.ec_priv);
	CALL(C_SignInit, s, &ecdsa, D.rsa_priv);
	CALL(C_SignInit, 0, &pkcs, D.rsa_priv);
	CALL(C_SignInit, 12345, &pkcs, D.rsa_priv);
	CALL(C_VerifyInit, s, &pkcs, D.rsa_priv);
	CALL(C_VerifyInit, s, NULL, D.rsa_pub);
	CALL(C_Verify, s, (CK_BYTE_PTR)hash, 32, (CK_BYTE_PTR)hash, 32);
	CALL(C_SignInit, s, &pkcs, D.rsa_priv);
	CALL(C_Sign, s, NULL, 32, NULL, &len); /* NULL data */
	CALL(C_Sign, s, (CK_BYTE_PTR)hash, 32, NULL, &len);
	rec_ul("len", len);
	CK_BYTE big[300] = {0};
	CK_BYTE sig[512];
	len = sizeof(sig);
	CALL(C_Sign, s, big, sizeof(big), sig, &len); /* data too long */
	CALL(C_SignRecoverInit, s, &x509, D.rsa_priv);
	CALL(C_VerifyRecoverInit, s, &x509, D.rsa_pub);
}
