/* libFuzzer target: the bounded DER reader and the PKCS#15 / EF.DIR
 * parsers built on it (proxy/card) on arbitrary bytes: no read past the
 * buffer, no crash, results self-consistent. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "card/card.h"
#include "card/der.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Walk every TLV, descending into constructed ones (bounded depth). */
static void walk(const uint8_t *p, size_t n, int depth)
{
	p11o_der cur;
	p11o_tlv t;
	unsigned long v;
	uint32_t bits;
	char s[16];

	p11o_der_init(&cur, p, n);
	while (p11o_der_next(&cur, &t) == 1) {
		if (t.value < p || t.value + t.len > p + n ||
		    t.raw + t.raw_len > p + n)
			__builtin_trap();
		(void)p11o_der_uint(&t, &v);
		(void)p11o_der_bits(&t, &bits);
		if (p11o_der_string(&t, s, sizeof(s)) >= 0 &&
		    memchr(s, 0, sizeof(s)) == NULL)
			__builtin_trap();
		if (t.constructed && depth < 32)
			walk(t.value, t.len, depth + 1);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static p11o_p15_tokeninfo ti;
	static p11o_card_pin pins[8];
	static p11o_card_app apps[4];
	static p11o_p15_odf_entry odf[8];
	size_t n;

	walk(data, size, 0);
	if (p11o_p15_parse_tokeninfo(data, size, &ti) == 0 &&
	    (ti.serial_len > sizeof(ti.serial) ||
	     strlen(ti.serial_hex) != 2 * ti.serial_len ||
	     ti.last_update_len > sizeof(ti.last_update)))
		__builtin_trap();
	if (p11o_p15_parse_aodf(data, size, pins, 8, &n) == 0) {
		if (n > 8)
			__builtin_trap();
		int puk = p11o_p15_find_puk(pins, n);
		if (puk >= (int)n)
			__builtin_trap();
	}
	if (p11o_p15_parse_efdir(data, size, apps, 4, &n) == 0 && n > 4)
		__builtin_trap();
	if (p11o_p15_parse_odf(data, size, odf, 8, &n) == 0 && n > 8)
		__builtin_trap();
	return 0;
}
