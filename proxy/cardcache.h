/* What every layer knows of the cards behind the provider's slots, read
 * once per card insertion and shared (docs/architecture.md §8): the card facts
 * (p11o_card_info) and PIN states.
 *
 * Entries are keyed by slot description (= PC/SC reader name).  A card's
 * facts are re-read when the provider's token serial number for that
 * reader changes (another card) or after p11o_card_cache_invalidate()
 * (events, C_Reinitialize, writes), never per call.  PIN states come from
 * VERIFY without data and are kept P11O_PIN_STATE_TTL_MS: another process
 * may block a PIN without any slot event, so a state is never older than
 * that, and reading it costs at most one APDU per PIN per interval.
 *
 * No application call waits on a card transaction someone else holds
 * (OpenSC keeps one between C_Login(CKU_CONTEXT_SPECIFIC) and C_Sign, in
 * the application's own thread): each entry's card I/O runs on its own
 * worker thread, and a call waits for it a bounded time (10 s for the
 * card's facts, 5 s for a PIN state), then goes on with what is known
 * (the last PIN state, or the provider's facts); while that I/O still
 * waits, later calls do not wait at all, and its result is taken when it
 * comes.  Without threads (CKF_LIBRARY_CANT_CREATE_OS_THREADS) the I/O
 * runs in the caller's thread. */
#ifndef P11O_CARDCACHE_H
#define P11O_CARDCACHE_H

#include "card/card.h"

#define P11O_PIN_STATE_TTL_MS 1000

typedef struct p11o_card_cache p11o_card_cache;
typedef struct p11o_card_entry p11o_card_entry;

p11o_card_cache *p11o_card_cache_new(const p11o_config *cfg);
/* CKF_LIBRARY_CANT_CREATE_OS_THREADS: card I/O in the caller's thread. */
void p11o_card_cache_threads(p11o_card_cache *cache, bool allowed);
void p11o_card_cache_free(p11o_card_cache *cache);

/* The entry of the card in the reader named by `desc` (64-byte slot
 * description), locked, with its facts read or still valid; `serial` is the
 * provider's 16-byte CK_TOKEN_INFO serialNumber (NULL: do not check).
 * NULL when the slot is not a PC/SC reader with a recognised card.
 * Release with p11o_card_cache_put(). */
p11o_card_entry *p11o_card_cache_get(p11o_card_cache *cache,
				     const unsigned char desc[64],
				     const unsigned char *serial);
void p11o_card_cache_put(p11o_card_entry *e);

const p11o_card_info *p11o_card_entry_info(const p11o_card_entry *e);
/* The provider's CK_TOKEN_INFO serialNumber of this card, when a caller
 * passed it to p11o_card_cache_get(). */
bool p11o_card_entry_token_serial(const p11o_card_entry *e,
				  unsigned char serial[16]);
/* The card's facts read afresh (to compare update seeds), by the entry's
 * worker like every read here; false when the card did not answer in
 * time or could not be read. */
bool p11o_card_entry_reread(p11o_card_entry *e, p11o_card_info *out);

/* The user PIN of a virtual token: p11o_card_pin_for_label() (card.h). */

/* *flags = CKF_USER_PIN_COUNT_LOW / _FINAL_TRY / _LOCKED for PIN `k` from
 * the card (cached, see above); false when the card could not tell (the
 * provider's flags are then the best known).  *fresh: read from the card
 * in this call (not the cached state of an earlier one). */
bool p11o_card_entry_pin_flags(p11o_card_entry *e, int k, CK_FLAGS *flags,
			       bool *fresh);

/* Forget PIN states (after a login or unlock) or everything (events). */
void p11o_card_entry_forget_pins(p11o_card_entry *e);
void p11o_card_cache_invalidate(p11o_card_cache *cache,
				const unsigned char desc[64]);

#endif
