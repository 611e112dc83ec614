#include "labels.h"

#include <string.h>

#include "utf8.h"

/* Cleaned inputs: card labels are at most P11O_CARD_STR bytes. */
#define LABEL_IN 256

static size_t trim_right(const char *s, size_t n)
{
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\0'))
		n--;
	return n;
}

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Valid UTF-8 (utf8.h), without leading and trailing blanks, control
 * characters inside as '?'. */
static const char *clean(char out[LABEL_IN], const char *in)
{
	size_t n =
	    p11o_utf8_clean(out, LABEL_IN, in ? in : "", in ? strlen(in) : 0);
	while (n > 0 && blank(out[n - 1]))
		out[--n] = '\0';
	while (blank(*out))
		out++;
	for (char *c = out; *c; c++)
		if (p11o_utf8_is_control((unsigned char)*c))
			*c = '?';
	return out;
}

/* A part of the label being built: up to cap bytes, cut between
 * characters; once something did not fit, nothing more is added. */
struct part {
	char b[32];
	size_t len, cap;
	bool full;
};

static void put(struct part *p, const char *s, size_t n)
{
	if (p->full)
		return;
	size_t k = p11o_utf8_prefix(s, n, p->cap - p->len);
	memcpy(p->b + p->len, s, k);
	p->len += k;
	p->full = k < n;
}

/* Expand fmt[0..n) (%p = pin, %% = %, valid UTF-8) into p. */
static void expand(struct part *p, const char *fmt, size_t n, const char *pin)
{
	for (size_t i = 0; i < n;) {
		if (fmt[i] == '%' && i + 1 < n && fmt[i + 1] == 'p') {
			put(p, pin, strlen(pin));
			i += 2;
		} else if (fmt[i] == '%' && i + 1 < n && fmt[i + 1] == '%') {
			put(p, "%", 1);
			i += 2;
		} else {
			size_t c = p11o_utf8_char(
			    (const unsigned char *)fmt + i, n - i);
			c = c ? c : 1;
			put(p, fmt + i, c);
			i += c;
		}
	}
}

void p11o_label_compose(CK_UTF8CHAR out[32], const char *format,
			const char *token_name, const char *pin_name)
{
	char tbuf[LABEL_IN], pbuf[LABEL_IN], fbuf[LABEL_IN];
	/* Card data and the config may hold anything: the field gets valid
	 * UTF-8 only (utf8.h). */
	const char *token = clean(tbuf, token_name);
	const char *pin = clean(pbuf, pin_name);
	/* One PIN: the plain token name.  Otherwise the format around %t
	 * (default "%t (%p)"); only the token name is ever cut. */
	const char *fmt = *pin ? clean(fbuf, format) : "%t";
	const char *t = strstr(fmt, "%t");
	size_t flen = strlen(fmt);
	size_t before = t ? (size_t)(t - fmt) : flen;
	struct part prefix = {.cap = 32}, suffix = {.cap = 32};
	expand(&prefix, fmt, before, pin);
	if (t) {
		suffix.cap = 32 - prefix.len;
		expand(&suffix, t + 2, flen - before - 2, pin);
	}
	size_t tlen = 0;
	if (t) {
		tlen = p11o_utf8_prefix(token, strlen(token),
					32 - prefix.len - suffix.len);
		tlen = trim_right(token, tlen);
	}
	char l[32];
	memcpy(l, prefix.b, prefix.len);
	memcpy(l + prefix.len, token, tlen);
	memcpy(l + prefix.len + tlen, suffix.b, suffix.len);
	size_t n = prefix.len + tlen + suffix.len, skip = 0;
	/* An empty token name (or a format starting with blanks) must not
	 * leave a leading blank: applications show labels trimmed on the
	 * right only. */
	while (skip < n && l[skip] == ' ')
		skip++;
	memset(out, ' ', 32);
	memcpy(out, l + skip, n - skip);
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
