/* Handles of the objects addon against an adversarial provider
 * (mock_provider.c) loaded through the real p11overlay.so: provider
 * handles in the reserved range, next to 0 and at ~0 still reach the
 * provider exactly, never collide with the synthetic objects, and the
 * mapping is a bijection.  argv[1] = p11overlay.so, argv[2] = the mock. */
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "obtest.h"

CK_FUNCTION_LIST_PTR fl;
static p11test_module m;
static const char *mock_path;
static CK_OBJECT_HANDLE *last_key, *last_destroyed;
static CK_SESSION_HANDLE s;

#define NSYN 3 /* no PC/SC reader: no ATR object */
#define NMOCK 115

static int setup(void **state)
{
	(void)state;
	p11test_write_config(mock_path, NULL);
	assert_int_equal(fl->C_Initialize(NULL), CKR_OK);
	void *dl = dlopen(mock_path, RTLD_NOW | RTLD_NOLOAD);
	assert_non_null(dl);
	last_key = dlsym(dl, "mock_last_key");
	last_destroyed = dlsym(dl, "mock_last_destroyed");
	assert_non_null(last_key);
	CK_SLOT_ID ids[2];
	assert_int_equal(p11test_token_slots(&m, ids, 2), 1);
	assert_int_equal(fl->C_OpenSession(ids[0],
					   CKF_SERIAL_SESSION | CKF_RW_SESSION,
					   NULL, NULL, &s),
			 CKR_OK);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return fl->C_Finalize(NULL) == CKR_OK ? 0 : -1;
}

/* The provider value an application handle stands for (from the label),
 * checked again through C_SignInit (a generated OBJECT wrapper). */
static CK_ULONG provider_value(CK_OBJECT_HANDLE h)
{
	char label[64];
	ob_label(s, h, label, sizeof(label));
	assert_memory_equal(label, "obj-", 4);
	CK_ULONG v = strtoul(label + 4, NULL, 16);
	CK_MECHANISM mech = {CKM_RSA_PKCS, NULL, 0};
	*last_key = 0xdead;
	assert_int_equal(fl->C_SignInit(s, &mech, h), CKR_OK);
	assert_int_equal(*last_key, v);
	return v;
}

static void check_all(CK_ULONG max, size_t nmock)
{
	CK_OBJECT_HANDLE h[OB_MAX_FOUND * 4];
	/* ob_find is bounded by OB_MAX_FOUND: page by label instead. */
	size_t n = 0;
	assert_int_equal(fl->C_FindObjectsInit(s, NULL, 0), CKR_OK);
	for (;;) {
		CK_ULONG got = 0;
		assert_int_equal(fl->C_FindObjects(s, h + n, max, &got),
				 CKR_OK);
		assert_true(got <= max);
		if (!got)
			break;
		n += got;
		assert_true(n < sizeof(h) / sizeof(h[0]));
	}
	assert_int_equal(fl->C_FindObjectsFinal(s), CKR_OK);
	assert_int_equal(n, nmock + NSYN);
	CK_ULONG values[OB_MAX_FOUND * 4];
	size_t nv = 0, nsyn = 0;
	for (size_t i = 0; i < n; i++) {
		for (size_t j = i + 1; j < n; j++)
			assert_true(h[i] != h[j]);
		char label[64];
		ob_label(s, h[i], label, sizeof(label));
		if (strncmp(label, "obj-", 4) != 0) {
			nsyn++;
			continue;
		}
		values[nv++] = provider_value(h[i]);
	}
	assert_int_equal(nsyn, NSYN);
	for (size_t i = 0; i < nv; i++) /* a bijection */
		for (size_t j = i + 1; j < nv; j++)
			assert_true(values[i] != values[j]);
}

static void test_find_bijection(void **state)
{
	(void)state;
	check_all(1, NMOCK);
	check_all(2, NMOCK);
	check_all(1000, NMOCK);
	unsigned char v[64];
	assert_int_equal(ob_value(s, "TokenLabel", v, sizeof(v)), 10);
	assert_memory_equal(v, "Mock Token", 10);
	assert_int_equal(ob_value(s, "TokenSerialNumber", v, sizeof(v)), 8);
	/* Found by label through the provider's own matching. */
	const char *labels[] = {"obj-1", "obj-ffffffffffffffff",
				"obj-8000000000000009", "obj-8000000000010000"};
	for (size_t i = 0; i < 4; i++) {
		CK_OBJECT_HANDLE h = ob_by_label(s, labels[i]);
		assert_true(h != 0);
		assert_int_equal(provider_value(h),
				 strtoul(labels[i] + 4, NULL, 16));
	}
}

static void test_create_destroy(void **state)
{
	(void)state;
	CK_OBJECT_HANDLE h[3];
	for (int i = 0; i < 3; i++) {
		assert_int_equal(fl->C_CreateObject(s, NULL, 0, &h[i]), CKR_OK);
		assert_int_equal(provider_value(h[i]),
				 ~(CK_ULONG)0 - 2 - (CK_ULONG)i);
	}
	check_all(3, NMOCK + 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(fl->C_DestroyObject(s, h[i]), CKR_OK);
		assert_int_equal(*last_destroyed,
				 ~(CK_ULONG)0 - 2 - (CK_ULONG)i);
	}
	check_all(7, NMOCK);
	/* Synthetic objects are not the provider's: never passed down. */
	CK_OBJECT_HANDLE syn = ob_by_label(s, "UpdateCount");
	*last_destroyed = 0xdead;
	assert_int_equal(fl->C_DestroyObject(s, syn), CKR_ACTION_PROHIBITED);
	assert_int_equal(*last_destroyed, 0xdead);
	CK_MECHANISM mech = {CKM_RSA_PKCS, NULL, 0};
	assert_int_equal(fl->C_SignInit(s, &mech, syn), CKR_KEY_HANDLE_INVALID);
	assert_int_equal(*last_key, CK_INVALID_HANDLE);
}

int main(int argc, char **argv)
{
	const char *module = argc > 1 ? argv[1] : "build/p11overlay.so";
	mock_path = argc > 2 ? argv[2] : "build/tests/objects/mock_provider.so";
	p11test_load(&m, module);
	fl = m.fl;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_find_bijection),
	    cmocka_unit_test(test_create_destroy),
	};
	int rc = cmocka_run_group_tests(tests, setup, teardown);
	p11test_unload(&m);
	return rc;
}
