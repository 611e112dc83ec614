/* Built-in card families: how OpenSC 0.23's driver for each one names,
 * encodes, checks and unblocks its PINs (docs/architecture.md §8), written as
 * data. pkcs15   PINs come from the AODF (their attributes drive encoding); PUK
 * unblock: RESET RETRY COUNTER 00 2C 00 <PIN ref>. openpgp  OpenSC's
 * pkcs15-openpgp (v2/v3 cards): slots "User PIN" (PW1, ref 82) then "User PIN
 * (sig)" (PW1, ref 81); UTF-8, no padding; tries left from GET DATA C4 (OpenSC
 * reads it there for cards without ISO PIN info); the Resetting Code unblocks
 *            PW1 with 00 2C 00 81 <RC || new PW1> whichever reference the
 *            slot verifies with (card-openpgp.c maps 82 to 81).
 *   piv      OpenSC's PIV-II: PIN 80 and PUK 81, ASCII digits, padded with
 *            FF to 8 (needs-padding); unblock 00 2C 00 80 10 <PUK || PIN>. */
#include <stdio.h>
#include <string.h>

#include "card.h"

static const uint8_t openpgp_aid[] = {0xD2, 0x76, 0x00, 0x01, 0x24, 0x01};
static const uint8_t piv_aid[] = {0xA0, 0x00, 0x00, 0x03, 0x08, 0x00,
				  0x00, 0x10, 0x00, 0x01, 0x00};

#define PGP_PIN(n, r, min, idx)                                                \
	{                                                                      \
		.name = n, .ref = r, .type = P11O_PIN_TYPE_UTF8,               \
		.min_len = min, .max_len = 0, .stored_len = 0, .pad_char = -1, \
		.pad = false, .status_index = idx                              \
	}
#define PIV_PIN(n, r)                                                          \
	{                                                                      \
		.name = n, .ref = r, .type = P11O_PIN_TYPE_ASCII_NUMERIC,      \
		.min_len = 4, .max_len = 8, .stored_len = 8, .pad_char = 0xFF, \
		.pad = true, .status_index = -1                                \
	}

static const p11o_card_family families[] = {
    {
	.profile = "pkcs15",
	.application = "PKCS #15",
	.unblock_ref = -1,
    },
    {
	.profile = "openpgp",
	.application = "OpenPGP",
	.aid = openpgp_aid,
	.aid_len = sizeof(openpgp_aid),
	.pins = {PGP_PIN("User PIN", 0x82, 6, 0),
		 PGP_PIN("User PIN (sig)", 0x81, 6, 0)},
	.npins = 2,
	.so = PGP_PIN("Admin PIN", 0x83, 8, 2),
	.puk = PGP_PIN("Resetting Code", 0x81, 8, 1),
	.puk_is_rc = true,
	.unblock_ref = 0x81,
    },
    {
	.profile = "piv",
	.application = "NIST SP 800-73 [PIV]",
	.aid = piv_aid,
	.aid_len = sizeof(piv_aid),
	.pins = {PIV_PIN("PIN", 0x80)},
	.npins = 1,
	.puk = PIV_PIN("PIV PUK", 0x81),
	.unblock_ref = 0x80,
    },
};

const p11o_card_family *p11o_card_family_by_profile(const char *profile)
{
	for (size_t i = 0; profile && i < sizeof(families) / sizeof(*families);
	     i++)
		if (strcmp(families[i].profile, profile) == 0)
			return &families[i];
	return NULL;
}

void p11o_card_family_pin_fill(const p11o_card_family_pin *fp,
			       p11o_card_pin *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", fp->name ? fp->name : "");
	out->ref = fp->ref;
	out->type = fp->type;
	out->min_len = fp->min_len;
	out->max_len = fp->max_len;
	out->stored_len = fp->stored_len;
	out->pad_char = fp->pad_char;
	out->status_index = fp->status_index;
	out->flags = P11O_P15_PIN_INITIALIZED | P11O_P15_PIN_LOCAL |
		     (fp->pad ? P11O_P15_PIN_NEEDS_PADDING : 0);
}
