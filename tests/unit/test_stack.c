/* Stack assembly: calls skip layers that do not override a function, each
 * layer gets itself as `self`, unimplemented functions are unsupported. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "layer.h"

static char trail[64];

static void mark(p11o_layer *self)
{
	strcat(trail, self->name);
}

static CK_RV top_get_info(p11o_layer *self, CK_INFO_PTR pInfo)
{
	mark(self);
	return P11O_DOWN(self, C_GetInfo, pInfo);
}

static CK_RV bottom_get_info(p11o_layer *self, CK_INFO_PTR pInfo)
{
	mark(self);
	pInfo->flags = 77;
	return CKR_OK;
}

static CK_RV bottom_close(p11o_layer *self, CK_SESSION_HANDLE h)
{
	mark(self);
	return h == 5 ? CKR_OK : CKR_SESSION_HANDLE_INVALID;
}

static CK_RV middle_close(p11o_layer *self, CK_SESSION_HANDLE h)
{
	mark(self);
	return P11O_DOWN(self, C_CloseSession, h + 1);
}

static p11o_ops top_ops = {.C_GetInfo = top_get_info};
static p11o_ops middle_ops = {.C_CloseSession = middle_close};
static p11o_ops empty_ops;
static p11o_ops bottom_ops = {.C_GetInfo = bottom_get_info,
			      .C_CloseSession = bottom_close};

static void test_resolution(void **state)
{
	(void)state;
	p11o_layer top = {.name = "T", .ops = &top_ops};
	p11o_layer middle = {.name = "M", .ops = &middle_ops};
	p11o_layer empty = {.name = "E", .ops = &empty_ops};
	p11o_layer bottom = {.name = "B", .ops = &bottom_ops};
	p11o_layer *layers[] = {&top, &middle, &empty, &bottom};
	p11o_targets entry;
	p11o_stack_resolve(layers, 4, &entry);

	CK_INFO info = {0};
	trail[0] = 0;
	assert_int_equal(entry.C_GetInfo.fn(entry.C_GetInfo.layer, &info),
			 CKR_OK);
	assert_string_equal(trail, "TB"); /* M and E skipped */
	assert_int_equal(info.flags, 77);

	trail[0] = 0;
	assert_ptr_equal(entry.C_CloseSession.layer, &middle);
	assert_int_equal(entry.C_CloseSession.fn(&middle, 4), CKR_OK);
	assert_string_equal(trail, "MB");

	/* Nobody implements C_Sign. */
	assert_int_equal(
	    entry.C_Sign.fn(entry.C_Sign.layer, 1, NULL, 0, NULL, NULL),
	    CKR_FUNCTION_NOT_SUPPORTED);
	assert_int_equal(top.down.C_Sign.fn(NULL, 1, NULL, 0, NULL, NULL),
			 CKR_FUNCTION_NOT_SUPPORTED);
}

static void test_uninitialized(void **state)
{
	(void)state;
	p11o_targets t;
	p11o_targets_fill_uninitialized(&t);
	CK_ULONG count = 0;
	assert_int_equal(t.C_GetSlotList.fn(NULL, CK_TRUE, NULL, &count),
			 CKR_CRYPTOKI_NOT_INITIALIZED);
	assert_int_equal(t.C_HasNewEvent.fn(NULL, NULL),
			 CKR_CRYPTOKI_NOT_INITIALIZED);
}

/* Every function in the one list has an entry and an index. */
static void test_function_list_complete(void **state)
{
	(void)state;
	size_t n = 0;
#define COUNT_(name, ...) n++;
	P11O_FUNCTIONS(COUNT_)
#undef COUNT_
	assert_int_equal(n, P11O_FN_COUNT);
	/* 68 from 2.40 minus C_GetFunctionList, 22 from 3.0 minus the two
	 * interface functions, 13 extensions. */
	assert_int_equal(n, 67 + 22 + 13);
	assert_int_equal(sizeof(p11o_ops), n * sizeof(void (*)(void)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_resolution),
	    cmocka_unit_test(test_uninitialized),
	    cmocka_unit_test(test_function_list_complete),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
