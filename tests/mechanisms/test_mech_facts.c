/* Per-slot mechanism facts: the mechanisms addon asks the token's
 * C_GetMechanismInfo once per slot and token, not at every Init.  The
 * provider is SoftHSM2 behind count_provider.so, which passes every call
 * on and counts the C_GetMechanismInfo calls that reach SoftHSM2.  Many
 * Inits of completed (hidden CKM_SHA256_RSA_PKCS) and native mechanisms
 * in several sessions ask nothing after the first of each; the answers
 * are asked again after C_Reinitialize of the slot and after C_Finalize.
 * The signatures stay right (verified through the proxy, and byte for
 * byte equal to SoftHSM2's own).
 * A session closed while a completed mechanism's Init reads the key's
 * public parts gives CKR_SESSION_HANDLE_INVALID, as the token would, and
 * a session the token says is gone in any answer is gone in the proxy too.
 * An application's Notify that calls the module again on its session
 * while the proxy completes a mechanism there gets an answer at once.
 * argv[1] = p11overlay.so, argv[2] = libsofthsm2.so,
 * argv[3] = count_provider.so. */
#include <dlfcn.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "mtest.h"
#include "obtest.h"

/* obtest.h's module: the one under test (mtest.h's mt). */
CK_FUNCTION_LIST_PTR fl;

static const char *softhsm, *counter_path;
static unsigned long (*info_calls)(void);
static CK_RV (*reinitialize)(CK_SLOT_ID);
static void (*close_session_on)(CK_ATTRIBUTE_TYPE);
static void (*surrender_on_sign)(int);
static unsigned char msg[500], native_sig[256];

#define HIDE "[mechanisms]\nhide = CKM_SHA256_RSA_PKCS\n"

static void keypair(void)
{
	CK_OBJECT_CLASS pubc = CKO_PUBLIC_KEY, privc = CKO_PRIVATE_KEY;
	CK_BBOOL yes = CK_TRUE;
	CK_ULONG bits = 2048;
	CK_BYTE e[] = {1, 0, 1};
	CK_ATTRIBUTE pub[] = {
	    {CKA_CLASS, &pubc, sizeof(pubc)},
	    {CKA_TOKEN, &yes, 1},
	    {CKA_ID, "f1", 2},
	    {CKA_VERIFY, &yes, 1},
	    {CKA_MODULUS_BITS, &bits, sizeof(bits)},
	    {CKA_PUBLIC_EXPONENT, e, 3},
	};
	CK_ATTRIBUTE priv[] = {
	    {CKA_CLASS, &privc, sizeof(privc)},
	    {CKA_TOKEN, &yes, 1},
	    {CKA_ID, "f1", 2},
	    {CKA_SIGN, &yes, 1},
	    {CKA_PRIVATE, &yes, 1},
	};
	CK_MECHANISM m = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
	CK_OBJECT_HANDLE a, b;
	assert_int_equal(
	    mt->C_GenerateKeyPair(mt_s, &m, pub, 6, priv, 5, &a, &b), CKR_OK);
}

static int setup(void **state)
{
	(void)state;
	CK_MECHANISM m = {CKM_SHA256_RSA_PKCS, NULL, 0};
	CK_ULONG len = sizeof(native_sig);

	p11test_softhsm_start("mech facts", "1234", "5678");
	setenv("COUNT_PROVIDER_TARGET", softhsm, 1);
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (unsigned char)(i * 3 + 1);
	mt_start(counter_path, "[mechanisms]\nenabled = no\n", "mech facts",
		 "1234");
	keypair();
	assert_int_equal(mt_sign(&m, mt_find(CKO_PRIVATE_KEY, "f1"), msg,
				 sizeof(msg), 0, native_sig, &len),
			 CKR_OK);
	mt_stop();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return p11test_softhsm_stop();
}

/* One signature with the hidden (completed) mechanism, one digest and
 * one PSS signature Init with native ones, in session s. */
static void operations(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv,
		       CK_OBJECT_HANDLE pub)
{
	CK_MECHANISM m = {CKM_SHA256_RSA_PKCS, NULL, 0};
	CK_RSA_PKCS_PSS_PARAMS pp = {CKM_SHA256, CKG_MGF1_SHA256, 32};
	CK_MECHANISM pss = {CKM_SHA256_RSA_PKCS_PSS, &pp, sizeof(pp)};
	CK_MECHANISM sha = {CKM_SHA256, NULL, 0};
	unsigned char sig[256], dg[32];
	CK_ULONG len = sizeof(sig), dl = sizeof(dg);

	assert_int_equal(mt->C_SignInit(s, &m, priv), CKR_OK);
	assert_int_equal(mt->C_Sign(s, msg, sizeof(msg), sig, &len), CKR_OK);
	assert_int_equal(len, 256);
	assert_memory_equal(sig, native_sig, 256);
	assert_int_equal(mt->C_VerifyInit(s, &m, pub), CKR_OK);
	assert_int_equal(mt->C_Verify(s, msg, sizeof(msg), sig, len), CKR_OK);
	assert_int_equal(mt->C_DigestInit(s, &sha), CKR_OK);
	assert_int_equal(mt->C_Digest(s, msg, sizeof(msg), dg, &dl), CKR_OK);
	len = sizeof(sig);
	assert_int_equal(mt->C_SignInit(s, &pss, priv), CKR_OK);
	assert_int_equal(mt->C_Sign(s, msg, sizeof(msg), sig, &len), CKR_OK);
}

static void test_asked_once(void **state)
{
	(void)state;
	CK_SESSION_HANDLE s2;

	mt_start(counter_path, HIDE, "mech facts", "1234");
	CK_OBJECT_HANDLE priv = mt_find(CKO_PRIVATE_KEY, "f1");
	CK_OBJECT_HANDLE pub = mt_find(CKO_PUBLIC_KEY, "f1");
	unsigned long before = info_calls();
	operations(mt_s, priv, pub);
	unsigned long first = info_calls();
	assert_true(first > before); /* asked the first time */
	for (int i = 0; i < 20; i++)
		operations(mt_s, priv, pub);
	assert_int_equal(
	    mt->C_OpenSession(mt_slot, CKF_SERIAL_SESSION, NULL, NULL, &s2),
	    CKR_OK);
	for (int i = 0; i < 5; i++)
		operations(s2, priv, pub);
	assert_int_equal(mt->C_CloseSession(s2), CKR_OK);
	assert_int_equal(info_calls(), first); /* never again */

	/* C_Reinitialize: the token is asked again, once. */
	assert_int_equal(reinitialize(mt_slot), CKR_OK);
	mt->C_CloseAllSessions(mt_slot);
	assert_int_equal(
	    mt->C_OpenSession(mt_slot, CKF_SERIAL_SESSION, NULL, NULL, &mt_s),
	    CKR_OK);
	assert_int_equal(mt->C_Login(mt_s, CKU_USER, (CK_UTF8CHAR *)"1234", 4),
			 CKR_OK);
	priv = mt_find(CKO_PRIVATE_KEY, "f1");
	pub = mt_find(CKO_PUBLIC_KEY, "f1");
	unsigned long again = info_calls();
	operations(mt_s, priv, pub);
	unsigned long refilled = info_calls();
	assert_true(refilled > again);
	for (int i = 0; i < 5; i++)
		operations(mt_s, priv, pub);
	assert_int_equal(info_calls(), refilled);
	mt_stop();

	/* A new C_Initialize asks again. */
	mt_start(counter_path, HIDE, "mech facts", "1234");
	unsigned long fresh = info_calls();
	operations(mt_s, mt_find(CKO_PRIVATE_KEY, "f1"),
		   mt_find(CKO_PUBLIC_KEY, "f1"));
	assert_true(info_calls() > fresh);
	mt_stop();
}

/* The session ends between the Init's key reads: the session's verdict,
 * not a key-type one. */
static void test_session_closed_mid_init(void **state)
{
	(void)state;
	CK_MECHANISM m = {CKM_SHA256_RSA_PKCS, NULL, 0};
	static const CK_ATTRIBUTE_TYPE at[] = {CKA_PUBLIC_EXPONENT, CKA_MODULUS,
					       CKA_MODULUS};
	mt_start(counter_path, HIDE, "mech facts", "1234");
	CK_OBJECT_HANDLE priv = mt_find(CKO_PRIVATE_KEY, "f1");
	CK_OBJECT_HANDLE pub = mt_find(CKO_PUBLIC_KEY, "f1");
	for (size_t i = 0; i < 3; i++) {
		CK_SESSION_HANDLE s;
		CK_SESSION_INFO si;
		assert_int_equal(mt->C_OpenSession(mt_slot, CKF_SERIAL_SESSION,
						   NULL, NULL, &s),
				 CKR_OK);
		close_session_on(at[i]);
		CK_RV rv = i == 2 ? mt->C_SignInit(s, &m, priv)
				  : mt->C_VerifyInit(s, &m, pub);
		assert_int_equal(rv, CKR_SESSION_HANDLE_INVALID);
		assert_int_equal(mt->C_GetSessionInfo(s, &si),
				 CKR_SESSION_HANDLE_INVALID);
	}
	/* Unarmed, the same Inits work in a live session. */
	assert_int_equal(mt->C_VerifyInit(mt_s, &m, pub), CKR_OK);
	assert_int_equal(mt->C_SignInit(mt_s, &m, priv), CKR_OK);
	mt_stop();
}

/* The token says a session is gone in its answer to a call the proxy
 * only forwards (C_GetAttributeValue on a token object): the session's
 * record ends there (sessions.h, p11o_session_verdict), so the special
 * objects, which the proxy answers itself, are gone with it; another
 * session still sees them. */
static void test_session_gone_in_any_answer(void **state)
{
	(void)state;
	mt_start(counter_path, HIDE, "mech facts", "1234");
	CK_OBJECT_HANDLE pub = mt_find(CKO_PUBLIC_KEY, "f1");
	CK_SESSION_HANDLE s;
	assert_int_equal(
	    mt->C_OpenSession(mt_slot, CKF_SERIAL_SESSION, NULL, NULL, &s),
	    CKR_OK);
	CK_OBJECT_HANDLE serial = ob_by_label(s, "TokenSerialNumber");
	assert_true(serial != 0);
	char label[64], value[64];
	CK_ATTRIBUTE lt = {CKA_LABEL, label, sizeof(label)};
	CK_ATTRIBUTE vt = {CKA_VALUE, value, sizeof(value)};
	assert_int_equal(mt->C_GetAttributeValue(s, serial, &vt, 1), CKR_OK);

	close_session_on(CKA_LABEL);
	assert_int_equal(mt->C_GetAttributeValue(s, pub, &lt, 1),
			 CKR_SESSION_HANDLE_INVALID);
	vt.ulValueLen = sizeof(value);
	assert_int_equal(mt->C_GetAttributeValue(s, serial, &vt, 1),
			 CKR_SESSION_HANDLE_INVALID);
	vt.ulValueLen = sizeof(value);
	assert_int_equal(
	    mt->C_GetAttributeValue(
		mt_s, ob_by_label(mt_s, "TokenSerialNumber"), &vt, 1),
	    CKR_OK);
	mt_stop();
}

/* What the application's Notify did, called from inside the provider's
 * C_Sign of a completed CKM_SHA256_RSA_PKCS signature (the mechanisms
 * addon holds the session's record lock then). */
static struct {
	int calls;
	CK_SESSION_HANDLE session, other;
	CK_RV info, update, other_digest;
} reentry;

static CK_RV reentering_notify(CK_SESSION_HANDLE h, CK_NOTIFICATION event,
			       CK_VOID_PTR app)
{
	(void)app;
	CK_SESSION_INFO si;
	CK_MECHANISM sha = {CKM_SHA256, NULL, 0};
	unsigned char dg[32];
	CK_ULONG dl = sizeof(dg);
	reentry.calls++;
	reentry.session = h;
	if (event != CKN_SURRENDER)
		return CKR_OK;
	reentry.info = mt->C_GetSessionInfo(h, &si);
	/* The same session's operation, from the thread inside it. */
	reentry.update = mt->C_SignUpdate(h, msg, 10);
	/* Another session works as usual. */
	reentry.other_digest = mt->C_DigestInit(reentry.other, &sha);
	if (reentry.other_digest == CKR_OK)
		reentry.other_digest =
		    mt->C_Digest(reentry.other, msg, sizeof(msg), dg, &dl);
	return CKR_OK;
}

/* A provider calls the application's Notify while the proxy completes a
 * mechanism in that session (docs/architecture.md §3): the application's
 * call on the same session fails at once with CKR_FUNCTION_FAILED instead
 * of waiting for its own thread; other calls work, and the signature is
 * still right.  SIGALRM ends the test if anything waits. */
static void test_notify_reenters(void **state)
{
	(void)state;
	CK_MECHANISM m = {CKM_SHA256_RSA_PKCS, NULL, 0};
	unsigned char sig[256];
	CK_ULONG len = sizeof(sig);
	CK_SESSION_HANDLE s;
	mt_start(counter_path, HIDE, "mech facts", "1234");
	CK_OBJECT_HANDLE priv = mt_find(CKO_PRIVATE_KEY, "f1");
	assert_int_equal(mt->C_OpenSession(mt_slot, CKF_SERIAL_SESSION, NULL,
					   reentering_notify, &s),
			 CKR_OK);
	reentry.other = mt_s;
	surrender_on_sign(1);
	alarm(20);
	assert_int_equal(mt->C_SignInit(s, &m, priv), CKR_OK);
	CK_RV rv = mt->C_Sign(s, msg, sizeof(msg), sig, &len);
	alarm(0);
	surrender_on_sign(0);
	assert_int_equal(rv, CKR_OK);
	assert_int_equal(reentry.calls, 1);
	assert_int_equal(reentry.session, s);
	assert_int_equal(reentry.info, CKR_OK);
	assert_int_equal(reentry.update, CKR_FUNCTION_FAILED);
	assert_int_equal(reentry.other_digest, CKR_OK);
	assert_int_equal(len, 256);
	assert_memory_equal(sig, native_sig, 256);
	/* The session goes on afterwards. */
	len = sizeof(sig);
	assert_int_equal(mt->C_SignInit(s, &m, priv), CKR_OK);
	assert_int_equal(mt->C_Sign(s, msg, sizeof(msg), sig, &len), CKR_OK);
	assert_memory_equal(sig, native_sig, 256);
	assert_int_equal(mt->C_CloseSession(s), CKR_OK);
	mt_stop();
}

/* Two threads sign in two sessions, each completed by the proxy (its
 * record locked across the provider's call), and each one's Notify calls
 * into the other's session while both are inside: neither may wait for
 * the other (docs/architecture.md §3), both calls fail with
 * CKR_FUNCTION_FAILED, and both signatures are right.  SIGALRM ends the
 * test if they wait for each other. */
static struct {
	pthread_barrier_t inside, tried;
	CK_SESSION_HANDLE session[2];
	CK_OBJECT_HANDLE key;
	CK_RV cross[2], sign[2];
	unsigned char sig[2][256];
} crossed;

static CK_RV crossing_notify(CK_SESSION_HANDLE h, CK_NOTIFICATION event,
			     CK_VOID_PTR app)
{
	(void)h;
	const int me = (int)(intptr_t)app;
	if (event != CKN_SURRENDER)
		return CKR_OK;
	pthread_barrier_wait(&crossed.inside);
	crossed.cross[me] = mt->C_SignUpdate(crossed.session[1 - me], msg, 10);
	pthread_barrier_wait(&crossed.tried);
	return CKR_OK;
}

static void *crossing_signer(void *arg)
{
	const int me = (int)(intptr_t)arg;
	CK_MECHANISM m = {CKM_SHA256_RSA_PKCS, NULL, 0};
	CK_ULONG len = sizeof(crossed.sig[me]);
	crossed.sign[me] = mt->C_SignInit(crossed.session[me], &m, crossed.key);
	if (crossed.sign[me] == CKR_OK)
		crossed.sign[me] =
		    mt->C_Sign(crossed.session[me], msg, sizeof(msg),
			       crossed.sig[me], &len);
	return NULL;
}

static void test_notify_crossed(void **state)
{
	(void)state;
	mt_start(counter_path, HIDE, "mech facts", "1234");
	crossed.key = mt_find(CKO_PRIVATE_KEY, "f1");
	for (intptr_t i = 0; i < 2; i++)
		assert_int_equal(mt->C_OpenSession(mt_slot, CKF_SERIAL_SESSION,
						   (CK_VOID_PTR)i,
						   crossing_notify,
						   &crossed.session[i]),
				 CKR_OK);
	pthread_barrier_init(&crossed.inside, NULL, 2);
	pthread_barrier_init(&crossed.tried, NULL, 2);
	surrender_on_sign(1);
	alarm(20);
	pthread_t t[2];
	for (intptr_t i = 0; i < 2; i++)
		assert_int_equal(
		    pthread_create(&t[i], NULL, crossing_signer, (void *)i), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	alarm(0);
	surrender_on_sign(0);
	pthread_barrier_destroy(&crossed.inside);
	pthread_barrier_destroy(&crossed.tried);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(crossed.cross[i], CKR_FUNCTION_FAILED);
		assert_int_equal(crossed.sign[i], CKR_OK);
		assert_memory_equal(crossed.sig[i], native_sig, 256);
		assert_int_equal(mt->C_CloseSession(crossed.session[i]),
				 CKR_OK);
	}
	mt_stop();
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr,
			"usage: %s p11overlay.so libsofthsm2.so "
			"count_provider.so\n",
			argv[0]);
		return 2;
	}
	softhsm = argv[2];
	counter_path = argv[3];
	if (access(softhsm, R_OK) != 0)
		return 77;
	p11test_load(&mt_m, argv[1]);
	mt = mt_m.fl;
	fl = mt;
	reinitialize =
	    (CK_RV(*)(CK_SLOT_ID))p11test_sym(&mt_m, "C_Reinitialize");
	void *counter = dlopen(counter_path, RTLD_NOW);
	if (!counter) {
		fprintf(stderr, "%s\n", dlerror());
		return 1;
	}
	info_calls = (unsigned long (*)(void))dlsym(
	    counter, "count_provider_mechanism_info");
	close_session_on = (void (*)(CK_ATTRIBUTE_TYPE))dlsym(
	    counter, "count_provider_close_session_on");
	surrender_on_sign =
	    (void (*)(int))dlsym(counter, "count_provider_surrender_on_sign");
	if (!info_calls || !close_session_on || !surrender_on_sign)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_asked_once),
	    cmocka_unit_test(test_session_closed_mid_init),
	    cmocka_unit_test(test_session_gone_in_any_answer),
	    cmocka_unit_test(test_notify_reenters),
	    cmocka_unit_test(test_notify_crossed),
	};
	int r = cmocka_run_group_tests(tests, setup, teardown);
	p11test_unload(&mt_m);
	dlclose(counter);
	return r;
}
