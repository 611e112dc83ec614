/* Key objects: checks as a token makes them, and the public parts the
 * software functions need (CKA_MODULUS/CKA_PUBLIC_EXPONENT,
 * CKA_EC_PARAMS/CKA_EC_POINT).  Nothing secret is ever read. */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>

#include "mech_int.h"

/* One attribute into buf (cap bytes); its length, or -1 when absent.  A
 * failure that is not about the attribute itself (the session or key
 * gone meanwhile, the device) is kept in *hard for the caller to return
 * instead of a key-type verdict. */
static long attr(p11o_layer *self, CK_SESSION_HANDLE hs, CK_OBJECT_HANDLE key,
		 CK_ATTRIBUTE_TYPE type, void *buf, CK_ULONG cap, CK_RV *hard)
{
	CK_ATTRIBUTE a = {type, buf, cap};
	CK_RV rv = P11O_DOWN(self, C_GetAttributeValue, hs, key, &a, 1);

	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID &&
	    rv != CKR_ATTRIBUTE_SENSITIVE && rv != CKR_BUFFER_TOO_SMALL &&
	    *hard == CKR_OK)
		*hard = rv == CKR_OBJECT_HANDLE_INVALID ? CKR_KEY_HANDLE_INVALID
							: rv;
	/* a length beyond the buffer is never believed */
	return rv == CKR_OK && a.ulValueLen <= cap ? (long)a.ulValueLen : -1;
}

static EVP_PKEY *from_params(const char *type, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = bld ? OSSL_PARAM_BLD_to_param(bld) : NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *pkey = NULL;

	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		pkey = NULL;
	OSSL_PARAM_free(params);
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

static CK_RV rsa_key(p11o_layer *self, CK_SESSION_HANDLE hs,
		     CK_OBJECT_HANDLE key, bool pub, mk_op *op)
{
	unsigned char n[MK_MAX_K], e[16];
	CK_RV hard = CKR_OK;
	long nl = attr(self, hs, key, CKA_MODULUS, n, sizeof(n), &hard), el;
	size_t skip = 0;

	if (hard != CKR_OK)
		return hard;
	while (nl > 0 && (size_t)nl > skip && n[skip] == 0)
		skip++;
	if (nl <= 0 || (size_t)nl == skip)
		return pub ? CKR_KEY_TYPE_INCONSISTENT : CKR_OK;
	op->k = (size_t)nl - skip;
	op->kbits = op->k * 8;
	for (unsigned char top = n[skip]; !(top & 0x80); top <<= 1)
		op->kbits--;
	if (!pub)
		return CKR_OK;
	el = attr(self, hs, key, CKA_PUBLIC_EXPONENT, e, sizeof(e), &hard);
	if (el <= 0)
		return hard != CKR_OK ? hard : CKR_KEY_TYPE_INCONSISTENT;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	BIGNUM *bn = BN_bin2bn(n + skip, (int)op->k, NULL);
	BIGNUM *be = BN_bin2bn(e, (int)el, NULL);
	if (bld && bn && be &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
		op->pkey = from_params("RSA", bld);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	return op->pkey ? CKR_OK : CKR_KEY_TYPE_INCONSISTENT;
}

/* CKA_EC_POINT is a DER OCTET STRING (some tokens give the bare point). */
static void unwrap_point(const unsigned char **p, long *len)
{
	const unsigned char *q = *p;
	long l = *len, hdr = 2, n;

	if (l < 3 || q[0] != 0x04)
		return;
	n = q[1];
	if (q[1] == 0x81 && l > 3) {
		n = q[2];
		hdr = 3;
	} else if (q[1] & 0x80) {
		return;
	}
	if (n == l - hdr && n > 0 &&
	    (q[hdr] == 0x04 || q[hdr] == 0x02 || q[hdr] == 0x03)) {
		*p = q + hdr;
		*len = n;
	}
}

static CK_RV ec_key(p11o_layer *self, CK_SESSION_HANDLE hs,
		    CK_OBJECT_HANDLE key, bool pub, mk_op *op)
{
	unsigned char prm[256], pt[300];
	CK_RV hard = CKR_OK;
	long pl = attr(self, hs, key, CKA_EC_PARAMS, prm, sizeof(prm), &hard),
	     ptl;
	const unsigned char *p = prm;
	ASN1_OBJECT *obj = pl > 0 ? d2i_ASN1_OBJECT(NULL, &p, pl) : NULL;
	int nid = obj ? OBJ_obj2nid(obj) : NID_undef;
	EC_GROUP *g = nid != NID_undef ? EC_GROUP_new_by_curve_name(nid) : NULL;
	CK_RV rv = CKR_KEY_TYPE_INCONSISTENT;

	ASN1_OBJECT_free(obj);
	if (hard != CKR_OK) {
		EC_GROUP_free(g);
		return hard;
	}
	if (!g) /* explicit or unknown curve parameters */
		return pub ? rv : CKR_OK;
	op->k = 2 * (((size_t)EC_GROUP_get_degree(g) + 7) / 8);
	op->kbits = (size_t)EC_GROUP_get_degree(g);
	EC_GROUP_free(g);
	if (!pub)
		return CKR_OK;
	ptl = attr(self, hs, key, CKA_EC_POINT, pt, sizeof(pt), &hard);
	if (hard != CKR_OK)
		return hard;
	p = pt;
	unwrap_point(&p, &ptl);
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	if (ptl > 0 && bld &&
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
					    OBJ_nid2sn(nid), 0) &&
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, p,
					     (size_t)ptl))
		op->pkey = from_params("EC", bld);
	OSSL_PARAM_BLD_free(bld);
	return op->pkey ? CKR_OK : rv;
}

CK_RV mk_key_load(p11o_layer *self, CK_SESSION_HANDLE hs, CK_OBJECT_HANDLE key,
		  CK_FLAGS fn, mk_op *op)
{
	CK_ATTRIBUTE_TYPE perm = fn == CKF_SIGN      ? CKA_SIGN
				 : fn == CKF_DECRYPT ? CKA_DECRYPT
				 : fn == CKF_VERIFY  ? CKA_VERIFY
						     : CKA_ENCRYPT;
	bool pub = fn == CKF_VERIFY || fn == CKF_ENCRYPT;
	CK_OBJECT_CLASS cls = (CK_OBJECT_CLASS)-1;
	CK_KEY_TYPE kt = (CK_KEY_TYPE)-1;
	CK_BBOOL allowed = CK_TRUE;
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)},
			    {CKA_KEY_TYPE, &kt, sizeof(kt)},
			    {perm, &allowed, sizeof(allowed)}};
	CK_RV rv = P11O_DOWN(self, C_GetAttributeValue, hs, key, t, 3);
	bool ec = mk_is_ec(op->def);

	if (rv == CKR_OBJECT_HANDLE_INVALID)
		return CKR_KEY_HANDLE_INVALID;
	if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID &&
	    rv != CKR_ATTRIBUTE_SENSITIVE)
		return rv;
	if (t[2].ulValueLen == sizeof(allowed) && allowed == CK_FALSE)
		return CKR_KEY_FUNCTION_NOT_PERMITTED;
	if (cls != (pub ? CKO_PUBLIC_KEY : CKO_PRIVATE_KEY) ||
	    kt != (ec ? CKK_EC : CKK_RSA))
		return CKR_KEY_TYPE_INCONSISTENT;
	rv = ec ? ec_key(self, hs, key, pub, op)
		: rsa_key(self, hs, key, pub, op);
	if (rv == CKR_OK && op->base.engine) {
		CK_RV hard = CKR_OK;
		long n = attr(self, hs, key, CKA_ID, op->keyref,
			      sizeof(op->keyref), &hard);
		op->keyref_len = n > 0 ? (size_t)n : 0;
		rv = hard;
	}
	return rv;
}
