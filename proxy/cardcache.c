#include "cardcache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_READERS 16

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
};

struct p11o_card_cache {
	pthread_mutex_t lock; /* finding/adding entries */
	const p11o_config *cfg;
	p11o_card_entry entries[MAX_READERS];
};

p11o_card_cache *p11o_card_cache_new(const p11o_config *cfg)
{
	p11o_card_cache *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	pthread_mutex_init(&c->lock, NULL);
	c->cfg = cfg;
	for (size_t i = 0; i < MAX_READERS; i++) {
		pthread_mutex_init(&c->entries[i].lock, NULL);
		c->entries[i].cache = c;
	}
	return c;
}

void p11o_card_cache_free(p11o_card_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < MAX_READERS; i++) {
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
}

/* Under the entry lock: make sure the facts are those of the card in the
 * reader now. */
static bool refresh(p11o_card_entry *e, const unsigned char *serial)
{
	if (e->no_reader)
		return false;
	if (serial && (e->info_valid || e->unrecognised)) {
		if (!e->serial_known) { /* read for a caller without one */
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
	CK_RV rv = p11o_card_read_info(e->card, e->cache->cfg, &e->info);
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

bool p11o_card_cache_no_reader(p11o_card_cache *c, const unsigned char desc[64])
{
	p11o_card_entry *e = c ? find(c, desc) : NULL;
	if (!e)
		return false;
	pthread_mutex_lock(&e->lock);
	bool no = e->no_reader;
	pthread_mutex_unlock(&e->lock);
	return no;
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

p11o_card *p11o_card_entry_card(p11o_card_entry *e)
{
	return e->card;
}

static long ms_since(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000 +
	       (now.tv_nsec - t->tv_nsec) / 1000000;
}

bool p11o_card_entry_pin_flags(p11o_card_entry *e, int k, CK_FLAGS *flags)
{
	*flags = 0;
	if (k < 0 || (size_t)k >= e->info.pin_count)
		return false;
	pin_cache *p = &e->pins[k];
	if (!p->valid || ms_since(&p->read_at) >= P11O_PIN_STATE_TTL_MS) {
		int tries = -1;
		enum p11o_pin_state st;
		if (p11o_card_pin_status_of(e->card, &e->info.pins[k], &st,
					    &tries) != CKR_OK)
			return false;
		p->state = st;
		p->tries = tries;
		if (p->max_seen < 3)
			p->max_seen = 3; /* the usual initial count */
		if (tries > p->max_seen)
			p->max_seen = tries;
		clock_gettime(CLOCK_MONOTONIC, &p->read_at);
		p->valid = true;
	}
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
