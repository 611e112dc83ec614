/* Output buffers with a canary tail, shared by every test that hands the
 * module a buffer to fill (issue 18).
 *
 * A function that answers CKR_BUFFER_TOO_SMALL must not have written past
 * the length it was given, and one that answers CKR_OK must not write past
 * it either.  Test buffers are usually large, so neither a wrong return
 * code nor ASan shows such a write: every buffer from
 * p11test_canary_alloc is followed by P11TEST_CANARY_LEN bytes of a known
 * pattern, checked after the call. */
#ifndef P11TEST_CANARY_H
#define P11TEST_CANARY_H

#include <stdbool.h>
#include <stddef.h>

#include "p11overlay.h"

#define P11TEST_CANARY_LEN 64

/* A heap buffer of `len` usable bytes (filled with 0xA5), followed by the
 * canary tail.  Aborts the test program when out of memory. */
void *p11test_canary_alloc(size_t len);
/* True if the tail after the buffer's `len` bytes is untouched; otherwise
 * prints `what` and the first overwritten offset to stderr. */
bool p11test_canary_intact(const void *buf, const char *what);
/* p11test_canary_intact, then free (NULL: true). */
bool p11test_canary_free(void *buf, const char *what);

/* What the length holds after a call that returned CKR_BUFFER_TOO_SMALL. */
typedef enum p11test_short_len {
	P11TEST_SHORT_LEN_NEEDED,      /* the length needed (lists, outputs) */
	P11TEST_SHORT_LEN_UNAVAILABLE, /* CK_UNAVAILABLE_INFORMATION
					  (C_GetAttributeValue) */
	P11TEST_SHORT_LEN_ANY,         /* not reported (C_GetVariable) */
} p11test_short_len;

/* One call of the function under test: fill `buf` (room for *len
 * elements; buf is NULL for a size query) and set *len as the function
 * does. */
typedef CK_RV (*p11test_fill_fn)(void *ctx, void *buf, CK_ULONG *len);

/* The two-call convention (PKCS#11 2.40 section 5.2) of one output:
 * calls `fn` with a canary-tailed buffer of 0, 1, need/2, need-1, need and
 * need+2 elements of `elem` bytes, where `need` is the element count of a
 * size query (fn with NULL; pass `need_hint` instead when the function
 * cannot be asked, e.g. C_GetVariable, else ~0UL).  Checks: short
 * buffers return CKR_BUFFER_TOO_SMALL with the length as `short_len`
 * says, large enough ones CKR_OK with len == need and the same bytes each
 * time, and no call writes past its buffer.  Copies the value into `out`
 * (up to out_size bytes) when given.  Returns `need`, or -1 after
 * printing what `what` broke. */
long p11test_canary_two_call(const char *what, p11test_fill_fn fn, void *ctx,
			     size_t elem, p11test_short_len short_len,
			     CK_ULONG need_hint, void *out, size_t out_size);

#endif
