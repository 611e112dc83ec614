/* Bounded DER/BER-TLV reader: see der.h. */
#include "der.h"

#include <string.h>

#include "utf8.h"

void p11o_der_init(p11o_der *cur, const void *buf, size_t len)
{
	cur->p = buf;
	cur->len = buf ? len : 0;
}

static int parse_one(const uint8_t *p, size_t avail, p11o_tlv *out)
{
	size_t i = 0;
	uint32_t tag;
	size_t len;

	if (avail < 2)
		return -1;
	tag = p[i++];
	if ((tag & 0x1Fu) == 0x1Fu) {
		/* High tag number: continuation bytes while bit 8 is set, at
		 * most 3 of them (4 tag bytes in all). */
		for (;;) {
			if (i >= avail || i >= 4)
				return -1;
			tag = (tag << 8) | p[i];
			if (!(p[i++] & 0x80u))
				break;
		}
	}
	if (i >= avail)
		return -1;
	if (p[i] < 0x80u) {
		len = p[i++];
	} else {
		size_t n = p[i++] & 0x7Fu;
		if (n == 0 || n > 4) /* indefinite or absurd */
			return -1;
		if (n > avail - i)
			return -1;
		len = 0;
		for (size_t k = 0; k < n; k++)
			len = (len << 8) | p[i++];
	}
	if (len > avail - i)
		return -1;
	out->tag = tag;
	out->constructed = (p[0] & 0x20u) != 0;
	out->value = p + i;
	out->len = len;
	out->raw = p;
	out->raw_len = i + len;
	return 1;
}

int p11o_der_peek(const p11o_der *cur, p11o_tlv *out)
{
	if (cur->len == 0)
		return 0;
	return parse_one(cur->p, cur->len, out);
}

int p11o_der_next(p11o_der *cur, p11o_tlv *out)
{
	int rc = p11o_der_peek(cur, out);

	if (rc < 0) {
		cur->p += cur->len;
		cur->len = 0;
		return -1;
	}
	if (rc == 1) {
		cur->p += out->raw_len;
		cur->len -= out->raw_len;
	}
	return rc;
}

void p11o_der_enter(const p11o_tlv *tlv, p11o_der *inner)
{
	p11o_der_init(inner, tlv->value, tlv->len);
}

int p11o_der_expect(p11o_der *cur, uint32_t tag, p11o_tlv *out)
{
	p11o_tlv t;

	if (p11o_der_next(cur, &t) != 1 || t.tag != tag)
		return -1;
	*out = t;
	return 1;
}

int p11o_der_optional(p11o_der *cur, uint32_t tag, p11o_tlv *out)
{
	p11o_tlv t;
	int rc = p11o_der_peek(cur, &t);

	if (rc <= 0)
		return rc;
	if (t.tag != tag)
		return 0;
	*out = t;
	cur->p += t.raw_len;
	cur->len -= t.raw_len;
	return 1;
}

int p11o_der_whole(const void *buf, size_t len, uint32_t tag, p11o_tlv *out)
{
	p11o_der cur;

	p11o_der_init(&cur, buf, len);
	if (p11o_der_next(&cur, out) != 1 || cur.len != 0)
		return -1;
	if (tag && out->tag != tag)
		return -1;
	return 0;
}

int p11o_der_uint(const p11o_tlv *tlv, unsigned long *out)
{
	const uint8_t *v = tlv->value;
	size_t n = tlv->len;
	unsigned long r = 0;

	if (n == 0 || (v[0] & 0x80u))
		return -1;
	while (n > 1 && v[0] == 0) {
		v++;
		n--;
	}
	if (n > sizeof(r))
		return -1;
	for (size_t i = 0; i < n; i++)
		r = (r << 8) | v[i];
	*out = r;
	return 0;
}

int p11o_der_bits(const p11o_tlv *tlv, uint32_t *bits)
{
	const uint8_t *v = tlv->value;
	size_t n = tlv->len;
	uint32_t r = 0;

	if (n == 0 || v[0] > 7 || (n == 1 && v[0] != 0))
		return -1;
	for (size_t i = 1; i < n && i <= 4; i++)
		for (unsigned b = 0; b < 8; b++)
			if (v[i] & (0x80u >> b))
				r |= 1u << ((i - 1) * 8 + b);
	*bits = r;
	return 0;
}

long p11o_der_string(const p11o_tlv *tlv, char *out, size_t outsz)
{
	size_t n = tlv->len;

	if (outsz == 0 || memchr(tlv->value, 0, n) || n > (size_t)0x7FFFFFFF)
		return -1;
	/* Card strings become labels and PIN names (CK_UTF8CHAR): valid
	 * UTF-8, cut between characters (utf8.h). */
	p11o_utf8_clean(out, outsz, (const char *)tlv->value, n);
	return (long)tlv->len;
}
