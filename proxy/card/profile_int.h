/* What profile.c and profile_apps.c share (card profiles,
 * docs/architecture.md §8). */
#ifndef P11O_CARD_PROFILE_INT_H
#define P11O_CARD_PROFILE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "card.h"

#define FILE_MAX 16384

/* The update seed: each part hashed as its length, then its bytes. */
void p11o_profile_hash_part(EVP_MD_CTX *md, const uint8_t *b, size_t n);
void p11o_profile_seed_final(EVP_MD_CTX *md, p11o_card_info *info);
/* Copy into a P11O_CARD_STR field, cut. */
void p11o_profile_set_str(char *dst, const char *src);

/* SELECT of a family's application by AID: 1 APDU (+ GET RESPONSEs). */
CK_RV p11o_profile_select_app(p11o_card *card, const p11o_card_family *f,
			      uint8_t *buf, size_t cap, size_t *len,
			      uint16_t *sw);

/* The applications with fixed PINs: *ok when the card has it. */
CK_RV p11o_profile_read_openpgp(p11o_card *card, p11o_card_info *info,
				bool *ok);
CK_RV p11o_profile_read_piv(p11o_card *card, p11o_card_info *info, bool *ok);

#endif
