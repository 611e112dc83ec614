/* Pure parsers of OpenPGP card data (AID, PW status bytes). */
#include <string.h>

#include "card.h"
#include "der.h"

static const uint8_t openpgp_rid[6] = {0xD2, 0x76, 0x00, 0x01, 0x24, 0x01};

int p11o_openpgp_parse_aid(const uint8_t *buf, size_t len,
			   p11o_openpgp_aid *out)
{
	p11o_tlv t;
	static const char hex[] = "0123456789ABCDEF";

	memset(out, 0, sizeof(*out));
	/* Either the bare 16 bytes or a 4F TLV around them (GET DATA 4F,
	 * FCI). */
	if (len > 0 && buf[0] == 0x4F) {
		if (p11o_der_whole(buf, len, 0x4F, &t) != 0)
			return -1;
		buf = t.value;
		len = t.len;
	}
	if (len != 16 || memcmp(buf, openpgp_rid, sizeof(openpgp_rid)) != 0)
		return -1;
	out->version = (unsigned)buf[6] << 8 | buf[7];
	out->manufacturer = (unsigned)buf[8] << 8 | buf[9];
	memcpy(out->serial, buf + 10, 4);
	for (size_t i = 0; i < 4; i++) {
		out->serial_hex[2 * i] = hex[buf[10 + i] >> 4];
		out->serial_hex[2 * i + 1] = hex[buf[10 + i] & 15];
	}
	out->serial_hex[8] = '\0';
	return 0;
}

int p11o_openpgp_parse_pw_status(const uint8_t *buf, size_t len, int tries[3],
				 size_t max_len[3])
{
	p11o_tlv t;

	if (len > 0 && buf[0] == 0xC4) {
		if (p11o_der_whole(buf, len, 0xC4, &t) != 0)
			return -1;
		buf = t.value;
		len = t.len;
	}
	/* 00/01 (PW1 validity), max PW1, max RC, max PW3, tries PW1, RC, PW3 */
	if (len < 7)
		return -1;
	for (size_t i = 0; i < 3; i++) {
		max_len[i] = buf[1 + i] & 0x7Fu;
		tries[i] = buf[4 + i];
	}
	return 0;
}
