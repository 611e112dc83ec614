/* External reader (C_AddSlot / C_RemoveSlot, docs/architecture.md §6) through
 * p11overlay.so in front of OpenSC and the card rig (tests/card).
 *
 * The rig has its card in reader 0 and reader 1 empty.  The test's
 * callbacks are a reader for a second vcard.py instance: the test listens
 * on a local TCP port and plays the vpcd reader for it (power on/off, ATR,
 * APDUs).  The proxy bridges those callbacks to the rig's reader 1, so the
 * second card appears there through pcscd and OpenSC.
 * argv[1] = p11overlay.so, argv[2] = vcard.py. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "p11o_build.h"
#include "p11test.h"

static p11test_module m;
static CK_FUNCTION_LIST_PTR fl;
static const char *vcard_py;
static const char *rig_dir;
static CK_RV (*AddSlot)(CK_ADD_SLOT_PTR, CK_SLOT_ID_PTR, CK_ULONG_PTR);
static CK_RV (*RemoveSlot)(CK_SLOT_ID);
static CK_RV (*HasNewEvent)(CK_ULONG_PTR);

static const unsigned char card_atr[] = {0x3B, 0x8A, 0x80, 0x01, 0x70,
					 0x31, 0x31, 0x6F, 0x76, 0x65,
					 0x72, 0x6C, 0x61, 0x79, 0x01};

/* ---- the test's reader: vpcd reader side of a vcard.py instance ------- */

static struct relay {
	pthread_mutex_t m;
	int fd;
	pid_t pid;
	int connects, disconnects, transmits, atrs;
	int unpowered; /* APDUs while the card is off: must stay 0 */
	bool powered;
} relay = {PTHREAD_MUTEX_INITIALIZER, -1, 0, 0, 0, 0, 0, 0, false};

static bool io_all(int fd, unsigned char *p, size_t len, bool out)
{
	while (len) {
		ssize_t n =
		    out ? send(fd, p, len, MSG_NOSIGNAL) : recv(fd, p, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* One vpcd message to the card, and its answer when `resp` is given. */
static CK_RV relay_io(const unsigned char *msg, size_t len, unsigned char *resp,
		      CK_ULONG_PTR rlen)
{
	unsigned char buf[2 + 65536];
	buf[0] = (unsigned char)(len >> 8);
	buf[1] = (unsigned char)len;
	memcpy(buf + 2, msg, len);
	if (!io_all(relay.fd, buf, len + 2, true))
		return CKR_DEVICE_ERROR;
	if (!resp)
		return CKR_OK;
	if (!io_all(relay.fd, buf, 2, false))
		return CKR_DEVICE_ERROR;
	size_t n = (size_t)buf[0] << 8 | buf[1];
	if (!io_all(relay.fd, buf + 2, n, false))
		return CKR_DEVICE_ERROR;
	if (n > *rlen)
		return CKR_BUFFER_TOO_SMALL;
	memcpy(resp, buf + 2, n);
	*rlen = n;
	return CKR_OK;
}

static CK_RV cb_connect(CK_VOID_PTR ctx)
{
	(void)ctx;
	static const unsigned char on = 1;
	pthread_mutex_lock(&relay.m);
	CK_RV rv = relay_io(&on, 1, NULL, NULL);
	relay.connects++;
	relay.powered = true;
	pthread_mutex_unlock(&relay.m);
	return rv;
}

static CK_RV cb_disconnect(CK_VOID_PTR ctx)
{
	(void)ctx;
	static const unsigned char off = 0;
	pthread_mutex_lock(&relay.m);
	CK_RV rv = relay_io(&off, 1, NULL, NULL);
	relay.disconnects++;
	relay.powered = false;
	pthread_mutex_unlock(&relay.m);
	return rv;
}

static CK_RV cb_get_atr(CK_VOID_PTR ctx, CK_BYTE_PTR atr, CK_ULONG_PTR len)
{
	(void)ctx;
	static const unsigned char get_atr = 4;
	pthread_mutex_lock(&relay.m);
	CK_RV rv = relay_io(&get_atr, 1, atr, len);
	relay.atrs++;
	pthread_mutex_unlock(&relay.m);
	return rv;
}

static CK_RV cb_transmit(CK_VOID_PTR ctx, CK_BYTE_PTR apdu, CK_ULONG len,
			 CK_BYTE_PTR resp, CK_ULONG_PTR rlen)
{
	(void)ctx; /* callbacks run in the proxy's bridge thread: no asserts */
	pthread_mutex_lock(&relay.m);
	relay.unpowered += !relay.powered;
	CK_RV rv = relay_io(apdu, len, resp, rlen);
	relay.transmits++;
	pthread_mutex_unlock(&relay.m);
	return rv;
}

static CK_ADD_SLOT reader = {&relay,     (CK_UTF8CHAR_PTR) "test reader",
			     cb_connect, cb_transmit,
			     cb_get_atr, cb_disconnect};

static int counter(int *c)
{
	pthread_mutex_lock(&relay.m);
	int v = *c;
	pthread_mutex_unlock(&relay.m);
	return v;
}

/* Listen on an ephemeral port, start vcard.py against it, accept it. */
static void relay_start(void)
{
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&a, &alen), 0);
	char port[16], state[512];
	snprintf(port, sizeof(port), "%u", ntohs(a.sin_port));
	snprintf(state, sizeof(state), "%s/state-ext", rig_dir);
	relay.pid = fork();
	if (relay.pid == 0) {
		/* The card dies with the test, however the test ends (exit,
		 * abort(), a timeout): issue 18.  Forked from the main
		 * thread, which lives as long as the test. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() == 1)
			_exit(127);
		execl("/usr/bin/python3", "python3", vcard_py, "--port", port,
		      "--state", state, (char *)NULL);
		_exit(127);
	}
	struct pollfd p = {l, POLLIN, 0};
	assert_int_equal(poll(&p, 1, 30000), 1);
	relay.fd = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	assert_true(relay.fd >= 0);
	int one = 1;
	setsockopt(relay.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	close(l);
}

static void relay_stop(void)
{
	if (relay.fd >= 0)
		close(relay.fd);
	if (relay.pid > 0) {
		kill(relay.pid, SIGTERM);
		waitpid(relay.pid, NULL, 0);
	}
}

/* ---- helpers ------------------------------------------------------------ */

static void init_with(const char *readers)
{
	char extra[1024];
	snprintf(extra, sizeof(extra),
		 "[readers]\n%s\ntimeout = 20\n"
		 "[trace]\npath = %s/trace.txt\nlevel = calls\n",
		 readers ? readers : "", rig_dir);
	p11test_write_config(getenv("RIG_OPENSC_MODULE"), extra);
	assert_int_equal(fl->C_Initialize(NULL), CKR_OK);
}

/* "vpcd = 127.0.0.1:<rig port + n> <rig reader n>" */
static const char *vpcd_entry(int n)
{
	static char s[2][128];
	snprintf(s[n], sizeof(s[n]), "127.0.0.1:%d Virtual PCD 00 %02d",
		 atoi(getenv("RIG_PORT")) + n, n);
	return s[n];
}

static size_t tokens_in(const char *reader, CK_SLOT_ID *out)
{
	CK_SLOT_ID ids[32];
	CK_ULONG n = 32;
	size_t found = 0;
	assert_int_equal(fl->C_GetSlotList(CK_TRUE, ids, &n), CKR_OK);
	for (CK_ULONG i = 0; i < n; i++) {
		CK_SLOT_INFO si;
		char d[65];
		assert_int_equal(fl->C_GetSlotInfo(ids[i], &si), CKR_OK);
		p11test_trim(d, si.slotDescription, 64);
		if (strcmp(d, reader) == 0 && out)
			out[found] = ids[i];
		found += strcmp(d, reader) == 0;
	}
	return found;
}

static void label_of(CK_SLOT_ID id, char *label)
{
	CK_TOKEN_INFO ti;
	assert_int_equal(fl->C_GetTokenInfo(id, &ti), CKR_OK);
	p11test_trim(label, ti.label, 32);
}

static CK_OBJECT_HANDLE find_one(CK_SESSION_HANDLE s, CK_ATTRIBUTE *t,
				 CK_ULONG n)
{
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	CK_ULONG got = 0;
	assert_int_equal(fl->C_FindObjectsInit(s, t, n), CKR_OK);
	assert_int_equal(fl->C_FindObjects(s, &h, 1, &got), CKR_OK);
	assert_int_equal(fl->C_FindObjectsFinal(s), CKR_OK);
	return got ? h : CK_INVALID_HANDLE;
}

static void drain_events(CK_ULONG *last)
{
	CK_SLOT_ID id;
	while (fl->C_WaitForSlotEvent(CKF_DONT_BLOCK, &id, NULL) == CKR_OK)
		;
	while (HasNewEvent(last) == CKR_OK)
		;
}

/* The trace notes what the bridge did. */
static bool traced(const char *what)
{
	char path[512], line[1024];
	bool found = false;
	snprintf(path, sizeof(path), "%s/trace.txt", rig_dir);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, what) != NULL;
	fclose(f);
	return found;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* ---- tests -------------------------------------------------------------- */

static void test_not_configured(void **state)
{
	(void)state;
	CK_ULONG n = 4;
	CK_SLOT_ID ids[4];
	init_with(NULL);
	assert_int_equal(AddSlot(&reader, ids, &n), CKR_FUNCTION_NOT_SUPPORTED);
	assert_int_equal(AddSlot(NULL, ids, &n), CKR_ARGUMENTS_BAD);
	assert_int_equal(AddSlot(&reader, ids, NULL), CKR_ARGUMENTS_BAD);
	CK_ADD_SLOT partial = reader;
	partial.Transmit = NULL;
	assert_int_equal(AddSlot(&partial, ids, &n), CKR_ARGUMENTS_BAD);
	assert_int_equal(RemoveSlot(0x1234), CKR_SLOT_ID_INVALID);
	assert_int_equal(counter(&relay.connects), 0);
	assert_int_equal(fl->C_Finalize(NULL), CKR_OK);
}

/* Reader 0 holds the rig's card and port 1 has no vpcd: no free reader. */
static void test_no_free_reader(void **state)
{
	(void)state;
	char cfg[512];
	snprintf(cfg, sizeof(cfg), "vpcd = %s, 127.0.0.1:1 Nowhere",
		 vpcd_entry(0));
	init_with(cfg);
	int c0 = counter(&relay.connects), d0 = counter(&relay.disconnects);
	CK_ULONG n = 4;
	CK_SLOT_ID ids[4];
	assert_int_equal(AddSlot(&reader, ids, &n), CKR_DEVICE_ERROR);
	/* The reader was tried and let go again. */
	assert_int_equal(counter(&relay.connects), c0 + 1);
	assert_int_equal(counter(&relay.disconnects), d0 + 1);
	assert_int_equal(tokens_in(getenv("RIG_READER"), NULL), 2);
	assert_int_equal(fl->C_Finalize(NULL), CKR_OK);
}

static void sign_and_verify(CK_SLOT_ID id)
{
	CK_SESSION_HANDLE s;
	assert_int_equal(
	    fl->C_OpenSession(id, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
	assert_int_equal(fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "1234", 4),
			 CKR_OK);
	CK_OBJECT_CLASS priv = CKO_PRIVATE_KEY, pub = CKO_PUBLIC_KEY;
	CK_ATTRIBUTE t = {CKA_CLASS, &priv, sizeof(priv)};
	CK_OBJECT_HANDLE key = find_one(s, &t, 1);
	assert_int_not_equal(key, CK_INVALID_HANDLE);
	int before = counter(&relay.transmits);
	CK_MECHANISM mech = {CKM_SHA256_RSA_PKCS, NULL, 0};
	unsigned char data[] = "signed through an external reader";
	unsigned char sig[512];
	CK_ULONG len = sizeof(sig);
	assert_int_equal(fl->C_SignInit(s, &mech, key), CKR_OK);
	assert_int_equal(fl->C_Sign(s, data, sizeof(data), sig, &len), CKR_OK);
	assert_int_equal(len, 256);
	assert_true(counter(&relay.transmits) > before); /* the callbacks */
	/* Checked with the public key (in software by OpenSC). */
	t.pValue = &pub;
	CK_OBJECT_HANDLE pk = find_one(s, &t, 1);
	assert_int_not_equal(pk, CK_INVALID_HANDLE);
	assert_int_equal(fl->C_VerifyInit(s, &mech, pk), CKR_OK);
	assert_int_equal(fl->C_Verify(s, data, sizeof(data), sig, len), CKR_OK);
	data[0] ^= 1;
	assert_int_equal(fl->C_VerifyInit(s, &mech, pk), CKR_OK);
	assert_int_equal(fl->C_Verify(s, data, sizeof(data), sig, len),
			 CKR_SIGNATURE_INVALID);
	assert_int_equal(fl->C_CloseSession(s), CKR_OK);
}

/* The ATR special object (objects addon), without login. */
static void check_atr_object(CK_SLOT_ID id)
{
	CK_SESSION_HANDLE s;
	assert_int_equal(
	    fl->C_OpenSession(id, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
	CK_ATTRIBUTE t = {CKA_LABEL, "ATR", 3};
	CK_OBJECT_HANDLE h = find_one(s, &t, 1);
	assert_int_not_equal(h, CK_INVALID_HANDLE);
	unsigned char v[64];
	CK_ATTRIBUTE a = {CKA_VALUE, v, sizeof(v)};
	assert_int_equal(fl->C_GetAttributeValue(s, h, &a, 1), CKR_OK);
	assert_int_equal(a.ulValueLen, sizeof(card_atr));
	assert_memory_equal(v, card_atr, sizeof(card_atr));
	assert_int_equal(fl->C_CloseSession(s), CKR_OK);
}

static bool contains(const CK_SLOT_ID *ids, size_t n, CK_SLOT_ID id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

static void test_add_use_remove(void **state)
{
	(void)state;
	char cfg[512];
	const char *r1 = getenv("RIG_READER1");
	/* Reader 0 is busy (the rig's card): reader 1 is taken. */
	snprintf(cfg, sizeof(cfg), "vpcd = %s, %s", vpcd_entry(0),
		 vpcd_entry(1));
	init_with(cfg);
	CK_ULONG last = 0;
	drain_events(&last);
	assert_int_equal(tokens_in(r1, NULL), 0);

	/* Two-call convention: the second call returns the same reader. */
	CK_SLOT_ID ids[8], again[8];
	CK_ULONG n = 0;
	assert_int_equal(AddSlot(&reader, NULL, &n), CKR_OK);
	assert_int_equal(n, 2);
	int connects = counter(&relay.connects);
	n = 1;
	assert_int_equal(AddSlot(&reader, ids, &n), CKR_BUFFER_TOO_SMALL);
	assert_int_equal(n, 2);
	n = 8;
	assert_int_equal(AddSlot(&reader, ids, &n), CKR_OK);
	assert_int_equal(n, 2);
	assert_int_equal(counter(&relay.connects), connects);
	char note[128];
	snprintf(note, sizeof(note), "C_AddSlot \"test reader\": card in %s (",
		 getenv("RIG_READER1"));
	assert_true(traced(note));

	/* Both PIN tokens of the card, in reader 1, listed with the rig's. */
	assert_int_equal(tokens_in(r1, again), 2);
	assert_true(contains(again, 2, ids[0]) && contains(again, 2, ids[1]));
	assert_int_equal(tokens_in(getenv("RIG_READER"), NULL), 2);
	char l0[33], l1[33];
	label_of(ids[0], l0);
	label_of(ids[1], l1);
	CK_SLOT_ID ident = strstr(l0, "(Identification)") ? ids[0] : ids[1];
	assert_non_null(
	    strstr(strstr(l0, "(Identification)") ? l1 : l0, "(Signing)"));
	assert_true(strstr(l0, "(Identification)") ||
		    strstr(l1, "(Identification)"));

	sign_and_verify(ident);
	check_atr_object(ids[0]);
	check_atr_object(ids[1]);

	/* Removal: the tokens go, events are raised. */
	drain_events(&last);
	int disconnects = counter(&relay.disconnects);
	assert_int_equal(RemoveSlot(ids[1]), CKR_OK);
	assert_int_equal(tokens_in(r1, NULL), 0);
	assert_int_equal(tokens_in(getenv("RIG_READER"), NULL), 2);
	CK_SESSION_HANDLE s;
	assert_int_equal(
	    fl->C_OpenSession(ids[0], CKF_SERIAL_SESSION, NULL, NULL, &s),
	    CKR_TOKEN_NOT_PRESENT);
	/* The bridge let the card go (unless pcscd had powered it off). */
	pthread_mutex_lock(&relay.m);
	assert_false(relay.powered);
	assert_true(relay.disconnects > disconnects || relay.atrs > 0);
	pthread_mutex_unlock(&relay.m);
	/* The removal is in the event stream when C_RemoveSlot returns: no
	 * waiting.  Once per token slot, as OpenSC reports it. */
	CK_ULONG seen = last;
	assert_int_equal(HasNewEvent(&last), CKR_OK);
	assert_int_equal(last, seen + 2);
	seen = last;
	assert_int_equal(HasNewEvent(&last), CKR_NO_EVENT);
	assert_int_equal(last, seen);
	int got[2] = {0, 0};
	CK_SLOT_ID ev;
	while (fl->C_WaitForSlotEvent(CKF_DONT_BLOCK, &ev, NULL) == CKR_OK) {
		assert_true(contains(ids, 2, ev));
		got[ev == ids[1]]++;
	}
	assert_int_equal(got[0], 1);
	assert_int_equal(got[1], 1);
	assert_int_equal(RemoveSlot(ids[0]), CKR_SLOT_ID_INVALID);
	assert_true(traced("C_RemoveSlot \"test reader\": card out of"));

	/* Added again: the same (stable) slot IDs.  C_Finalize removes it. */
	n = 8;
	assert_int_equal(AddSlot(&reader, again, &n), CKR_OK);
	assert_int_equal(n, 2);
	assert_true(contains(again, 2, ids[0]) && contains(again, 2, ids[1]));
	assert_int_equal(fl->C_Finalize(NULL), CKR_OK);
	assert_false(relay.powered);
	assert_int_equal(counter(&relay.unpowered), 0);
	init_with(cfg);
	for (int i = 0; i < 100 && tokens_in(r1, NULL); i++)
		sleep_ms(50);
	assert_int_equal(tokens_in(r1, NULL), 0);
	assert_int_equal(fl->C_Finalize(NULL), CKR_OK);
}

static int group_setup(void **state)
{
	(void)state;
	rig_dir = p11test_rig_start();
	relay_start();
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	relay_stop();
	p11test_rig_cmd("stop");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s p11overlay.so vcard.py\n", argv[0]);
		return 2;
	}
	vcard_py = argv[2];
	p11test_load(&m, argv[1]);
	fl = m.fl;
	AddSlot = p11test_sym(&m, "C_AddSlot");
	RemoveSlot = p11test_sym(&m, "C_RemoveSlot");
	HasNewEvent = p11test_sym(&m, "C_HasNewEvent");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_not_configured),
	    cmocka_unit_test(test_no_free_reader),
	    cmocka_unit_test(test_add_use_remove),
	};
	int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
	p11test_unload(&m);
	return rc;
}
