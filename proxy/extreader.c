/* External readers bridged to vsmartcard vpcd readers; see extreader.h.
 *
 * vpcd protocol (the proxy is the card side, a TCP client of the reader
 * driver): every message is a 2-byte big-endian length and its payload.
 * A 1-byte payload is a control: 0 power off, 1 power on, 2 reset (no
 * answer), 4 get ATR (answer: the ATR).  Any other payload is an APDU,
 * answered by its response. */
#include "extreader.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "p11o_build.h"
#include "slots_int.h"
#include "stack.h"
#include "trace/trace.h"
#define NOTE(self, ...) p11o_trace_note((self)->stack->trace, __VA_ARGS__)

#define VPCD_DEFAULT_PORT 35963
#define MAX_READER_SLOTS 16
#define MAX_MSG 0xFFFF
#define MAX_ATR 33
#define POLL_MS 100

typedef struct bridge {
	struct bridge *next;
	p11o_layer *owner; /* the slots layer */
	CK_ADD_SLOT cb;
	char reader[128]; /* PC/SC name of the vpcd reader */
	char where[80];   /* its host:port */
	char name[64];    /* the application's pReaderName */
	int fd;
	pthread_t thread;
	bool started;
	atomic_bool alive; /* the thread still serves the connection */
	atomic_bool seen;  /* vpcd has talked to us */
	/* Under `lock`: the slots are known (C_AddSlot done). */
	bool ready;
	CK_SLOT_ID slots[MAX_READER_SLOTS];
	CK_ULONG nslots;
	/* The bridge thread's own (C_AddSlot's before it starts). */
	bool powered;
	unsigned char atr[MAX_ATR];
	CK_ULONG atr_len;
	unsigned char msg[MAX_MSG], out[2 + MAX_MSG];
} bridge;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bridge *bridges; /* under lock */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* ---- fork: the child has no bridge threads ------------------------------ */

static void atfork_prepare(void)
{
	pthread_mutex_lock(&lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&lock);
}

/* The parent's connections stay the parent's; the entries are abandoned
 * like the parent's stack (core.c). */
static void atfork_child(void)
{
	for (bridge *b = bridges; b; b = b->next)
		if (b->fd >= 0)
			close(b->fd);
	bridges = NULL;
	pthread_mutex_unlock(&lock);
}

static void register_atfork(void)
{
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* ---- the vpcd connection ------------------------------------------------ */

static bool recv_all(int fd, unsigned char *p, size_t len)
{
	static const int one = 1;
	while (len) {
		/* Quick ACKs keep the request/response latency low. */
		setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
		ssize_t n = recv(fd, p, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static bool send_msg(bridge *b, const unsigned char *data, size_t len)
{
	b->out[0] = (unsigned char)(len >> 8);
	b->out[1] = (unsigned char)len;
	memmove(b->out + 2, data, len);
	const unsigned char *p = b->out;
	size_t left = len + 2;
	while (left) {
		ssize_t n = send(b->fd, p, left, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		left -= (size_t)n;
	}
	return true;
}

static int connect_vpcd(const char *host, const char *port)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICSERV},
			*res, *ai;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -1;
	int fd = -1;
	for (ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0)
			continue;
		struct timeval tv = {2, 0}; /* bounds connect and send */
		static const int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	return fd;
}

/* ---- the application's reader ------------------------------------------- */

static CK_RV card_connect(bridge *b)
{
	CK_RV rv = b->cb.Connect(b->cb.pContext);
	if (rv != CKR_OK)
		return rv;
	b->powered = true;
	unsigned char atr[64];
	CK_ULONG len = sizeof(atr);
	rv = b->cb.GetAtr(b->cb.pContext, atr, &len);
	if (rv == CKR_OK && (len == 0 || len > MAX_ATR))
		rv = CKR_DEVICE_ERROR;
	if (rv == CKR_OK) {
		memcpy(b->atr, atr, len);
		b->atr_len = len;
	}
	return rv;
}

static void card_disconnect(bridge *b)
{
	if (b->powered)
		b->cb.Disconnect(b->cb.pContext);
	b->powered = false;
}

static bool serve_control(bridge *b, unsigned char ctrl)
{
	switch (ctrl) {
	case 0: /* power off */
		card_disconnect(b);
		return true;
	case 2: /* reset */
		card_disconnect(b);
		/* fall through */
	case 1: /* power on */
		if (!b->powered)
			card_connect(b);
		return true;
	case 4: /* get ATR: the last one the reader gave */
		return send_msg(b, b->atr, b->atr_len);
	default:
		return true;
	}
}

static bool serve_apdu(bridge *b, size_t len)
{
	static const unsigned char no_diagnosis[] = {0x6F, 0x00};
	if (!b->powered)
		card_connect(b);
	CK_ULONG rlen = MAX_MSG;
	CK_RV rv = b->powered ? b->cb.Transmit(b->cb.pContext, b->msg, len,
					       b->out + 2, &rlen)
			      : CKR_DEVICE_ERROR;
	if (rv != CKR_OK || rlen < 2 || rlen > MAX_MSG)
		return send_msg(b, no_diagnosis, sizeof(no_diagnosis));
	return send_msg(b, b->out + 2, rlen);
}

static void *bridge_main(void *arg)
{
	bridge *b = arg;
	unsigned char hdr[2];
	while (recv_all(b->fd, hdr, 2)) {
		size_t len = (size_t)hdr[0] << 8 | hdr[1];
		if (!recv_all(b->fd, b->msg, len))
			break;
		atomic_store(&b->seen, true);
		bool ok = len == 1   ? serve_control(b, b->msg[0])
			  : len == 0 ? true
				     : serve_apdu(b, len);
		if (!ok)
			break;
	}
	card_disconnect(b);
	atomic_store(&b->alive, false);
	return NULL;
}

/* Close the connection (pcscd sees the card removed) and end the thread,
 * which disconnects the application's card. */
static void bridge_stop(bridge *b)
{
	if (b->started) {
		shutdown(b->fd, SHUT_RDWR);
		pthread_join(b->thread, NULL);
	} else {
		card_disconnect(b);
	}
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
}

/* ---- slots of a reader, in the application's IDs ------------------------ */

/* OpenSC pads the reader name to 64 and ends a longer one with "...". */
static bool description_is(const CK_UTF8CHAR d[64], const char *name)
{
	size_t n = 64, len = strlen(name);
	while (n > 0 && (d[n - 1] == ' ' || d[n - 1] == '\0'))
		n--;
	if (n == len && memcmp(d, name, n) == 0)
		return true;
	return n > 3 && len > n - 3 && memcmp(d + n - 3, "...", 3) == 0 &&
	       memcmp(d, name, n - 3) == 0;
}

static CK_ULONG token_slots(p11o_layer *self, const char *reader,
			    CK_SLOT_ID *out)
{
	CK_SLOT_ID ids[128];
	CK_ULONG n = 128, found = 0;
	if (self->ops->C_GetSlotList(self, CK_TRUE, ids, &n) != CKR_OK)
		return 0;
	if (n > 128) /* never past the buffer, whatever the count says */
		n = 128;
	for (CK_ULONG i = 0; i < n && found < MAX_READER_SLOTS; i++) {
		CK_SLOT_INFO si;
		if (self->ops->C_GetSlotInfo(self, ids[i], &si) == CKR_OK &&
		    (si.flags & CKF_TOKEN_PRESENT) &&
		    description_is(si.slotDescription, reader)) {
			if (out)
				out[found] = ids[i];
			found++;
		}
	}
	return found;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- [readers] vpcd ------------------------------------------------------ */

typedef struct vpcd_entry {
	char host[64], port[8], reader[128];
} vpcd_entry;

/* "host:port [reader name]"; 0 or -1. */
static int parse_entry(char *s, vpcd_entry *e)
{
	while (*s == ' ' || *s == '\t')
		s++;
	char *end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	char *name = s + strcspn(s, " \t");
	if (*name) {
		*name++ = '\0';
		name += strspn(name, " \t");
	}
	char *colon = strrchr(s, ':');
	if (!colon || colon == s || (size_t)(colon - s) >= sizeof(e->host))
		return -1;
	char *stop;
	unsigned long port = strtoul(colon + 1, &stop, 10);
	if (*stop || port == 0 || port > 65535 ||
	    strlen(name) >= sizeof(e->reader))
		return -1;
	*colon = '\0';
	snprintf(e->host, sizeof(e->host), "%s", s);
	snprintf(e->port, sizeof(e->port), "%lu", port);
	if (*name)
		snprintf(e->reader, sizeof(e->reader), "%s", name);
	else if (port >= VPCD_DEFAULT_PORT && port < VPCD_DEFAULT_PORT + 16)
		snprintf(e->reader, sizeof(e->reader), "Virtual PCD 00 %02lX",
			 port - VPCD_DEFAULT_PORT);
	else
		return -1;
	return 0;
}

static bool reader_taken(const char *reader)
{
	for (bridge *b = bridges; b; b = b->next)
		if (strcmp(b->reader, reader) == 0)
			return true;
	return false;
}

static void unlink_bridge(bridge *b)
{
	for (bridge **p = &bridges; *p; p = &(*p)->next)
		if (*p == b) {
			*p = b->next;
			return;
		}
}

/* Reserve a free vpcd reader of the list and connect to it. */
static CK_RV take_reader(p11o_layer *self, bridge *b)
{
	char list[sizeof(self->stack->config.readers_vpcd)];
	snprintf(list, sizeof(list), "%s", self->stack->config.readers_vpcd);
	char *save = NULL;
	for (char *s = strtok_r(list, ",", &save); s;
	     s = strtok_r(NULL, ",", &save)) {
		vpcd_entry e;
		if (parse_entry(s, &e) != 0)
			return CKR_GENERAL_ERROR;
		pthread_mutex_lock(&lock);
		bool taken = reader_taken(e.reader);
		if (!taken) {
			snprintf(b->reader, sizeof(b->reader), "%s", e.reader);
			b->next = bridges;
			bridges = b;
		}
		pthread_mutex_unlock(&lock);
		if (taken)
			continue;
		if (token_slots(self, e.reader, NULL) == 0 &&
		    (b->fd = connect_vpcd(e.host, e.port)) >= 0) {
			snprintf(b->where, sizeof(b->where), "%s:%s", e.host,
				 e.port);
			return CKR_OK;
		}
		pthread_mutex_lock(&lock);
		unlink_bridge(b);
		pthread_mutex_unlock(&lock);
	}
	return CKR_DEVICE_ERROR; /* no free vpcd reader */
}

/* ---- C_AddSlot / C_RemoveSlot -------------------------------------------- */

static CK_RV slot_list(const bridge *b, CK_SLOT_ID_PTR pSlotList,
		       CK_ULONG_PTR pulCount)
{
	CK_RV rv = CKR_OK;
	if (pSlotList && *pulCount < b->nslots)
		rv = CKR_BUFFER_TOO_SMALL;
	else if (pSlotList)
		memcpy(pSlotList, b->slots, b->nslots * sizeof(CK_SLOT_ID));
	*pulCount = b->nslots;
	return rv;
}

/* A reader already added with these callbacks (second call). */
static CK_RV added_before(p11o_layer *self, const CK_ADD_SLOT *a,
			  CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount)
{
	CK_RV rv = CKR_FUNCTION_NOT_SUPPORTED; /* meaning: not found */
	pthread_mutex_lock(&lock);
	for (bridge *b = bridges; b; b = b->next)
		if (b->owner == self && b->ready &&
		    b->cb.pContext == a->pContext &&
		    b->cb.Transmit == a->Transmit) {
			rv = slot_list(b, pSlotList, pulCount);
			break;
		}
	pthread_mutex_unlock(&lock);
	return rv;
}

/* Until the provider shows the card's tokens (the same number twice in a
 * row, so every PIN's slot is there). */
static CK_ULONG wait_tokens(p11o_layer *self, bridge *b, CK_SLOT_ID *ids)
{
	long deadline =
	    now_ms() + (long)self->stack->config.readers_timeout * 1000;
	CK_ULONG prev = 0;
	for (;;) {
		CK_ULONG n = atomic_load(&b->alive)
				 ? token_slots(self, b->reader, ids)
				 : 0;
		if (n && n == prev)
			return n;
		prev = n;
		if (!atomic_load(&b->alive) || now_ms() >= deadline)
			return n;
		sleep_ms(POLL_MS);
	}
}

static void free_bridge(bridge *b)
{
	pthread_mutex_lock(&lock);
	unlink_bridge(b);
	pthread_mutex_unlock(&lock);
	free(b);
}

CK_RV p11o_extreader_add_slot(p11o_layer *self, CK_ADD_SLOT_PTR pAddSlot,
			      CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount)
{
	const CK_ADD_SLOT *a = pAddSlot;
	if (!a || !pulCount || !a->Connect || !a->Transmit || !a->GetAtr ||
	    !a->Disconnect)
		return CKR_ARGUMENTS_BAD;
	if (!self->stack->config.readers_vpcd[0])
		return CKR_FUNCTION_NOT_SUPPORTED;
	CK_RV rv = added_before(self, a, pSlotList, pulCount);
	if (rv != CKR_FUNCTION_NOT_SUPPORTED)
		return rv;
	pthread_once(&atfork_once, register_atfork);
	bridge *b = calloc(1, sizeof(*b));
	if (!b)
		return CKR_HOST_MEMORY;
	b->owner = self;
	b->cb = *a;
	b->fd = -1;
	snprintf(b->name, sizeof(b->name), "%s",
		 a->pReaderName ? (const char *)a->pReaderName : "");
	rv = card_connect(b);
	if (rv == CKR_OK)
		rv = take_reader(self, b);
	if (rv != CKR_OK) {
		NOTE(self, "C_AddSlot \"%s\": %s", b->name,
		     rv == CKR_DEVICE_ERROR ? "no free vpcd reader"
		     : rv == CKR_GENERAL_ERROR
			 ? "bad [readers] vpcd entry"
			 : "the reader's Connect/GetAtr failed");
		card_disconnect(b);
		free(b);
		return rv;
	}
	atomic_store(&b->alive, true);
	if (pthread_create(&b->thread, NULL, bridge_main, b) != 0) {
		bridge_stop(b);
		free_bridge(b);
		return CKR_GENERAL_ERROR;
	}
	b->started = true;
	CK_SLOT_ID ids[MAX_READER_SLOTS];
	CK_ULONG n = wait_tokens(self, b, ids);
	if (n == 0) {
		/* vpcd took the card but no token came: not recognised. */
		rv = atomic_load(&b->seen) ? CKR_TOKEN_NOT_RECOGNIZED
					   : CKR_DEVICE_ERROR;
		NOTE(self, "C_AddSlot \"%s\": %s %s (%s)", b->name,
		     rv == CKR_DEVICE_ERROR ? "no answer from" : "no token in",
		     b->reader, b->where);
		bridge_stop(b);
		free_bridge(b);
		return rv;
	}
	/* The insertion's events are visible when C_AddSlot returns. */
	p11o_events_sync(&SL(self)->events);
	pthread_mutex_lock(&lock);
	memcpy(b->slots, ids, n * sizeof(ids[0]));
	b->nslots = n;
	b->ready = true;
	rv = slot_list(b, pSlotList, pulCount);
	pthread_mutex_unlock(&lock);
	NOTE(self, "C_AddSlot \"%s\": card in %s (%s), %lu slot(s)", b->name,
	     b->reader, b->where, n);
	return rv;
}

CK_RV p11o_extreader_remove_slot(p11o_layer *self, CK_SLOT_ID slotID)
{
	bridge *b = NULL;
	CK_RV rv = CKR_SLOT_ID_INVALID;
	pthread_mutex_lock(&lock);
	for (bridge *c = bridges; c && !b; c = c->next)
		for (CK_ULONG i = 0;
		     c->owner == self && c->ready && i < c->nslots && !b; i++)
			if (c->slots[i] == slotID)
				b = c;
	if (b && pthread_equal(b->thread, pthread_self())) {
		rv = CKR_FUNCTION_FAILED; /* from its own callback */
		b = NULL;
	} else if (b) {
		unlink_bridge(b);
		rv = CKR_OK;
	}
	pthread_mutex_unlock(&lock);
	if (!b)
		return rv;
	bridge_stop(b);
	NOTE(self, "C_RemoveSlot \"%s\": card out of %s (%s)", b->name,
	     b->reader, b->where);
	long deadline =
	    now_ms() + (long)self->stack->config.readers_timeout * 1000;
	while (token_slots(self, b->reader, NULL) && now_ms() < deadline)
		sleep_ms(POLL_MS);
	/* The tokens are gone: so are they in the event stream when
	 * C_RemoveSlot returns (C_HasNewEvent sees it at once). */
	p11o_events_sync(&SL(self)->events);
	free(b);
	return CKR_OK;
}

void p11o_extreader_stop_all(p11o_layer *self)
{
	bridge *mine = NULL;
	pthread_mutex_lock(&lock);
	for (bridge **p = &bridges; *p;) {
		bridge *b = *p;
		if (b->owner == self && b->ready) {
			*p = b->next;
			b->next = mine;
			mine = b;
		} else {
			p = &b->next;
		}
	}
	pthread_mutex_unlock(&lock);
	while (mine) {
		bridge *b = mine;
		mine = b->next;
		bridge_stop(b);
		free(b);
	}
}
