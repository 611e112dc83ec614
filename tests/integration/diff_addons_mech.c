/* What the mechanisms addon adds on purpose, set aside narrowly in the
 * proxy child (issue 15; docs/architecture.md §3, Conformance).
 *
 * The addon lists and answers for the mechanisms it completes
 * (p11overlay(7), MECHANISMS AND ENGINES) where the token lacks them.
 * The harness's setup child writes the provider's own mechanism list
 * (diff_harness.c: provider-mechs); a wrapper around the proxy's
 * C_GetMechanismList and C_GetMechanismInfo sets aside exactly the
 * mechanisms that are not in it, and each of those must be one the
 * addon documents as completable.  Everything else, the caller's buffer
 * and its canary tail included, still goes through the proxy as it is.
 * The completed mechanisms themselves are checked in mech_paths against
 * the provider's equivalent (ECDSA with a hash against CKM_ECDSA over the
 * hash), through the proxy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diff_keys.h"
#include "diff_record.h"
#include "p11test_canary.h"

#define real addons_real
#define check addons_check

/* p11overlay(7), MECHANISMS AND ENGINES: what the addon may complete. */
static const CK_MECHANISM_TYPE completable[] = {CKM_MD5_RSA_PKCS,
						CKM_SHA1_RSA_PKCS,
						CKM_SHA224_RSA_PKCS,
						CKM_SHA256_RSA_PKCS,
						CKM_SHA384_RSA_PKCS,
						CKM_SHA512_RSA_PKCS,
						CKM_RSA_PKCS,
						CKM_RSA_PKCS_PSS,
						CKM_SHA1_RSA_PKCS_PSS,
						CKM_SHA224_RSA_PKCS_PSS,
						CKM_SHA256_RSA_PKCS_PSS,
						CKM_SHA384_RSA_PKCS_PSS,
						CKM_SHA512_RSA_PKCS_PSS,
						CKM_ECDSA_SHA1,
						CKM_ECDSA_SHA224,
						CKM_ECDSA_SHA256,
						CKM_ECDSA_SHA384,
						CKM_ECDSA_SHA512,
						CKM_RSA_PKCS_OAEP,
						CKM_RSA_X_509,
						CKM_MD5,
						CKM_SHA_1,
						CKM_SHA224,
						CKM_SHA256,
						CKM_SHA384,
						CKM_SHA512};

#define MAX_MECHS 512
static CK_MECHANISM_TYPE provider[MAX_MECHS];
static CK_ULONG nprovider;

static bool in(const CK_MECHANISM_TYPE *v, CK_ULONG n, CK_MECHANISM_TYPE m)
{
	for (CK_ULONG i = 0; i < n; i++)
		if (v[i] == m)
			return true;
	return false;
}

/* Completed by the proxy: not the provider's, and documented. */
static bool completed(CK_MECHANISM_TYPE m)
{
	if (in(provider, nprovider, m))
		return false;
	char what[96];
	snprintf(what, sizeof(what), "mechanism 0x%lx added, not completable",
		 (unsigned long)m);
	check(in(completable, sizeof(completable) / sizeof(completable[0]), m),
	      what);
	return true;
}

/* How many of the proxy's mechanisms of the slot are completed ones. */
static CK_ULONG count_completed(CK_SLOT_ID slot)
{
	CK_MECHANISM_TYPE all[MAX_MECHS];
	CK_ULONG n = MAX_MECHS, k = 0;
	if (real->C_GetMechanismList(slot, all, &n) != CKR_OK)
		return 0;
	for (CK_ULONG i = 0; i < n; i++)
		k += completed(all[i]);
	return k;
}

static CK_RV list_without_completed(CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list,
				    CK_ULONG_PTR count)
{
	CK_RV rv = real->C_GetMechanismList(slot, list, count);
	if (!count || (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL))
		return rv;
	if (rv == CKR_OK && list) {
		CK_ULONG k = 0;
		for (CK_ULONG i = 0; i < *count; i++)
			if (!completed(list[i]))
				list[k++] = list[i];
		*count = k;
	} else {
		*count -= count_completed(slot);
	}
	return rv;
}

/* The provider's answer for a mechanism it lacks, once the proxy's
 * answer for it has been checked. */
static CK_RV info_without_completed(CK_SLOT_ID slot, CK_MECHANISM_TYPE type,
				    CK_MECHANISM_INFO_PTR info)
{
	CK_RV rv = real->C_GetMechanismInfo(slot, type, info);
	if (rv == CKR_OK && completed(type)) {
		check(info->flags & (CKF_SIGN | CKF_VERIFY | CKF_DIGEST |
				     CKF_ENCRYPT | CKF_DECRYPT),
		      "completed mechanism without a function flag");
		return CKR_MECHANISM_INVALID;
	}
	return rv;
}

/* The provider's list, as the harness's setup child wrote it. */
static void read_provider_list(void)
{
	const char *path = getenv("P11O_DIFF_PROVIDER_MECHS");
	FILE *f = path ? fopen(path, "r") : NULL;
	unsigned long m;
	nprovider = 0;
	if (!f) {
		check(false, "provider mechanism list missing");
		return;
	}
	while (nprovider < MAX_MECHS && fscanf(f, "%lx", &m) == 1)
		provider[nprovider++] = m;
	fclose(f);
	check(nprovider > 0, "provider mechanism list empty");
}

void mech_wrap(CK_FUNCTION_LIST *wrapped)
{
	read_provider_list();
	wrapped->C_GetMechanismList = list_without_completed;
	wrapped->C_GetMechanismInfo = info_without_completed;
}

typedef struct mech_ctx {
	CK_SLOT_ID slot;
} mech_ctx;

static CK_RV fill_mechs(void *ctx, void *buf, CK_ULONG *len)
{
	return real->C_GetMechanismList(((mech_ctx *)ctx)->slot, buf, len);
}

typedef struct state_ctx {
	CK_SESSION_HANDLE s;
} state_ctx;

static CK_RV fill_state(void *ctx, void *buf, CK_ULONG *len)
{
	return real->C_GetOperationState(((state_ctx *)ctx)->s, buf, len);
}

/* One signature of `data` with `m`: size query, NULL length, short
 * buffers with canary tails, then the signature.  The answers are
 * appended to `log` so that two mechanisms can be compared. */
static CK_ULONG sign_edges(CK_SESSION_HANDLE s, CK_MECHANISM *m,
			   CK_OBJECT_HANDLE key, const void *data, CK_ULONG n,
			   CK_BYTE *sig, char *log, size_t loglen)
{
	CK_ULONG len = 0, need = 0;
	size_t at = strlen(log);
	CK_RV r1 = real->C_SignInit(s, m, key);
	CK_RV r2 = real->C_Sign(s, (CK_BYTE_PTR)data, n, NULL, &len);
	need = len;
	CK_ULONG sizes[] = {0, 1, need / 2, need ? need - 1 : 0};
	at += snprintf(log + at, loglen - at, "%lx %lx/%lu", r1, r2, need);
	for (size_t i = 0; i < 4 && at < loglen; i++) {
		CK_BYTE *b = p11test_canary_alloc(sizes[i]);
		len = sizes[i];
		CK_RV rv = real->C_Sign(s, (CK_BYTE_PTR)data, n, b, &len);
		at += snprintf(log + at, loglen - at, " %lx/%lu", rv, len);
		check(p11test_canary_free(b, "completed C_Sign"),
		      "completed C_Sign short buffer: canary");
	}
	CK_BYTE *b = p11test_canary_alloc(need);
	len = need;
	CK_RV rv = real->C_Sign(s, (CK_BYTE_PTR)data, n, b, &len);
	if (at < loglen)
		snprintf(log + at, loglen - at, " %lx/%lu;", rv, len);
	memcpy(sig, b, len <= 256 ? len : 0);
	check(p11test_canary_free(b, "completed C_Sign"),
	      "completed C_Sign: canary");
	return rv == CKR_OK ? len : 0;
}

static CK_RV verify(CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_OBJECT_HANDLE key,
		    const void *data, CK_ULONG n, CK_BYTE *sig, CK_ULONG len)
{
	CK_RV rv = real->C_VerifyInit(s, m, key);
	return rv != CKR_OK ? rv
			    : real->C_Verify(s, (CK_BYTE_PTR)data, n, sig, len);
}

/* A known bug, kept honest like diff_compare.c's list: a C_Sign with a
 * NULL length (CKR_ARGUMENTS_BAD from SoftHSM2, which keeps its
 * operation) ends the completed operation in the proxy
 * (addons/mechanisms/mech_ops.c sign_finish) but not the provider's
 * CKM_ECDSA one, so the next C_Sign passes through and signs the message
 * itself, not its hash: an invalid signature.  Reported to the lead; the
 * answers are compared, the signature's validity is reported as KNOWN
 * while the bug is there, and fails the run once it is gone (then remove
 * this). */
#define KNOWN_SIGN_NULL_LEN 0

static CK_RV sign_after_null_len(CK_SESSION_HANDLE s, CK_MECHANISM *m,
				 CK_OBJECT_HANDLE key, const void *data,
				 CK_ULONG n, CK_BYTE *sig, CK_ULONG *len,
				 char *log, size_t loglen)
{
	CK_RV r1 = real->C_SignInit(s, m, key);
	CK_RV r2 = real->C_Sign(s, (CK_BYTE_PTR)data, n, sig, NULL);
	*len = 64;
	CK_RV r3 = real->C_Sign(s, (CK_BYTE_PTR)data, n, sig, len);
	snprintf(log, loglen, "%lx %lx %lx/%lu", r1, r2, r3, *len);
	return r3;
}

static void null_len(CK_SESSION_HANDLE s, CK_MECHANISM *completed_m,
		     CK_OBJECT_HANDLE kpriv, CK_MECHANISM *native,
		     CK_OBJECT_HANDLE kpub, const CK_BYTE *hash)
{
	CK_BYTE sig_c[64], sig_n[64];
	CK_ULONG lc, ln;
	char log_c[128], log_n[128];
	CK_RV rc = sign_after_null_len(s, completed_m, kpriv, "message", 7,
				       sig_c, &lc, log_c, sizeof(log_c));
	CK_RV rn = sign_after_null_len(s, native, kpriv, hash, 32, sig_n, &ln,
				       log_n, sizeof(log_n));
	if (strcmp(log_c, log_n) != 0) {
		fprintf(stderr, "  completed: %s\n  provider : %s\n", log_c,
			log_n);
		check(false, "C_Sign(NULL length): completed answers as "
			     "CKM_ECDSA");
	}
	check(rn == CKR_OK && verify(s, completed_m, kpub, "message", 7, sig_n,
				     ln) == CKR_OK,
	      "C_Sign(NULL length): CKM_ECDSA signature verified");
	bool valid = rc == CKR_OK &&
		     verify(s, native, kpub, hash, 32, sig_c, lc) == CKR_OK;
	if (KNOWN_SIGN_NULL_LEN && !valid)
		fprintf(stderr, "KNOWN BUG: completed ECDSA-SHA256 after "
				"C_Sign(NULL length) signs the message, not "
				"its hash (diff_addons_mech.c)\n");
	else if (KNOWN_SIGN_NULL_LEN)
		check(false, "KNOWN_SIGN_NULL_LEN no longer shows: remove it");
	else
		check(valid, "C_Sign(NULL length): completed signature valid");
}

/* ECDSA with SHA-256 completed over the token's CKM_ECDSA: the same
 * answers as CKM_ECDSA over the hash, signatures valid either way. */
static void completed_ecdsa(CK_SESSION_HANDLE s)
{
	static CK_OBJECT_CLASS c_priv = CKO_PRIVATE_KEY, c_pub = CKO_PUBLIC_KEY;
	static CK_KEY_TYPE k_ec = CKK_EC;
	static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE priv[] = {
	    ATTR(CKA_CLASS, &c_priv), ATTR(CKA_KEY_TYPE, &k_ec),
	    ATTR(CKA_TOKEN, &no),     ATTR(CKA_PRIVATE, &no),
	    ATTR(CKA_SIGN, &yes),     ATTR_A(CKA_EC_PARAMS, ec_params),
	    ATTR_A(CKA_VALUE, ec_d)};
	CK_ATTRIBUTE pub[] = {ATTR(CKA_CLASS, &c_pub),
			      ATTR(CKA_KEY_TYPE, &k_ec),
			      ATTR(CKA_TOKEN, &no),
			      ATTR(CKA_VERIFY, &yes),
			      ATTR_A(CKA_EC_PARAMS, ec_params),
			      ATTR_A(CKA_EC_POINT, ec_point)};
	CK_OBJECT_HANDLE kpriv, kpub;
	if (real->C_CreateObject(s, priv, 7, &kpriv) != CKR_OK ||
	    real->C_CreateObject(s, pub, 6, &kpub) != CKR_OK) {
		check(false, "EC key for the completed mechanism");
		return;
	}
	CK_MECHANISM sha = {CKM_SHA256, NULL, 0};
	CK_BYTE hash[32], sig_c[256], sig_n[256];
	CK_ULONG hlen = sizeof(hash);
	check(real->C_DigestInit(s, &sha) == CKR_OK &&
		  real->C_Digest(s, (CK_BYTE_PTR) "message", 7, hash, &hlen) ==
		      CKR_OK,
	      "SHA-256 of the message");
	CK_MECHANISM ecdsa_sha = {CKM_ECDSA_SHA256, NULL, 0};
	CK_MECHANISM ecdsa = {CKM_ECDSA, NULL, 0};
	char log_c[512] = "", log_n[512] = "";
	CK_ULONG lc = sign_edges(s, &ecdsa_sha, kpriv, "message", 7, sig_c,
				 log_c, sizeof(log_c));
	CK_ULONG ln =
	    sign_edges(s, &ecdsa, kpriv, hash, 32, sig_n, log_n, sizeof(log_n));
	if (strcmp(log_c, log_n) != 0) {
		fprintf(stderr, "  completed: %s\n  provider : %s\n", log_c,
			log_n);
		check(false, "completed ECDSA-SHA256 answers as CKM_ECDSA");
	}
	check(lc && verify(s, &ecdsa, kpub, hash, 32, sig_c, lc) == CKR_OK,
	      "completed signature verified with CKM_ECDSA");
	check(ln && verify(s, &ecdsa_sha, kpub, "message", 7, sig_n, ln) ==
			CKR_OK,
	      "CKM_ECDSA signature verified with the completed mechanism");
	null_len(s, &ecdsa_sha, kpriv, &ecdsa, kpub, hash);
	real->C_DestroyObject(s, kpriv);
	real->C_DestroyObject(s, kpub);
}

/* Proxy child, mechanisms on. */
void mech_paths(void)
{
	mech_ctx mc = {D.slot_a};
	check(p11test_canary_two_call("C_GetMechanismList", fill_mechs, &mc,
				      sizeof(CK_MECHANISM_TYPE),
				      P11TEST_SHORT_LEN_NEEDED, ~0UL, NULL,
				      0) > 0,
	      "C_GetMechanismList short buffers");
	check(real->C_GetMechanismList(D.slot_a, NULL, NULL) ==
		  CKR_ARGUMENTS_BAD,
	      "C_GetMechanismList(NULL, NULL)");
	check(real->C_GetMechanismInfo(D.slot_a, CKM_ECDSA_SHA256, NULL) ==
		  CKR_ARGUMENTS_BAD,
	      "C_GetMechanismInfo(completed, NULL)");
	check(count_completed(D.slot_a) > 0, "no mechanism completed");

	CK_SESSION_HANDLE s;
	if (real->C_OpenSession(D.slot_a, CKF_SERIAL_SESSION | CKF_RW_SESSION,
				NULL, NULL, &s) != CKR_OK) {
		check(false, "C_OpenSession");
		return;
	}
	completed_ecdsa(s);
	/* A digest: its state is the proxy's when completed. */
	CK_MECHANISM digest = {CKM_SHA256, NULL, 0};
	if (real->C_DigestInit(s, &digest) == CKR_OK &&
	    real->C_DigestUpdate(s, (CK_BYTE_PTR) "abc", 3) == CKR_OK) {
		state_ctx sc = {s};
		CK_ULONG len = 0;
		if (real->C_GetOperationState(s, NULL, &len) == CKR_OK)
			check(p11test_canary_two_call(
				  "C_GetOperationState", fill_state, &sc, 1,
				  P11TEST_SHORT_LEN_NEEDED, ~0UL, NULL, 0) > 0,
			      "C_GetOperationState short buffers");
	}
	real->C_CloseSession(s);
}
