/* C_OpenSession's Notify through the proxy (issue 15): a provider that
 * calls it hands the application the application's own session handle
 * and pApplication, and the callback's answer reaches the provider.
 * argv[1] = p11overlay.so, argv[2] = the notify mock provider. */
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "p11test.h"

static p11test_module m;
static CK_FUNCTION_LIST_PTR fl;
static const char *mock_path;

static struct {
	int calls;
	CK_SESSION_HANDLE session;
	CK_NOTIFICATION event;
	CK_VOID_PTR app;
	CK_RV answer;
} seen;

static CK_RV app_notify(CK_SESSION_HANDLE h, CK_NOTIFICATION event,
			CK_VOID_PTR app)
{
	seen.calls++;
	seen.session = h;
	seen.event = event;
	seen.app = app;
	return seen.answer;
}

static CK_SLOT_ID the_slot(void)
{
	CK_SLOT_ID ids[4];
	CK_ULONG n = 4;
	assert_int_equal(fl->C_GetSlotList(CK_TRUE, ids, &n), CKR_OK);
	assert_int_equal(n, 1);
	return ids[0];
}

static void test_notify_sees_own_handle(void **state)
{
	(void)state;
	int marker = 0;
	void *mock = dlopen(mock_path, RTLD_NOW | RTLD_NOLOAD);
	assert_non_null(mock);
	CK_NOTIFY *given = dlsym(mock, "mock_last_notify");
	CK_VOID_PTR *given_app = dlsym(mock, "mock_last_application");
	assert_non_null(given);
	assert_non_null(given_app);

	CK_SLOT_ID slot = the_slot();
	CK_SESSION_HANDLE a, b;
	assert_int_equal(fl->C_OpenSession(slot, CKF_SERIAL_SESSION, &marker,
					   app_notify, &a),
			 CKR_OK);
	/* The provider got a callback, but not the application's pointers. */
	assert_non_null(*given);
	assert_true(*given != app_notify);
	assert_true(*given_app != &marker);
	assert_true(a < 0x5150 || a > 0x5150 + 8); /* not the provider's */

	seen.answer = CKR_OK;
	assert_int_equal(fl->C_SeedRandom(a, (CK_BYTE_PTR) "x", 1), CKR_OK);
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen.session, a);
	assert_int_equal(seen.event, CKN_SURRENDER);
	assert_ptr_equal(seen.app, &marker);
	/* The application's answer reaches the provider. */
	seen.answer = CKR_CANCEL;
	assert_int_equal(fl->C_SeedRandom(a, (CK_BYTE_PTR) "x", 1),
			 CKR_FUNCTION_CANCELED);
	assert_int_equal(seen.calls, 2);

	/* Without a callback the provider gets none. */
	assert_int_equal(
	    fl->C_OpenSession(slot, CKF_SERIAL_SESSION, &marker, NULL, &b),
	    CKR_OK);
	assert_null(*given);
	assert_ptr_equal(*given_app, &marker);
	assert_int_equal(fl->C_SeedRandom(b, (CK_BYTE_PTR) "x", 1), CKR_OK);
	assert_int_equal(seen.calls, 2);

	/* A second callback session: each sees its own handle. */
	CK_SESSION_HANDLE c;
	int other = 0;
	assert_int_equal(
	    fl->C_OpenSession(slot, CKF_SERIAL_SESSION, &other, app_notify, &c),
	    CKR_OK);
	seen.answer = CKR_OK;
	assert_int_equal(fl->C_SeedRandom(c, (CK_BYTE_PTR) "x", 1), CKR_OK);
	assert_int_equal(seen.session, c);
	assert_ptr_equal(seen.app, &other);
	assert_int_equal(fl->C_CloseSession(a), CKR_OK);
	assert_int_equal(fl->C_CloseSession(b), CKR_OK);
	assert_int_equal(fl->C_CloseSession(c), CKR_OK);
	dlclose(mock);
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	mock_path = argv[2];
	p11test_write_config(mock_path, "");
	p11test_load(&m, argv[1]);
	fl = m.fl;
	assert_int_equal(fl->C_Initialize(NULL), CKR_OK);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_notify_sees_own_handle),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	fl->C_Finalize(NULL);
	p11test_unload(&m);
	return rc;
}
