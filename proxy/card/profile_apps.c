/* Card profiles (docs/architecture.md §8): read a card once into
 * p11o_card_info.  The OpenPGP and PIV applications, whose PIN rules are
 * the family table of card_family.c; generic PKCS#15 and the dispatch are
 * in profile.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "card.h"
#include "der.h"
#include "profile_int.h"

static const uint8_t openpgp_select[12] = {0x00, 0xA4, 0x04, 0x00, 0x06, 0xD2,
					   0x76, 0x00, 0x01, 0x24, 0x01, 0x00};

/* GET DATA tag: 1 APDU (+ GET RESPONSE). */
static CK_RV get_data(p11o_card *card, uint16_t tag, uint8_t *buf, size_t cap,
		      size_t *len, uint16_t *sw)
{
	uint8_t apdu[5] = {0x00, 0xCA, (uint8_t)(tag >> 8), (uint8_t)tag, 0x00};
	return p11o_card_transmit(card, apdu, 5, buf, cap, len, sw);
}

/* A family's fixed PINs (OpenPGP, PIV) into info, OpenSC's slot order. */
static void family_pins(p11o_card_info *info, const p11o_card_family *f)
{
	info->family = f;
	info->unblock_ref = f->unblock_ref;
	p11o_profile_set_str(info->profile, f->profile);
	p11o_profile_set_str(info->application, f->application);
	for (size_t i = 0; i < f->npins && i < P11O_CARD_MAX_PINS; i++)
		p11o_card_family_pin_fill(&f->pins[i], &info->pins[i]);
	info->pin_count = f->npins;
	if (f->so.name) {
		p11o_card_family_pin_fill(&f->so, &info->so);
		info->so_ref = f->so.ref;
	}
	if (f->puk.name) {
		p11o_card_family_pin_fill(&f->puk, &info->puk);
		info->puk_ref = f->puk_is_rc ? 0 : f->puk.ref;
		info->puk_is_rc = f->puk_is_rc;
	}
}

/* Hash the answer of one command (its length, then its bytes; nothing
 * for an error status) into the update seed: the certificates a card
 * keeps outside its PIN and key lists, so that UpdateCount follows
 * another process replacing one.  1 APDU + GET RESPONSEs. */
static CK_RV hash_command(p11o_card *card, EVP_MD_CTX *md, const uint8_t *apdu,
			  size_t alen)
{
	uint8_t *buf = malloc(FILE_MAX);
	size_t len = 0;
	uint16_t sw = 0;
	if (!buf)
		return CKR_HOST_MEMORY;
	CK_RV rv =
	    p11o_card_transmit(card, apdu, alen, buf, FILE_MAX, &len, &sw);
	if (rv == CKR_DEVICE_ERROR) /* longer than any certificate here */
		rv = CKR_OK;
	p11o_profile_hash_part(md, buf, rv == CKR_OK && sw == 0x9000 ? len : 0);
	free(buf);
	return rv;
}

/* OpenPGP: SELECT AID, GET DATA 4F, C4, 6E, 65, 7F21 (certificate):
 * 6 APDUs (+ GET RESPONSEs). */
CK_RV p11o_profile_read_openpgp(p11o_card *card, p11o_card_info *info, bool *ok)
{
	uint8_t buf[1024], r[2];
	size_t len, rl;
	uint16_t sw;
	int tries[3];
	size_t maxl[3];
	p11o_openpgp_aid aid;
	EVP_MD_CTX *md;
	CK_RV rv;

	*ok = false;
	rv = p11o_card_transmit(card, openpgp_select, sizeof(openpgp_select),
				buf, sizeof(buf), &len, &sw);
	if (rv != CKR_OK || sw != 0x9000)
		return rv;
	rv = get_data(card, 0x004F, buf, sizeof(buf), &len, &sw);
	if (rv != CKR_OK || sw != 0x9000 ||
	    p11o_openpgp_parse_aid(buf, len, &aid) != 0)
		return rv;
	family_pins(info, p11o_card_family_by_profile("openpgp"));
	/* OpenSC's serial: manufacturer (2 bytes) || serial (4), lowercase. */
	info->serial[0] = (uint8_t)(aid.manufacturer >> 8);
	info->serial[1] = (uint8_t)aid.manufacturer;
	memcpy(info->serial + 2, aid.serial, 4);
	info->serial_len = 6;
	for (size_t i = 0; i < 6; i++)
		snprintf(info->serial_str + 2 * i, 3, "%02x", info->serial[i]);
	p11o_profile_set_str(info->label, "OpenPGP card");
	snprintf(info->manufacturer, sizeof(info->manufacturer), "%04X",
		 aid.manufacturer);
	tries[1] = 0;
	maxl[0] = maxl[1] = maxl[2] = 0;
	rv = get_data(card, 0x00C4, buf, sizeof(buf), &len, &sw);
	if (rv != CKR_OK)
		return rv;
	if (sw == 0x9000)
		p11o_openpgp_parse_pw_status(buf, len, tries, maxl);
	/* Maximum lengths from the PW status bytes, as OpenSC. */
	for (size_t i = 0; i < info->pin_count; i++)
		info->pins[i].max_len = maxl[0];
	info->so.max_len = maxl[2];
	info->puk.max_len = maxl[1];
	if (tries[1] <= 0) { /* no resetting code set */
		info->puk_ref = P11O_CARD_REF_NONE;
		info->puk_is_rc = false;
	}
	md = EVP_MD_CTX_new();
	if (!md)
		return CKR_HOST_MEMORY;
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	rv = get_data(card, 0x006E, buf, sizeof(buf), &len, &sw);
	if (rv == CKR_OK) {
		p11o_profile_hash_part(md, buf, sw == 0x9000 ? len : 0);
		rv = get_data(card, 0x0065, buf, sizeof(buf), &len, &sw);
	}
	if (rv == CKR_OK) {
		static const uint8_t cert[] = {0x00, 0xCA, 0x7F, 0x21, 0x00};
		p11o_profile_hash_part(md, buf, sw == 0x9000 ? len : 0);
		rv = hash_command(card, md, cert, sizeof(cert));
	}
	if (rv == CKR_OK) {
		/* The label stays OpenSC's "OpenPGP card" (the cardholder
		 * name 65/5B is not the token's name). */
		p11o_profile_seed_final(md, info);
		*ok = true;
	}
	EVP_MD_CTX_free(md);
	(void)r;
	(void)rl;
	return rv;
}

/* PIV: SELECT AID (OpenSC's PIV-II keeps it selected), GET DATA CHUID
 * (5FC102): the GUID (tag 34) is the serial; GET DATA of the four
 * certificate containers for the update seed: 6 APDUs (+ GET RESPONSEs). */
CK_RV p11o_profile_read_piv(p11o_card *card, p11o_card_info *info, bool *ok)
{
	const p11o_card_family *f = p11o_card_family_by_profile("piv");
	uint8_t buf[4096];
	static const uint8_t chuid[] = {0x00, 0xCB, 0x3F, 0xFF, 0x05, 0x5C,
					0x03, 0x5F, 0xC1, 0x02, 0x00};
	size_t len;
	uint16_t sw;
	p11o_tlv t;
	p11o_der in;
	CK_RV rv;

	*ok = false;
	rv = p11o_profile_select_app(card, f, buf, sizeof(buf), &len, &sw);
	if (rv != CKR_OK || sw != 0x9000)
		return rv;
	family_pins(info, f);
	/* OpenSC names the token after the first certificate's CN: the
	 * label is left to the provider (empty here). */
	rv = p11o_card_transmit(card, chuid, sizeof(chuid), buf, sizeof(buf),
				&len, &sw);
	if (rv != CKR_OK)
		return rv;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (!md)
		return CKR_HOST_MEMORY;
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	p11o_profile_hash_part(md, buf, sw == 0x9000 ? len : 0);
	if (sw == 0x9000 && p11o_der_whole(buf, len, 0x53, &t) == 0) {
		p11o_der_enter(&t, &in);
		while (p11o_der_next(&in, &t) == 1)
			if (t.tag == 0x34 && t.len == 16) {
				memcpy(info->serial, t.value, 16);
				info->serial_len = 16;
				for (size_t i = 0; i < 16; i++)
					snprintf(info->serial_str + 2 * i, 3,
						 "%02x", t.value[i]);
			}
	}
	/* The certificates of 9A, 9C, 9D, 9E (PIV containers). */
	static const uint8_t tags[] = {0x05, 0x0A, 0x0B, 0x01};
	for (size_t i = 0; rv == CKR_OK && i < sizeof(tags); i++) {
		uint8_t get[] = {0x00, 0xCB, 0x3F, 0xFF,    0x05, 0x5C,
				 0x03, 0x5F, 0xC1, tags[i], 0x00};
		rv = hash_command(card, md, get, sizeof(get));
	}
	p11o_profile_seed_final(md, info);
	EVP_MD_CTX_free(md);
	*ok = rv == CKR_OK;
	return rv;
}
