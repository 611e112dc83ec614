/* Per-PIN virtual tokens through the proxy in front of OpenSC and the
 * virtual card (issue 5): naming, stable IDs, filtering, events, the
 * certificate flow without login.  argv[1] = p11overlay.so. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "p11test.h"
#include "p11test_canary.h"

static const char *module_path;
static p11test_module m;
static CK_FUNCTION_LIST_PTR fl;

static void init_with(const char *extra)
{
	p11test_write_config(getenv("RIG_OPENSC_MODULE"), extra);
	assert_int_equal(fl->C_Initialize(NULL), CKR_OK);
}

static size_t token_slots(CK_SLOT_ID *ids, size_t max)
{
	return p11test_token_slots(&m, ids, max);
}

static void labels(CK_SLOT_ID id, char *desc, char *label)
{
	CK_SLOT_INFO si;
	CK_TOKEN_INFO ti;
	assert_int_equal(fl->C_GetSlotInfo(id, &si), CKR_OK);
	assert_int_equal(fl->C_GetTokenInfo(id, &ti), CKR_OK);
	p11test_trim(desc, si.slotDescription, 64);
	p11test_trim(label, ti.label, 32);
}

static void test_two_tokens_one_card(void **state)
{
	(void)state;
	init_with(NULL);
	CK_SLOT_ID ids[8];
	assert_int_equal(token_slots(ids, 8), 2);
	char d0[65], d1[65], l0[33], l1[33];
	labels(ids[0], d0, l0);
	labels(ids[1], d1, l1);
	assert_string_equal(d0, d1);
	assert_string_equal(d0, getenv("RIG_READER"));
	/* Cut in the token name, never in the PIN suffix; no ':'. */
	assert_non_null(strstr(l0, " (Identification)"));
	assert_non_null(strstr(l1, " (Signing)"));
	assert_null(strchr(l0, ':'));
	/* The card's full label is cut to fit, whatever OpenSC did. */
	assert_string_equal(l0, "p11overlay Virt (Identification)");
	assert_string_equal(l1, "p11overlay Virtual Tes (Signing)");
	assert_int_equal(fl->C_Finalize(NULL), CKR_OK);
}

static size_t ids_in_child(CK_SLOT_ID *ids, size_t max)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	if (pid == 0) {
		/* A forked child needs its own C_Initialize. */
		CK_ULONG n = 0;
		if (fl->C_GetSlotList(CK_TRUE, NULL, &n) !=
		    CKR_CRYPTOKI_NOT_INITIALIZED)
			_exit(3);
		if (fl->C_Initialize(NULL) != CKR_OK)
			_exit(4);
		n = token_slots(ids, max);
		if (write(p[1], ids, n * sizeof(*ids)) < 0)
			_exit(5);
		fl->C_Finalize(NULL);
		_exit(0);
	}
	close(p[1]);
	ssize_t got = read(p[0], ids, max * sizeof(*ids));
	close(p[0]);
	int status;
	waitpid(pid, &status, 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	return got < 0 ? 0 : (size_t)got / sizeof(*ids);
}

static void test_stable_ids(void **state)
{
	(void)state;
	init_with(NULL);
	CK_SLOT_ID before[8], after[8], child[8];
	size_t n = token_slots(before, 8);
	assert_int_equal(n, 2);
	p11test_rig_cmd("remove");
	assert_int_equal(token_slots(after, 8), 0);
	p11test_rig_cmd("insert");
	assert_int_equal(token_slots(after, 8), 2);
	assert_memory_equal(before, after, 2 * sizeof(CK_SLOT_ID));
	/* Another process (a forked child initialising on its own). */
	assert_int_equal(ids_in_child(child, 8), 2);
	assert_memory_equal(before, child, 2 * sizeof(CK_SLOT_ID));
	/* The parent is unaffected by the child. */
	assert_int_equal(token_slots(after, 8), 2);
	assert_int_equal(fl->C_Finalize(NULL), CKR_OK);
	/* And a fresh initialisation in this process. */
	init_with(NULL);
	assert_int_equal(token_slots(after, 8), 2);
	assert_memory_equal(before, after, 2 * sizeof(CK_SLOT_ID));
	assert_int_equal(fl->C_Finalize(NULL), CKR_OK);
}

typedef struct slot_list_ctx {
	CK_BBOOL present;
} slot_list_ctx;

static CK_RV fill_slot_list(void *ctx, void *buf, CK_ULONG *len)
{
	return fl->C_GetSlotList(((slot_list_ctx *)ctx)->present, buf, len);
}

/* C_GetSlotList(present) through the two-call check (canary-tailed
 * buffers of every short size); returns the count. */
static long checked_slot_list(CK_BBOOL present)
{
	slot_list_ctx c = {present};
	return p11test_canary_two_call(present ? "C_GetSlotList(CK_TRUE)"
					       : "C_GetSlotList(CK_FALSE)",
				       fill_slot_list, &c, sizeof(CK_SLOT_ID),
				       P11TEST_SHORT_LEN_NEEDED, ~0UL, NULL, 0);
}

static CK_RV fill_mechanisms(void *ctx, void *buf, CK_ULONG *len)
{
	return fl->C_GetMechanismList(*(CK_SLOT_ID *)ctx, buf, len);
}

/* Short buffers on every filtered and unfiltered list: nothing is written
 * past the buffer (issue 18: the filtered list wrote all IDs into a
 * short buffer and still said CKR_BUFFER_TOO_SMALL). */
static void test_slot_lists_short_buffers(void **state)
{
	(void)state;
	static const char *const configs[] = {
	    NULL,
	    "[slots]\npins = first\n",
	    "[slots]\nempty-slots = hide\n",
	    "[slots]\npins = Signing\nempty-slots = hide\n",
	};
	static const long present[] = {2, 1, 2, 1}, all[] = {3, 2, 2, 1};
	for (size_t i = 0; i < sizeof(configs) / sizeof(configs[0]); i++) {
		init_with(configs[i]);
		assert_int_equal(checked_slot_list(CK_TRUE), present[i]);
		assert_int_equal(checked_slot_list(CK_FALSE), all[i]);
		assert_int_equal(fl->C_Finalize(NULL), CKR_OK);
	}
	/* The card's mechanisms, through the mechanisms addon. */
	init_with(NULL);
	CK_SLOT_ID ids[8];
	size_t n = token_slots(ids, 8);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++) {
		char what[64];
		snprintf(what, sizeof(what), "C_GetMechanismList(slot %zu)", i);
		assert_true(p11test_canary_two_call(
				what, fill_mechanisms, &ids[i],
				sizeof(CK_MECHANISM_TYPE),
				P11TEST_SHORT_LEN_NEEDED, ~0UL, NULL, 0) > 0);
	}
	assert_int_equal(fl->C_Finalize(NULL), CKR_OK);
}

static void test_config_filters(void **state)
{
	(void)state;
	CK_SLOT_ID ids[8];
	CK_ULONG all = 8;
	init_with("[slots]\npins = first\n");
	assert_int_equal(token_slots(ids, 8), 1);
	char d[65], l[33];
	labels(ids[0], d, l);
	assert_non_null(strstr(l, "(Identification)"));
	assert_int_equal(fl->C_Finalize(NULL), CKR_OK);

	init_with("[slots]\npins = Signing\n");
	assert_int_equal(token_slots(ids, 8), 1);
	labels(ids[0], d, l);
	assert_non_null(strstr(l, "(Signing)"));
	assert_int_equal(fl->C_Finalize(NULL), CKR_OK);

	/* The second reader has no card: shown by default, hidden on ask. */
	init_with(NULL);
	assert_int_equal(fl->C_GetSlotList(CK_FALSE, ids, &all), CKR_OK);
	assert_int_equal(all, 3);
	assert_int_equal(fl->C_Finalize(NULL), CKR_OK);
	init_with("[slots]\nempty-slots = hide\n");
	CK_ULONG n = 0;
	assert_int_equal(fl->C_GetSlotList(CK_FALSE, NULL, &n), CKR_OK);
	assert_int_equal(n, 2);
	n = 1;
	assert_int_equal(fl->C_GetSlotList(CK_FALSE, ids, &n),
			 CKR_BUFFER_TOO_SMALL);
	assert_int_equal(n, 2);
	assert_int_equal(fl->C_Finalize(NULL), CKR_OK);
}

static CK_RV (*has_new_event)(CK_ULONG_PTR);
static atomic_int phase_seen[3];
static atomic_int stop_pollers;

static void *poller(void *arg)
{
	(void)arg;
	CK_ULONG last = 0;
	has_new_event(&last); /* start from now */
	int phase = 0;
	while (!atomic_load(&stop_pollers) && phase < 2) {
		if (has_new_event(&last) == CKR_OK)
			atomic_fetch_add(&phase_seen[phase++], 1);
		else
			usleep(2000);
	}
	return NULL;
}

static void wait_count(atomic_int *c, int want)
{
	for (int i = 0; i < 5000 && atomic_load(c) < want; i++)
		usleep(2000);
	assert_int_equal(atomic_load(c), want);
}

static void test_has_new_event_threads(void **state)
{
	(void)state;
	init_with(NULL);
	has_new_event = p11test_sym(&m, "C_HasNewEvent");
	assert_int_equal(has_new_event(NULL), CKR_ARGUMENTS_BAD);
	enum { T = 8 };
	pthread_t th[T];
	for (int i = 0; i < T; i++)
		pthread_create(&th[i], NULL, poller, NULL);
	usleep(100000);
	p11test_rig_cmd("remove");
	wait_count(&phase_seen[0], T);
	p11test_rig_cmd("insert");
	wait_count(&phase_seen[1], T);
	atomic_store(&stop_pollers, 1);
	for (int i = 0; i < T; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(fl->C_Finalize(NULL), CKR_OK);
	assert_int_equal(has_new_event(&(CK_ULONG){0}),
			 CKR_CRYPTOKI_NOT_INITIALIZED);
}

/* Calls C_HasNewEvent until it answers CKR_NO_EVENT (the card's events
 * have all been posted): every CKR_OK must have moved *pLastEvent on.
 * Returns the number it settled on. */
static CK_ULONG settle_events(CK_ULONG last)
{
	for (int i = 0; i < 2000; i++) {
		CK_ULONG prev = last;
		CK_RV rv = has_new_event(&last);
		if (rv == CKR_NO_EVENT) {
			assert_int_equal(last, prev);
			return last;
		}
		assert_int_equal(rv, CKR_OK);
		if (last == prev)
			fail_msg("C_HasNewEvent: CKR_OK without a new event "
				 "number (still %lu)",
				 last);
		usleep(5000);
	}
	fail_msg("C_HasNewEvent never answered CKR_NO_EVENT");
	return last;
}

/* man/p11overlay.7: CKR_OK with the newest number when an event happened
 * since the number passed in, else CKR_NO_EVENT (issue 18: not storing
 * the number passed both tests that looked only for a CKR_OK). */
static void test_has_new_event_sequence(void **state)
{
	(void)state;
	init_with(NULL);
	has_new_event = p11test_sym(&m, "C_HasNewEvent");
	CK_SLOT_ID ids[8];
	assert_int_equal(token_slots(ids, 8), 2);
	CK_ULONG last = settle_events(0);
	CK_ULONG again = last;
	assert_int_equal(has_new_event(&again), CKR_NO_EVENT);
	assert_int_equal(again, last);
	p11test_rig_cmd("remove");
	CK_ULONG seq = last;
	for (int i = 0; i < 2000 && has_new_event(&seq) == CKR_NO_EVENT; i++)
		usleep(5000);
	assert_true(seq > last);
	CK_ULONG removed = settle_events(seq);
	again = removed;
	assert_int_equal(has_new_event(&again), CKR_NO_EVENT);
	p11test_rig_cmd("insert");
	seq = removed;
	for (int i = 0; i < 2000 && has_new_event(&seq) == CKR_NO_EVENT; i++)
		usleep(5000);
	assert_true(seq > removed);
	settle_events(seq);
	/* Any older number still sees that something happened. */
	CK_ULONG old = last;
	assert_int_equal(has_new_event(&old), CKR_OK);
	assert_true(old > removed);
	assert_int_equal(fl->C_Finalize(NULL), CKR_OK);
}

static CK_RV waiter_rv;
static CK_SLOT_ID waiter_slot;

static void *waiter(void *arg)
{
	(void)arg;
	waiter_rv = fl->C_WaitForSlotEvent(0, &waiter_slot, NULL);
	return NULL;
}

/* Waits until a wait fails: late events of the card are consumed. */
static void *waiter_until_error(void *arg)
{
	(void)arg;
	do
		waiter_rv = fl->C_WaitForSlotEvent(0, &waiter_slot, NULL);
	while (waiter_rv == CKR_OK);
	return NULL;
}

static void drain_events(void)
{
	CK_SLOT_ID s;
	while (fl->C_WaitForSlotEvent(CKF_DONT_BLOCK, &s, NULL) == CKR_OK)
		;
}

static void test_wait_for_slot_event(void **state)
{
	(void)state;
	init_with(NULL);
	CK_SLOT_ID ids[8];
	assert_int_equal(token_slots(ids, 8), 2);
	drain_events();
	CK_SLOT_ID s;
	assert_int_equal(fl->C_WaitForSlotEvent(CKF_DONT_BLOCK, &s, NULL),
			 CKR_NO_EVENT);
	pthread_t th;
	pthread_create(&th, NULL, waiter, NULL);
	usleep(100000);
	p11test_rig_cmd("remove");
	pthread_join(th, NULL);
	assert_int_equal(waiter_rv, CKR_OK);
	assert_true(waiter_slot == ids[0] || waiter_slot == ids[1]);
	/* Every virtual slot of the card reports. */
	int seen0 = waiter_slot == ids[0], seen1 = waiter_slot == ids[1];
	while (fl->C_WaitForSlotEvent(CKF_DONT_BLOCK, &s, NULL) == CKR_OK) {
		seen0 |= s == ids[0];
		seen1 |= s == ids[1];
	}
	assert_true(seen0 && seen1);
	pthread_create(&th, NULL, waiter, NULL);
	usleep(100000);
	p11test_rig_cmd("insert");
	pthread_join(th, NULL);
	assert_int_equal(waiter_rv, CKR_OK);
	drain_events();
	/* C_Finalize wakes a blocked waiter. */
	pthread_create(&th, NULL, waiter_until_error, NULL);
	usleep(200000);
	assert_int_equal(fl->C_Finalize(NULL), CKR_OK);
	pthread_join(th, NULL);
	assert_int_equal(waiter_rv, CKR_CRYPTOKI_NOT_INITIALIZED);
}

static CK_OBJECT_HANDLE find_one(CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
				 const CK_BYTE *id, CK_ULONG idlen)
{
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)},
			    {CKA_ID, (void *)id, idlen}};
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	CK_ULONG n = 0;
	assert_int_equal(fl->C_FindObjectsInit(s, t, id ? 2 : 1), CKR_OK);
	assert_int_equal(fl->C_FindObjects(s, &h, 1, &n), CKR_OK);
	assert_int_equal(fl->C_FindObjectsFinal(s), CKR_OK);
	return n ? h : CK_INVALID_HANDLE;
}

/* The application flow of the reference: certificates of all slots
 * without login, public key by CKA_ID, private key only when needed. */
static void test_certificate_flow_without_login(void **state)
{
	(void)state;
	init_with(NULL);
	CK_SLOT_ID ids[8];
	assert_int_equal(token_slots(ids, 8), 2);
	CK_SESSION_HANDLE sess[2];
	CK_BYTE cert_id[2][64];
	CK_ULONG cert_id_len[2];
	for (int i = 0; i < 2; i++) {
		assert_int_equal(fl->C_OpenSession(ids[i], CKF_SERIAL_SESSION,
						   NULL, NULL, &sess[i]),
				 CKR_OK);
		CK_OBJECT_HANDLE cert =
		    find_one(sess[i], CKO_CERTIFICATE, NULL, 0);
		assert_true(cert != CK_INVALID_HANDLE);
		CK_ATTRIBUTE a = {CKA_ID, cert_id[i], sizeof(cert_id[i])};
		assert_int_equal(fl->C_GetAttributeValue(sess[i], cert, &a, 1),
				 CKR_OK);
		cert_id_len[i] = a.ulValueLen;
		assert_true(find_one(sess[i], CKO_PUBLIC_KEY, cert_id[i],
				     cert_id_len[i]) != CK_INVALID_HANDLE);
		CK_SESSION_INFO si;
		assert_int_equal(fl->C_GetSessionInfo(sess[i], &si), CKR_OK);
		assert_int_equal(si.state, CKS_RO_PUBLIC_SESSION);
		assert_int_equal(si.slotID, ids[i]);
	}
	/* Log in on the first token only and sign. */
	CK_OBJECT_HANDLE key =
	    find_one(sess[0], CKO_PRIVATE_KEY, cert_id[0], cert_id_len[0]);
	if (key == CK_INVALID_HANDLE) {
		assert_int_equal(
		    fl->C_Login(sess[0], CKU_USER, (CK_UTF8CHAR_PTR) "1234", 4),
		    CKR_OK);
		key = find_one(sess[0], CKO_PRIVATE_KEY, cert_id[0],
			       cert_id_len[0]);
	} else {
		assert_int_equal(
		    fl->C_Login(sess[0], CKU_USER, (CK_UTF8CHAR_PTR) "1234", 4),
		    CKR_OK);
	}
	assert_true(key != CK_INVALID_HANDLE);
	CK_MECHANISM mech = {CKM_SHA256_RSA_PKCS, NULL, 0};
	CK_BYTE sig[512];
	CK_ULONG siglen = sizeof(sig);
	assert_int_equal(fl->C_SignInit(sess[0], &mech, key), CKR_OK);
	assert_int_equal(
	    fl->C_Sign(sess[0], (CK_BYTE_PTR) "hello", 5, sig, &siglen),
	    CKR_OK);
	assert_int_equal(siglen, 256);
	/* The other virtual token is still logged out. */
	CK_SESSION_INFO si;
	assert_int_equal(fl->C_GetSessionInfo(sess[1], &si), CKR_OK);
	assert_int_equal(si.state, CKS_RO_PUBLIC_SESSION);
	assert_int_equal(fl->C_Logout(sess[0]), CKR_OK);
	for (int i = 0; i < 2; i++)
		assert_int_equal(fl->C_CloseSession(sess[i]), CKR_OK);
	assert_int_equal(fl->C_Finalize(NULL), CKR_OK);
}

static CK_FLAGS pin_flags(CK_SLOT_ID id)
{
	CK_TOKEN_INFO ti;
	assert_int_equal(fl->C_GetTokenInfo(id, &ti), CKR_OK);
	return ti.flags & (CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY |
			   CKF_USER_PIN_LOCKED);
}

/* Token flags carry the card's PIN state, also when another process
 * changed it behind the provider's back. */
static void test_pin_state_from_card(void **state)
{
	(void)state;
	init_with(NULL);
	CK_SLOT_ID ids[8];
	assert_int_equal(token_slots(ids, 8), 2);
	assert_int_equal(pin_flags(ids[0]), 0);
	/* A wrong PIN through the proxy: counted at once. */
	CK_SESSION_HANDLE s;
	assert_int_equal(
	    fl->C_OpenSession(ids[0], CKF_SERIAL_SESSION, NULL, NULL, &s),
	    CKR_OK);
	assert_int_equal(fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "9999", 4),
			 CKR_PIN_INCORRECT);
	assert_int_equal(pin_flags(ids[0]), CKF_USER_PIN_COUNT_LOW);
	assert_int_equal(fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "1234", 4),
			 CKR_OK);
	assert_int_equal(pin_flags(ids[0]), 0);
	assert_int_equal(fl->C_Logout(s), CKR_OK);
	assert_int_equal(fl->C_CloseSession(s), CKR_OK);
	/* Blocked by raw APDUs from another process. */
	assert_int_equal(p11test_rig_apdus("002000810439393939 "
					   "002000810439393939"),
			 0x63C1);
	usleep(1100 * 1000); /* the cached state's lifetime */
	assert_int_equal(pin_flags(ids[0]),
			 CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY);
	unsigned sw = p11test_rig_apdus("002000810439393939");
	assert_true(sw == 0x63C0 || sw == 0x6983);
	usleep(1100 * 1000);
	assert_int_equal(pin_flags(ids[0]), CKF_USER_PIN_LOCKED);
	assert_int_equal(pin_flags(ids[1]), 0); /* the other PIN */
	/* Unblocked with the PUK, from the other process too. */
	assert_int_equal(
	    p11test_rig_apdus("002C00810C313233343536373831323334"), 0x9000);
	usleep(1100 * 1000);
	assert_int_equal(pin_flags(ids[0]), 0);
	assert_int_equal(fl->C_Finalize(NULL), CKR_OK);
}

/* docs/architecture.md §6: sessions on the token end, caches go, applications
 * hear of it. */
static void test_reinitialize(void **state)
{
	(void)state;
	init_with(NULL);
	CK_RV (*reinitialize)(CK_SLOT_ID) = p11test_sym(&m, "C_Reinitialize");
	has_new_event = p11test_sym(&m, "C_HasNewEvent");
	CK_SLOT_ID ids[8];
	assert_int_equal(token_slots(ids, 8), 2);
	CK_SESSION_HANDLE s, other;
	assert_int_equal(
	    fl->C_OpenSession(ids[0], CKF_SERIAL_SESSION, NULL, NULL, &s),
	    CKR_OK);
	assert_int_equal(
	    fl->C_OpenSession(ids[1], CKF_SERIAL_SESSION, NULL, NULL, &other),
	    CKR_OK);
	assert_int_equal(fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "1234", 4),
			 CKR_OK);
	CK_ULONG last = 0;
	has_new_event(&last);
	assert_int_equal(reinitialize(ids[0]), CKR_OK);
	CK_SESSION_INFO si;
	assert_int_equal(fl->C_GetSessionInfo(s, &si),
			 CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(has_new_event(&last), CKR_OK);
	assert_int_equal(reinitialize(0x7ead), CKR_SLOT_ID_INVALID);
	/* The token works again, logged out. */
	assert_int_equal(
	    fl->C_OpenSession(ids[0], CKF_SERIAL_SESSION, NULL, NULL, &s),
	    CKR_OK);
	assert_int_equal(fl->C_GetSessionInfo(s, &si), CKR_OK);
	assert_int_equal(si.state, CKS_RO_PUBLIC_SESSION);
	assert_int_equal(fl->C_Finalize(NULL), CKR_OK);

	/* Without logout the sessions and the login stay. */
	init_with("[unlock]\nlogout-on-reinitialize = no\n");
	reinitialize = p11test_sym(&m, "C_Reinitialize");
	assert_int_equal(token_slots(ids, 8), 2);
	assert_int_equal(
	    fl->C_OpenSession(ids[0], CKF_SERIAL_SESSION, NULL, NULL, &s),
	    CKR_OK);
	assert_int_equal(fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "1234", 4),
			 CKR_OK);
	assert_int_equal(reinitialize(ids[0]), CKR_OK);
	assert_int_equal(fl->C_GetSessionInfo(s, &si), CKR_OK);
	assert_int_equal(si.state, CKS_RO_USER_FUNCTIONS);
	assert_int_equal(fl->C_Logout(s), CKR_OK);
	assert_int_equal(fl->C_Finalize(NULL), CKR_OK);
}

/* A failed test leaves the module initialised: the next one starts clean. */
static int finalize(void **state)
{
	(void)state;
	fl->C_Finalize(NULL);
	return 0;
}

/* Every test starts with the card inserted, with its default PINs and
 * retry counters: a test that fails half-way (a PIN left blocked) does
 * not fail the next one (issue 18). */
static int restore_card(void **state)
{
	(void)state;
	p11test_card_reset();
	p11test_rig_cmd("insert");
	return 0;
}

int main(int argc, char **argv)
{
	module_path = argc > 1 ? argv[1] : "build/p11overlay.so";
	p11test_rig_start();
	p11test_load(&m, module_path);
	fl = m.fl;
#define CARD_TEST(t) cmocka_unit_test_setup_teardown(t, restore_card, finalize)
	const struct CMUnitTest tests[] = {
	    CARD_TEST(test_two_tokens_one_card),
	    CARD_TEST(test_stable_ids),
	    CARD_TEST(test_config_filters),
	    CARD_TEST(test_slot_lists_short_buffers),
	    CARD_TEST(test_has_new_event_threads),
	    CARD_TEST(test_has_new_event_sequence),
	    CARD_TEST(test_wait_for_slot_event),
	    CARD_TEST(test_certificate_flow_without_login),
	    CARD_TEST(test_pin_state_from_card),
	    CARD_TEST(test_reinitialize),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	p11test_unload(&m);
	p11test_rig_cmd("stop");
	return rc;
}
