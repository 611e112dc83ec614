/* libFuzzer target: label composition and splitting (proxy/labels.c,
 * proxy/utf8.c) on arbitrary bytes.  The input is "format NUL token NUL
 * pin"; the composed 32-byte label must be valid UTF-8 (checked by
 * p11o_utf8_char, itself covered by tests/unit/test_labels.c against an
 * independent decoder), without a leading blank, and splitting any 32
 * bytes must stay within its buffers; a label field cleaned in place
 * (p11o_utf8_fix_field) is valid, without control characters, and stays
 * as it is when cleaned again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "labels.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_valid(const CK_UTF8CHAR *l, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t c = p11o_utf8_char(l + i, n - i);
		if (!c)
			abort();
		i += c;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[3][512];
	size_t part = 0, len = 0;
	memset(buf, 0, sizeof(buf));
	for (size_t i = 0; i < size && part < 3; i++) {
		if (data[i] == 0) {
			part++;
			len = 0;
		} else if (len + 1 < sizeof(buf[0])) {
			buf[part][len++] = (char)data[i];
		}
	}
	CK_UTF8CHAR label[32];
	p11o_label_compose(label, buf[0], buf[1], buf[2]);
	check_valid(label, 32);
	bool all_blank = true;
	for (size_t i = 0; i < 32; i++)
		all_blank &= label[i] == ' ';
	if (label[0] == ' ' && !all_blank)
		abort();

	char name[40], pin[40];
	if (size >= 32) {
		p11o_label_split(data, name, sizeof(name), pin, sizeof(pin));
		if (strlen(name) >= sizeof(name) || strlen(pin) >= sizeof(pin))
			abort();
	}
	/* A provider's label field, cleaned in place: valid, no control
	 * characters, and cleaning it again changes nothing. */
	CK_UTF8CHAR field[32];
	memset(field, ' ', sizeof(field));
	memcpy(field, data, size < 32 ? size : 32);
	p11o_utf8_fix_field(field, 32);
	check_valid(field, 32);
	for (size_t i = 0; i < 32; i++)
		if (p11o_utf8_is_control(field[i]))
			abort();
	if (p11o_utf8_fix_field(field, 32))
		abort();
	char clean[64];
	size_t n =
	    p11o_utf8_clean(clean, sizeof(clean), (const char *)data, size);
	if (n >= sizeof(clean) || clean[n])
		abort();
	check_valid((const CK_UTF8CHAR *)clean, n);
	return 0;
}
