#include "cardcache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_READERS 16
/* How long an application call waits for the card (cardcache.h). */
#define WAIT_INFO_MS 10000
#define WAIT_PIN_MS 5000

enum job_kind { JOB_NONE, JOB_INFO, JOB_PIN };

/* The entry's card I/O, done by its worker thread so that no application
 * call waits longer than the bounds above on a card transaction someone
 * else holds (the provider between C_Login(CKU_CONTEXT_SPECIFIC) and
 * C_Sign, in this very thread).  mu guards everything here; the worker
 * never takes the entry's lock. */
typedef struct job {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* CLOCK_MONOTONIC */
	pthread_t thread;
	bool thread_alive, stop;
	enum job_kind kind;
	p11o_card_pin pin;        /* JOB_PIN: the PIN to read */
	unsigned generation;      /* the entry's, when posted */
	unsigned char serial[16]; /* JOB_INFO: the provider's token serial */
	bool have_serial;
	bool busy; /* posted, not finished */
	bool done; /* finished, result not taken */
	CK_RV rv;
	p11o_card_info *info; /* JOB_INFO result */
	enum p11o_pin_state state;
	int tries;
} job;

typedef struct pin_cache {
	bool valid;
	struct timespec read_at;
	enum p11o_pin_state state;
	int tries;
	int max_seen; /* most tries ever seen: "count low" is below it */
} pin_cache;

struct p11o_card_entry {
	pthread_mutex_t lock;
	p11o_card_cache *cache;
	unsigned char desc[64];
	bool used;
	bool no_reader; /* not a PC/SC reader: never ask again */
	bool info_valid;
	bool unrecognised; /* a card no profile knows: until invalidated */
	unsigned char serial[16];
	bool serial_known; /* serial holds the provider's serial of this card */
	p11o_card *card;
	p11o_card_info info;
	pin_cache pins[P11O_CARD_MAX_PINS];
	unsigned generation; /* bumped by forget(): older results are stale */
	job job;
};

struct p11o_card_cache {
	pthread_mutex_t lock; /* finding/adding entries */
	const p11o_config *cfg;
	bool threads; /* the application lets us create threads */
	p11o_card_entry entries[MAX_READERS];
};

p11o_card_cache *p11o_card_cache_new(const p11o_config *cfg)
{
	p11o_card_cache *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	pthread_mutex_init(&c->lock, NULL);
	c->cfg = cfg;
	c->threads = true;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	for (size_t i = 0; i < MAX_READERS; i++) {
		pthread_mutex_init(&c->entries[i].lock, NULL);
		pthread_mutex_init(&c->entries[i].job.mu, NULL);
		pthread_cond_init(&c->entries[i].job.cv, &ca);
		c->entries[i].cache = c;
	}
	pthread_condattr_destroy(&ca);
	return c;
}

void p11o_card_cache_threads(p11o_card_cache *c, bool allowed)
{
	if (c)
		c->threads = allowed;
}

static void free_info(p11o_card_info *info)
{
	if (info) {
		explicit_bzero(info, sizeof(*info));
		free(info);
	}
}

static void *worker(void *arg)
{
	p11o_card_entry *e = arg;
	job *j = &e->job;
	pthread_mutex_lock(&j->mu);
	for (;;) {
		while (!j->stop && !j->busy)
			pthread_cond_wait(&j->cv, &j->mu);
		if (j->stop)
			break;
		enum job_kind kind = j->kind;
		p11o_card_pin pin = j->pin;
		unsigned char serial[16];
		bool have_serial = j->have_serial;
		memcpy(serial, j->serial, 16);
		pthread_mutex_unlock(&j->mu);
		p11o_card_info *info = NULL;
		enum p11o_pin_state st = P11O_PIN_STATE_ERROR;
		int tries = -1;
		CK_RV rv = CKR_HOST_MEMORY;
		if (kind == JOB_INFO) {
			info = malloc(sizeof(*info));
			if (info)
				rv = p11o_card_read_info_for(
				    e->card, e->cache->cfg,
				    have_serial ? serial : NULL, info);
		} else {
			rv =
			    p11o_card_pin_status_of(e->card, &pin, &st, &tries);
		}
		explicit_bzero(&pin, sizeof(pin));
		pthread_mutex_lock(&j->mu);
		free_info(j->info);
		j->info = info;
		j->rv = rv;
		j->state = st;
		j->tries = tries;
		j->busy = false;
		j->done = true;
		pthread_cond_broadcast(&j->cv);
	}
	pthread_mutex_unlock(&j->mu);
	return NULL;
}

static bool same_job(const job *j, enum job_kind kind, const p11o_card_pin *pin)
{
	return j->kind == kind &&
	       (kind != JOB_PIN || (j->pin.ref == pin->ref &&
				    j->pin.status_index == pin->status_index));
}

/* Under e->lock: the card I/O `kind` (for `pin`), on the entry's worker,
 * waiting at most wait_ms.  true with the results when done (*info is
 * the caller's to free); false when the card did not answer in time: the
 * worker goes on and the next call takes its result, and while it is
 * still waiting (the card is held) calls do not wait again. */
static bool run_job(p11o_card_entry *e, enum job_kind kind,
		    const p11o_card_pin *pin, long wait_ms, CK_RV *rv,
		    p11o_card_info **info, enum p11o_pin_state *st, int *tries)
{
	job *j = &e->job;
	*info = NULL;
	if (kind == JOB_PIN && !pin)
		return false;
	if (!e->cache->threads) {
		if (kind == JOB_PIN && pin) {
			*rv = p11o_card_pin_status_of(e->card, pin, st, tries);
			return true;
		}
		*info = malloc(sizeof(**info));
		*rv = *info ? p11o_card_read_info_for(
				  e->card, e->cache->cfg,
				  e->serial_known ? e->serial : NULL, *info)
			    : CKR_HOST_MEMORY;
		return true;
	}
	pthread_mutex_lock(&j->mu);
	if (j->busy) { /* an earlier call's I/O still waits for the card */
		pthread_mutex_unlock(&j->mu);
		return false;
	}
	if (!(j->done && same_job(j, kind, pin) &&
	      j->generation == e->generation)) {
		if (!j->thread_alive) {
			if (pthread_create(&j->thread, NULL, worker, e) != 0) {
				pthread_mutex_unlock(&j->mu);
				return false;
			}
			j->thread_alive = true;
		}
		j->kind = kind;
		if (pin)
			j->pin = *pin;
		j->generation = e->generation;
		j->have_serial = e->serial_known;
		memcpy(j->serial, e->serial, 16);
		j->busy = true;
		j->done = false;
		pthread_cond_broadcast(&j->cv);
		struct timespec dl;
		clock_gettime(CLOCK_MONOTONIC, &dl);
		dl.tv_sec += wait_ms / 1000;
		dl.tv_nsec += (wait_ms % 1000) * 1000000L;
		if (dl.tv_nsec >= 1000000000L) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000L;
		}
		while (j->busy &&
		       pthread_cond_timedwait(&j->cv, &j->mu, &dl) == 0)
			;
		if (j->busy) {
			pthread_mutex_unlock(&j->mu);
			return false;
		}
	}
	*rv = j->rv;
	*info = j->info;
	*st = j->state;
	*tries = j->tries;
	j->info = NULL;
	j->done = false;
	pthread_mutex_unlock(&j->mu);
	return true;
}

void p11o_card_cache_free(p11o_card_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < MAX_READERS; i++) {
		job *j = &c->entries[i].job;
		/* The provider is finalised by now: a worker that waited for
		 * its card transaction has its answer. */
		pthread_mutex_lock(&j->mu);
		j->stop = true;
		pthread_cond_broadcast(&j->cv);
		pthread_mutex_unlock(&j->mu);
		if (j->thread_alive)
			pthread_join(j->thread, NULL);
		free_info(j->info);
		pthread_cond_destroy(&j->cv);
		pthread_mutex_destroy(&j->mu);
		if (c->entries[i].card)
			p11o_card_close(c->entries[i].card);
		explicit_bzero(&c->entries[i].info, sizeof(c->entries[i].info));
		pthread_mutex_destroy(&c->entries[i].lock);
	}
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static p11o_card_entry *find(p11o_card_cache *c, const unsigned char desc[64])
{
	pthread_mutex_lock(&c->lock);
	p11o_card_entry *e = NULL;
	for (size_t i = 0; i < MAX_READERS && !e; i++)
		if (c->entries[i].used && !memcmp(c->entries[i].desc, desc, 64))
			e = &c->entries[i];
	for (size_t i = 0; i < MAX_READERS && !e; i++) {
		if (!c->entries[i].used) {
			e = &c->entries[i];
			e->used = true;
			memcpy(e->desc, desc, 64);
		}
	}
	pthread_mutex_unlock(&c->lock);
	return e;
}

static void forget(p11o_card_entry *e)
{
	e->no_reader = false;
	e->info_valid = false;
	e->unrecognised = false;
	memset(e->pins, 0, sizeof(e->pins));
	e->generation++;
}

/* Under the entry lock: make sure the facts are those of the card in the
 * reader now. */
static bool refresh(p11o_card_entry *e, const unsigned char *serial)
{
	if (e->no_reader)
		return false;
	if (serial && (e->info_valid || e->unrecognised)) {
		if (!e->serial_known) { /* read for a caller without one */
			if (e->info_valid &&
			    !p11o_card_serial_matches(&e->info, serial))
				forget(e); /* another application of the card */
			memcpy(e->serial, serial, 16);
			e->serial_known = true;
		} else if (memcmp(e->serial, serial, 16) != 0) {
			forget(e);
		}
	}
	if (e->info_valid)
		return true;
	if (e->unrecognised)
		return false;
	if (!e->card) {
		char reader[P11O_CARD_MAX_READER];
		CK_RV rv = p11o_card_reader_for_slot(e->desc, 64, reader,
						     sizeof(reader));
		/* No such reader, or no PC/SC at all: a soft token.  An
		 * event (invalidate) makes it ask again. */
		if (rv != CKR_OK)
			e->no_reader = true;
		if (rv != CKR_OK || p11o_card_open(reader, &e->card) != CKR_OK)
			return false;
	}
	CK_RV rv;
	p11o_card_info *info;
	enum p11o_pin_state st;
	int tries;
	/* The serial tells which application the provider serves. */
	e->serial_known = serial != NULL;
	if (serial)
		memcpy(e->serial, serial, 16);
	if (!run_job(e, JOB_INFO, NULL, WAIT_INFO_MS, &rv, &info, &st, &tries))
		return false; /* the card is busy: the provider's facts */
	if (info && rv == CKR_OK)
		e->info = *info;
	free_info(info);
	/* "Nothing known" is a fact of this insertion too: kept (with the
	 * serial that tells the next card apart) so that an unknown card
	 * costs no APDU per call. */
	if (rv == CKR_TOKEN_NOT_RECOGNIZED || rv == CKR_OK) {
		e->serial_known = serial != NULL;
		if (serial)
			memcpy(e->serial, serial, 16);
	}
	if (rv == CKR_TOKEN_NOT_RECOGNIZED)
		e->unrecognised = true;
	if (rv != CKR_OK)
		return false;
	e->info_valid = true;
	return true;
}

p11o_card_entry *p11o_card_cache_get(p11o_card_cache *c,
				     const unsigned char desc[64],
				     const unsigned char *serial)
{
	p11o_card_entry *e = c ? find(c, desc) : NULL;
	if (!e)
		return NULL;
	pthread_mutex_lock(&e->lock);
	if (!refresh(e, serial)) {
		pthread_mutex_unlock(&e->lock);
		return NULL;
	}
	return e;
}

void p11o_card_cache_put(p11o_card_entry *e)
{
	pthread_mutex_unlock(&e->lock);
}

const p11o_card_info *p11o_card_entry_info(const p11o_card_entry *e)
{
	return &e->info;
}

bool p11o_card_entry_token_serial(const p11o_card_entry *e,
				  unsigned char serial[16])
{
	if (e->serial_known)
		memcpy(serial, e->serial, 16);
	return e->serial_known;
}

bool p11o_card_entry_reread(p11o_card_entry *e, p11o_card_info *out)
{
	CK_RV rv;
	p11o_card_info *info;
	enum p11o_pin_state st;
	int tries;
	bool ok =
	    run_job(e, JOB_INFO, NULL, WAIT_INFO_MS, &rv, &info, &st, &tries) &&
	    info && rv == CKR_OK;
	if (ok)
		*out = *info;
	free_info(info);
	return ok;
}

static long ms_since(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000 +
	       (now.tv_nsec - t->tv_nsec) / 1000000;
}

/* The token flags of a PIN state; false when the card cannot tell. */
static bool flags_of(const pin_cache *p, CK_FLAGS *flags)
{
	*flags = 0;
	switch (p->state) {
	case P11O_PIN_BLOCKED:
		*flags = CKF_USER_PIN_LOCKED;
		return true;
	case P11O_PIN_NOT_VERIFIED:
		if (p->tries == 0)
			*flags = CKF_USER_PIN_LOCKED;
		else if (p->tries == 1)
			*flags =
			    CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_COUNT_LOW;
		else if (p->tries >= 0 && p->tries < p->max_seen)
			*flags = CKF_USER_PIN_COUNT_LOW;
		return true;
	case P11O_PIN_VERIFIED:
		return true;
	default: /* the card cannot tell */
		return false;
	}
}

bool p11o_card_entry_pin_flags(p11o_card_entry *e, int k, CK_FLAGS *flags,
			       bool *fresh)
{
	*flags = 0;
	*fresh = false;
	if (k < 0 || (size_t)k >= e->info.pin_count)
		return false;
	pin_cache *p = &e->pins[k];
	if (!p->valid || ms_since(&p->read_at) >= P11O_PIN_STATE_TTL_MS) {
		int tries = -1;
		enum p11o_pin_state st;
		CK_RV rv;
		p11o_card_info *none;
		if (!run_job(e, JOB_PIN, &e->info.pins[k], WAIT_PIN_MS, &rv,
			     &none, &st, &tries) ||
		    rv != CKR_OK)
			return p->valid && flags_of(p, flags); /* last known */
		p->state = st;
		p->tries = tries;
		if (p->max_seen < 3)
			p->max_seen = 3; /* the usual initial count */
		if (tries > p->max_seen)
			p->max_seen = tries;
		clock_gettime(CLOCK_MONOTONIC, &p->read_at);
		p->valid = true;
		*fresh = true;
	}
	return flags_of(p, flags);
}

void p11o_card_entry_forget_pins(p11o_card_entry *e)
{
	for (size_t k = 0; k < P11O_CARD_MAX_PINS; k++)
		e->pins[k].valid = false;
}

void p11o_card_cache_invalidate(p11o_card_cache *c,
				const unsigned char desc[64])
{
	p11o_card_entry *e = c ? find(c, desc) : NULL;
	if (!e)
		return;
	pthread_mutex_lock(&e->lock);
	forget(e);
	pthread_mutex_unlock(&e->lock);
}
