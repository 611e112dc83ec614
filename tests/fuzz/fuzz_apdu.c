/* libFuzzer target: the pure APDU-side helpers of proxy/card on arbitrary
 * bytes: status-word mapping, OpenPGP AID / PW status parsing, Le
 * rewriting, PIN encoding, slot description to reader name matching. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "card/card.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t out[300];
	int tries[3];
	size_t maxl[3], n;
	p11o_openpgp_aid aid;
	p11o_card_pin pin;
	char reader[65];

	if (size >= 2) {
		uint16_t sw = (uint16_t)(data[size - 2] << 8 | data[size - 1]);
		int t;
		CK_RV rv = p11o_card_sw_to_rv(sw, &t);
		if (t > 15 || (rv == CKR_OK) != (sw == 0x9000))
			__builtin_trap();
		enum p11o_pin_state st = p11o_card_pin_state_from_sw(sw, &t);
		if (t > 15 || (st == P11O_PIN_VERIFIED) != (sw == 0x9000))
			__builtin_trap();
	}
	if (p11o_openpgp_parse_aid(data, size, &aid) == 0 &&
	    strlen(aid.serial_hex) != 8)
		__builtin_trap();
	if (p11o_openpgp_parse_pw_status(data, size, tries, maxl) == 0)
		for (int i = 0; i < 3; i++)
			if (tries[i] > 255 || maxl[i] > 127)
				__builtin_trap();
	n = p11o_card_apdu_set_le(data, size, 0x42, out, sizeof(out));
	if (n && (n > sizeof(out) || out[n - 1] != 0x42))
		__builtin_trap();
	/* First bytes drive the PIN description, the rest is the value. */
	if (size >= 4) {
		memset(&pin, 0, sizeof(pin));
		pin.type = (int)(data[0] % 6) - 1;
		pin.pad_char = data[1] & 1 ? data[2] : -1;
		pin.stored_len = data[3] & 0x3F;
		pin.flags = data[1] & 2 ? P11O_P15_PIN_NEEDS_PADDING : 0;
		n = p11o_card_encode_pin(&pin, data + 4, size - 4, out,
					 data[2] % sizeof(out));
		if (n > data[2] % sizeof(out))
			__builtin_trap();
	}
	n = size < 64 ? size : 64;
	memcpy(reader, data, n);
	reader[n] = '\0';
	(void)p11o_card_reader_matches(data, size, reader);
	return 0;
}
