/* Valid UTF-8 out of untrusted bytes (utf8.h). */
#include "utf8.h"

#include <string.h>

size_t p11o_utf8_char(const unsigned char *s, size_t len)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xBF;
	size_t n;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		n = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 4;
	else
		return 0; /* continuation byte, C0/C1 overlong lead, F5..FF */
	/* The second byte's range excludes overlong forms (E0, F0),
	 * surrogates (ED) and code points above U+10FFFF (F4). */
	if (c == 0xE0)
		lo = 0xA0;
	else if (c == 0xED)
		hi = 0x9F;
	else if (c == 0xF0)
		lo = 0x90;
	else if (c == 0xF4)
		hi = 0x8F;
	if (len < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	return n;
}

size_t p11o_utf8_clean(char *out, size_t outsz, const char *in, size_t inlen)
{
	const unsigned char *u = (const unsigned char *)in;
	size_t o = 0;

	if (!outsz)
		return 0;
	for (size_t i = 0; i < inlen && u[i];) {
		size_t n = p11o_utf8_char(u + i, inlen - i);
		size_t w = n ? n : 1;
		if (o + w > outsz - 1)
			break;
		if (n)
			memcpy(out + o, in + i, n);
		else
			out[o] = '?';
		o += w;
		i += w;
	}
	out[o] = '\0';
	return o;
}

int p11o_utf8_fix_field(unsigned char *f, size_t n)
{
	int changed = 0;

	while (n > 0 && f[n - 1] == '\0') {
		f[--n] = ' ';
		changed = 1;
	}
	for (size_t i = 0; i < n;) {
		unsigned char c = f[i];
		size_t k = c >= 0x80 ? p11o_utf8_char(f + i, n - i)
			   : p11o_utf8_is_control(c) ? 0
						     : 1;
		if (!k) {
			f[i++] = '?';
			changed = 1;
		} else {
			i += k;
		}
	}
	return changed;
}

size_t p11o_utf8_prefix(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	return max;
}
