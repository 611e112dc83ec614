/* Virtual token labels (docs/architecture.md §4): cut in the token name
 * only, always valid UTF-8 (issue 16 item 9), never a leading blank. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "card/card.h"
#include "card/der.h"
#include "labels.h"
#include "utf8.h"

/* An independent decoder (not utf8.c's): true when s[0..n) is valid
 * UTF-8 by RFC 3629 (shortest form, no surrogates, <= U+10FFFF). */
static bool valid_utf8(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned long cp;
		size_t len;
		if (s[i] < 0x80) {
			i++;
			continue;
		} else if ((s[i] & 0xE0) == 0xC0) {
			cp = s[i] & 0x1F, len = 2;
		} else if ((s[i] & 0xF0) == 0xE0) {
			cp = s[i] & 0x0F, len = 3;
		} else if ((s[i] & 0xF8) == 0xF0) {
			cp = s[i] & 0x07, len = 4;
		} else {
			return false;
		}
		if (i + len > n)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3F);
		}
		static const unsigned long min[5] = {0, 0, 0x80, 0x800,
						     0x10000};
		if (cp < min[len] || cp > 0x10FFFF ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += len;
	}
	return true;
}

static void compose(char out[33], const char *fmt, const char *token,
		    const char *pin)
{
	CK_UTF8CHAR l[32];
	p11o_label_compose(l, fmt, token, pin);
	memcpy(out, l, 32);
	out[32] = '\0';
}

static void test_compose(void **state)
{
	(void)state;
	char out[33];
	compose(out, "%t (%p)", "Card", "PIN1");
	assert_string_equal(out, "Card (PIN1)                     ");
	/* One PIN: the plain name. */
	compose(out, "%t (%p)", "Card", "");
	assert_string_equal(out, "Card                            ");
	compose(out, "%t (%p)", "Card", NULL);
	assert_string_equal(out, "Card                            ");
	/* Too long: the token name is cut, never the PIN part. */
	compose(out, "%t (%p)", "p11overlay Virtual Test Card Number One",
		"Identification");
	assert_string_equal(out, "p11overlay Virt (Identification)");
	compose(out, "%t (%p)", "p11overlay Virtual Test Card Number One",
		"Signing");
	assert_string_equal(out, "p11overlay Virtual Tes (Signing)");
	/* No ':' (NSS splits token names on it). */
	compose(out, "%t (%p)", "a:b", "c:d");
	assert_string_equal(out, "a-b (c-d)                       ");
	/* Other formats. */
	compose(out, "%p - %t", "Card", "PIN1");
	assert_string_equal(out, "PIN1 - Card                     ");
	compose(out, "%t [%p] 100%%", "Card", "P");
	assert_string_equal(out, "Card [P] 100%                   ");
	/* A cut never splits a UTF-8 character. */
	compose(out, "%t (%p)",
		"\xc3\xa5\xc3\xa5\xc3\xa5\xc3\xa5\xc3\xa5"
		"\xc3\xa5\xc3\xa5\xc3\xa5\xc3\xa5\xc3\xa5",
		"0123456789012345");
	/* 13 bytes left: six 2-byte characters and a blank. */
	assert_string_equal(out, "\xc3\xa5\xc3\xa5\xc3\xa5\xc3\xa5\xc3\xa5"
				 "\xc3\xa5 (0123456789012345) ");
}

static void test_split(void **state)
{
	(void)state;
	char name[40], pin[40];
	CK_UTF8CHAR l[32];
	memset(l, ' ', 32);
	memcpy(l, "p11overlay V... (Identification)", 32);
	assert_true(p11o_label_split(l, name, sizeof(name), pin, sizeof(pin)));
	assert_string_equal(name, "p11overlay V...");
	assert_string_equal(pin, "Identification");
	memset(l, ' ', 32);
	memcpy(l, "test", 4);
	assert_false(p11o_label_split(l, name, sizeof(name), pin, sizeof(pin)));
	assert_string_equal(name, "test");
	assert_string_equal(pin, "");
}

/* Every label the tests compose: valid, no leading blank, no NUL. */
static void compose_checked(char out[33], const char *fmt, const char *token,
			    const char *pin)
{
	compose(out, fmt, token, pin);
	assert_true(valid_utf8((const unsigned char *)out, 32));
	assert_true(out[0] != ' ' || strspn(out, " ") == 32);
	assert_int_equal(strlen(out), 32);
}

static void test_utf8_char(void **state)
{
	static const struct {
		const char *s;
		size_t len, want;
	} cases[] = {
	    {"a", 1, 1},
	    {"\xc3\xa5", 2, 2},
	    {"\xe2\x82\xac", 3, 3},     /* euro sign */
	    {"\xf0\x9f\x94\x91", 4, 4}, /* U+1F511 */
	    {"\xf4\x8f\xbf\xbf", 4, 4}, /* U+10FFFF */
	    {"\xc3", 1, 0},             /* cut */
	    {"\xe2\x82", 2, 0},         /* cut */
	    {"\xa5", 1, 0},             /* lone continuation */
	    {"\xc0\x80", 2, 0},         /* overlong NUL */
	    {"\xc1\xbf", 2, 0},         /* overlong */
	    {"\xe0\x80\xaf", 3, 0},     /* overlong '/' */
	    {"\xed\xa0\x80", 3, 0},     /* surrogate U+D800 */
	    {"\xf0\x80\x80\xaf", 4, 0}, /* overlong */
	    {"\xf4\x90\x80\x80", 4, 0}, /* above U+10FFFF */
	    {"\xf5\x80\x80\x80", 4, 0},
	    {"\xff", 1, 0},
	    {"\xc3\x28", 2, 0}, /* bad continuation */
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t got = p11o_utf8_char((const unsigned char *)cases[i].s,
					    cases[i].len);
		if (got != cases[i].want)
			fail_msg("case %zu: %zu, want %zu", i, got,
				 cases[i].want);
	}
}

static void test_utf8_clean(void **state)
{
	char out[16];
	(void)state;
	/* One '?' per bad byte: the text never grows. */
	assert_int_equal(p11o_utf8_clean(out, sizeof(out),
					 "a\xff"
					 "b\xc3",
					 4),
			 4);
	assert_string_equal(out, "a?b?");
	assert_int_equal(p11o_utf8_clean(out, sizeof(out), "\xed\xa0\x80", 3),
			 3);
	assert_string_equal(out, "???");
	/* Cut between characters: 15 bytes of room, 2-byte characters. */
	char many[64];
	for (size_t i = 0; i < 32; i += 2)
		memcpy(many + i, "\xc3\xa5", 2);
	assert_int_equal(p11o_utf8_clean(out, sizeof(out), many, 32), 14);
	assert_true(valid_utf8((unsigned char *)out, strlen(out)));
	/* Stops at a NUL; an empty buffer stays untouched. */
	assert_int_equal(p11o_utf8_clean(out, sizeof(out), "ab\0cd", 5), 2);
	assert_int_equal(p11o_utf8_clean(out, 0, "ab", 2), 0);
}

/* A provider's label field made valid in place (soft tokens, cards the
 * proxy cannot read): one byte for one byte, padding NULs to blanks. */
static void test_utf8_fix_field(void **state)
{
	unsigned char f[32];
	(void)state;
	memset(f, ' ', 32);
	memcpy(f, "plain ASCII", 11);
	assert_false(p11o_utf8_fix_field(f, 32));
	assert_memory_equal(f, "plain ASCII                     ", 32);
	memset(f, ' ', 32);
	memcpy(f, "\xc3\xa5 ok \xe2\x82\xac", 9);
	assert_false(p11o_utf8_fix_field(f, 32));
	memset(f, ' ', 32);
	memcpy(f,
	       "a\xff"
	       "b\x01"
	       "c\td\x7f"
	       "e\xed\xa0\x80",
	       12);
	assert_true(p11o_utf8_fix_field(f, 32));
	assert_memory_equal(f, "a?b?c?d?e???                    ", 32);
	/* A character cut by the end of the field, NUL padding. */
	memset(f, 'x', 32);
	f[31] = 0xC3;
	assert_true(p11o_utf8_fix_field(f, 32));
	assert_int_equal(f[31], '?');
	memset(f, 0, 32);
	memcpy(f, "ab\0c", 4);
	assert_true(p11o_utf8_fix_field(f, 32));
	assert_memory_equal(f, "ab?c                            ", 32);
	assert_true(valid_utf8(f, 32));
}

/* Control characters from the card never reach the label. */
static void test_compose_controls(void **state)
{
	CK_UTF8CHAR out[33] = {0};
	(void)state;
	p11o_label_compose(out, "%t (%p)", "Ca\x1b[2Jrd\n", "\tP\x7fIN");
	assert_string_equal((char *)out, "Ca?[2Jrd (P?IN)                 ");
}

/* The card's label as the PKCS #15 parser reads it (the path to
 * CK_TOKEN_INFO.label and the TokenLabel object): 500 bytes of 'å'. */
static void test_long_card_label(void **state)
{
	uint8_t ti[600];
	size_t n = 0;
	(void)state;
	ti[n++] = 0x30, ti[n++] = 0x82, n += 2; /* SEQUENCE, length below */
	ti[n++] = 0x02, ti[n++] = 0x01, ti[n++] = 0x00; /* version */
	ti[n++] = 0x04, ti[n++] = 0x02, ti[n++] = 0x12, ti[n++] = 0x34;
	ti[n++] = 0x80, ti[n++] = 0x82, ti[n++] = 0x01, ti[n++] = 0xF4;
	for (size_t i = 0; i < 500; i += 2)
		ti[n++] = 0xC3, ti[n++] = 0xA5;
	ti[n++] = 0x03, ti[n++] = 0x02, ti[n++] = 0x00, ti[n++] = 0x00;
	ti[2] = (uint8_t)((n - 4) >> 8), ti[3] = (uint8_t)(n - 4);
	p11o_p15_tokeninfo info;
	assert_int_equal(p11o_p15_parse_tokeninfo(ti, n, &info), 0);
	size_t len = strlen(info.label);
	/* 255 bytes of room: 127 characters, not 127 and a lone 0xC3. */
	assert_int_equal(len, 254);
	assert_true(valid_utf8((unsigned char *)info.label, len));

	/* Invalid bytes from the card: '?' */
	n = 13;
	ti[n - 1] = 0x04;
	memcpy(ti + n,
	       "A\xff"
	       "B\x80",
	       4);
	n += 4;
	ti[n++] = 0x03, ti[n++] = 0x02, ti[n++] = 0x00, ti[n++] = 0x00;
	ti[2] = (uint8_t)((n - 4) >> 8), ti[3] = (uint8_t)(n - 4);
	assert_int_equal(p11o_p15_parse_tokeninfo(ti, n, &info), 0);
	assert_string_equal(info.label, "A?B?");

	char out[33];
	compose_checked(out, "%t (%p)", info.label, "Auth PIN");
	assert_string_equal(out, "A?B? (Auth PIN)                 ");
}

static void test_compose_hostile(void **state)
{
	char out[33], name[600];
	(void)state;
	/* A long name of 2-byte characters, cut for the PIN part. */
	for (size_t i = 0; i < 250; i++)
		memcpy(name + 2 * i, "\xc3\xa5", 2);
	name[500 - 1] = '\0'; /* ends in a lone lead byte */
	compose_checked(out, "%t (%p)", name, "Auth PIN");
	assert_memory_equal(out + 20, " (Auth PIN)", 11);
	/* Only continuation bytes: '?'s, not " (Auth PIN)". */
	memset(name, 0x80, 60);
	name[60] = '\0';
	compose_checked(out, "%t (%p)", name, "Auth PIN");
	assert_string_equal(out, "?????????????????????"
				 " (Auth PIN)");
	/* Invalid bytes in the token and PIN names. */
	compose_checked(out, "%t (%p)", "Card\xff", "P\xc3");
	assert_string_equal(out, "Card? (P?)                      ");
	/* Empty or blank token name: no leading blank. */
	compose_checked(out, "%t (%p)", "", "Auth PIN");
	assert_string_equal(out, "(Auth PIN)                      ");
	compose_checked(out, "%t (%p)", "   ", "Auth PIN");
	assert_string_equal(out, "(Auth PIN)                      ");
	compose_checked(out, "%t (%p)", "  Card", " Sign ");
	assert_string_equal(out, "Card (Sign)                     ");
	compose_checked(out, "%t", "  Card", NULL);
	assert_string_equal(out, "Card                            ");
	compose_checked(out, "  %t [%p]", "Card", "P");
	assert_string_equal(out, "Card [P]                        ");
	/* A PIN name longer than the field: cut between characters. */
	for (size_t i = 0; i < 40; i++)
		memcpy(name + 3 * i, "\xe2\x82\xac", 3);
	name[120] = '\0';
	compose_checked(out, "%t (%p)", "Card", name);
	compose_checked(out, "\xe2\x82\xac%p\xe2\x82\xac %t", "Card", name);
	/* A format with invalid bytes (it comes from the config). */
	compose_checked(out, "%t \xff(%p)", "Card", "P");
	assert_string_equal(out, "Card ?(P)                       ");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_compose),
	    cmocka_unit_test(test_split),
	    cmocka_unit_test(test_utf8_char),
	    cmocka_unit_test(test_utf8_clean),
	    cmocka_unit_test(test_utf8_fix_field),
	    cmocka_unit_test(test_compose_controls),
	    cmocka_unit_test(test_long_card_label),
	    cmocka_unit_test(test_compose_hostile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
