/* PC/SC channel (docs/architecture.md §8): reader mapping, ATR, APDU batches
 * inside a transaction, the exclusive hold of C_LockToken.  See card.h for the
 * threading rules. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <winscard.h>

#include "card.h"

struct p11o_card {
	pthread_mutex_t mu; /* held for a whole batch */
	pthread_cond_t cv;  /* wakes the lock watcher */
	SCARDCONTEXT ctx;
	char reader[P11O_CARD_MAX_READER];
	SCARDHANDLE h;
	DWORD proto;
	bool connected;           /* h valid, transaction begun */
	bool locked;              /* exclusive hold (p11o_card_lock) */
	struct timespec deadline; /* CLOCK_MONOTONIC */
	bool watcher;             /* watcher thread running */
	pthread_t watcher_thread;
	bool closing;
	bool stop_watcher;
	bool others_fail; /* p11o_card_hold_fails_others() */
};

/* Exclusive holds of this process, by reader: other handles of this
 * process on a held reader fail at once instead of waiting in
 * SCardBeginTransaction (card.h).  held_mu is taken inside c->mu, never
 * the other way round. */
#define MAX_HELD 8
static pthread_mutex_t held_mu = PTHREAD_MUTEX_INITIALIZER;
static struct held {
	const p11o_card *card; /* NULL = free */
	pid_t pid;             /* a forked child does not hold the card */
	char reader[P11O_CARD_MAX_READER];
	struct timespec deadline;
} held[MAX_HELD];

static bool before(const struct timespec *now, const struct timespec *t)
{
	return now->tv_sec < t->tv_sec ||
	       (now->tv_sec == t->tv_sec && now->tv_nsec < t->tv_nsec);
}

static void held_put(const p11o_card *c)
{
	if (!c->others_fail)
		return;
	pthread_mutex_lock(&held_mu);
	struct held *e = NULL;
	for (size_t i = 0; i < MAX_HELD; i++)
		if (held[i].card == c || (!e && !held[i].card))
			e = &held[i];
	if (e) {
		e->card = c;
		e->pid = getpid();
		strcpy(e->reader, c->reader);
		e->deadline = c->deadline;
	}
	pthread_mutex_unlock(&held_mu);
}

static void held_drop(const p11o_card *c)
{
	pthread_mutex_lock(&held_mu);
	for (size_t i = 0; i < MAX_HELD; i++)
		if (held[i].card == c)
			held[i].card = NULL;
	pthread_mutex_unlock(&held_mu);
}

/* Another handle of this process holds c's reader (until its deadline). */
static bool held_by_other(const p11o_card *c)
{
	struct timespec now;
	bool busy = false;
	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&held_mu);
	for (size_t i = 0; i < MAX_HELD && !busy; i++)
		busy = held[i].card && held[i].card != c &&
		       held[i].pid == getpid() &&
		       strcmp(held[i].reader, c->reader) == 0 &&
		       before(&now, &held[i].deadline);
	pthread_mutex_unlock(&held_mu);
	return busy;
}

static CK_RV map_pcsc(LONG r)
{
	switch (r) {
	case SCARD_S_SUCCESS:
		return CKR_OK;
	case SCARD_W_REMOVED_CARD:
	case SCARD_E_READER_UNAVAILABLE:
	case SCARD_E_UNKNOWN_READER:
	case SCARD_E_NO_READERS_AVAILABLE:
		return CKR_DEVICE_REMOVED;
	case SCARD_E_NO_SMARTCARD:
		return CKR_TOKEN_NOT_PRESENT;
	case SCARD_E_NO_MEMORY:
		return CKR_HOST_MEMORY;
	default:
		return CKR_DEVICE_ERROR;
	}
}

bool p11o_card_rv_removed(CK_RV rv)
{
	return rv == CKR_DEVICE_REMOVED || rv == CKR_TOKEN_NOT_PRESENT;
}

CK_RV p11o_card_reader_for_slot(const unsigned char *desc, size_t desc_len,
				char *reader, size_t readersz)
{
	SCARDCONTEXT ctx;
	DWORD n = 0;
	char *list = NULL;
	CK_RV rv = CKR_SLOT_ID_INVALID;
	LONG r;

	r = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx);
	if (r != SCARD_S_SUCCESS)
		return CKR_DEVICE_ERROR;
	r = SCardListReaders(ctx, NULL, NULL, &n);
	if (r == SCARD_E_NO_READERS_AVAILABLE)
		goto out;
	if (r != SCARD_S_SUCCESS || n == 0 || !(list = calloc(n + 1, 1))) {
		rv = CKR_DEVICE_ERROR;
		goto out;
	}
	r = SCardListReaders(ctx, NULL, list, &n);
	if (r != SCARD_S_SUCCESS) {
		rv = r == SCARD_E_NO_READERS_AVAILABLE ? CKR_SLOT_ID_INVALID
						       : CKR_DEVICE_ERROR;
		goto out;
	}
	for (const char *p = list; *p; p += strlen(p) + 1) {
		if (p11o_card_reader_matches(desc, desc_len, p)) {
			if (strlen(p) >= readersz) {
				rv = CKR_BUFFER_TOO_SMALL;
			} else {
				strcpy(reader, p);
				rv = CKR_OK;
			}
			break;
		}
	}
out:
	free(list);
	SCardReleaseContext(ctx);
	return rv;
}

CK_RV p11o_card_open(const char *reader, p11o_card **out)
{
	p11o_card *c;
	pthread_condattr_t ca;

	if (!reader || strlen(reader) >= sizeof(c->reader))
		return CKR_ARGUMENTS_BAD;
	c = calloc(1, sizeof(*c));
	if (!c)
		return CKR_HOST_MEMORY;
	strcpy(c->reader, reader);
	if (SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &c->ctx) !=
	    SCARD_S_SUCCESS) {
		free(c);
		return CKR_DEVICE_ERROR;
	}
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);
	*out = c;
	return CKR_OK;
}

/* With c->mu held. */
static void disconnect(p11o_card *c)
{
	held_drop(c);
	if (!c->connected)
		return;
	SCardEndTransaction(c->h, SCARD_LEAVE_CARD);
	SCardDisconnect(c->h, SCARD_LEAVE_CARD);
	c->connected = false;
	c->locked = false;
}

/* pcscd went away (restarted, stopped) or forgot our context: every call
 * on the old context fails from now on, so it is made anew. */
static bool context_lost(LONG r)
{
	return r == SCARD_E_NO_SERVICE || r == SCARD_E_SERVICE_STOPPED ||
	       r == SCARD_E_INVALID_HANDLE || r == SCARD_F_COMM_ERROR;
}

/* With c->mu held: a fresh context after context_lost(). */
static bool renew_context(p11o_card *c)
{
	SCARDCONTEXT ctx;

	if (SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &ctx) !=
	    SCARD_S_SUCCESS)
		return false;
	SCardReleaseContext(c->ctx);
	c->ctx = ctx;
	return true;
}

static CK_RV connect_card(p11o_card *c)
{
	LONG r;

	for (int attempt = 0;; attempt++) {
		r = SCardConnect(c->ctx, c->reader, SCARD_SHARE_SHARED,
				 SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &c->h,
				 &c->proto);
		if (attempt == 0 && context_lost(r) && renew_context(c))
			continue;
		break;
	}
	if (r != SCARD_S_SUCCESS)
		return map_pcsc(r);
	r = SCardBeginTransaction(c->h);
	if (r == SCARD_W_RESET_CARD) {
		/* Someone reset the card: acknowledge it, keep its state. */
		r = SCardReconnect(c->h, SCARD_SHARE_SHARED,
				   SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1,
				   SCARD_LEAVE_CARD, &c->proto);
		if (r == SCARD_S_SUCCESS)
			r = SCardBeginTransaction(c->h);
	}
	if (r != SCARD_S_SUCCESS) {
		SCardDisconnect(c->h, SCARD_LEAVE_CARD);
		return map_pcsc(r);
	}
	c->connected = true;
	return CKR_OK;
}

static bool deadline_passed(const p11o_card *c)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > c->deadline.tv_sec ||
	       (now.tv_sec == c->deadline.tv_sec &&
		now.tv_nsec >= c->deadline.tv_nsec);
}

CK_RV p11o_card_begin(p11o_card *c)
{
	CK_RV rv;

	pthread_mutex_lock(&c->mu);
	if (c->locked && deadline_passed(c))
		disconnect(c);
	if (c->locked)
		return CKR_OK;
	rv = held_by_other(c) ? CKR_FUNCTION_FAILED : connect_card(c);
	if (rv != CKR_OK)
		pthread_mutex_unlock(&c->mu);
	return rv;
}

void p11o_card_end(p11o_card *c)
{
	if (!c->locked)
		disconnect(c);
	pthread_mutex_unlock(&c->mu);
}

static CK_RV raw_transmit(p11o_card *c, const uint8_t *apdu, size_t len,
			  uint8_t *rbuf, DWORD *rlen)
{
	const SCARD_IO_REQUEST *pci =
	    c->proto == SCARD_PROTOCOL_T0 ? SCARD_PCI_T0 : SCARD_PCI_T1;
	LONG r;

	if (!c->connected)
		return CKR_DEVICE_ERROR;
	r = SCardTransmit(c->h, pci, apdu, (DWORD)len, NULL, rbuf, rlen);
	if (r != SCARD_S_SUCCESS) {
		CK_RV rv = map_pcsc(r);
		if (rv == CKR_TOKEN_NOT_PRESENT)
			rv = CKR_DEVICE_REMOVED; /* it was there a moment ago */
		if (p11o_card_rv_removed(rv)) {
			SCardDisconnect(c->h, SCARD_LEAVE_CARD);
			c->connected = false;
			c->locked = false;
			held_drop(c);
		}
		return rv;
	}
	if (*rlen < 2)
		return CKR_DEVICE_ERROR;
	return CKR_OK;
}

CK_RV p11o_card_transmit(p11o_card *c, const uint8_t *apdu, size_t len,
			 uint8_t *resp, size_t respsz, size_t *resp_len,
			 uint16_t *sw)
{
	uint8_t rbuf[258], cmd[261];
	size_t got = 0;
	DWORD rlen = sizeof(rbuf);
	CK_RV rv;
	uint16_t s;

	*resp_len = 0;
	rv = raw_transmit(c, apdu, len, rbuf, &rlen);
	if (rv != CKR_OK)
		goto out;
	s = (uint16_t)(rbuf[rlen - 2] << 8 | rbuf[rlen - 1]);
	if ((s & 0xFF00) == 0x6C00) {
		size_t n = p11o_card_apdu_set_le(apdu, len, s & 0xFF, cmd,
						 sizeof(cmd));
		if (n) {
			rlen = sizeof(rbuf);
			rv = raw_transmit(c, cmd, n, rbuf, &rlen);
			explicit_bzero(cmd, sizeof(cmd));
			if (rv != CKR_OK)
				goto out;
			s = (uint16_t)(rbuf[rlen - 2] << 8 | rbuf[rlen - 1]);
		}
	}
	for (int rounds = 0;; rounds++) {
		size_t n = rlen - 2;
		if (n > respsz - got) {
			rv = CKR_DEVICE_ERROR; /* answer longer than expected */
			goto out;
		}
		if (n)
			memcpy(resp + got, rbuf, n);
		got += n;
		if ((s & 0xFF00) != 0x6100 || rounds > 256)
			break;
		uint8_t gr[5] = {(uint8_t)(apdu[0] & 0x03), 0xC0, 0, 0,
				 (uint8_t)(s & 0xFF)};
		rlen = sizeof(rbuf);
		rv = raw_transmit(c, gr, sizeof(gr), rbuf, &rlen);
		if (rv != CKR_OK)
			goto out;
		s = (uint16_t)(rbuf[rlen - 2] << 8 | rbuf[rlen - 1]);
	}
	*resp_len = got;
	*sw = s;
out:
	explicit_bzero(rbuf, sizeof(rbuf));
	return rv;
}

CK_RV p11o_card_atr(p11o_card *c, unsigned char *atr, size_t *atr_len)
{
	BYTE buf[MAX_ATR_SIZE];
	DWORD alen = sizeof(buf), state, proto, rlen = 0;
	CK_RV rv;
	LONG r;

	rv = p11o_card_begin(c);
	if (rv != CKR_OK)
		return rv;
	r = SCardStatus(c->h, NULL, &rlen, &state, &proto, buf, &alen);
	if (r == SCARD_S_SUCCESS && alen > P11O_CARD_MAX_ATR)
		r = SCARD_F_INTERNAL_ERROR;
	if (r == SCARD_S_SUCCESS) {
		memcpy(atr, buf, alen);
		*atr_len = alen;
	}
	rv = map_pcsc(r);
	if (rv == CKR_TOKEN_NOT_PRESENT)
		rv = CKR_DEVICE_REMOVED;
	if (p11o_card_rv_removed(rv)) {
		SCardDisconnect(c->h, SCARD_LEAVE_CARD);
		c->connected = c->locked = false;
		held_drop(c);
	}
	p11o_card_end(c);
	return rv;
}

/* The watcher ends the hold at its deadline. */
static void *watch(void *arg)
{
	p11o_card *c = arg;

	pthread_mutex_lock(&c->mu);
	while (c->locked && !c->closing && !c->stop_watcher) {
		if (deadline_passed(c)) {
			disconnect(c);
			break;
		}
		pthread_cond_timedwait(&c->cv, &c->mu, &c->deadline);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

static void join_watcher(p11o_card *c)
{
	/* With c->mu not held. */
	pthread_mutex_lock(&c->mu);
	bool w = c->watcher;
	pthread_t t = c->watcher_thread;
	c->watcher = false;
	c->stop_watcher = true;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	if (w)
		pthread_join(t, NULL);
}

void p11o_card_hold_fails_others(p11o_card *c)
{
	pthread_mutex_lock(&c->mu);
	c->others_fail = true;
	pthread_mutex_unlock(&c->mu);
}

CK_RV p11o_card_lock(p11o_card *c, unsigned long timeout_seconds, bool timer)
{
	CK_RV rv = CKR_OK;

	if (timeout_seconds == 0) {
		p11o_card_unlock(c);
		return CKR_OK;
	}
	join_watcher(c); /* a previous, expired or to be replaced, watcher */
	pthread_mutex_lock(&c->mu);
	if (c->locked && deadline_passed(c))
		disconnect(c);
	if (!c->locked) {
		rv = held_by_other(c) ? CKR_FUNCTION_FAILED : connect_card(c);
		c->locked = rv == CKR_OK;
	}
	if (rv == CKR_OK) {
		clock_gettime(CLOCK_MONOTONIC, &c->deadline);
		if (timeout_seconds > 86400)
			timeout_seconds = 86400;
		c->deadline.tv_sec += (time_t)timeout_seconds;
		held_put(c);
		c->stop_watcher = false;
		if (timer &&
		    pthread_create(&c->watcher_thread, NULL, watch, c) == 0)
			c->watcher = true;
	}
	pthread_mutex_unlock(&c->mu);
	return rv;
}

void p11o_card_unlock(p11o_card *c)
{
	pthread_mutex_lock(&c->mu);
	if (c->locked) {
		c->locked = false;
		disconnect(c);
	}
	pthread_mutex_unlock(&c->mu);
	join_watcher(c);
}

bool p11o_card_is_locked(p11o_card *c)
{
	bool l;

	pthread_mutex_lock(&c->mu);
	if (c->locked && deadline_passed(c))
		disconnect(c);
	l = c->locked;
	pthread_mutex_unlock(&c->mu);
	return l;
}

void p11o_card_close(p11o_card *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	c->closing = true;
	pthread_mutex_unlock(&c->mu);
	p11o_card_unlock(c);
	SCardReleaseContext(c->ctx);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
}
