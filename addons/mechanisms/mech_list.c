/* The mechanisms this layer completes, how an operation is routed, and
 * the mechanism list and info the application sees. */
#include <stdlib.h>
#include <string.h>

#include "mech_int.h"

/* F_P, F_2M, ECPARAMETERS, NAMEDCURVE (OID), UNCOMPRESS, COMPRESS */
#define MK_EC_FLAGS (0x3fUL << 20)

#define D(t, k, h)                                                             \
	{                                                                      \
		t, k, h                                                        \
	}
const mk_def mk_defs[] = {
    D(CKM_MD5, MK_DIGEST, CKM_MD5),
    D(CKM_SHA_1, MK_DIGEST, CKM_SHA_1),
    D(CKM_SHA224, MK_DIGEST, CKM_SHA224),
    D(CKM_SHA256, MK_DIGEST, CKM_SHA256),
    D(CKM_SHA384, MK_DIGEST, CKM_SHA384),
    D(CKM_SHA512, MK_DIGEST, CKM_SHA512),
    D(CKM_RSA_PKCS, MK_RSA_PKCS, 0),
    D(CKM_RSA_X_509, MK_RSA_X509, 0),
    D(CKM_MD5_RSA_PKCS, MK_RSA_HASH, CKM_MD5),
    D(CKM_SHA1_RSA_PKCS, MK_RSA_HASH, CKM_SHA_1),
    D(CKM_SHA224_RSA_PKCS, MK_RSA_HASH, CKM_SHA224),
    D(CKM_SHA256_RSA_PKCS, MK_RSA_HASH, CKM_SHA256),
    D(CKM_SHA384_RSA_PKCS, MK_RSA_HASH, CKM_SHA384),
    D(CKM_SHA512_RSA_PKCS, MK_RSA_HASH, CKM_SHA512),
    D(CKM_RSA_PKCS_PSS, MK_PSS, 0),
    D(CKM_SHA1_RSA_PKCS_PSS, MK_PSS_HASH, CKM_SHA_1),
    D(CKM_SHA224_RSA_PKCS_PSS, MK_PSS_HASH, CKM_SHA224),
    D(CKM_SHA256_RSA_PKCS_PSS, MK_PSS_HASH, CKM_SHA256),
    D(CKM_SHA384_RSA_PKCS_PSS, MK_PSS_HASH, CKM_SHA384),
    D(CKM_SHA512_RSA_PKCS_PSS, MK_PSS_HASH, CKM_SHA512),
    D(CKM_RSA_PKCS_OAEP, MK_OAEP, 0),
    D(CKM_ECDSA, MK_ECDSA, 0),
    D(CKM_ECDSA_SHA1, MK_ECDSA_HASH, CKM_SHA_1),
    D(CKM_ECDSA_SHA224, MK_ECDSA_HASH, CKM_SHA224),
    D(CKM_ECDSA_SHA256, MK_ECDSA_HASH, CKM_SHA256),
    D(CKM_ECDSA_SHA384, MK_ECDSA_HASH, CKM_SHA384),
    D(CKM_ECDSA_SHA512, MK_ECDSA_HASH, CKM_SHA512),
};
const size_t mk_ndefs = sizeof(mk_defs) / sizeof(mk_defs[0]);

const mk_def *mk_def_find(CK_MECHANISM_TYPE type)
{
	for (size_t i = 0; i < mk_ndefs; i++)
		if (mk_defs[i].type == type)
			return &mk_defs[i];
	return NULL;
}

const EVP_MD *mk_md(CK_MECHANISM_TYPE hash)
{
	switch (hash) {
	case CKM_MD5:
		return EVP_md5();
	case CKM_SHA_1:
		return EVP_sha1();
	case CKM_SHA224:
		return EVP_sha224();
	case CKM_SHA256:
		return EVP_sha256();
	case CKM_SHA384:
		return EVP_sha384();
	case CKM_SHA512:
		return EVP_sha512();
	}
	return NULL;
}

CK_MECHANISM_TYPE mk_mgf_hash(CK_ULONG mgf)
{
	switch (mgf) {
	case CKG_MGF1_SHA1:
		return CKM_SHA_1;
	case CKG_MGF1_SHA224:
		return CKM_SHA224;
	case CKG_MGF1_SHA256:
		return CKM_SHA256;
	case CKG_MGF1_SHA384:
		return CKM_SHA384;
	case CKG_MGF1_SHA512:
		return CKM_SHA512;
	}
	return 0;
}

bool mk_is_ec(const mk_def *d)
{
	return d->kind == MK_ECDSA || d->kind == MK_ECDSA_HASH;
}

CK_FLAGS mk_opk_flag(enum mk_opk k)
{
	static const CK_FLAGS f[OPK_N] = {CKF_SIGN, CKF_VERIFY, CKF_ENCRYPT,
					  CKF_DECRYPT, CKF_DIGEST};
	return f[k];
}

bool mk_listed(const p11o_mech_list *list, CK_MECHANISM_TYPE m)
{
	for (size_t i = 0; i < list->count; i++)
		if (list->v[i] == m)
			return true;
	return false;
}

/* Base mechanisms a private-key function of def can be built on. */
static size_t bases(const mk_def *d, CK_FLAGS fn, CK_MECHANISM_TYPE out[2])
{
	if (fn == CKF_SIGN) {
		switch (d->kind) {
		case MK_RSA_HASH:
			out[0] = CKM_RSA_PKCS;
			out[1] = CKM_RSA_X_509;
			return 2;
		case MK_RSA_PKCS:
		case MK_PSS:
		case MK_PSS_HASH:
			out[0] = CKM_RSA_X_509;
			return 1;
		case MK_ECDSA_HASH:
			out[0] = CKM_ECDSA;
			return 1;
		default:
			return 0;
		}
	}
	if (fn == CKF_DECRYPT &&
	    (d->kind == MK_RSA_PKCS || d->kind == MK_OAEP)) {
		out[0] = CKM_RSA_X_509;
		return 1;
	}
	return 0;
}

static CK_FLAGS soft_flags(const mk_def *d)
{
	switch (d->kind) {
	case MK_DIGEST:
		return CKF_DIGEST;
	case MK_RSA_PKCS:
	case MK_RSA_X509:
		return CKF_VERIFY | CKF_ENCRYPT;
	case MK_OAEP:
		return CKF_ENCRYPT;
	default:
		return CKF_VERIFY;
	}
}

/* The token's info for a mechanism, remembered for one decision. */
typedef struct nat_cache {
	mk_layer *l;
	CK_SLOT_ID slot;
	const mk_session *s; /* an Init's session: the slot's facts */
	size_t n;
	struct {
		CK_MECHANISM_TYPE m;
		CK_MECHANISM_INFO info;
	} e[48];
} nat_cache;

static CK_FLAGS native(nat_cache *c, CK_MECHANISM_TYPE m,
		       CK_MECHANISM_INFO *info)
{
	CK_MECHANISM_INFO tmp = {0, 0, 0};
	size_t i;

	for (i = 0; i < c->n; i++)
		if (c->e[i].m == m)
			break;
	if (i == c->n) {
		if (c->s)
			mk_facts_info(c->l, c->s, m, &tmp);
		else if (!mk_listed(&c->l->cfg->mechanisms_hide, m) &&
			 P11O_DOWN(&c->l->base, C_GetMechanismInfo, c->slot, m,
				   &tmp) != CKR_OK)
			memset(&tmp, 0, sizeof(tmp));
		if (mk_listed(&c->l->cfg->mechanisms_hide, m))
			memset(&tmp, 0, sizeof(tmp));
		if (c->n < sizeof(c->e) / sizeof(c->e[0])) {
			c->e[c->n].m = m;
			c->e[c->n++].info = tmp;
		}
	} else {
		tmp = c->e[i].info;
	}
	if (info)
		*info = tmp;
	return tmp.flags;
}

/* A base for function fn of mechanism b: the token's or an engine's. */
static bool pick(nat_cache *c, CK_MECHANISM_TYPE b, CK_FLAGS fn, mk_base *out)
{
	mk_base t = {.mech = b};
	bool prefer = c->l->cfg->mechanisms_prefer_engine;

	if (prefer && mk_engine_get(c->l, b, fn, &t.eng))
		t.engine = true;
	else if (!(native(c, b, NULL) & fn) &&
		 !(t.engine = mk_engine_get(c->l, b, fn, &t.eng)))
		return false;
	if (out)
		*out = t;
	return true;
}

static enum mk_route route(nat_cache *c, CK_MECHANISM_TYPE m, CK_FLAGS fn,
			   const mk_def **def, mk_base *base);

/* Verify or encrypt in software is offered only for a mechanism the token
 * (or an engine) can also sign or decrypt with, unless [mechanisms]
 * public-only says otherwise: GnuTLS and NSS take a listed mechanism as one
 * the token's keys sign with, and a verify-only CKM_RSA_PKCS_PSS on a card
 * without PSS signing broke their TLS client authentication.  No recursion:
 * soft_flags() never has CKF_SIGN or CKF_DECRYPT. */
static bool private_side(nat_cache *c, CK_MECHANISM_TYPE m)
{
	const mk_def *d;
	mk_base b;

	return native(c, m, NULL) != 0 ||
	       route(c, m, CKF_SIGN, &d, &b) == RT_EMU ||
	       route(c, m, CKF_DECRYPT, &d, &b) == RT_EMU;
}

static enum mk_route route(nat_cache *c, CK_MECHANISM_TYPE m, CK_FLAGS fn,
			   const mk_def **def, mk_base *base)
{
	const p11o_config *cfg = c->l->cfg;
	bool hidden = mk_listed(&cfg->mechanisms_hide, m);
	CK_MECHANISM_TYPE b[2];
	mk_base t = {.mech = m};

	*def = mk_def_find(m);
	/* nothing to complete: the token answers, nothing asked of it */
	if (!*def || mk_listed(&cfg->mechanisms_disable, m))
		return hidden ? RT_INVALID : RT_PASS;
	/* prefer-engine: an engine of the mechanism, then one of a base it
	 * is built on, comes before the token's own mechanism
	 * (include/p11overlay.h). */
	if (cfg->mechanisms_prefer_engine &&
	    (t.engine = mk_engine_get(c->l, m, fn, &t.eng)))
		goto emu;
	for (size_t i = 0, n = bases(*def, fn, b);
	     cfg->mechanisms_prefer_engine && i < n; i++) {
		t.mech = b[i];
		if ((t.engine = mk_engine_get(c->l, b[i], fn, &t.eng)))
			goto emu;
	}
	t.mech = m;
	if (native(c, m, NULL) & fn)
		return RT_PASS;
	if ((t.engine = mk_engine_get(c->l, m, fn, &t.eng)))
		goto emu;
	for (size_t i = 0, n = bases(*def, fn, b); i < n; i++)
		if (pick(c, b[i], fn, &t))
			goto emu;
	if ((soft_flags(*def) & fn) &&
	    (fn == CKF_DIGEST || cfg->mechanisms_public_only ||
	     private_side(c, m))) {
		t.soft = true;
		goto emu;
	}
	return hidden ? RT_INVALID : RT_PASS;
emu:
	if (base)
		*base = t;
	return RT_EMU;
}

enum mk_route mk_route(mk_layer *l, const mk_session *s, CK_MECHANISM_TYPE m,
		       CK_FLAGS fn, const mk_def **def, mk_base *base)
{
	/* Not zero-filled: only c.n entries are ever read (every Init). */
	nat_cache c;
	c.l = l;
	c.slot = s->slot;
	c.s = s;
	c.n = 0;
	return route(&c, m, fn, def, base);
}

/* Does the token (or an engine) do RSA / EC at all?  Public-key functions
 * are offered only then. */
static bool family(nat_cache *c, bool ec, CK_MECHANISM_INFO *info)
{
	static const CK_MECHANISM_TYPE rsa[] = {CKM_RSA_PKCS, CKM_RSA_X_509,
						CKM_RSA_PKCS_KEY_PAIR_GEN};
	static const CK_MECHANISM_TYPE eck[] = {CKM_ECDSA, CKM_EC_KEY_PAIR_GEN};
	const CK_MECHANISM_TYPE *m = ec ? eck : rsa;
	size_t n = ec ? 2 : 3;
	CK_ENGINE e;

	for (size_t i = 0; i < n; i++)
		if (native(c, m[i], info))
			return true;
	for (size_t i = 0; i < n; i++) {
		if (mk_engine_get(c->l, m[i], CKF_SIGN | CKF_DECRYPT, &e)) {
			info->ulMinKeySize = e.ulMinKeySize;
			info->ulMaxKeySize = e.ulMaxKeySize;
			info->flags = 0;
			return true;
		}
	}
	return false;
}

/* What this layer adds to mechanism m of the slot (flags 0: nothing);
 * true when the key sizes are an engine's, which then stand for the
 * mechanism even where the token has it too (prefer-engine). */
static bool completed(nat_cache *c, CK_MECHANISM_TYPE m,
		      CK_MECHANISM_INFO *info)
{
	static const CK_FLAGS fns[] = {CKF_SIGN, CKF_DECRYPT, CKF_VERIFY,
				       CKF_ENCRYPT, CKF_DIGEST};
	CK_MECHANISM_INFO fam = {0, 0, 0};
	const mk_def *d = mk_def_find(m);
	bool sized = false, by_engine = false;
	mk_base b;

	memset(info, 0, sizeof(*info));
	if (!d || mk_listed(&c->l->cfg->mechanisms_disable, m))
		return false;
	if (d->kind != MK_DIGEST && !family(c, mk_is_ec(d), &fam))
		return false;
	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		const mk_def *dd;
		if (route(c, m, fns[i], &dd, &b) != RT_EMU)
			continue;
		info->flags |= fns[i];
		if (!sized && !b.soft) {
			CK_MECHANISM_INFO bi = {0, 0, 0};
			if (b.engine) {
				bi.ulMinKeySize = b.eng.ulMinKeySize;
				bi.ulMaxKeySize = b.eng.ulMaxKeySize;
				by_engine = d->kind != MK_DIGEST;
			} else {
				native(c, b.mech, &bi);
			}
			info->ulMinKeySize = bi.ulMinKeySize;
			info->ulMaxKeySize = bi.ulMaxKeySize;
			info->flags |=
			    bi.flags &
			    ~(CKF_HW | CKF_SIGN | CKF_DECRYPT | CKF_VERIFY |
			      CKF_ENCRYPT | CKF_WRAP | CKF_UNWRAP |
			      CKF_SIGN_RECOVER | CKF_VERIFY_RECOVER);
			sized = true;
		}
	}
	if (info->flags && !sized && d->kind != MK_DIGEST) {
		info->ulMinKeySize = fam.ulMinKeySize;
		info->ulMaxKeySize = fam.ulMaxKeySize;
		if (mk_is_ec(d))
			info->flags |= fam.flags & MK_EC_FLAGS;
	}
	return by_engine;
}

CK_RV mk_C_GetMechanismInfo(p11o_layer *self, CK_SLOT_ID slotID,
			    CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR pInfo)
{
	mk_layer *l = MK(self);
	nat_cache c = {.l = l, .slot = slotID};
	CK_MECHANISM_INFO add;
	bool hidden = mk_listed(&l->cfg->mechanisms_hide, type);
	CK_RV rv;

	if (!pInfo || (!hidden && !mk_def_find(type)))
		return P11O_DOWN(self, C_GetMechanismInfo, slotID, type, pInfo);
	/* The slot must be valid and hold a token: ask for anything. */
	rv = P11O_DOWN(self, C_GetMechanismInfo, slotID, type, pInfo);
	if (rv != CKR_OK && rv != CKR_MECHANISM_INVALID)
		return rv;
	if (hidden)
		rv = CKR_MECHANISM_INVALID;
	bool engine_sizes = completed(&c, type, &add);
	if (rv == CKR_OK) {
		pInfo->flags |= add.flags;
		if (engine_sizes) {
			pInfo->ulMinKeySize = add.ulMinKeySize;
			pInfo->ulMaxKeySize = add.ulMaxKeySize;
		}
		return CKR_OK;
	}
	if (!add.flags)
		return CKR_MECHANISM_INVALID;
	*pInfo = add;
	return CKR_OK;
}

/* More mechanisms than any token has: the provider is not telling the
 * truth, and the count must not size a buffer (issue 16). */
#define MK_MAX_NATIVE 65536

/* The provider's list into fresh buffers: `nat` holds it, `all` has room
 * for it plus every mechanism this layer may add.  A list that grows
 * between the size query and the fill is asked for again, a few times. */
static CK_RV native_list(p11o_layer *self, CK_SLOT_ID slotID,
			 CK_MECHANISM_TYPE **nat, CK_MECHANISM_TYPE **all,
			 CK_ULONG *count)
{
	CK_RV rv = CKR_OK;
	for (int tries = 0; tries < 3; tries++) {
		CK_ULONG n = 0;
		rv = P11O_DOWN(self, C_GetMechanismList, slotID, NULL, &n);
		if (rv != CKR_OK)
			return rv;
		if (n > MK_MAX_NATIVE)
			return CKR_DEVICE_ERROR;
		*nat = calloc(n + 1, sizeof(**nat));
		*all = calloc(n + mk_ndefs + MK_MAX_ENGINES + 1, sizeof(**all));
		if (!*nat || !*all)
			return CKR_HOST_MEMORY;
		CK_ULONG room = n;
		rv = P11O_DOWN(self, C_GetMechanismList, slotID, *nat, &n);
		if (rv == CKR_OK) {
			/* never more than was written (bounds.h) */
			*count = n < room ? n : room;
			return CKR_OK;
		}
		if (rv != CKR_BUFFER_TOO_SMALL)
			return rv;
		free(*nat);
		free(*all);
		*nat = *all = NULL;
	}
	return CKR_DEVICE_ERROR; /* it never stopped growing */
}

CK_RV mk_C_GetMechanismList(p11o_layer *self, CK_SLOT_ID slotID,
			    CK_MECHANISM_TYPE_PTR pList, CK_ULONG_PTR pulCount)
{
	mk_layer *l = MK(self);
	nat_cache c = {.l = l, .slot = slotID};
	CK_MECHANISM_TYPE *nat = NULL, *all = NULL;
	CK_ULONG n = 0, total = 0;
	CK_MECHANISM_INFO add;
	CK_RV rv;

	if (!pulCount)
		return P11O_DOWN(self, C_GetMechanismList, slotID, pList,
				 pulCount);
	rv = native_list(self, slotID, &nat, &all, &n);
	if (rv != CKR_OK)
		goto out;
	for (CK_ULONG i = 0; i < n; i++)
		if (!mk_listed(&l->cfg->mechanisms_hide, nat[i]))
			all[total++] = nat[i];
	for (size_t i = 0; i < mk_ndefs; i++) {
		CK_ULONG j;
		for (j = 0; j < total && all[j] != mk_defs[i].type; j++)
			;
		if (j < total)
			continue;
		completed(&c, mk_defs[i].type, &add);
		if (add.flags)
			all[total++] = mk_defs[i].type;
	}
	if (pList && *pulCount < total)
		rv = CKR_BUFFER_TOO_SMALL;
	else if (pList)
		memcpy(pList, all, total * sizeof(*all));
	*pulCount = total;
out:
	free(nat);
	free(all);
	return rv;
}
