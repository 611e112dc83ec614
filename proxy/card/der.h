/* Bounded DER/BER-TLV reader (docs/architecture.md §8).
 *
 * No allocation; every read is checked against the end of the buffer.
 * Tags are kept as their encoded bytes, big-endian, in a uint32_t (0x30,
 * 0xA1, 0x5F50, ...), at most 4 tag bytes.  Lengths: short form or long
 * form with 1..4 length bytes; the indefinite form (0x80) is rejected, as
 * is any length that runs past the enclosing buffer. */
#ifndef P11O_CARD_DER_H
#define P11O_CARD_DER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Universal tags used by PKCS#15 and ISO 7816. */
#define P11O_DER_BOOLEAN 0x01u
#define P11O_DER_INTEGER 0x02u
#define P11O_DER_BIT_STRING 0x03u
#define P11O_DER_OCTET_STRING 0x04u
#define P11O_DER_ENUMERATED 0x0Au
#define P11O_DER_UTF8_STRING 0x0Cu
#define P11O_DER_SEQUENCE 0x30u
#define P11O_DER_SET 0x31u
#define P11O_DER_GENERALIZED_TIME 0x18u
/* Context-specific [n], n < 31: primitive and constructed forms. */
#define P11O_DER_CTX(n) (0x80u | (unsigned)(n))
#define P11O_DER_CTX_C(n) (0xA0u | (unsigned)(n))

/* A cursor over a run of TLVs: the bytes not read yet. */
typedef struct p11o_der {
	const uint8_t *p;
	size_t len;
} p11o_der;

typedef struct p11o_tlv {
	uint32_t tag;         /* encoded tag bytes, big-endian */
	bool constructed;     /* bit 6 of the first tag byte */
	const uint8_t *value; /* inside the parsed buffer */
	size_t len;           /* value length */
	const uint8_t *raw;   /* whole TLV: tag, length and value */
	size_t raw_len;
} p11o_tlv;

/* Start a cursor over buf[0..len). */
void p11o_der_init(p11o_der *cur, const void *buf, size_t len);

/* Read the next TLV and move past it.  Returns 1 when a TLV was read, 0
 * at the end of the cursor, -1 on malformed input (the cursor is then
 * emptied so loops stop). */
int p11o_der_next(p11o_der *cur, p11o_tlv *out);

/* Like p11o_der_next but does not move the cursor. */
int p11o_der_peek(const p11o_der *cur, p11o_tlv *out);

/* A cursor over the value of `tlv` (its children). */
void p11o_der_enter(const p11o_tlv *tlv, p11o_der *inner);

/* The next TLV must have tag `tag`: 1 and consumed; -1 otherwise. */
int p11o_der_expect(p11o_der *cur, uint32_t tag, p11o_tlv *out);

/* Optional element: 1 = present (consumed), 0 = absent or end (cursor
 * unchanged), -1 = malformed. */
int p11o_der_optional(p11o_der *cur, uint32_t tag, p11o_tlv *out);

/* Parse one TLV that must fill buf exactly (a whole file, say) and has tag
 * `tag` (0 = any).  0 or -1. */
int p11o_der_whole(const void *buf, size_t len, uint32_t tag, p11o_tlv *out);

/* INTEGER value as an unsigned long: 0, or -1 when negative, empty or too
 * big. */
int p11o_der_uint(const p11o_tlv *tlv, unsigned long *out);

/* BIT STRING with PKCS#15 numbering (bit 0 = most significant bit of the
 * first content byte) into *bits (bit i -> 1u << i, bits >= 32 dropped).
 * 0, or -1 when the unused-bits count is invalid. */
int p11o_der_bits(const p11o_tlv *tlv, uint32_t *bits);

/* Copy a string value (UTF8String, PrintableString, [0] label, ...) into
 * out as a NUL-terminated string of valid UTF-8 (each byte of an invalid
 * sequence becomes '?'), cut on a character boundary to at most
 * outsz - 1 bytes; embedded NULs make it fail.  Returns the full value
 * length, or -1. */
long p11o_der_string(const p11o_tlv *tlv, char *out, size_t outsz);

#endif
