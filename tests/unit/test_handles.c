/* Handle spaces: mapping, generations, reverse map, adversarial values. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "handles.h"

static void test_add_get_remove(void **state)
{
	(void)state;
	p11o_handle_table t;
	assert_int_equal(p11o_handles_init(&t, false), CKR_OK);
	CK_ULONG h = p11o_handles_add(&t, 42, 7);
	assert_true(h != 0);
	assert_true(h < (1ul << 31));
	p11o_handle_info info;
	assert_true(p11o_handles_get(&t, h, &info));
	assert_int_equal(info.value, 42);
	assert_int_equal(info.aux, 7);
	assert_true(p11o_handles_remove(&t, h));
	assert_false(p11o_handles_get(&t, h, &info));
	assert_false(p11o_handles_remove(&t, h));
	/* The index is reused with a new generation: the old handle stays
	 * invalid. */
	CK_ULONG h2 = p11o_handles_add(&t, 43, 0);
	assert_true(h2 != h);
	assert_false(p11o_handles_get(&t, h, &info));
	assert_true(p11o_handles_get(&t, h2, &info));
	assert_int_equal(info.value, 43);
	p11o_handles_destroy(&t);
}

static void test_invalid_handles(void **state)
{
	(void)state;
	p11o_handle_table t;
	assert_int_equal(p11o_handles_init(&t, false), CKR_OK);
	p11o_handle_info info;
	const CK_ULONG bad[] = {
	    0, 1, 12345, ~0ul, 1ul << 20, (1ul << 31) - 1, 0xdeadbeef};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(p11o_handles_get(&t, bad[i], &info));
	p11o_handles_destroy(&t);
}

static void test_reverse_same_handle(void **state)
{
	(void)state;
	p11o_handle_table t;
	assert_int_equal(p11o_handles_init(&t, true), CKR_OK);
	/* Adversarial provider values, including 0 and all-ones. */
	const CK_ULONG values[] = {0, ~0ul, 1, 0x80000000ul, 42, 1ul << 40};
	CK_ULONG handles[6];
	for (int i = 0; i < 6; i++) {
		handles[i] = p11o_handles_add(&t, values[i], 0);
		assert_true(handles[i] != 0);
	}
	for (int i = 0; i < 6; i++) {
		assert_int_equal(p11o_handles_add(&t, values[i], 0),
				 handles[i]);
		p11o_handle_info info;
		assert_true(p11o_handles_get(&t, handles[i], &info));
		assert_int_equal(info.value, values[i]);
		for (int j = 0; j < i; j++)
			assert_true(handles[i] != handles[j]);
	}
	/* The same provider value on another token is another object. */
	CK_ULONG other = p11o_handles_add(&t, 42, 1);
	assert_true(other != 0 && other != handles[4]);
	assert_int_equal(p11o_handles_add(&t, 42, 1), other);
	assert_true(p11o_handles_remove(&t, other));
	assert_true(p11o_handles_remove(&t, handles[4]));
	CK_ULONG again = p11o_handles_add(&t, 42, 0);
	assert_true(again != handles[4]);
	assert_int_equal(p11o_handles_count(&t), 6);
	p11o_handles_destroy(&t);
}

static void test_many_and_remove_aux(void **state)
{
	(void)state;
	p11o_handle_table t;
	assert_int_equal(p11o_handles_init(&t, true), CKR_OK);
	enum { N = 5000 }; /* several pages, several reverse-map growths */
	static CK_ULONG h[N];
	for (CK_ULONG i = 0; i < N; i++) {
		h[i] = p11o_handles_add(&t, i * 7919, i % 3);
		assert_true(h[i] != 0);
	}
	assert_int_equal(p11o_handles_remove_aux(&t, 1), (N + 1) / 3);
	p11o_handle_info info;
	for (CK_ULONG i = 0; i < N; i++) {
		assert_int_equal(p11o_handles_get(&t, h[i], &info), i % 3 != 1);
		if (i % 3 != 1)
			assert_int_equal(p11o_handles_add(&t, i * 7919, i % 3),
					 h[i]);
	}
	p11o_handles_clear(&t);
	assert_int_equal(p11o_handles_count(&t), 0);
	assert_false(p11o_handles_get(&t, h[0], &info));
	p11o_handles_destroy(&t);
}

static void test_add_many(void **state)
{
	(void)state;
	p11o_handle_table t;
	assert_int_equal(p11o_handles_init(&t, true), CKR_OK);
	CK_ULONG single = p11o_handles_add(&t, 7, 3);
	CK_ULONG v[4] = {5, 7, 5, 9};
	assert_int_equal(p11o_handles_add_many(&t, v, 4, 3), 4);
	assert_int_equal(v[1], single); /* already known */
	assert_int_equal(v[0], v[2]);   /* same object twice */
	p11o_handle_info info;
	assert_true(p11o_handles_get(&t, v[3], &info));
	assert_int_equal(info.value, 9);
	assert_int_equal(info.aux, 3);
	p11o_handles_destroy(&t);
}

static p11o_handle_table shared;
static CK_ULONG stable;

static void *reader(void *arg)
{
	(void)arg;
	for (int i = 0; i < 200000; i++) {
		p11o_handle_info info;
		if (!p11o_handles_get(&shared, stable, &info) ||
		    info.value != 99)
			return (void *)1;
	}
	return NULL;
}

/* Lock-free lookups stay right while another thread adds and removes. */
static void test_concurrent(void **state)
{
	(void)state;
	assert_int_equal(p11o_handles_init(&shared, false), CKR_OK);
	stable = p11o_handles_add(&shared, 99, 0);
	pthread_t th;
	pthread_create(&th, NULL, reader, NULL);
	for (int i = 0; i < 20000; i++) {
		CK_ULONG h = p11o_handles_add(&shared, (CK_ULONG)i, 1);
		assert_true(h != 0);
		assert_true(p11o_handles_remove(&shared, h));
	}
	void *res;
	pthread_join(th, &res);
	assert_null(res);
	p11o_handles_destroy(&shared);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_add_get_remove),
	    cmocka_unit_test(test_invalid_handles),
	    cmocka_unit_test(test_reverse_same_handle),
	    cmocka_unit_test(test_many_and_remove_aux),
	    cmocka_unit_test(test_add_many),
	    cmocka_unit_test(test_concurrent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
