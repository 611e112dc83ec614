/* Completed private-key functions (sign, decrypt) over a base mechanism of
 * the token or an engine, and digests in software or by an engine. */
#include <string.h>

#include <openssl/crypto.h>

#include "mech_int.h"

/* ---- parameters and hashing ---------------------------------------- */

static CK_RV mk_params(mk_op *op, CK_MECHANISM_PTR m)
{
	const mk_def *d = op->def;

	if (d->kind == MK_PSS || d->kind == MK_PSS_HASH) {
		const CK_RSA_PKCS_PSS_PARAMS *p = m->pParameter;
		if (!p || m->ulParameterLen != sizeof(*p))
			return CKR_MECHANISM_PARAM_INVALID;
		op->hash = mk_md(p->hashAlg);
		op->mgf = mk_md(mk_mgf_hash(p->mgf));
		op->salt = p->sLen;
		if (!op->hash || !op->mgf ||
		    (d->kind == MK_PSS_HASH && p->hashAlg != d->hash))
			return CKR_MECHANISM_PARAM_INVALID;
	} else if (d->kind == MK_OAEP) {
		const CK_RSA_PKCS_OAEP_PARAMS *p = m->pParameter;
		if (!p || m->ulParameterLen != sizeof(*p))
			return CKR_MECHANISM_PARAM_INVALID;
		op->hash = mk_md(p->hashAlg);
		op->mgf = mk_md(mk_mgf_hash(p->mgf));
		if (!op->hash || !op->mgf ||
		    (p->source && p->source != CKZ_DATA_SPECIFIED) ||
		    (p->ulSourceDataLen && !p->pSourceData))
			return CKR_MECHANISM_PARAM_INVALID;
		if (p->ulSourceDataLen) {
			op->label =
			    OPENSSL_memdup(p->pSourceData, p->ulSourceDataLen);
			if (!op->label)
				return CKR_HOST_MEMORY;
			op->label_len = p->ulSourceDataLen;
		}
	} else if (d->hash) {
		op->hash = mk_md(d->hash);
	}
	return CKR_OK;
}

static bool engine_digest(const mk_op *op)
{
	return op->base.engine && op->def->kind == MK_DIGEST;
}

CK_RV mk_hash_init(mk_op *op, const EVP_MD *md)
{
	if (engine_digest(op)) {
		CK_MECHANISM m = {op->def->type, NULL, 0};
		p11o_app_callback_enter();
		CK_RV rv = op->base.eng.DigestBegin(op->base.eng.pContext, &m,
						    &op->est);
		p11o_app_callback_leave();
		op->hashing = rv == CKR_OK;
		return rv;
	}
	if (!op->md && !(op->md = EVP_MD_CTX_new()))
		return CKR_HOST_MEMORY;
	if (!EVP_DigestInit_ex(op->md, md, NULL))
		return CKR_FUNCTION_FAILED;
	op->hashing = true;
	return CKR_OK;
}

CK_RV mk_hash_update(mk_op *op, const unsigned char *p, size_t n)
{
	if (n && !p)
		return CKR_ARGUMENTS_BAD;
	if (engine_digest(op)) {
		p11o_app_callback_enter();
		CK_RV rv = op->base.eng.DigestUpdate(
		    op->base.eng.pContext, op->est, (CK_BYTE_PTR)p, n);
		p11o_app_callback_leave();
		return rv;
	}
	return EVP_DigestUpdate(op->md, p, n) ? CKR_OK : CKR_FUNCTION_FAILED;
}

CK_RV mk_hash_final(mk_op *op, unsigned char *out, size_t *len)
{
	unsigned l = 0;
	op->hashing = false;
	if (engine_digest(op)) {
		CK_ULONG el = EVP_MAX_MD_SIZE;
		p11o_app_callback_enter();
		CK_RV rv = op->base.eng.DigestEnd(op->base.eng.pContext,
						  op->est, out, &el);
		p11o_app_callback_leave();
		op->est = NULL;
		*len = el;
		return rv;
	}
	if (!EVP_DigestFinal_ex(op->md, out, &l))
		return CKR_FUNCTION_FAILED;
	*len = l;
	return CKR_OK;
}

/* ---- start ---------------------------------------------------------- */

static bool composite(const mk_def *d)
{
	return d->kind == MK_RSA_HASH || d->kind == MK_PSS_HASH ||
	       d->kind == MK_ECDSA_HASH;
}

/* A salt that cannot fit the key is known at Init (RFC 8017 9.1.1 step 3:
 * emLen >= hLen + sLen + 2), so it is refused there, before the token's
 * operation begins, rather than at C_Sign. */
static CK_RV pss_fits(const mk_op *op)
{
	size_t hlen, emlen;

	if (op->def->kind != MK_PSS && op->def->kind != MK_PSS_HASH)
		return CKR_OK;
	hlen = (size_t)EVP_MD_get_size(op->hash);
	emlen = op->kbits ? (op->kbits - 1 + 7) / 8 : 0;
	if (emlen < hlen + 2 || op->salt > emlen - hlen - 2)
		return CKR_MECHANISM_PARAM_INVALID;
	return CKR_OK;
}

/* End the token's half of a completed sign or decrypt that this layer
 * ends early (bad input found here, a multi-part call on a single-part
 * mechanism): the token's operation was begun at Init with the base
 * mechanism and, left open, would make every later Init of the session
 * fail with CKR_OPERATION_ACTIVE.  PKCS#11 3.0 tokens end it with
 * C_SessionCancel.  A 2.40 token has no way to end an operation other than
 * finishing it (PKCS#11 2.40 5.2: C_Sign and C_Decrypt end the operation
 * unless they answer CKR_BUFFER_TOO_SMALL or a size query), so the base
 * operation is finished on a harmless block (the integer 1 for raw RSA, a
 * one-byte message for PKCS#1 v1.5, a zero hash for ECDSA) into a buffer
 * of full size; the result, or the token's error, is thrown away. */
static void end_token_op(p11o_layer *self, CK_SESSION_HANDLE hs, mk_op *op,
			 enum mk_opk k)
{
	unsigned char in[MK_MAX_K], out[MK_MAX_K];
	CK_ULONG inlen, outlen = sizeof(out);

	if (op->base.engine || op->base.soft || op->have_out ||
	    (k != OPK_SIGN && k != OPK_DECRYPT))
		return;
	if (P11O_DOWN(self, C_SessionCancel, hs, mk_opk_flag(k)) == CKR_OK)
		return;
	memset(in, 0, sizeof(in));
	if (op->base.mech == CKM_RSA_X_509 && op->k && op->k <= MK_MAX_K) {
		inlen = op->k;
		in[inlen - 1] = 1;
	} else if (op->base.mech == CKM_ECDSA) {
		inlen = op->k / 2 < 32 ? 32 : op->k / 2 > 64 ? 64 : op->k / 2;
	} else {
		inlen = 1;
	}
	if (k == OPK_SIGN)
		P11O_DOWN(self, C_Sign, hs, in, inlen, out, &outlen);
	else
		P11O_DOWN(self, C_Decrypt, hs, in, inlen, out, &outlen);
	OPENSSL_cleanse(out, sizeof(out));
}

void mk_abort(p11o_layer *self, CK_SESSION_HANDLE hs, mk_op *op, enum mk_opk k)
{
	end_token_op(self, hs, op, k);
	mk_op_end(op);
}

CK_RV mk_start(p11o_layer *self, mk_session *s, enum mk_opk k,
	       const mk_def *def, const mk_base *base, CK_MECHANISM_PTR mech,
	       CK_OBJECT_HANDLE key)
{
	mk_op *op = mk_op_get(s, k);
	CK_FLAGS fn = mk_opk_flag(k);
	CK_RV rv;

	if (!op)
		return CKR_HOST_MEMORY;
	op->owner = s->h;
	op->def = def;
	op->base = *base;
	op->k = op->kbits = op->salt = 0;
	op->hash = op->mgf = NULL;
	rv = mk_params(op, mech);
	if (rv == CKR_OK && k == OPK_DIGEST)
		rv = mk_hash_init(op, op->hash);
	else if (rv == CKR_OK && (k == OPK_VERIFY || k == OPK_ENCRYPT))
		rv = mk_public_start(self, s->h, op, fn, key);
	else if (rv == CKR_OK)
		rv = mk_key_load(self, s->h, key, fn, op);
	if (rv == CKR_OK)
		rv = pss_fits(op);
	if (rv == CKR_OK && (k == OPK_SIGN || k == OPK_DECRYPT)) {
		CK_MECHANISM bm = {base->mech, NULL, 0};
		if (base->mech == CKM_RSA_X_509 && (!op->k || op->k > MK_MAX_K))
			rv = CKR_KEY_SIZE_RANGE;
		else if (!base->engine && k == OPK_SIGN)
			rv = P11O_DOWN(self, C_SignInit, s->h, &bm, key);
		else if (!base->engine)
			rv = P11O_DOWN(self, C_DecryptInit, s->h, &bm, key);
		if (rv == CKR_OK && composite(def) &&
		    (rv = mk_hash_init(op, op->hash)) != CKR_OK)
			end_token_op(self, s->h, op, k);
	}
	if (rv != CKR_OK) {
		mk_op_end(op);
		return rv;
	}
	op->live = &MK(self)->live_ops;
	op->stack = self->stack;
	/* The full chain before the Init returns: every later call of the
	 * session runs the operation functions (docs/architecture.md §3). */
	p11o_stack_busy_enter(op->stack);
	atomic_fetch_add(op->live, 1);
	op->active = true;
	return CKR_OK;
}

/* ---- results -------------------------------------------------------- */

/* Hand out op->out (PKCS#11 size convention); the operation ends when it
 * has been delivered. */
static CK_RV deliver(mk_op *op, CK_BYTE_PTR out, CK_ULONG_PTR len)
{
	if (!len) {
		mk_op_end(op);
		return CKR_ARGUMENTS_BAD;
	}
	if (!out) {
		*len = op->out_len;
		return CKR_OK;
	}
	if (*len < op->out_len) {
		*len = op->out_len;
		return CKR_BUFFER_TOO_SMALL;
	}
	memcpy(out, op->out, op->out_len);
	*len = op->out_len;
	mk_op_end(op);
	return CKR_OK;
}

/* An RSA_PKCS engine is promised at most k - 11 bytes
 * (include/p11overlay.h), what PKCS#1 v1.5 type 1 padding leaves room
 * for; a token answers for itself. */
static bool engine_pkcs1_fits(const mk_op *op, size_t len)
{
	return !op->base.engine || op->base.mech != CKM_RSA_PKCS ||
	       len + 11 <= op->k;
}

/* The input of the base operation from the message (or, after updates,
 * from the running digest). */
static CK_RV prepare(mk_op *op, const unsigned char *data, size_t len)
{
	const mk_def *d = op->def;
	unsigned char h[EVP_MAX_MD_SIZE], di[19 + EVP_MAX_MD_SIZE];
	size_t hl = len, dl;
	CK_RV rv = CKR_OK;

	if (composite(d)) {
		if (data)
			rv = mk_hash_update(op, data, len);
		if (rv == CKR_OK)
			rv = mk_hash_final(op, h, &hl);
		data = h;
	} else if (len && !data) {
		return CKR_ARGUMENTS_BAD;
	}
	if (rv != CKR_OK)
		return rv;
	if (op->base.engine && op->base.mech == CKM_RSA_X_509 &&
	    d->type == CKM_RSA_X_509) {
		/* the engine gets k bytes (include/p11overlay.h); shorter
		 * input is a number with leading zeros, as tokens take it */
		if (hl > op->k)
			return CKR_DATA_LEN_RANGE;
		memset(op->in, 0, op->k - hl);
		memcpy(op->in + op->k - hl, data, hl);
		op->in_len = op->k;
	} else if (op->base.mech == d->type || d->kind == MK_ECDSA_HASH) {
		if (hl > sizeof(op->in) || !engine_pkcs1_fits(op, hl))
			return CKR_DATA_LEN_RANGE;
		memcpy(op->in, data, hl);
		op->in_len = hl;
	} else if (d->kind == MK_PSS || d->kind == MK_PSS_HASH) {
		rv = mk_pad_pss(op->hash, op->mgf, op->salt, data, hl,
				op->kbits, op->in);
		op->in_len = op->k;
	} else {
		if (d->kind == MK_RSA_HASH) {
			dl = mk_digest_info(d->hash, data, hl, di);
			data = di;
			hl = dl;
		}
		if (op->base.mech == CKM_RSA_PKCS) {
			if (!engine_pkcs1_fits(op, hl))
				return CKR_DATA_LEN_RANGE;
			memcpy(op->in, data, hl);
			op->in_len = hl;
		} else {
			rv = mk_pad_pkcs1(data, hl, op->k, op->in);
			op->in_len = op->k;
		}
	}
	op->prepared = rv == CKR_OK;
	return rv;
}

static CK_RV engine_run(mk_op *op, CK_FLAGS fn, const unsigned char *in,
			size_t inlen, unsigned char *out, size_t *outlen)
{
	CK_MECHANISM m = {op->base.mech, NULL, 0};
	CK_ULONG l = MK_MAX_K;
	p11o_app_callback_enter();
	CK_RV rv = op->base.eng.Operate(op->base.eng.pContext, fn, &m,
					op->keyref, op->keyref_len,
					(CK_BYTE_PTR)in, inlen, out, &l);
	p11o_app_callback_leave();
	if (rv == CKR_BUFFER_TOO_SMALL || (rv == CKR_OK && l > MK_MAX_K))
		rv = CKR_FUNCTION_FAILED;
	*outlen = l;
	return rv;
}

static CK_RV sign_finish(p11o_layer *self, CK_SESSION_HANDLE hs, mk_op *op,
			 CK_BYTE_PTR sig, CK_ULONG_PTR len)
{
	CK_RV rv;

	if (!op->base.engine) {
		rv = P11O_DOWN(self, C_Sign, hs, op->in, op->in_len, sig, len);
		/* CKR_ARGUMENTS_BAD: the provider may keep its operation
		 * (SoftHSM2 does); ours lives on with it, and ends with the
		 * provider's next answer if the provider ended its own. */
		if (rv == CKR_BUFFER_TOO_SMALL || (rv == CKR_OK && !sig) ||
		    rv == CKR_ARGUMENTS_BAD)
			return rv;
		mk_op_end(op);
		return rv;
	}
	if (!op->have_out && !sig && len && op->k) {
		*len = op->k;
		return CKR_OK;
	}
	if (!op->have_out) {
		rv = engine_run(op, CKF_SIGN, op->in, op->in_len, op->out,
				&op->out_len);
		if (rv != CKR_OK) {
			mk_op_end(op);
			return rv;
		}
		op->have_out = true;
	}
	return deliver(op, sig, len);
}

static CK_RV mk_C_Sign(p11o_layer *self, CK_SESSION_HANDLE hs, CK_BYTE_PTR data,
		       CK_ULONG len, CK_BYTE_PTR sig, CK_ULONG_PTR siglen)
{
	mk_op *op = mk_op_active(MK(self), hs, OPK_SIGN);
	CK_RV rv;

	if (!op)
		return P11O_DOWN(self, C_Sign, hs, data, len, sig, siglen);
	if (!op->prepared && (rv = prepare(op, data, len)) != CKR_OK) {
		mk_abort(self, hs, op, OPK_SIGN);
		return rv;
	}
	rv = sign_finish(self, hs, op, sig, siglen);
	/* The operation lives on (sign_finish): the next C_Sign brings its
	 * data again, so it is prepared afresh, not from this call's. */
	if (rv == CKR_ARGUMENTS_BAD && !op->base.engine && op->active &&
	    op->prepared) {
		op->prepared = false;
		if (composite(op->def) && mk_hash_init(op, op->hash) != CKR_OK)
			mk_abort(self, hs, op, OPK_SIGN);
	}
	return rv;
}

static CK_RV mk_C_SignUpdate(p11o_layer *self, CK_SESSION_HANDLE hs,
			     CK_BYTE_PTR part, CK_ULONG len)
{
	mk_op *op = mk_op_active(MK(self), hs, OPK_SIGN);
	CK_RV rv;

	if (!op)
		return P11O_DOWN(self, C_SignUpdate, hs, part, len);
	rv = composite(op->def) && op->hashing
		 ? mk_hash_update(op, part, len)
		 : CKR_FUNCTION_NOT_SUPPORTED; /* single-part mechanism */
	if (rv != CKR_OK)
		mk_abort(self, hs, op, OPK_SIGN);
	return rv;
}

static CK_RV mk_C_SignFinal(p11o_layer *self, CK_SESSION_HANDLE hs,
			    CK_BYTE_PTR sig, CK_ULONG_PTR siglen)
{
	mk_op *op = mk_op_active(MK(self), hs, OPK_SIGN);
	CK_RV rv;

	if (!op)
		return P11O_DOWN(self, C_SignFinal, hs, sig, siglen);
	if (!composite(op->def))
		rv = CKR_FUNCTION_NOT_SUPPORTED;
	else
		rv = op->prepared ? CKR_OK : prepare(op, NULL, 0);
	if (rv != CKR_OK) {
		mk_abort(self, hs, op, OPK_SIGN);
		return rv;
	}
	return sign_finish(self, hs, op, sig, siglen);
}

/* ---- decrypt -------------------------------------------------------- */

static CK_RV decrypt_raw(p11o_layer *self, CK_SESSION_HANDLE hs, mk_op *op,
			 CK_BYTE_PTR in, CK_ULONG inlen)
{
	unsigned char raw[MK_MAX_K];
	size_t rl;
	CK_ULONG tl = sizeof(raw);
	CK_RV rv;

	if (op->base.engine) {
		/* the engine gets a k-byte ciphertext (include/p11overlay.h) */
		if (inlen != op->k || !in)
			return in ? CKR_ENCRYPTED_DATA_LEN_RANGE
				  : CKR_ARGUMENTS_BAD;
		rv = engine_run(op, CKF_DECRYPT, in, inlen, raw, &rl);
	} else {
		rv = P11O_DOWN(self, C_Decrypt, hs, in, inlen, raw, &tl);
		rl = tl;
		if (rv == CKR_OK && tl > sizeof(raw)) /* never past raw */
			rv = CKR_DEVICE_ERROR;
	}
	if (rv == CKR_OK && op->base.mech == op->def->type) {
		memcpy(op->out, raw, rl);
		op->out_len = rl;
	} else if (rv == CKR_OK && rl > op->k) {
		rv = CKR_FUNCTION_FAILED;
	} else if (rv == CKR_OK) {
		/* a token may drop leading zero bytes of the raw result */
		memmove(raw + op->k - rl, raw, rl);
		memset(raw, 0, op->k - rl);
		rv = op->def->kind == MK_OAEP
			 ? mk_unpad_oaep(op->hash, op->mgf, op->label,
					 op->label_len, raw, op->k, op->out,
					 &op->out_len)
			 : mk_unpad_pkcs1(raw, op->k, op->out, &op->out_len);
	}
	OPENSSL_cleanse(raw, sizeof(raw));
	op->have_out = rv == CKR_OK;
	return rv;
}

static CK_RV mk_C_Decrypt(p11o_layer *self, CK_SESSION_HANDLE hs,
			  CK_BYTE_PTR in, CK_ULONG inlen, CK_BYTE_PTR out,
			  CK_ULONG_PTR outlen)
{
	mk_op *op = mk_op_active(MK(self), hs, OPK_DECRYPT);
	CK_RV rv;

	if (!op)
		return P11O_DOWN(self, C_Decrypt, hs, in, inlen, out, outlen);
	if (!op->have_out && !out && outlen && op->k) {
		*outlen = op->k; /* an upper bound, as PKCS#11 allows */
		return CKR_OK;
	}
	if (!op->have_out && (rv = decrypt_raw(self, hs, op, in, inlen))) {
		mk_op_end(op);
		return rv;
	}
	return deliver(op, out, outlen);
}

/* ---- digest --------------------------------------------------------- */

static CK_RV digest_out(mk_op *op, CK_BYTE_PTR out, CK_ULONG_PTR len)
{
	size_t dl = (size_t)EVP_MD_get_size(op->hash);
	CK_RV rv;

	if (!len || !out || *len < dl) {
		rv = !len  ? CKR_ARGUMENTS_BAD
		     : out ? CKR_BUFFER_TOO_SMALL
			   : CKR_OK;
		if (len)
			*len = dl;
		if (!len)
			mk_op_end(op);
		return rv;
	}
	rv = mk_hash_final(op, op->out, &op->out_len);
	if (rv != CKR_OK) {
		mk_op_end(op);
		return rv;
	}
	return deliver(op, out, len);
}

static CK_RV mk_C_Digest(p11o_layer *self, CK_SESSION_HANDLE hs,
			 CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR out,
			 CK_ULONG_PTR outlen)
{
	mk_op *op = mk_op_active(MK(self), hs, OPK_DIGEST);
	CK_RV rv;

	if (!op)
		return P11O_DOWN(self, C_Digest, hs, data, len, out, outlen);
	if (out && outlen && *outlen >= (size_t)EVP_MD_get_size(op->hash) &&
	    (rv = mk_hash_update(op, data, len)) != CKR_OK) {
		mk_op_end(op);
		return rv;
	}
	return digest_out(op, out, outlen);
}

static CK_RV mk_C_DigestUpdate(p11o_layer *self, CK_SESSION_HANDLE hs,
			       CK_BYTE_PTR part, CK_ULONG len)
{
	mk_op *op = mk_op_active(MK(self), hs, OPK_DIGEST);
	CK_RV rv;

	if (!op)
		return P11O_DOWN(self, C_DigestUpdate, hs, part, len);
	if ((rv = mk_hash_update(op, part, len)) != CKR_OK)
		mk_op_end(op);
	return rv;
}

static CK_RV mk_C_DigestKey(p11o_layer *self, CK_SESSION_HANDLE hs,
			    CK_OBJECT_HANDLE key)
{
	mk_op *op = mk_op_active(MK(self), hs, OPK_DIGEST);

	if (!op)
		return P11O_DOWN(self, C_DigestKey, hs, key);
	mk_op_end(op); /* the key's value stays in the token */
	return CKR_KEY_INDIGESTIBLE;
}

static CK_RV mk_C_DigestFinal(p11o_layer *self, CK_SESSION_HANDLE hs,
			      CK_BYTE_PTR out, CK_ULONG_PTR outlen)
{
	mk_op *op = mk_op_active(MK(self), hs, OPK_DIGEST);

	if (!op)
		return P11O_DOWN(self, C_DigestFinal, hs, out, outlen);
	return digest_out(op, out, outlen);
}

void mk_install_ops(p11o_ops *ops)
{
	ops->C_Sign = mk_C_Sign;
	ops->C_SignUpdate = mk_C_SignUpdate;
	ops->C_SignFinal = mk_C_SignFinal;
	ops->C_Decrypt = mk_C_Decrypt;
	ops->C_Digest = mk_C_Digest;
	ops->C_DigestUpdate = mk_C_DigestUpdate;
	ops->C_DigestKey = mk_C_DigestKey;
	ops->C_DigestFinal = mk_C_DigestFinal;
}
