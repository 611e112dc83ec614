/* The idle chain (docs/architecture.md §3): while no operation completed
 * by the mechanisms addon is active, calls skip its operation functions;
 * an Init that starts one publishes the full chain before it returns.
 * Threads on sessions of their own: two complete SHA-256 digests in
 * software (the token's CKM_SHA256 is hidden), one signs with
 * CKM_SHA256_RSA_PKCS completed over the token's CKM_RSA_PKCS (hidden
 * too), in several parts each, so the addon's state comes and goes all
 * the time; one more digests with the token's own CKM_SHA_1 and asks for
 * session info (the idle chain's calls).  Every call must succeed and
 * every result equal the one computed alone first: an Update or Final of
 * a completed operation that took the idle chain would reach the token,
 * which has no such operation (CKR_OPERATION_NOT_INITIALIZED).  Counted
 * rounds, no timing.
 * argv: p11overlay.so libsofthsm2.so [rounds per thread] */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtest.h"

static atomic_int bad;
static long rounds = 8000;
static CK_OBJECT_HANDLE priv;
static unsigned char part[100] = {7, 1, 2};
static unsigned char want_digest[32], want_sig[256], want_sha1[20];
static CK_ULONG want_sig_len;

static void expect(const char *what, CK_RV rv)
{
	if (rv == CKR_OK)
		return;
	fprintf(stderr, "test_mech_idle: %s: 0x%lx\n", what, rv);
	atomic_fetch_add(&bad, 1);
}

static void same(const char *what, const void *a, CK_ULONG alen, const void *b,
		 CK_ULONG blen)
{
	if (alen == blen && memcmp(a, b, alen) == 0)
		return;
	fprintf(stderr, "test_mech_idle: %s: another result\n", what);
	atomic_fetch_add(&bad, 1);
}

/* Multi-part: the Updates and the Final are the calls at stake. */
static void digest(CK_SESSION_HANDLE s, CK_MECHANISM_TYPE type,
		   unsigned char *out, CK_ULONG *len)
{
	CK_MECHANISM m = {type, NULL, 0};
	expect("C_DigestInit", mt->C_DigestInit(s, &m));
	for (int i = 0; i < 3; i++)
		expect("C_DigestUpdate",
		       mt->C_DigestUpdate(s, part, sizeof(part)));
	expect("C_DigestFinal", mt->C_DigestFinal(s, out, len));
}

static void sign(CK_SESSION_HANDLE s, unsigned char *out, CK_ULONG *len)
{
	CK_MECHANISM m = {CKM_SHA256_RSA_PKCS, NULL, 0};
	expect("C_SignInit", mt->C_SignInit(s, &m, priv));
	for (int i = 0; i < 3; i++)
		expect("C_SignUpdate", mt->C_SignUpdate(s, part, sizeof(part)));
	expect("C_SignFinal", mt->C_SignFinal(s, out, len));
}

/* A session of its own, `n` rounds in it, closed. */
static void in_session(long n, void (*round)(CK_SESSION_HANDLE s))
{
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	CK_RV rv =
	    mt->C_OpenSession(mt_slot, CKF_SERIAL_SESSION, NULL, NULL, &s);
	if (rv != CKR_OK) {
		fprintf(stderr, "test_mech_idle: C_OpenSession: 0x%lx\n", rv);
		exit(1);
	}
	for (long i = 0; i < n; i++)
		round(s);
	expect("C_CloseSession", mt->C_CloseSession(s));
}

static void soft_digest(CK_SESSION_HANDLE s)
{
	unsigned char d[32];
	CK_ULONG n = sizeof(d);
	digest(s, CKM_SHA256, d, &n);
	same("SHA-256", d, n, want_digest, sizeof(want_digest));
}

static void soft_sign(CK_SESSION_HANDLE s)
{
	unsigned char sig[256];
	CK_ULONG n = sizeof(sig);
	sign(s, sig, &n);
	same("signature", sig, n, want_sig, want_sig_len);
}

static void token_call(CK_SESSION_HANDLE s)
{
	unsigned char d[20];
	CK_ULONG n = sizeof(d);
	digest(s, CKM_SHA_1, d, &n);
	same("SHA-1", d, n, want_sha1, sizeof(want_sha1));
	CK_SESSION_INFO info;
	expect("C_GetSessionInfo", mt->C_GetSessionInfo(s, &info));
	if (info.slotID != mt_slot) {
		fprintf(stderr, "test_mech_idle: slot ID\n");
		atomic_fetch_add(&bad, 1);
	}
}

static void *soft_digests(void *arg)
{
	(void)arg;
	in_session(rounds, soft_digest);
	return NULL;
}

static void *soft_signs(void *arg)
{
	(void)arg;
	in_session(rounds / 4, soft_sign);
	return NULL;
}

static void *token_calls(void *arg)
{
	(void)arg;
	in_session(rounds, token_call);
	return NULL;
}

int main(int argc, char **argv)
{
	int usage = mt_soft_setup(
	    argc, argv, "mech idle",
	    "[mechanisms]\nhide = CKM_SHA256_RSA_PKCS, CKM_SHA256\n", &rounds);
	if (usage)
		return usage;
	priv = mt_rsa_keypair("idle", "test_mech_idle");
	/* The results, computed alone. */
	CK_ULONG n = sizeof(want_digest);
	digest(mt_s, CKM_SHA256, want_digest, &n);
	n = sizeof(want_sha1);
	digest(mt_s, CKM_SHA_1, want_sha1, &n);
	want_sig_len = sizeof(want_sig);
	sign(mt_s, want_sig, &want_sig_len);
	if (atomic_load(&bad)) {
		fprintf(stderr, "test_mech_idle: alone already\n");
		return 1;
	}
	void *(*fns[])(void *) = {soft_digests, soft_digests, soft_signs,
				  token_calls};
	enum { N = sizeof(fns) / sizeof(fns[0]) };
	pthread_t th[N];
	for (int i = 0; i < N; i++)
		pthread_create(&th[i], NULL, fns[i], NULL);
	for (int i = 0; i < N; i++)
		pthread_join(th[i], NULL);
	mt_stop();
	p11test_unload(&mt_m);
	p11test_softhsm_stop();
	printf("test_mech_idle: %d threads x %ld rounds, %d unexpected "
	       "answers\n",
	       N, rounds, atomic_load(&bad));
	return atomic_load(&bad) ? 1 : 0;
}
