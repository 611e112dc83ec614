/* APDU operations on PINs and challenge-response unlock (docs/architecture.md
 * §8). Each is one APDU inside its own transaction, or inside the held lock.
 * Secrets are copied only into the local APDU buffer, wiped after use. */
#include <string.h>

#include "card.h"

/* Run one APDU in a batch and map its status word. */
static CK_RV run(p11o_card *card, const uint8_t *apdu, size_t len,
		 uint8_t *resp, size_t respsz, size_t *resp_len, uint16_t *sw)
{
	uint8_t dummy[2];
	size_t dlen;
	CK_RV rv;

	if (!resp) {
		resp = dummy;
		respsz = sizeof(dummy);
		resp_len = &dlen;
	}
	rv = p11o_card_begin(card);
	if (rv != CKR_OK)
		return rv;
	rv = p11o_card_transmit(card, apdu, len, resp, respsz, resp_len, sw);
	p11o_card_end(card);
	return rv;
}

CK_RV p11o_card_pin_status(p11o_card *card, unsigned char ref,
			   enum p11o_pin_state *state, int *tries)
{
	const uint8_t apdu[4] = {0x00, 0x20, 0x00, ref};
	uint16_t sw;
	CK_RV rv = run(card, apdu, sizeof(apdu), NULL, 0, NULL, &sw);

	if (rv != CKR_OK)
		return rv;
	*state = p11o_card_pin_state_from_sw(sw, tries);
	return *state == P11O_PIN_STATE_ERROR ? CKR_DEVICE_ERROR : CKR_OK;
}

CK_RV p11o_card_pin_status_of(p11o_card *card, const p11o_card_pin *pin,
			      enum p11o_pin_state *state, int *tries)
{
	static const uint8_t c4[5] = {0x00, 0xCA, 0x00, 0xC4, 0x00};
	uint8_t buf[64];
	size_t len, maxl[3];
	int t[3];
	uint16_t sw;
	CK_RV rv;

	if (pin->status_index < 0 || pin->status_index > 2)
		return p11o_card_pin_status(card, pin->ref, state, tries);
	rv = run(card, c4, sizeof(c4), buf, sizeof(buf), &len, &sw);
	if (rv != CKR_OK)
		return rv;
	if (sw != 0x9000 || p11o_openpgp_parse_pw_status(buf, len, t, maxl))
		return CKR_DEVICE_ERROR;
	*tries = t[pin->status_index];
	*state = *tries > 0 ? P11O_PIN_NOT_VERIFIED : P11O_PIN_BLOCKED;
	return CKR_OK;
}

/* Header + Lc + encoded parts; returns the APDU length or 0. */
static size_t build(uint8_t *apdu, size_t apdusz, uint8_t ins, uint8_t p1,
		    uint8_t p2, const p11o_card_pin *ia, const uint8_t *a,
		    size_t alen, const p11o_card_pin *ib, const uint8_t *b,
		    size_t blen)
{
	size_t n = 5, m;

	if (apdusz < 6)
		return 0;
	apdu[0] = 0x00;
	apdu[1] = ins;
	apdu[2] = p1;
	apdu[3] = p2;
	if (alen) {
		m = p11o_card_encode_pin(ia, a, alen, apdu + n, apdusz - n);
		if (!m)
			return 0;
		n += m;
	}
	if (blen) {
		m = p11o_card_encode_pin(ib, b, blen, apdu + n, apdusz - n);
		if (!m)
			return 0;
		n += m;
	}
	if (n - 5 > 255)
		return 0;
	apdu[4] = (uint8_t)(n - 5);
	return n == 5 ? 4 : n;
}

static CK_RV pin_apdu(p11o_card *card, uint8_t ins, uint8_t p1, uint8_t p2,
		      const p11o_card_pin *ia, const uint8_t *a, size_t alen,
		      const p11o_card_pin *ib, const uint8_t *b, size_t blen,
		      int *tries)
{
	uint8_t apdu[5 + 255 + 8];
	uint16_t sw;
	size_t n;
	CK_RV rv;

	if (tries)
		*tries = -1;
	if ((alen && !a) || (blen && !b) || alen > 255 || blen > 255)
		return CKR_ARGUMENTS_BAD;
	n = build(apdu, 5 + 255, ins, p1, p2, ia, a, alen, ib, b, blen);
	if (!n) {
		explicit_bzero(apdu, sizeof(apdu));
		return CKR_PIN_LEN_RANGE;
	}
	rv = run(card, apdu, n, NULL, 0, NULL, &sw);
	explicit_bzero(apdu, sizeof(apdu));
	if (rv != CKR_OK)
		return rv;
	return p11o_card_sw_to_rv(sw, tries);
}

static bool len_ok(const p11o_card_pin *pin, size_t len)
{
	return !pin || ((pin->min_len == 0 || len >= pin->min_len) &&
			(pin->max_len == 0 || len <= pin->max_len));
}

CK_RV p11o_card_verify(p11o_card *card, const p11o_card_pin *pin,
		       unsigned char ref, const uint8_t *value, size_t len,
		       int *tries)
{
	if (len == 0 || !len_ok(pin, len))
		return CKR_PIN_LEN_RANGE;
	return pin_apdu(card, 0x20, 0x00, ref, pin, value, len, NULL, NULL, 0,
			tries);
}

CK_RV p11o_card_unblock_puk(p11o_card *card, const p11o_card_pin *pin,
			    unsigned char pin_ref, const p11o_card_pin *puk,
			    const uint8_t *puk_value, size_t puk_len,
			    const uint8_t *new_pin, size_t new_len, int *tries)
{
	if (puk_len == 0 || new_len == 0 || !len_ok(pin, new_len) ||
	    !len_ok(puk, puk_len))
		return CKR_PIN_LEN_RANGE;
	return pin_apdu(card, 0x2C, 0x00, pin_ref, puk, puk_value, puk_len, pin,
			new_pin, new_len, tries);
}

CK_RV p11o_card_reset_retry_counter(p11o_card *card, const p11o_card_pin *pin,
				    unsigned char ref, const uint8_t *new_pin,
				    size_t new_len)
{
	if (new_len && !len_ok(pin, new_len))
		return CKR_PIN_LEN_RANGE;
	return pin_apdu(card, 0x2C, new_len ? 0x02 : 0x03, ref, pin, new_pin,
			new_len, NULL, NULL, 0, NULL);
}

CK_RV p11o_card_get_challenge(p11o_card *card, uint8_t *challenge, size_t *len)
{
	const uint8_t apdu[5] = {0x00, 0x84, 0x00, 0x00, 0x08};
	uint8_t buf[256];
	size_t n;
	uint16_t sw;
	CK_RV rv;

	if (*len < 8) {
		*len = 8;
		return CKR_BUFFER_TOO_SMALL;
	}
	rv = run(card, apdu, sizeof(apdu), buf, sizeof(buf), &n, &sw);
	if (rv != CKR_OK)
		return rv;
	if (sw != 0x9000)
		return p11o_card_sw_to_rv(sw, NULL) ==
			       CKR_FUNCTION_NOT_SUPPORTED
			   ? CKR_FUNCTION_NOT_SUPPORTED
			   : CKR_DEVICE_ERROR;
	if (n != 8)
		return CKR_DEVICE_ERROR;
	memcpy(challenge, buf, 8);
	*len = 8;
	return CKR_OK;
}

CK_RV p11o_card_external_authenticate(p11o_card *card, unsigned char key_ref,
				      const uint8_t *response, size_t len)
{
	uint8_t apdu[5 + 255];
	uint16_t sw;
	CK_RV rv;

	if (!response || len == 0 || len > 255)
		return CKR_ARGUMENTS_BAD;
	apdu[0] = 0x00;
	apdu[1] = 0x82;
	apdu[2] = 0x00;
	apdu[3] = key_ref;
	apdu[4] = (uint8_t)len;
	memcpy(apdu + 5, response, len);
	rv = run(card, apdu, 5 + len, NULL, 0, NULL, &sw);
	explicit_bzero(apdu, sizeof(apdu));
	if (rv != CKR_OK)
		return rv;
	if (sw == 0x6700)
		return CKR_ARGUMENTS_BAD; /* wrong response length */
	if (sw == 0x6982)
		return CKR_PIN_INCORRECT; /* some cards: wrong response */
	return p11o_card_sw_to_rv(sw, NULL);
}
