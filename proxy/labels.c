#include "labels.h"

#include <string.h>

/* Length of a UTF-8 prefix of s no longer than max bytes, ending on a
 * character boundary. */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	size_t n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	return n;
}

static size_t trim_right(const char *s, size_t n)
{
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\0'))
		n--;
	return n;
}

/* Expand `fmt` (%p = pin, %% = %) into out; returns the length. */
static size_t expand(char *out, size_t cap, const char *fmt, size_t n,
		     const char *pin)
{
	size_t len = 0;
	for (size_t i = 0; i < n && len < cap; i++) {
		if (fmt[i] == '%' && i + 1 < n && fmt[i + 1] == 'p') {
			size_t p = utf8_cut(pin, strlen(pin), cap - len);
			memcpy(out + len, pin, p);
			len += p;
			i++;
		} else if (fmt[i] == '%' && i + 1 < n && fmt[i + 1] == '%') {
			out[len++] = '%';
			i++;
		} else {
			out[len++] = fmt[i];
		}
	}
	return len;
}

void p11o_label_compose(CK_UTF8CHAR out[32], const char *format,
			const char *token_name, const char *pin_name)
{
	/* One PIN: the plain token name.  Otherwise the format around %t
	 * (default "%t (%p)"); only the token name is ever cut. */
	const char *fmt = pin_name && *pin_name ? format : "%t";
	const char *t = strstr(fmt, "%t");
	size_t flen = strlen(fmt);
	size_t before = t ? (size_t)(t - fmt) : flen;
	char prefix[32], suffix[32];
	size_t plen = expand(prefix, sizeof(prefix), fmt, before, pin_name);
	size_t slen = t ? expand(suffix, sizeof(suffix) - plen, t + 2,
				 flen - before - 2, pin_name)
			: 0;
	size_t tlen = 0;
	if (t) {
		tlen = strlen(token_name);
		tlen = trim_right(token_name,
				  utf8_cut(token_name, tlen, 32 - plen - slen));
	}
	memset(out, ' ', 32);
	memcpy(out, prefix, plen);
	memcpy(out + plen, token_name, tlen);
	memcpy(out + plen + tlen, suffix, slen);
	for (size_t i = 0; i < 32; i++)
		if (out[i] == ':')
			out[i] = '-';
}

bool p11o_label_split(const CK_UTF8CHAR label[32], char *name, size_t namelen,
		      char *pin, size_t pinlen)
{
	const char *l = (const char *)label;
	size_t n = trim_right(l, 32);
	size_t open = 0;
	bool found = false;
	if (n >= 4 && l[n - 1] == ')') {
		for (size_t i = n - 1; i-- > 0;) {
			if (l[i] == '(' && i > 0 && l[i - 1] == ' ') {
				open = i;
				found = true;
				break;
			}
		}
	}
	size_t name_n = found ? open - 1 : n;
	size_t pin_n = found ? n - open - 2 : 0;
	if (namelen) {
		name_n = name_n < namelen - 1 ? name_n : namelen - 1;
		memcpy(name, l, name_n);
		name[name_n] = '\0';
	}
	if (pinlen) {
		pin_n = pin_n < pinlen - 1 ? pin_n : pinlen - 1;
		memcpy(pin, l + open + 1, pin_n);
		pin[pin_n] = '\0';
	}
	return found;
}
