/* Unit tests of the bounded DER reader (proxy/card/der.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "card/der.h"

static void test_short_and_long_lengths(void **state)
{
	(void)state;
	const uint8_t a[] = {0x04, 0x02, 0xAA, 0xBB};
	uint8_t b[3 + 200] = {0x04, 0x81, 200};
	uint8_t c[4 + 300] = {0x30, 0x82, 0x01, 0x2C};
	p11o_tlv t;

	assert_int_equal(p11o_der_whole(a, sizeof(a), 0x04, &t), 0);
	assert_int_equal(t.len, 2);
	assert_int_equal(t.value[1], 0xBB);
	assert_int_equal(t.raw_len, 4);
	assert_int_equal(p11o_der_whole(b, sizeof(b), 0x04, &t), 0);
	assert_int_equal(t.len, 200);
	assert_int_equal(p11o_der_whole(c, sizeof(c), 0x30, &t), 0);
	assert_int_equal(t.len, 300);
	assert_true(t.constructed);
	/* wrong tag */
	assert_int_equal(p11o_der_whole(a, sizeof(a), 0x02, &t), -1);
	/* trailing garbage */
	assert_int_equal(p11o_der_whole(c, sizeof(c) - 1, 0x30, &t), -1);
}

static void test_bad_lengths(void **state)
{
	(void)state;
	const uint8_t trunc[] = {0x04, 0x05, 0x01, 0x02};
	const uint8_t indef[] = {0x30, 0x80, 0x00, 0x00};
	const uint8_t five[] = {0x04, 0x85, 0, 0, 0, 0, 1, 0};
	const uint8_t huge[] = {0x04, 0x84, 0xFF, 0xFF, 0xFF, 0xFF, 0};
	const uint8_t cut_len[] = {0x04, 0x82, 0x01};
	const uint8_t one[] = {0x04};
	p11o_der cur;
	p11o_tlv t;

	p11o_der_init(&cur, trunc, sizeof(trunc));
	assert_int_equal(p11o_der_next(&cur, &t), -1);
	assert_int_equal(cur.len, 0); /* emptied: loops stop */
	p11o_der_init(&cur, indef, sizeof(indef));
	assert_int_equal(p11o_der_next(&cur, &t), -1);
	p11o_der_init(&cur, five, sizeof(five));
	assert_int_equal(p11o_der_next(&cur, &t), -1);
	p11o_der_init(&cur, huge, sizeof(huge));
	assert_int_equal(p11o_der_next(&cur, &t), -1);
	p11o_der_init(&cur, cut_len, sizeof(cut_len));
	assert_int_equal(p11o_der_next(&cur, &t), -1);
	p11o_der_init(&cur, one, sizeof(one));
	assert_int_equal(p11o_der_next(&cur, &t), -1);
	p11o_der_init(&cur, NULL, 0);
	assert_int_equal(p11o_der_next(&cur, &t), 0);
}

static void test_multibyte_tags(void **state)
{
	(void)state;
	const uint8_t two[] = {0x5F, 0x50, 0x01, 0x41};
	const uint8_t three[] = {0x9F, 0x81, 0x01, 0x00};
	const uint8_t four[] = {0xBF, 0x81, 0x82, 0x03, 0x00};
	const uint8_t five[] = {0xBF, 0x81, 0x82, 0x83, 0x04, 0x00};
	const uint8_t cut[] = {0x5F, 0x81};
	p11o_tlv t;

	assert_int_equal(p11o_der_whole(two, sizeof(two), 0x5F50, &t), 0);
	assert_int_equal(t.len, 1);
	assert_int_equal(p11o_der_whole(three, sizeof(three), 0x9F8101, &t), 0);
	assert_int_equal(p11o_der_whole(four, sizeof(four), 0xBF818203, &t), 0);
	assert_true(t.constructed);
	assert_int_equal(p11o_der_whole(five, sizeof(five), 0, &t), -1);
	assert_int_equal(p11o_der_whole(cut, sizeof(cut), 0, &t), -1);
}

static void test_nesting(void **state)
{
	(void)state;
	/* SEQUENCE { INTEGER 5, [1] { OCTET STRING 01 02 }, UTF8 "ab" } */
	const uint8_t s[] = {0x30, 0x0D, 0x02, 0x01, 0x05, 0xA1, 0x04, 0x04,
			     0x02, 0x01, 0x02, 0x0C, 0x02, 'a',  'b'};
	/* inner length claims more than the outer value holds */
	const uint8_t over[] = {0x30, 0x04, 0x04, 0x05, 0x01,
				0x02, 0x03, 0x04, 0x05};
	p11o_der cur, in, in2;
	p11o_tlv t, u;
	unsigned long v;
	char str[8];

	p11o_der_init(&cur, s, sizeof(s));
	assert_int_equal(p11o_der_expect(&cur, 0x30, &t), 1);
	p11o_der_enter(&t, &in);
	assert_int_equal(p11o_der_expect(&in, P11O_DER_INTEGER, &u), 1);
	assert_int_equal(p11o_der_uint(&u, &v), 0);
	assert_int_equal(v, 5);
	assert_int_equal(p11o_der_optional(&in, P11O_DER_CTX_C(0), &u), 0);
	assert_int_equal(p11o_der_optional(&in, P11O_DER_CTX_C(1), &u), 1);
	p11o_der_enter(&u, &in2);
	assert_int_equal(p11o_der_expect(&in2, P11O_DER_OCTET_STRING, &u), 1);
	assert_int_equal(u.len, 2);
	assert_int_equal(p11o_der_next(&in2, &u), 0);
	assert_int_equal(p11o_der_expect(&in, P11O_DER_UTF8_STRING, &u), 1);
	assert_int_equal(p11o_der_string(&u, str, sizeof(str)), 2);
	assert_string_equal(str, "ab");
	assert_int_equal(p11o_der_string(&u, str, 2), 2);
	assert_string_equal(str, "a"); /* cut */
	assert_int_equal(p11o_der_next(&in, &u), 0);
	assert_int_equal(p11o_der_next(&cur, &u), 0);

	p11o_der_init(&cur, over, sizeof(over));
	assert_int_equal(p11o_der_next(&cur, &t), 1);
	p11o_der_enter(&t, &in);
	assert_int_equal(p11o_der_next(&in, &u), -1);
}

static void test_integers_and_bits(void **state)
{
	(void)state;
	const uint8_t i0[] = {0x02, 0x02, 0x00, 0x81};
	const uint8_t neg[] = {0x02, 0x01, 0x81};
	const uint8_t empty[] = {0x02, 0x00};
	const uint8_t big[] = {0x02, 0x09, 0x01, 0, 0, 0, 0, 0, 0, 0, 0};
	const uint8_t bits[] = {0x03, 0x02, 0x03, 0x48}; /* bits 1 and 4 */
	const uint8_t badbits[] = {0x03, 0x02, 0x08, 0x00};
	const uint8_t onlypad[] = {0x03, 0x01, 0x01};
	p11o_tlv t;
	unsigned long v;
	uint32_t b;

	p11o_der_whole(i0, sizeof(i0), 0, &t);
	assert_int_equal(p11o_der_uint(&t, &v), 0);
	assert_int_equal(v, 0x81);
	p11o_der_whole(neg, sizeof(neg), 0, &t);
	assert_int_equal(p11o_der_uint(&t, &v), -1);
	p11o_der_whole(empty, sizeof(empty), 0, &t);
	assert_int_equal(p11o_der_uint(&t, &v), -1);
	p11o_der_whole(big, sizeof(big), 0, &t);
	assert_int_equal(p11o_der_uint(&t, &v), -1);
	p11o_der_whole(bits, sizeof(bits), 0, &t);
	assert_int_equal(p11o_der_bits(&t, &b), 0);
	assert_int_equal(b, (1u << 1) | (1u << 4));
	p11o_der_whole(badbits, sizeof(badbits), 0, &t);
	assert_int_equal(p11o_der_bits(&t, &b), -1);
	p11o_der_whole(onlypad, sizeof(onlypad), 0, &t);
	assert_int_equal(p11o_der_bits(&t, &b), -1);
}

static void test_string_with_nul(void **state)
{
	(void)state;
	const uint8_t s[] = {0x0C, 0x03, 'a', 0, 'b'};
	p11o_tlv t;
	char out[8];

	p11o_der_whole(s, sizeof(s), 0, &t);
	assert_int_equal(p11o_der_string(&t, out, sizeof(out)), -1);
	assert_int_equal(p11o_der_string(&t, out, 0), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_short_and_long_lengths),
	    cmocka_unit_test(test_bad_lengths),
	    cmocka_unit_test(test_multibyte_tags),
	    cmocka_unit_test(test_nesting),
	    cmocka_unit_test(test_integers_and_bits),
	    cmocka_unit_test(test_string_with_nul),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
