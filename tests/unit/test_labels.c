/* Virtual token labels (design.md §4): cut in the token name only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "labels.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_compose),
	    cmocka_unit_test(test_split),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
