/* Completed public-key functions: verify and encrypt in software (OpenSSL
 * EVP_PKEY built from the key object's public attributes). */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>

#include "mech_int.h"

static bool hashed(const mk_def *d)
{
	return d->kind == MK_RSA_HASH || d->kind == MK_PSS_HASH ||
	       d->kind == MK_ECDSA_HASH;
}

CK_RV mk_public_start(p11o_layer *self, CK_SESSION_HANDLE hs, mk_op *op,
		      CK_FLAGS fn, CK_OBJECT_HANDLE key)
{
	CK_RV rv = mk_key_load(self, hs, key, fn, op);

	if (rv == CKR_OK && op->k > MK_MAX_K)
		rv = CKR_KEY_SIZE_RANGE;
	if (rv == CKR_OK && hashed(op->def))
		rv = mk_hash_init(op, op->hash);
	return rv;
}

/* r || s -> DER ECDSA-Sig-Value */
static int ecdsa_der(const unsigned char *sig, size_t len, unsigned char **der)
{
	ECDSA_SIG *s = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, (int)(len / 2), NULL);
	BIGNUM *ss = BN_bin2bn(sig + len / 2, (int)(len / 2), NULL);
	int n = -1;

	if (s && r && ss && ECDSA_SIG_set0(s, r, ss)) {
		r = ss = NULL;
		n = i2d_ECDSA_SIG(s, der);
	}
	BN_free(r);
	BN_free(ss);
	ECDSA_SIG_free(s);
	return n;
}

static CK_RV verify(mk_op *op, const unsigned char *t, size_t tl,
		    const unsigned char *sig, size_t siglen)
{
	const mk_def *d = op->def;
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, op->pkey, NULL);
	unsigned char *der = NULL, rec[MK_MAX_K];
	size_t rl = sizeof(rec);
	int ok = -1, n;

	if (!c)
		return CKR_HOST_MEMORY;
	if (siglen != op->k) {
		EVP_PKEY_CTX_free(c);
		return CKR_SIGNATURE_LEN_RANGE;
	}
	switch (d->kind) {
	case MK_RSA_X509:
		if (tl > op->k || EVP_PKEY_verify_recover_init(c) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_padding(c, RSA_NO_PADDING) <= 0 ||
		    EVP_PKEY_verify_recover(c, rec, &rl, sig, siglen) <= 0)
			break;
		ok = rl == op->k && memcmp(rec + rl - tl, t, tl) == 0;
		for (size_t i = 0; ok == 1 && i < rl - tl; i++)
			ok = rec[i] == 0;
		break;
	case MK_RSA_PKCS:
	case MK_RSA_HASH:
		if (EVP_PKEY_verify_init(c) > 0 &&
		    EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) > 0 &&
		    (!op->hash ||
		     EVP_PKEY_CTX_set_signature_md(c, op->hash) > 0))
			ok = EVP_PKEY_verify(c, sig, siglen, t, tl);
		break;
	case MK_PSS:
	case MK_PSS_HASH:
		if (tl != (size_t)EVP_MD_get_size(op->hash)) {
			EVP_PKEY_CTX_free(c);
			return CKR_DATA_LEN_RANGE;
		}
		if (EVP_PKEY_verify_init(c) > 0 &&
		    EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PSS_PADDING) >
			0 &&
		    EVP_PKEY_CTX_set_signature_md(c, op->hash) > 0 &&
		    EVP_PKEY_CTX_set_rsa_mgf1_md(c, op->mgf) > 0 &&
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(c, (int)op->salt) > 0)
			ok = EVP_PKEY_verify(c, sig, siglen, t, tl);
		break;
	default: /* ECDSA */
		n = ecdsa_der(sig, siglen, &der);
		if (n > 0 && EVP_PKEY_verify_init(c) > 0)
			ok = EVP_PKEY_verify(c, der, (size_t)n, t, tl);
		OPENSSL_free(der);
		break;
	}
	EVP_PKEY_CTX_free(c);
	return ok == 1 ? CKR_OK : CKR_SIGNATURE_INVALID;
}

static CK_RV verify_end(mk_op *op, const unsigned char *data, size_t len,
			const unsigned char *sig, size_t siglen)
{
	unsigned char h[EVP_MAX_MD_SIZE];
	size_t hl = len;
	CK_RV rv = CKR_OK;

	if ((len && !data) || (siglen && !sig))
		rv = CKR_ARGUMENTS_BAD;
	if (rv == CKR_OK && hashed(op->def)) {
		if (data)
			rv = mk_hash_update(op, data, len);
		if (rv == CKR_OK)
			rv = mk_hash_final(op, h, &hl);
		data = h;
	}
	if (rv == CKR_OK)
		rv = verify(op, data, hl, sig, siglen);
	mk_op_end(op);
	return rv;
}

static CK_RV mk_C_Verify(p11o_layer *self, CK_SESSION_HANDLE hs,
			 CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR sig,
			 CK_ULONG siglen)
{
	mk_op *op = mk_op_active(MK(self), hs, OPK_VERIFY);

	if (!op)
		return P11O_DOWN(self, C_Verify, hs, data, len, sig, siglen);
	return verify_end(op, data, len, sig, siglen);
}

static CK_RV mk_C_VerifyUpdate(p11o_layer *self, CK_SESSION_HANDLE hs,
			       CK_BYTE_PTR part, CK_ULONG len)
{
	mk_op *op = mk_op_active(MK(self), hs, OPK_VERIFY);
	CK_RV rv;

	if (!op)
		return P11O_DOWN(self, C_VerifyUpdate, hs, part, len);
	rv = hashed(op->def) ? mk_hash_update(op, part, len)
			     : CKR_FUNCTION_NOT_SUPPORTED;
	if (rv != CKR_OK)
		mk_op_end(op);
	return rv;
}

static CK_RV mk_C_VerifyFinal(p11o_layer *self, CK_SESSION_HANDLE hs,
			      CK_BYTE_PTR sig, CK_ULONG siglen)
{
	mk_op *op = mk_op_active(MK(self), hs, OPK_VERIFY);

	if (!op)
		return P11O_DOWN(self, C_VerifyFinal, hs, sig, siglen);
	if (!hashed(op->def)) {
		mk_op_end(op);
		return CKR_FUNCTION_NOT_SUPPORTED;
	}
	return verify_end(op, NULL, 0, sig, siglen);
}

static CK_RV encrypt(mk_op *op, const unsigned char *in, size_t len,
		     unsigned char *out, size_t *outlen)
{
	const mk_def *d = op->def;
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, op->pkey, NULL);
	unsigned char block[MK_MAX_K], *label = NULL;
	size_t hl = op->hash ? (size_t)EVP_MD_get_size(op->hash) : 0;
	CK_RV rv = CKR_FUNCTION_FAILED;
	int pad = d->kind == MK_RSA_X509   ? RSA_NO_PADDING
		  : d->kind == MK_RSA_PKCS ? RSA_PKCS1_PADDING
					   : RSA_PKCS1_OAEP_PADDING;

	if (!c)
		return CKR_HOST_MEMORY;
	if ((d->kind == MK_RSA_X509 && len > op->k) ||
	    (d->kind == MK_RSA_PKCS && len + 11 > op->k) ||
	    (d->kind == MK_OAEP && len + 2 * hl + 2 > op->k)) {
		rv = CKR_DATA_LEN_RANGE;
		goto out;
	}
	if (d->kind == MK_RSA_X509) { /* raw: left-padded to k bytes */
		memset(block, 0, op->k - len);
		memcpy(block + op->k - len, in, len);
		in = block;
		len = op->k;
	}
	if (EVP_PKEY_encrypt_init(c) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(c, pad) <= 0)
		goto out;
	if (d->kind == MK_OAEP &&
	    (EVP_PKEY_CTX_set_rsa_oaep_md(c, op->hash) <= 0 ||
	     EVP_PKEY_CTX_set_rsa_mgf1_md(c, op->mgf) <= 0))
		goto out;
	if (d->kind == MK_OAEP && op->label_len) {
		label = OPENSSL_memdup(op->label, op->label_len);
		if (!label || EVP_PKEY_CTX_set0_rsa_oaep_label(
				  c, label, (int)op->label_len) <= 0) {
			OPENSSL_free(label);
			goto out;
		}
	}
	*outlen = op->k;
	if (EVP_PKEY_encrypt(c, out, outlen, in, len) > 0)
		rv = CKR_OK;
	else if (d->kind == MK_RSA_X509)
		rv = CKR_DATA_INVALID; /* not below the modulus */
out:
	EVP_PKEY_CTX_free(c);
	return rv;
}

static CK_RV mk_C_Encrypt(p11o_layer *self, CK_SESSION_HANDLE hs,
			  CK_BYTE_PTR in, CK_ULONG len, CK_BYTE_PTR out,
			  CK_ULONG_PTR outlen)
{
	mk_op *op = mk_op_active(MK(self), hs, OPK_ENCRYPT);
	size_t ol;
	CK_RV rv;

	if (!op)
		return P11O_DOWN(self, C_Encrypt, hs, in, len, out, outlen);
	if (!outlen || (len && !in)) {
		mk_op_end(op);
		return CKR_ARGUMENTS_BAD;
	}
	if (!out || *outlen < op->k) {
		*outlen = op->k;
		return out ? CKR_BUFFER_TOO_SMALL : CKR_OK;
	}
	rv = encrypt(op, in, len, out, &ol);
	if (rv == CKR_OK)
		*outlen = ol;
	mk_op_end(op);
	return rv;
}

/* RSA is single-part: updates end a completed operation. */
static CK_RV mk_C_EncryptUpdate(p11o_layer *self, CK_SESSION_HANDLE hs,
				CK_BYTE_PTR in, CK_ULONG len, CK_BYTE_PTR out,
				CK_ULONG_PTR outlen)
{
	mk_op *op = mk_op_active(MK(self), hs, OPK_ENCRYPT);

	if (!op)
		return P11O_DOWN(self, C_EncryptUpdate, hs, in, len, out,
				 outlen);
	mk_op_end(op);
	return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV mk_C_EncryptFinal(p11o_layer *self, CK_SESSION_HANDLE hs,
			       CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
	mk_op *op = mk_op_active(MK(self), hs, OPK_ENCRYPT);

	if (!op)
		return P11O_DOWN(self, C_EncryptFinal, hs, out, outlen);
	mk_op_end(op);
	return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV mk_C_DecryptUpdate(p11o_layer *self, CK_SESSION_HANDLE hs,
				CK_BYTE_PTR in, CK_ULONG len, CK_BYTE_PTR out,
				CK_ULONG_PTR outlen)
{
	mk_op *op = mk_op_active(MK(self), hs, OPK_DECRYPT);

	if (!op)
		return P11O_DOWN(self, C_DecryptUpdate, hs, in, len, out,
				 outlen);
	mk_abort(self, hs, op, OPK_DECRYPT);
	return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV mk_C_DecryptFinal(p11o_layer *self, CK_SESSION_HANDLE hs,
			       CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
	mk_op *op = mk_op_active(MK(self), hs, OPK_DECRYPT);

	if (!op)
		return P11O_DOWN(self, C_DecryptFinal, hs, out, outlen);
	mk_abort(self, hs, op, OPK_DECRYPT);
	return CKR_FUNCTION_NOT_SUPPORTED;
}

void mk_install_public_ops(p11o_ops *ops)
{
	ops->C_Verify = mk_C_Verify;
	ops->C_VerifyUpdate = mk_C_VerifyUpdate;
	ops->C_VerifyFinal = mk_C_VerifyFinal;
	ops->C_Encrypt = mk_C_Encrypt;
	ops->C_EncryptUpdate = mk_C_EncryptUpdate;
	ops->C_EncryptFinal = mk_C_EncryptFinal;
	ops->C_DecryptUpdate = mk_C_DecryptUpdate;
	ops->C_DecryptFinal = mk_C_DecryptFinal;
}
