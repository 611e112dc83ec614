/* Sequences: encrypt/decrypt, digest, random, wrap/unwrap, derive, PINs,
 * operation state and the functions SoftHSM2 does not support. */
#include <string.h>

#include "diff_record.h"

extern const unsigned char aes_value[32], aes2_value[16];

#define PIN(p) (CK_UTF8CHAR *)(p), (CK_ULONG)strlen(p)

/* Encrypt then decrypt, single-part, with size query and short buffer.
 * `det`: the ciphertext is deterministic (recorded byte for byte). */
static void crypt1(CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE ek,
		   CK_OBJECT_HANDLE dk, const void *data, CK_ULONG n, int det)
{
	CK_BYTE ct[1024], pt[1024];
	CK_ULONG len = 0, ctlen;
	memset(ct, 0, sizeof(ct));
	memset(pt, 0, sizeof(pt));
	CALL(C_EncryptInit, s, m, ek);
	CALL(C_Encrypt, s, (CK_BYTE_PTR)data, n, NULL, &len);
	rec_ul("len", len);
	CK_ULONG need = len;
	len = need ? need - 1 : 0;
	CK_BYTE *short_ct = rec_canary_buf(len);
	CALL(C_Encrypt, s, (CK_BYTE_PTR)data, n, short_ct, &len);
	rec_ul("len", len);
	rec_canary("canary", short_ct);
	len = sizeof(ct);
	if (CALL(C_Encrypt, s, (CK_BYTE_PTR)data, n, ct, &len) == CKR_OK) {
		if (det)
			rec_hex("ct", ct, len);
		else
			rec_ul("len", len);
	}
	ctlen = len;
	CALL(C_Encrypt, s, (CK_BYTE_PTR)data, n, ct, &len);
	CALL(C_DecryptInit, s, m, dk);
	len = 0;
	CALL(C_Decrypt, s, ct, ctlen, NULL, &len);
	rec_ul("len", len);
	CK_BYTE *short_pt = rec_canary_buf(1);
	len = 1;
	CALL(C_Decrypt, s, ct, ctlen, short_pt, &len);
	rec_ul("len", len);
	rec_canary("canary", short_pt);
	len = sizeof(pt);
	if (CALL(C_Decrypt, s, ct, ctlen, pt, &len) == CKR_OK)
		rec_hex("pt", pt, len);
	/* Tampered ciphertext. */
	ct[ctlen ? ctlen - 1 : 0] ^= 0x5a;
	CALL(C_DecryptInit, s, m, dk);
	len = sizeof(pt);
	CALL(C_Decrypt, s, ct, ctlen, pt, &len);
	CALL(C_DecryptInit, s, m, dk);
	len = sizeof(pt);
	CALL(C_Decrypt, s, ct, ctlen ? ctlen - 1 : 0, pt, &len);
}

/* Multi-part (block ciphers): parts of 17 and 20 bytes. */
static void crypt_multi(CK_SESSION_HANDLE s, CK_MECHANISM *m,
			CK_OBJECT_HANDLE k, int det)
{
	static const CK_BYTE p1[17] = "seventeen bytes!",
			     p2[20] = "twenty bytes here!";
	CK_BYTE ct[256], pt[256];
	CK_ULONG len, total = 0, ptotal = 0;
	memset(ct, 0, sizeof(ct));
	memset(pt, 0, sizeof(pt));
	CALL(C_EncryptInit, s, m, k);
	len = 0;
	CALL(C_EncryptUpdate, s, (CK_BYTE_PTR)p1, 17, NULL, &len);
	rec_ul("len", len);
	len = sizeof(ct);
	if (CALL(C_EncryptUpdate, s, (CK_BYTE_PTR)p1, 17, ct, &len) == CKR_OK)
		rec_ul("len", len), total += len;
	len = 0;
	CALL(C_EncryptUpdate, s, (CK_BYTE_PTR)p2, 20, ct + total, &len);
	rec_ul("len", len);
	len = sizeof(ct) - total;
	if (CALL(C_EncryptUpdate, s, (CK_BYTE_PTR)p2, 20, ct + total, &len) ==
	    CKR_OK)
		rec_ul("len", len), total += len;
	len = 0;
	CALL(C_EncryptFinal, s, NULL, &len);
	rec_ul("len", len);
	len = sizeof(ct) - total;
	if (CALL(C_EncryptFinal, s, ct + total, &len) == CKR_OK)
		rec_ul("len", len), total += len;
	if (det)
		rec_hex("ct", ct, total);
	CALL(C_EncryptFinal, s, ct, &len);
	CALL(C_DecryptInit, s, m, k);
	CK_ULONG half = total / 2 + 3;
	len = sizeof(pt);
	if (CALL(C_DecryptUpdate, s, ct, half, pt, &len) == CKR_OK)
		rec_ul("len", len), ptotal += len;
	len = 0;
	CALL(C_DecryptUpdate, s, ct + half, total - half, NULL, &len);
	rec_ul("len", len);
	len = sizeof(pt) - ptotal;
	if (CALL(C_DecryptUpdate, s, ct + half, total - half, pt + ptotal,
		 &len) == CKR_OK)
		rec_ul("len", len), ptotal += len;
	len = 0;
	CALL(C_DecryptFinal, s, NULL, &len);
	rec_ul("len", len);
	len = sizeof(pt) - ptotal;
	if (CALL(C_DecryptFinal, s, pt + ptotal, &len) == CKR_OK)
		ptotal += len;
	rec_hex("pt", pt, ptotal);
}

static int have(CK_MECHANISM_TYPE m)
{
	CK_MECHANISM_INFO mi;
	return CALL(C_GetMechanismInfo, D.slot_a, m, &mi) == CKR_OK;
}

static void digest(CK_SESSION_HANDLE s, CK_MECHANISM_TYPE mt)
{
	CK_MECHANISM m = {mt, NULL, 0};
	CK_BYTE out[128];
	CK_ULONG len = 0;
	memset(out, 0, sizeof(out));
	CALL(C_DigestInit, s, &m);
	CALL(C_DigestInit, s, &m);
	CALL(C_Digest, s, (CK_BYTE_PTR) "abc", 3, NULL, &len);
	rec_ul("len", len);
	len = len ? len - 1 : 0;
	CK_BYTE *short_out = rec_canary_buf(len);
	CALL(C_Digest, s, (CK_BYTE_PTR) "abc", 3, short_out, &len);
	rec_ul("len", len);
	rec_canary("canary", short_out);
	len = sizeof(out);
	if (CALL(C_Digest, s, (CK_BYTE_PTR) "abc", 3, out, &len) == CKR_OK)
		rec_hex("md", out, len);
	CALL(C_DigestInit, s, &m);
	CALL(C_DigestUpdate, s, (CK_BYTE_PTR) "a", 1);
	CALL(C_DigestUpdate, s, (CK_BYTE_PTR) "bc", 2);
	CALL(C_DigestKey, s, D.aes);
	len = 0;
	CALL(C_DigestFinal, s, NULL, &len);
	rec_ul("len", len);
	CK_BYTE *short_md = rec_canary_buf(2);
	len = 2;
	CALL(C_DigestFinal, s, short_md, &len);
	rec_ul("len", len);
	rec_canary("canary", short_md);
	len = sizeof(out);
	if (CALL(C_DigestFinal, s, out, &len) == CKR_OK)
		rec_hex("md", out, len);
}

void seq_encrypt_digest(void)
{
	CK_SESSION_HANDLE s = D.rw;
	static const char msg[] = "a message of forty-two bytes, or about so";
	rec_step("rsa-crypt");
	CK_MECHANISM pkcs = {CKM_RSA_PKCS, NULL, 0};
	crypt1(s, &pkcs, D.rsa_pub, D.rsa_priv, msg, 42, 0);
	CK_RSA_PKCS_OAEP_PARAMS o1 = {CKM_SHA_1, CKG_MGF1_SHA1, 0, NULL, 0};
	CK_MECHANISM oaep = {CKM_RSA_PKCS_OAEP, &o1, sizeof(o1)};
	crypt1(s, &oaep, D.rsa_pub, D.rsa_priv, msg, 42, 0);
	CK_RSA_PKCS_OAEP_PARAMS o2 = {CKM_SHA256, CKG_MGF1_SHA256, 0, NULL, 0};
	CK_MECHANISM oaep2 = {CKM_RSA_PKCS_OAEP, &o2, sizeof(o2)};
	crypt1(s, &oaep2, D.rsa_pub, D.rsa_priv, msg, 42, 0);
	CK_BYTE raw[256] = {0};
	memcpy(raw + 200, msg, 42);
	CK_MECHANISM x509 = {CKM_RSA_X_509, NULL, 0};
	crypt1(s, &x509, D.rsa_pub, D.rsa_priv, raw, 256, 1);
	CK_BYTE ct[512];
	CK_ULONG len = sizeof(ct);
	CALL(C_EncryptInit, s, &pkcs, D.rsa_pub);
	CALL(C_Encrypt, s, raw, 256, ct, &len); /* too long for PKCS#1 */
	CALL(C_EncryptInit, s, &pkcs, D.rsa_priv);
	CALL(C_EncryptInit, s, &pkcs, D.ec_pub);
	CALL(C_EncryptInit, s, NULL, D.rsa_pub);
	CALL(C_EncryptInit, 12345, &pkcs, D.rsa_pub);
	CALL(C_Encrypt, s, raw, 16, ct, &len);
	CALL(C_Decrypt, s, raw, 16, ct, &len);
	CALL(C_DecryptInit, s, &pkcs, 12345);
	CALL(C_EncryptInit, s, &pkcs, D.rsa_pub);
	CALL(C_Encrypt, s, raw, 16, ct, NULL);
	CALL(C_EncryptInit, s, &pkcs, D.rsa_pub);
	CALL(C_EncryptUpdate, s, raw, 16, ct, &len);
	len = sizeof(ct); /* ends the operation: its output is random */
	CALL(C_Encrypt, s, raw, 16, ct, &len);
	rec_ul("len", len);

	rec_step("aes-crypt");
	CK_BYTE iv[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
	CK_MECHANISM cbcpad = {CKM_AES_CBC_PAD, iv, 16};
	crypt1(s, &cbcpad, D.aes, D.aes, msg, 42, 1);
	crypt_multi(s, &cbcpad, D.aes, 1);
	crypt_multi(s, &cbcpad, D.gen_aes, 0);
	CK_MECHANISM cbc = {CKM_AES_CBC, iv, 16};
	crypt1(s, &cbc, D.aes, D.aes, msg, 32, 1);
	crypt1(s, &cbc, D.aes, D.aes, msg, 31, 1); /* not a block multiple */
	CK_MECHANISM ecb = {CKM_AES_ECB, NULL, 0};
	crypt1(s, &ecb, D.aes2, D.aes2, msg, 32, 1);
	CK_MECHANISM cbc_badiv = {CKM_AES_CBC_PAD, iv, 8};
	CALL(C_EncryptInit, s, &cbc_badiv, D.aes);
	CK_MECHANISM cbc_noiv = {CKM_AES_CBC_PAD, NULL, 0};
	CALL(C_EncryptInit, s, &cbc_noiv, D.aes);
	CALL(C_DecryptInit, s, &cbcpad, D.aes);
	len = sizeof(ct);
	CALL(C_Decrypt, s, raw, 15, ct, &len);
	CK_MECHANISM ctr_m = {CKM_AES_CTR, NULL, 0};
	CK_AES_CTR_PARAMS ctr = {128, {0}};
	ctr_m.pParameter = &ctr;
	ctr_m.ulParameterLen = sizeof(ctr);
	if (have(CKM_AES_CTR))
		crypt1(s, &ctr_m, D.aes, D.aes, msg, 42, 1);
	if (have(CKM_AES_GCM)) {
		CK_BYTE gcm_iv[12] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2};
		CK_BYTE aad[] = "additional data";
		CK_GCM_PARAMS g = {gcm_iv, 12, 96, aad, sizeof(aad), 128};
		CK_MECHANISM gcm = {CKM_AES_GCM, &g, sizeof(g)};
		crypt1(s, &gcm, D.aes, D.aes, msg, 42, 1);
		crypt_multi(s, &gcm, D.aes, 1);
		g.ulTagBits = 200;
		CALL(C_EncryptInit, s, &gcm, D.aes);
	}

	rec_step("digest");
	digest(s, CKM_SHA256);
	digest(s, CKM_SHA_1);
	digest(s, CKM_SHA512);
	digest(s, CKM_MD5);
	CK_MECHANISM sha = {CKM_SHA256, NULL, 0};
	CK_BYTE md[64];
	len = sizeof(md);
	CALL(C_Digest, s, (CK_BYTE_PTR) "abc", 3, md, &len);
	CALL(C_DigestUpdate, s, (CK_BYTE_PTR) "abc", 3);
	CALL(C_DigestFinal, s, md, &len);
	CALL(C_DigestInit, s, NULL);
	CK_MECHANISM badm = {0x8000abcdUL, NULL, 0};
	CALL(C_DigestInit, s, &badm);
	CALL(C_DigestInit, 0, &sha);
	CALL(C_DigestInit, s, &sha);
	CALL(C_DigestKey, s, 12345);
	CALL(C_DigestKey, s, D.rsa_priv);
	CALL(C_Digest, s, (CK_BYTE_PTR) "abc", 3, md, NULL);
	len = sizeof(md);
	CALL(C_DigestFinal, s, md, &len);

	rec_step("random");
	CK_BYTE r[64] = {0};
	if (CALL(C_GenerateRandom, s, r, 32) == CKR_OK) {
		int nz = 0;
		for (int i = 0; i < 32; i++)
			nz |= r[i];
		rec_ul("nonzero", nz != 0);
		rec_hex("tail", r + 32, 32); /* untouched */
	}
	CALL(C_GenerateRandom, s, NULL, 32);
	CALL(C_GenerateRandom, s, r, 0);
	CALL(C_GenerateRandom, 0, r, 32);
	CALL(C_GenerateRandom, 12345, r, 32);
	CALL(C_SeedRandom, s, (CK_BYTE_PTR) "seed seed seed!!", 16);
	CALL(C_SeedRandom, s, NULL, 16);
	CALL(C_SeedRandom, s, r, 0);
	CALL(C_SeedRandom, 0, r, 16);
}
