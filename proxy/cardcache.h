/* What every layer knows of the cards behind the provider's slots, read
 * once per card insertion and shared (design.md §8): the card facts
 * (p11o_card_info) and PIN states.
 *
 * Entries are keyed by slot description (= PC/SC reader name).  A card's
 * facts are re-read when the provider's token serial number for that
 * reader changes (another card) or after p11o_card_cache_invalidate()
 * (events, C_Reinitialize, writes), never per call.  PIN states come from
 * VERIFY without data and are kept P11O_PIN_STATE_TTL_MS: another process
 * may block a PIN without any slot event, so a state is never older than
 * that, and reading it costs at most one APDU per PIN per interval. */
#ifndef P11O_CARDCACHE_H
#define P11O_CARDCACHE_H

#include "card/card.h"

#define P11O_PIN_STATE_TTL_MS 1000

typedef struct p11o_card_cache p11o_card_cache;
typedef struct p11o_card_entry p11o_card_entry;

p11o_card_cache *p11o_card_cache_new(const p11o_config *cfg);
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

/* After a NULL from p11o_card_cache_get(): true when the slot is not a
 * PC/SC reader at all (a soft token), so asking again is pointless. */
bool p11o_card_cache_no_reader(p11o_card_cache *cache,
			       const unsigned char desc[64]);

const p11o_card_info *p11o_card_entry_info(const p11o_card_entry *e);
/* The provider's CK_TOKEN_INFO serialNumber of this card, when a caller
 * passed it to p11o_card_cache_get(). */
bool p11o_card_entry_token_serial(const p11o_card_entry *e,
				  unsigned char serial[16]);
/* The card handle, for APDU operations while the entry is held. */
p11o_card *p11o_card_entry_card(p11o_card_entry *e);

/* The user PIN of a virtual token: p11o_card_pin_for_label() (card.h). */

/* *flags = CKF_USER_PIN_COUNT_LOW / _FINAL_TRY / _LOCKED for PIN `k` from
 * the card (cached, see above); false when the card could not tell (the
 * provider's flags are then the best known). */
bool p11o_card_entry_pin_flags(p11o_card_entry *e, int k, CK_FLAGS *flags);

/* Forget PIN states (after a login or unlock) or everything (events). */
void p11o_card_entry_forget_pins(p11o_card_entry *e);
void p11o_card_cache_invalidate(p11o_card_cache *cache,
				const unsigned char desc[64]);

#endif
