/* Encodings done around a token's raw RSA (RFC 8017): DigestInfo,
 * EMSA-PKCS1-v1_5, EMSA-PSS, EME-OAEP and EME-PKCS1-v1_5 decoding.  Only
 * digests come from OpenSSL; the key never leaves the token. */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "mech_int.h"

static const struct {
	CK_MECHANISM_TYPE hash;
	unsigned char len;
	unsigned char prefix[19];
} prefixes[] = {
    {CKM_MD5,
     18,
     {0x30, 0x20, 0x30, 0x0c, 0x06, 0x08, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d,
      0x02, 0x05, 0x05, 0x00, 0x04, 0x10}},
    {CKM_SHA_1,
     15,
     {0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05,
      0x00, 0x04, 0x14}},
#define SHA2_PREFIX(total, n, len)                                             \
	{                                                                      \
		0x30, total, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,   \
		    0x65, 0x03, 0x04, 0x02, n, 0x05, 0x00, 0x04, len           \
	}
    {CKM_SHA224, 19, SHA2_PREFIX(0x2d, 0x04, 0x1c)},
    {CKM_SHA256, 19, SHA2_PREFIX(0x31, 0x01, 0x20)},
    {CKM_SHA384, 19, SHA2_PREFIX(0x41, 0x02, 0x30)},
    {CKM_SHA512, 19, SHA2_PREFIX(0x51, 0x03, 0x40)},
};

size_t mk_digest_info(CK_MECHANISM_TYPE h, const unsigned char *d, size_t dlen,
		      unsigned char *out)
{
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		if (prefixes[i].hash != h)
			continue;
		memcpy(out, prefixes[i].prefix, prefixes[i].len);
		memcpy(out + prefixes[i].len, d, dlen);
		return prefixes[i].len + dlen;
	}
	return 0;
}

CK_RV mk_pad_pkcs1(const unsigned char *t, size_t tlen, size_t k,
		   unsigned char *em)
{
	if (tlen + 11 > k)
		return CKR_DATA_LEN_RANGE;
	em[0] = 0x00;
	em[1] = 0x01;
	memset(em + 2, 0xff, k - tlen - 3);
	em[k - tlen - 1] = 0x00;
	memcpy(em + k - tlen, t, tlen);
	return CKR_OK;
}

/* out ^= MGF1(seed) over len bytes. */
static CK_RV mgf1_xor(const EVP_MD *md, const unsigned char *seed,
		      size_t seedlen, unsigned char *out, size_t len)
{
	unsigned char h[EVP_MAX_MD_SIZE], c[4];
	unsigned hl;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	CK_RV rv = ctx ? CKR_OK : CKR_HOST_MEMORY;

	for (unsigned long n = 0, done = 0; rv == CKR_OK && done < len; n++) {
		c[0] = (unsigned char)(n >> 24);
		c[1] = (unsigned char)(n >> 16);
		c[2] = (unsigned char)(n >> 8);
		c[3] = (unsigned char)n;
		if (!EVP_DigestInit_ex(ctx, md, NULL) ||
		    !EVP_DigestUpdate(ctx, seed, seedlen) ||
		    !EVP_DigestUpdate(ctx, c, 4) ||
		    !EVP_DigestFinal_ex(ctx, h, &hl)) {
			rv = CKR_GENERAL_ERROR;
			break;
		}
		for (unsigned i = 0; i < hl && done < len; i++)
			out[done++] ^= h[i];
	}
	EVP_MD_CTX_free(ctx);
	OPENSSL_cleanse(h, sizeof(h));
	return rv;
}

CK_RV mk_pad_pss(const EVP_MD *md, const EVP_MD *mgf, size_t salt,
		 const unsigned char *mhash, size_t hlen, size_t kbits,
		 unsigned char *em)
{
	static const unsigned char zeros[8];
	size_t embits = kbits - 1, emlen = (embits + 7) / 8;
	size_t k = (kbits + 7) / 8, off = k - emlen;
	unsigned char *db = em + off, *h, s[MK_MAX_K];
	unsigned hl;
	EVP_MD_CTX *ctx;
	CK_RV rv = CKR_OK;

	if (hlen != (size_t)EVP_MD_get_size(md) || salt > sizeof(s))
		return CKR_DATA_LEN_RANGE;
	if (emlen < hlen + salt + 2)
		return CKR_KEY_SIZE_RANGE;
	if (salt && RAND_bytes(s, (int)salt) != 1)
		return CKR_FUNCTION_FAILED;
	memset(em, 0, k);
	h = db + emlen - hlen - 1;
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return CKR_HOST_MEMORY;
	if (!EVP_DigestInit_ex(ctx, md, NULL) ||
	    !EVP_DigestUpdate(ctx, zeros, 8) ||
	    !EVP_DigestUpdate(ctx, mhash, hlen) ||
	    !EVP_DigestUpdate(ctx, s, salt) || !EVP_DigestFinal_ex(ctx, h, &hl))
		rv = CKR_GENERAL_ERROR;
	EVP_MD_CTX_free(ctx);
	if (rv != CKR_OK)
		return rv;
	/* DB = PS || 0x01 || salt, then masked */
	db[emlen - hlen - salt - 2] = 0x01;
	memcpy(db + emlen - hlen - salt - 1, s, salt);
	rv = mgf1_xor(mgf, h, hlen, db, emlen - hlen - 1);
	db[0] &= (unsigned char)(0xff >> (8 * emlen - embits));
	em[k - 1] = 0xbc;
	OPENSSL_cleanse(s, sizeof(s));
	return rv;
}

/* All-ones when a == b, constant time. */
static unsigned ct_eq(unsigned a, unsigned b)
{
	unsigned x = a ^ b;
	return (unsigned)((((x | (0u - x)) >> (sizeof(x) * 8 - 1)) & 1) - 1);
}

CK_RV mk_unpad_oaep(const EVP_MD *md, const EVP_MD *mgf,
		    const unsigned char *label, size_t label_len,
		    const unsigned char *em, size_t k, unsigned char *out,
		    size_t *outlen)
{
	unsigned char lh[EVP_MAX_MD_SIZE], buf[MK_MAX_K];
	size_t hlen = (size_t)EVP_MD_get_size(md), dblen, msg = 0;
	unsigned good, found = 0, hl;
	CK_RV rv;

	if (k < 2 * hlen + 2 || k > sizeof(buf))
		return CKR_ENCRYPTED_DATA_INVALID;
	if (!EVP_Digest(label, label_len, lh, &hl, md, NULL))
		return CKR_GENERAL_ERROR;
	memcpy(buf, em, k);
	dblen = k - hlen - 1;
	rv = mgf1_xor(mgf, buf + 1 + hlen, dblen, buf + 1, hlen);
	if (rv == CKR_OK)
		rv = mgf1_xor(mgf, buf + 1, hlen, buf + 1 + hlen, dblen);
	if (rv != CKR_OK)
		goto done;
	good = ct_eq(buf[0], 0);
	for (size_t i = 0; i < hlen; i++)
		good &= ct_eq(buf[1 + hlen + i], lh[i]);
	/* PS zeros, then 0x01: remember where, keep scanning. */
	for (size_t i = 1 + 2 * hlen; i < k; i++) {
		unsigned one = ct_eq(buf[i], 1) & ~found;
		unsigned zero = ct_eq(buf[i], 0);
		msg |= (size_t)(one & 0xffffffffu) & (i + 1);
		good &= found | one | zero;
		found |= one;
	}
	good &= found;
	if (!good) {
		rv = CKR_ENCRYPTED_DATA_INVALID;
		goto done;
	}
	*outlen = k - msg;
	memcpy(out, buf + msg, *outlen);
done:
	OPENSSL_cleanse(buf, sizeof(buf));
	return rv;
}

CK_RV mk_unpad_pkcs1(const unsigned char *em, size_t k, unsigned char *out,
		     size_t *outlen)
{
	unsigned good = ct_eq(em[0], 0) & ct_eq(em[1], 2), found = 0;
	size_t sep = 0;

	for (size_t i = 2; i < k; i++) {
		unsigned zero = ct_eq(em[i], 0) & ~found;
		sep |= (size_t)(zero & 0xffffffffu) & i;
		found |= zero;
	}
	good &= found;
	if (!good || sep < 10)
		return CKR_ENCRYPTED_DATA_INVALID;
	*outlen = k - sep - 1;
	memcpy(out, em + sep + 1, *outlen);
	return CKR_OK;
}
