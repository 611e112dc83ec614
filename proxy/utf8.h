/* UTF-8 for the texts the proxy builds from card data and provider
 * answers (labels, PIN names; docs/architecture.md §4): CK_UTF8CHAR
 * fields must hold valid UTF-8, cut only between characters. */
#ifndef P11O_UTF8_H
#define P11O_UTF8_H

#include <stddef.h>

/* Length (1..4) of the well-formed UTF-8 character at s (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF), or 0 when the
 * byte at s starts none.  len > 0 bytes are readable. */
size_t p11o_utf8_char(const unsigned char *s, size_t len);

/* Copy in (inlen bytes, or up to a NUL) to out as valid UTF-8: every
 * byte that is not part of a well-formed character becomes '?' (one byte
 * for one byte: a cleaned text never grows, so it fits wherever the
 * original did, and '?' survives every consumer of a label, unlike
 * U+FFFD's three bytes in a 32-byte field).  Cut on a character boundary
 * to at most outsz - 1 bytes and NUL-terminated.  Returns the length. */
size_t p11o_utf8_clean(char *out, size_t outsz, const char *in, size_t inlen);

/* C0 controls and DEL: never shown in a label (a terminal would act on
 * them); they become '?' like invalid bytes. */
static inline int p11o_utf8_is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7F;
}

/* A blank-padded CK_UTF8CHAR field of n bytes (a provider's token label)
 * made valid in place, one byte for one byte as p11o_utf8_clean: NULs at
 * its end become blanks (padding), then every byte that is not part of a
 * well-formed character, and every control character, becomes '?'.  A
 * field of printable ASCII is only read.  Returns whether anything
 * changed. */
int p11o_utf8_fix_field(unsigned char *f, size_t n);

/* The longest prefix of s (valid UTF-8, len bytes) of at most max bytes
 * that ends on a character boundary. */
size_t p11o_utf8_prefix(const char *s, size_t len, size_t max);

#endif
