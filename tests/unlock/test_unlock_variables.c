/* Variables (proxy/variables.[ch]): the documented set, netid- aliases,
 * read-only and write-only names, sizes, take-once secrets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "variables.h"

static void test_module_variables(void **state)
{
	(void)state;
	char v[256];
	const char *names[] = {
	    "system-info", "soft-token-type", "version",      "config-path",
	    "provider",    "unlock-timeout",  "unlock-method"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char alias[64];
		snprintf(alias, sizeof(alias), "netid-%s", names[i]);
		assert_int_equal(p11o_variable_get(names[i], v, sizeof(v)),
				 CKR_OK);
		char w[256];
		assert_int_equal(p11o_variable_get(alias, w, sizeof(w)),
				 CKR_OK);
		assert_string_equal(v, w);
		assert_int_equal(p11o_variable_set(names[i], "x"),
				 CKR_ATTRIBUTE_READ_ONLY);
	}
	assert_int_equal(p11o_variable_get("system-info", v, sizeof(v)),
			 CKR_OK);
	const unsigned one = 1;
	char want[64];
	snprintf(want, sizeof(want),
		 "PKCS11 - %s endian build (%zu-bits CK_ULONG)",
		 *(const char *)&one ? "Little" : "Big", sizeof(CK_ULONG) * 8);
	assert_non_null(strstr(v, want));
	assert_int_equal(p11o_variable_get("unlock-timeout", v, sizeof(v)),
			 CKR_OK);
	assert_string_equal(v, "60");
	assert_int_equal(p11o_variable_get("system-info", v, 4),
			 CKR_BUFFER_TOO_SMALL);
	assert_int_equal(p11o_variable_get("system-info", NULL, 100),
			 CKR_BUFFER_TOO_SMALL);
}

static void test_bad_names(void **state)
{
	(void)state;
	char v[16];
	assert_int_equal(p11o_variable_get(NULL, v, sizeof(v)),
			 CKR_ARGUMENTS_BAD);
	assert_int_equal(p11o_variable_get("no-such", v, sizeof(v)),
			 CKR_ARGUMENTS_BAD);
	assert_int_equal(p11o_variable_set(NULL, "x"), CKR_ARGUMENTS_BAD);
	assert_int_equal(p11o_variable_set("init-userpin", "x"),
			 CKR_ARGUMENTS_BAD);
	char big[600];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(p11o_variable_set("init-pin-names", big),
			 CKR_ARGUMENTS_BAD);
}

static void test_secrets(void **state)
{
	(void)state;
	char v[64];
	assert_int_equal(p11o_variable_set("netid-init-user-pin", "4321"),
			 CKR_OK);
	assert_int_equal(p11o_variable_get("init-user-pin", v, sizeof(v)),
			 CKR_ATTRIBUTE_SENSITIVE);
	assert_true(p11o_variable_is_secret("init-user-pin"));
	assert_true(p11o_variable_is_secret("init-puk"));
	assert_true(p11o_variable_lookup("init-user-pin", v, sizeof(v)));
	assert_string_equal(v, "4321");
	assert_true(p11o_variable_take("init-user-pin", v, sizeof(v)));
	assert_string_equal(v, "4321");
	assert_false(p11o_variable_take("init-user-pin", v, sizeof(v)));
	assert_int_equal(p11o_variable_set("init-puk", "12345678"), CKR_OK);
	p11o_variables_clear();
	assert_false(p11o_variable_lookup("init-puk", v, sizeof(v)));
	/* Readable inputs read back; unset reads as "". */
	assert_int_equal(p11o_variable_set("init-pin-names", "all"), CKR_OK);
	assert_int_equal(p11o_variable_get("init-pin-names", v, sizeof(v)),
			 CKR_OK);
	assert_string_equal(v, "all");
	assert_int_equal(p11o_variable_set("init-pin-names", NULL), CKR_OK);
	assert_int_equal(p11o_variable_get("init-pin-names", v, sizeof(v)),
			 CKR_OK);
	assert_string_equal(v, "");
}

int main(void)
{
	setenv("P11OVERLAY_CONF", "/dev/null", 1);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_module_variables),
	    cmocka_unit_test(test_bad_names),
	    cmocka_unit_test(test_secrets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
