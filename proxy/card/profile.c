/* Card profiles (docs/architecture.md §8): read a card once into
 * p11o_card_info. Built in: generic PKCS#15, OpenPGP and PIV (their PIN rules
 * are the family table of card_family.c); [card "name"] config profiles
 * override and extend them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "card.h"
#include "der.h"
#include "profile_int.h"

static const uint8_t pkcs15_aid[12] = {0xA0, 0x00, 0x00, 0x00, 0x63, 0x50,
				       0x4B, 0x43, 0x53, 0x2D, 0x31, 0x35};

/* SELECT by path from the MF (P1 08, no FCI): 1 APDU. */
static CK_RV select_path(p11o_card *card, const uint8_t *path, size_t len,
			 uint16_t *sw)
{
	uint8_t apdu[5 + 16], r[2];
	size_t rl;

	if (len >= 2 && path[0] == 0x3F && path[1] == 0x00) {
		path += 2;
		len -= 2;
	}
	if (len > 16 || len % 2)
		return CKR_DEVICE_ERROR;
	if (len == 0) {
		static const uint8_t mf[] = {0x00, 0xA4, 0x00, 0x0C,
					     0x02, 0x3F, 0x00};
		return p11o_card_transmit(card, mf, sizeof(mf), r, sizeof(r),
					  &rl, sw);
	}
	apdu[0] = 0x00;
	apdu[1] = 0xA4;
	apdu[2] = 0x08;
	apdu[3] = 0x0C;
	apdu[4] = (uint8_t)len;
	memcpy(apdu + 5, path, len);
	return p11o_card_transmit(card, apdu, 5 + len, r, sizeof(r), &rl, sw);
}

/* SELECT + READ BINARY in 256-byte chunks: 1 + ceil((size+1)/256) APDUs.
 * *found = false when the file does not exist (6A82) or is not readable.
 */
static CK_RV read_file(p11o_card *card, const uint8_t *path, size_t plen,
		       uint8_t *buf, size_t cap, size_t *len, bool *found)
{
	uint16_t sw;
	size_t got = 0, n;
	CK_RV rv = select_path(card, path, plen, &sw);

	*len = 0;
	*found = false;
	if (rv != CKR_OK)
		return rv;
	if (sw != 0x9000)
		return CKR_OK;
	while (got < cap && got <= 0x7FFF) {
		uint8_t apdu[5] = {0x00, 0xB0, (uint8_t)(got >> 8),
				   (uint8_t)got, 0x00};
		size_t want = cap - got < 256 ? cap - got : 256;
		if (want < 256)
			apdu[4] = (uint8_t)want;
		rv = p11o_card_transmit(card, apdu, 5, buf + got, cap - got, &n,
					&sw);
		if (rv != CKR_OK)
			return rv;
		got += n;
		if (sw == 0x6282 || sw == 0x6B00 || (sw == 0x9000 && n < want))
			break;
		if (sw != 0x9000) {
			if (got == 0)
				return CKR_OK; /* not readable */
			break;
		}
		if (n == 0)
			break;
	}
	*len = got;
	*found = true;
	return CKR_OK;
}

void p11o_profile_hash_part(EVP_MD_CTX *md, const uint8_t *b, size_t n)
{
	uint8_t l[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16),
			(uint8_t)(n >> 8), (uint8_t)n};
	EVP_DigestUpdate(md, l, 4);
	EVP_DigestUpdate(md, b, n);
}

void p11o_profile_seed_final(EVP_MD_CTX *md, p11o_card_info *info)
{
	unsigned int n = 0;

	info->update_seed[0] = 'H';
	EVP_DigestFinal_ex(md, info->update_seed + 1, &n);
	info->update_seed_len = 1 + n;
}

void p11o_profile_set_str(char *dst, const char *src)
{
	snprintf(dst, P11O_CARD_STR, "%s", src);
}

/* OpenSC 0.23 (sc_pkcs15_decode_aodf_entry): without maxLength a PIN may
 * be storedLength long (twice that in BCD digits), else 8. */
static void default_max_len(p11o_card_pin *p)
{
	if (p->max_len)
		return;
	if (p->stored_len)
		p->max_len = p->type == P11O_PIN_TYPE_BCD ? 2 * p->stored_len
							  : p->stored_len;
	else
		p->max_len = 8;
}

static bool same_id(const unsigned char *a, size_t an, const unsigned char *b,
		    size_t bn)
{
	return an && an == bn && memcmp(a, b, an) == 0;
}

static void add_user_pins(p11o_card_info *info, p11o_card_pin *pins,
			  size_t count)
{
	int puk = p11o_p15_find_puk(pins, count);

	for (size_t i = 0; i < count; i++) {
		default_max_len(&pins[i]);
		if ((int)i == puk) {
			info->puk = pins[i];
			info->puk_ref = pins[i].ref;
		}
		if ((pins[i].flags & P11O_P15_PIN_UNBLOCKING) &&
		    !(pins[i].flags & P11O_P15_PIN_SO) &&
		    info->puk_count < P11O_CARD_MAX_PINS) {
			info->puks[info->puk_count++] = pins[i];
		} else if (pins[i].flags & P11O_P15_PIN_SO) {
			if (info->so_ref == P11O_CARD_REF_NONE) {
				info->so = pins[i];
				info->so_ref = pins[i].ref;
			}
		} else if (!(pins[i].flags & P11O_P15_PIN_UNBLOCKING) &&
			   info->pin_count < P11O_CARD_MAX_PINS) {
			info->pins[info->pin_count++] = pins[i];
		}
	}
	/* Each user PIN's own PUK: the unblocking PIN that is its parent. */
	info->puk_per_pin = true;
	for (size_t k = 0; k < info->pin_count; k++) {
		const p11o_card_pin *p = &info->pins[k];
		info->puk_of[k] = -1;
		for (size_t j = 0; j < info->puk_count; j++)
			if (same_id(p->parent_id, p->parent_id_len,
				    info->puks[j].auth_id,
				    info->puks[j].auth_id_len))
				info->puk_of[k] = (int)j;
	}
}

/* One certificate file into the update seed (its path absolute or
 * relative to the application DF), read into buf (FILE_MAX). */
static CK_RV read_cert_file(p11o_card *card, const uint8_t *df, size_t dflen,
			    const p11o_p15_odf_entry *e, EVP_MD_CTX *md,
			    uint8_t *buf)
{
	uint8_t path[32];
	size_t plen = 0, len;
	bool found;
	if (e->path_len == 2 ||
	    (e->path_len >= 2 && !(e->path[0] == 0x3F && e->path[1] == 0x00))) {
		memcpy(path, df, dflen);
		plen = dflen;
	}
	if (plen + e->path_len > sizeof(path))
		return CKR_OK;
	memcpy(path + plen, e->path, e->path_len);
	plen += e->path_len;
	CK_RV rv = read_file(card, path, plen, buf, FILE_MAX, &len, &found);
	if (rv == CKR_OK)
		p11o_profile_hash_part(md, buf, found ? len : 0);
	return rv;
}

/* PKCS#15: EF.DIR (optional), ODF, TokenInfo, every file the ODF lists.
 * APDUs: 2..3 (EF.DIR) + 2..3 (ODF) + 2..3 (TokenInfo) + 2..n per listed
 * file (PrKDF, CDF, AODF, ...). */
static CK_RV read_pkcs15(p11o_card *card, p11o_card_info *info, bool *ok)
{
	uint8_t df[16] = {0x3F, 0x00, 0x50, 0x15}, path[32];
	size_t dflen = 4, len, napps = 0, nodf = 0, npins = 0;
	uint8_t *buf = malloc(FILE_MAX), *odf = malloc(FILE_MAX);
	p11o_card_app apps[4];
	p11o_p15_odf_entry ent[16];
	p11o_card_pin pins[P11O_CARD_MAX_PINS * 2];
	p11o_p15_tokeninfo ti;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t odflen;
	bool found;
	CK_RV rv = CKR_HOST_MEMORY;

	*ok = false;
	if (!buf || !odf || !md)
		goto out;
	/* EF.DIR: where the PKCS#15 application lives (default 3F00 5015). */
	static const uint8_t efdir[] = {0x3F, 0x00, 0x2F, 0x00};
	rv = read_file(card, efdir, sizeof(efdir), buf, FILE_MAX, &len, &found);
	if (rv != CKR_OK)
		goto out;
	if (found && p11o_p15_parse_efdir(buf, len, apps, 4, &napps) == 0)
		for (size_t i = 0; i < napps; i++)
			if (apps[i].aid_len == sizeof(pkcs15_aid) &&
			    !memcmp(apps[i].aid, pkcs15_aid,
				    sizeof(pkcs15_aid)) &&
			    apps[i].path_len >= 2 && apps[i].path_len <= 14 &&
			    apps[i].path_len % 2 == 0) {
				memcpy(df, apps[i].path, apps[i].path_len);
				dflen = apps[i].path_len;
				break;
			}
	memcpy(path, df, dflen);
	path[dflen] = 0x50;
	path[dflen + 1] = 0x31;
	rv = read_file(card, path, dflen + 2, odf, FILE_MAX, &odflen, &found);
	if (rv != CKR_OK || !found ||
	    p11o_p15_parse_odf(odf, odflen, ent, 16, &nodf) != 0)
		goto out;
	path[dflen + 1] = 0x32;
	rv = read_file(card, path, dflen + 2, buf, FILE_MAX, &len, &found);
	if (rv != CKR_OK || !found ||
	    p11o_p15_parse_tokeninfo(buf, len, &ti) != 0)
		goto out;
	info->family = p11o_card_family_by_profile("pkcs15");
	info->unblock_ref = info->family->unblock_ref;
	p11o_profile_set_str(info->profile, "pkcs15");
	p11o_profile_set_str(info->application, "PKCS #15");
	memcpy(info->serial, ti.serial, ti.serial_len);
	info->serial_len = ti.serial_len;
	memcpy(info->serial_str, ti.serial_hex, sizeof(ti.serial_hex));
	p11o_profile_set_str(info->label, ti.label);
	p11o_profile_set_str(info->manufacturer, ti.manufacturer);
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	p11o_profile_hash_part(md, buf, len);
	p11o_profile_hash_part(md, odf, odflen);
	for (size_t i = 0; i < nodf; i++) {
		size_t plen = 0;
		if (ent[i].path_len == 2 ||
		    (ent[i].path_len >= 2 &&
		     !(ent[i].path[0] == 0x3F && ent[i].path[1] == 0x00))) {
			memcpy(path, df, dflen); /* relative to the DF */
			plen = dflen;
		}
		memcpy(path + plen, ent[i].path, ent[i].path_len);
		plen += ent[i].path_len;
		rv = read_file(card, path, plen, buf, FILE_MAX, &len, &found);
		if (rv != CKR_OK)
			goto out;
		p11o_profile_hash_part(md, buf, found ? len : 0);
		if (found && ent[i].type >= 4 && ent[i].type <= 6) {
			/* The certificates themselves: UpdateCount follows
			 * another process replacing one. */
			p11o_p15_odf_entry certs[8];
			size_t nc = 0;
			if (p11o_p15_parse_cdf_paths(buf, len, certs, 8, &nc))
				nc = 0;
			for (size_t c = 0; c < nc; c++) {
				rv = read_cert_file(card, df, dflen, &certs[c],
						    md, buf);
				if (rv != CKR_OK)
					goto out;
			}
			continue;
		}
		if (found && ent[i].type == 8) {
			size_t n = 0;
			if (p11o_p15_parse_aodf(buf, len, pins + npins,
						sizeof(pins) / sizeof(pins[0]) -
						    npins,
						&n) == 0)
				npins += n;
		}
	}
	add_user_pins(info, pins, npins);
	if (ti.last_update_len) {
		info->update_seed[0] = 'L';
		memcpy(info->update_seed + 1, ti.last_update,
		       ti.last_update_len);
		info->update_seed_len = 1 + ti.last_update_len;
	} else {
		p11o_profile_seed_final(md, info);
	}
	*ok = true;
	rv = CKR_OK;
out:
	EVP_MD_CTX_free(md);
	free(buf);
	free(odf);
	return rv;
}

static void apply_profile(const p11o_card_profile *p, p11o_card_info *info)
{
	p11o_profile_set_str(info->profile, p->name);
	if (p->application[0])
		p11o_profile_set_str(info->application, p->application);
	if (p->pin_count) {
		p11o_card_pin pins[P11O_CARD_MAX_PINS];
		size_t n = p->pin_count < P11O_CARD_MAX_PINS
			       ? p->pin_count
			       : P11O_CARD_MAX_PINS;
		for (size_t i = 0; i < n; i++) {
			p11o_card_pin *d = &pins[i];
			memset(d, 0, sizeof(*d));
			d->type = P11O_PIN_TYPE_UNKNOWN;
			d->pad_char = -1;
			d->status_index = -1;
			d->ref = p->pin_refs[i];
			for (size_t j = 0; j < info->pin_count; j++)
				if (info->pins[j].ref == d->ref)
					*d = info->pins[j];
			if (p->pin_names[i][0])
				p11o_profile_set_str(d->name, p->pin_names[i]);
		}
		memcpy(info->pins, pins, n * sizeof(pins[0]));
		info->pin_count = n;
	}
	if (p->pin_min_len || p->pin_max_len)
		for (size_t i = 0; i < info->pin_count; i++) {
			if (p->pin_min_len)
				info->pins[i].min_len = p->pin_min_len;
			if (p->pin_max_len)
				info->pins[i].max_len = p->pin_max_len;
		}
	if (p->pin_count || p->puk_ref >= 0)
		info->puk_per_pin = false; /* the profile's PINs and PUK */
	if (p->puk_ref >= 0 && p->puk_ref != info->puk_ref) {
		memset(&info->puk, 0, sizeof(info->puk));
		info->puk.type = P11O_PIN_TYPE_UNKNOWN;
		info->puk.pad_char = -1;
		info->puk.status_index = -1;
		p11o_profile_set_str(info->puk.name, "PUK");
		info->puk.ref = (unsigned char)p->puk_ref;
		info->puk_ref = p->puk_ref;
		info->puk_is_rc = false;
	}
	if (p->unlock_key_ref >= 0)
		info->unlock_key_ref = p->unlock_key_ref;
}

/* Does the provider's 16-byte token serial (OpenSC: the last 16
 * characters of its serial) belong to the application just read? */
bool p11o_card_serial_matches(const p11o_card_info *info,
			      const unsigned char *token_serial)
{
	size_t n = 16, m = strlen(info->serial_str);
	while (n > 0 &&
	       (token_serial[n - 1] == ' ' || token_serial[n - 1] == 0))
		n--;
	if (n == 0 || m < n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char a = info->serial_str[m - n + i], b = (char)token_serial[i];
		if ((a | 0x20) != (b | 0x20))
			return false;
	}
	return true;
}

typedef CK_RV (*app_reader)(p11o_card *, p11o_card_info *, bool *);

CK_RV p11o_profile_select_app(p11o_card *card, const p11o_card_family *f,
			      uint8_t *buf, size_t cap, size_t *len,
			      uint16_t *sw)
{
	uint8_t apdu[5 + 16];
	apdu[0] = 0x00;
	apdu[1] = 0xA4;
	apdu[2] = 0x04;
	apdu[3] = 0x00;
	apdu[4] = (uint8_t)f->aid_len;
	memcpy(apdu + 5, f->aid, f->aid_len);
	apdu[5 + f->aid_len] = 0x00;
	return p11o_card_transmit(card, apdu, 6 + f->aid_len, buf, cap, len,
				  sw);
}

/* The application the provider expects, selected again (its answer is
 * not needed). */
static CK_RV select_app(p11o_card *card, const p11o_card_family *f)
{
	uint8_t buf[258];
	size_t len;
	uint16_t sw;
	return p11o_profile_select_app(card, f, buf, sizeof(buf), &len, &sw);
}

CK_RV p11o_card_read_info(p11o_card *card, const p11o_config *cfg,
			  p11o_card_info *info)
{
	return p11o_card_read_info_for(card, cfg, NULL, info);
}

CK_RV p11o_card_read_info_for(p11o_card *card, const p11o_config *cfg,
			      const unsigned char *token_serial,
			      p11o_card_info *info)
{
	static const app_reader readers[] = {
	    read_pkcs15, p11o_profile_read_openpgp, p11o_profile_read_piv};
	const p11o_card_profile *prof = NULL;
	p11o_card_info *first = NULL;
	bool ok = false;
	CK_RV rv;

	memset(info, 0, sizeof(*info));
	info->puk_ref = info->so_ref = info->unlock_key_ref =
	    P11O_CARD_REF_NONE;
	info->unblock_ref = -1;
	rv = p11o_card_atr(card, info->atr, &info->atr_len);
	if (rv != CKR_OK)
		return rv;
	for (size_t i = 0; cfg && i < cfg->card_count && !prof; i++)
		if (cfg->cards[i].atr_len &&
		    p11o_card_atr_matches(&cfg->cards[i], info->atr,
					  info->atr_len))
			prof = &cfg->cards[i];
	p11o_card_info base = *info; /* ATR only */
	rv = p11o_card_begin(card);
	if (rv != CKR_OK)
		return rv;
	/* Each built-in application in turn.  A card with several (a YubiKey:
	 * PIV and OpenPGP) is read as the one the provider serves, told by
	 * the provider's token serial; without that, the first found. */
	for (size_t r = 0;
	     rv == CKR_OK && r < sizeof(readers) / sizeof(*readers); r++) {
		bool found = false;
		*info = base;
		rv = readers[r](card, info, &found);
		if (rv != CKR_OK || !found)
			continue;
		if (!token_serial ||
		    p11o_card_serial_matches(info, token_serial)) {
			ok = true;
			break;
		}
		if (!first && (first = malloc(sizeof(*first))) != NULL)
			*first = *info;
	}
	if (rv == CKR_OK && !ok && first) {
		*info = *first;
		ok = true;
		/* Leave the card in the application the provider expects. */
		if (info->family && info->family->aid)
			rv = select_app(card, info->family);
	}
	if (first) {
		explicit_bzero(first, sizeof(*first));
		free(first);
	}
	if (!ok)
		*info = base;
	p11o_card_end(card);
	if (rv != CKR_OK)
		return rv;
	/* Config profiles without an ATR match the application found. */
	for (size_t i = 0; cfg && ok && i < cfg->card_count && !prof; i++)
		if (!cfg->cards[i].atr_len &&
		    (!strcmp(cfg->cards[i].name, info->profile) ||
		     !strcmp(cfg->cards[i].application, info->application)))
			prof = &cfg->cards[i];
	if (!ok && !prof)
		return CKR_TOKEN_NOT_RECOGNIZED;
	if (!ok) { /* config-only card: seed from what we know */
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		if (!md)
			return CKR_HOST_MEMORY;
		EVP_DigestInit_ex(md, EVP_sha256(), NULL);
		p11o_profile_hash_part(md, info->atr, info->atr_len);
		p11o_profile_seed_final(md, info);
		EVP_MD_CTX_free(md);
	}
	if (prof)
		apply_profile(prof, info);
	return CKR_OK;
}
