/* Pure helpers of card access: reader names, ATR masks, status words,
 * APDU Le, PIN encoding.  No PC/SC here (unit-tested and fuzzed). */
#include <string.h>

#include "card.h"

bool p11o_card_reader_matches(const unsigned char *desc, size_t desc_len,
			      const char *reader)
{
	size_t n, rn;

	if (!desc || !reader)
		return false;
	n = strnlen((const char *)desc, desc_len);
	while (n > 0 && (desc[n - 1] == ' ' || desc[n - 1] == '\0'))
		n--;
	rn = strlen(reader);
	while (rn > 0 && reader[rn - 1] == ' ')
		rn--;
	if (n == 0)
		return false;
	if (n == rn && memcmp(desc, reader, n) == 0)
		return true;
	/* OpenSC cuts a long reader name and ends it with "...". */
	if (n > 3 && memcmp(desc + n - 3, "...", 3) == 0) {
		size_t pre = n - 3;
		return rn >= pre && memcmp(desc, reader, pre) == 0;
	}
	return false;
}

bool p11o_card_atr_matches(const p11o_card_profile *prof,
			   const unsigned char *atr, size_t atr_len)
{
	if (prof->atr_len == 0)
		return true;
	if (prof->atr_len != atr_len || atr_len > sizeof(prof->atr))
		return false;
	for (size_t i = 0; i < atr_len; i++)
		if ((atr[i] & prof->atr_mask[i]) !=
		    (prof->atr[i] & prof->atr_mask[i]))
			return false;
	return true;
}

CK_RV p11o_card_sw_to_rv(uint16_t sw, int *tries)
{
	if (tries)
		*tries = -1;
	if (sw == 0x9000)
		return CKR_OK;
	if ((sw & 0xFFF0) == 0x63C0) {
		if (tries)
			*tries = sw & 0x0F;
		return (sw & 0x0F) == 0 ? CKR_PIN_LOCKED : CKR_PIN_INCORRECT;
	}
	switch (sw) {
	case 0x6300:
		return CKR_PIN_INCORRECT;
	case 0x6983:
		if (tries)
			*tries = 0;
		return CKR_PIN_LOCKED;
	case 0x6700:
	case 0x6A80:
		return CKR_PIN_LEN_RANGE;
	case 0x6982:
	case 0x6985:
		return CKR_FUNCTION_FAILED;
	case 0x6A82:
	case 0x6A86:
	case 0x6A88:
	case 0x6D00:
	case 0x6E00:
		return CKR_FUNCTION_NOT_SUPPORTED;
	default:
		return CKR_DEVICE_ERROR;
	}
}

enum p11o_pin_state p11o_card_pin_state_from_sw(uint16_t sw, int *tries)
{
	if (tries)
		*tries = -1;
	if (sw == 0x9000)
		return P11O_PIN_VERIFIED;
	if ((sw & 0xFFF0) == 0x63C0) {
		if (tries)
			*tries = sw & 0x0F;
		return (sw & 0x0F) ? P11O_PIN_NOT_VERIFIED : P11O_PIN_BLOCKED;
	}
	switch (sw) {
	case 0x6983:
		if (tries)
			*tries = 0;
		return P11O_PIN_BLOCKED;
	case 0x6A82:
	case 0x6A86:
	case 0x6A88:
	case 0x6D00:
	case 0x6E00:
		return P11O_PIN_NOT_SUPPORTED;
	default:
		return P11O_PIN_STATE_ERROR;
	}
}

size_t p11o_card_apdu_set_le(const uint8_t *apdu, size_t len, uint8_t le,
			     uint8_t *out, size_t outsz)
{
	size_t body; /* bytes before Le */

	if (len < 4)
		return 0;
	if (len == 4) {
		body = 4; /* case 1 */
	} else if (len == 5) {
		body = 4; /* case 2 */
	} else if (apdu[4] == 0) {
		return 0; /* extended */
	} else if (len == 5u + apdu[4]) {
		body = len; /* case 3 */
	} else if (len == 6u + apdu[4]) {
		body = len - 1; /* case 4 */
	} else {
		return 0;
	}
	if (outsz < body + 1)
		return 0;
	memmove(out, apdu, body);
	out[body] = le;
	return body + 1;
}

static int bcd_digit(uint8_t c)
{
	return c >= '0' && c <= '9' ? c - '0' : -1;
}

size_t p11o_card_encode_pin(const p11o_card_pin *pin, const uint8_t *value,
			    size_t len, uint8_t *out, size_t outsz)
{
	size_t n;
	int type = pin ? pin->type : P11O_PIN_TYPE_UNKNOWN;
	/* OpenSC 0.23 (sc_build_pin): padChar defaults to 00; BCD packs
	 * digits and fills an odd last nibble with padChar's low nibble. */
	uint8_t pad = pin && pin->pad_char >= 0 ? (uint8_t)pin->pad_char : 0;

	if (len > outsz || (len && !value))
		return 0;
	if (type == P11O_PIN_TYPE_BCD) {
		n = (len + 1) / 2;
		for (size_t i = 0; i < len; i++) {
			int d = bcd_digit(value[i]);
			if (d < 0)
				return 0;
			if (i % 2 == 0)
				out[i / 2] = (uint8_t)(d << 4);
			else
				out[i / 2] |= (uint8_t)d;
		}
		if (len % 2)
			out[len / 2] |= (uint8_t)(pad & 0x0F);
	} else {
		if (type == P11O_PIN_TYPE_ASCII_NUMERIC)
			for (size_t i = 0; i < len; i++)
				if (bcd_digit(value[i]) < 0)
					return 0;
		if (len)
			memcpy(out, value, len);
		n = len;
	}
	/* Padding only when the card asks for it (PKCS#15 needs-padding, or
	 * a family's rule): a padChar alone does not pad, as OpenSC's VERIFY
	 * sends it.  storedLength counts digits for BCD. */
	if (pin && (pin->flags & P11O_P15_PIN_NEEDS_PADDING)) {
		size_t to = type == P11O_PIN_TYPE_BCD ? pin->stored_len / 2
						      : pin->stored_len;
		if (to > outsz)
			return 0;
		if (to > n) {
			memset(out + n, pad, to - n);
			n = to;
		}
	}
	if (n == 0 && len != 0)
		return 0;
	return n;
}
