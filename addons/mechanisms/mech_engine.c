/* Engines registered by the application (C_RegisterEngine) and random
 * numbers. */
#include <stdio.h>
#include <string.h>

#include <openssl/rand.h>

#include "mech_int.h"

/* Which operations an engine may offer for its mechanism. */
static CK_FLAGS allowed(CK_MECHANISM_TYPE type)
{
	const mk_def *d = mk_def_find(type);

	if (type == CKM_P11O_RANDOM)
		return CKF_GENERATE;
	if (!d)
		return 0;
	switch (d->kind) {
	case MK_DIGEST:
		return CKF_DIGEST;
	case MK_RSA_PKCS:
	case MK_RSA_X509:
		return CKF_SIGN | CKF_DECRYPT;
	case MK_ECDSA:
		return CKF_SIGN;
	default:
		return 0;
	}
}

CK_RV mk_C_RegisterEngine(p11o_layer *self, CK_MECHANISM_TYPE type,
			  const char *name, CK_ENGINE_PTR pEngine)
{
	mk_layer *l = MK(self);
	CK_FLAGS ok = allowed(type);
	CK_RV rv = CKR_OK;
	size_t i;

	if (!ok)
		return CKR_MECHANISM_INVALID;
	if (pEngine) {
		CK_FLAGS f = pEngine->flags;
		bool digest = (f & CKF_DIGEST) != 0;
		if (pEngine->ulVersion != CK_P11O_ENGINE_VERSION || !f ||
		    (f & ~ok) ||
		    (digest ? !pEngine->DigestBegin || !pEngine->DigestUpdate ||
				  !pEngine->DigestEnd
			    : !pEngine->Operate))
			return CKR_ARGUMENTS_BAD;
	}
	p11o_mutex_lock(&l->eng_lock);
	for (i = 0; i < l->neng && l->engines[i].type != type; i++)
		;
	if (!pEngine) {
		if (i < l->neng)
			l->engines[i] = l->engines[--l->neng];
	} else if (i == MK_MAX_ENGINES) {
		rv = CKR_HOST_MEMORY;
	} else {
		mk_engine_entry *e = &l->engines[i];
		e->type = type;
		e->e = *pEngine;
		snprintf(e->name, sizeof(e->name), "%s", name ? name : "");
		if (i == l->neng)
			l->neng++;
	}
	p11o_mutex_unlock(&l->eng_lock);
	atomic_fetch_add(&l->route_epoch, 1); /* routes change */
	return rv;
}

bool mk_engine_get(mk_layer *l, CK_MECHANISM_TYPE type, CK_FLAGS fn,
		   CK_ENGINE *out)
{
	bool found = false;

	p11o_mutex_lock(&l->eng_lock);
	for (size_t i = 0; i < l->neng; i++) {
		if (l->engines[i].type == type &&
		    (l->engines[i].e.flags & fn)) {
			*out = l->engines[i].e;
			found = true;
			break;
		}
	}
	p11o_mutex_unlock(&l->eng_lock);
	return found;
}

static CK_RV engine_random(const CK_ENGINE *e, CK_BYTE_PTR p, CK_ULONG n)
{
	CK_MECHANISM m = {CKM_P11O_RANDOM, NULL, 0};
	CK_ULONG got = n;
	CK_RV rv = e->Operate(e->pContext, CKF_GENERATE, &m, NULL, 0, NULL, 0,
			      p, &got);
	return rv == CKR_OK && got != n ? CKR_FUNCTION_FAILED : rv;
}

static CK_RV soft_random(CK_BYTE_PTR p, CK_ULONG n)
{
	while (n) {
		int chunk = n > 1 << 30 ? 1 << 30 : (int)n;
		if (RAND_bytes(p, chunk) != 1)
			return CKR_FUNCTION_FAILED;
		p += chunk;
		n -= (CK_ULONG)chunk;
	}
	return CKR_OK;
}

/* The token's RNG; a registered engine where it has none (or first, with
 * prefer-engine); OpenSSL's where neither. */
CK_RV mk_C_GenerateRandom(p11o_layer *self, CK_SESSION_HANDLE hSession,
			  CK_BYTE_PTR pRandom, CK_ULONG ulLen)
{
	mk_layer *l = MK(self);
	bool have = false;
	CK_ENGINE e;
	CK_RV rv;

	if (!mk_listed(&l->cfg->mechanisms_disable, CKM_P11O_RANDOM))
		have = mk_engine_get(l, CKM_P11O_RANDOM, CKF_GENERATE, &e);
	if (have && l->cfg->mechanisms_prefer_engine && pRandom &&
	    p11o_session_get(l->sessions, hSession))
		return engine_random(&e, pRandom, ulLen);
	rv = P11O_DOWN(self, C_GenerateRandom, hSession, pRandom, ulLen);
	if ((rv != CKR_RANDOM_NO_RNG && rv != CKR_FUNCTION_NOT_SUPPORTED) ||
	    !pRandom || mk_listed(&l->cfg->mechanisms_disable, CKM_P11O_RANDOM))
		return rv;
	return have ? engine_random(&e, pRandom, ulLen)
		    : soft_random(pRandom, ulLen);
}

/* Seeds for the software RNG, where the token has none. */
CK_RV mk_C_SeedRandom(p11o_layer *self, CK_SESSION_HANDLE hSession,
		      CK_BYTE_PTR pSeed, CK_ULONG ulSeedLen)
{
	CK_RV rv = P11O_DOWN(self, C_SeedRandom, hSession, pSeed, ulSeedLen);

	if ((rv == CKR_RANDOM_NO_RNG || rv == CKR_FUNCTION_NOT_SUPPORTED) &&
	    pSeed &&
	    !mk_listed(&MK(self)->cfg->mechanisms_disable, CKM_P11O_RANDOM)) {
		RAND_add(pSeed,
			 (int)(ulSeedLen > 1 << 30 ? 1 << 30 : ulSeedLen), 0);
		return CKR_OK;
	}
	return rv;
}
