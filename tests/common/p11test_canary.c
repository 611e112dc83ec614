#include "p11test_canary.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Header in front of the buffer: the tail is found from the buffer alone. */
typedef struct canary_head {
	uint64_t magic;
	size_t len;
} canary_head;

#define CANARY_MAGIC 0x43414e4152593131ull /* "CANARY11" */

/* Not a byte a module writes by accident (not 0, blank or 0xFF). */
static unsigned char tail_byte(size_t i)
{
	return (unsigned char)(0x5A ^ (i * 37));
}

void *p11test_canary_alloc(size_t len)
{
	canary_head *h = malloc(sizeof(*h) + len + P11TEST_CANARY_LEN);
	if (!h) {
		fprintf(stderr, "p11test_canary_alloc: out of memory\n");
		exit(2);
	}
	h->magic = CANARY_MAGIC;
	h->len = len;
	unsigned char *buf = (unsigned char *)(h + 1);
	memset(buf, 0xA5, len);
	for (size_t i = 0; i < P11TEST_CANARY_LEN; i++)
		buf[len + i] = tail_byte(i);
	return buf;
}

static canary_head *head_of(const void *buf)
{
	canary_head *h = (canary_head *)buf - 1;
	if (h->magic != CANARY_MAGIC) {
		fprintf(stderr, "p11test_canary: not a canary buffer\n");
		abort();
	}
	return h;
}

bool p11test_canary_intact(const void *buf, const char *what)
{
	const canary_head *h = head_of(buf);
	const unsigned char *tail = (const unsigned char *)buf + h->len;
	for (size_t i = 0; i < P11TEST_CANARY_LEN; i++)
		if (tail[i] != tail_byte(i)) {
			fprintf(stderr,
				"%s: wrote past its %zu-byte buffer (canary "
				"byte %zu overwritten)\n",
				what, h->len, i);
			return false;
		}
	return true;
}

bool p11test_canary_free(void *buf, const char *what)
{
	if (!buf)
		return true;
	bool ok = p11test_canary_intact(buf, what);
	free(head_of(buf));
	return ok;
}

__attribute__((format(printf, 2, 3))) static bool fail(const char *what,
						       const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", what);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return false;
}

/* One call with a buffer of `size` elements. */
static bool one_size(const char *what, p11test_fill_fn fn, void *ctx,
		     size_t elem, p11test_short_len short_len, CK_ULONG need,
		     CK_ULONG size, unsigned char **ref)
{
	unsigned char *buf = p11test_canary_alloc(size * elem);
	CK_ULONG len = size;
	CK_RV rv = fn(ctx, buf, &len);
	bool ok = true;
	if (size < need) {
		if (rv != CKR_BUFFER_TOO_SMALL)
			ok = fail(what,
				  "%lu elements of %lu: rv 0x%lx, not "
				  "CKR_BUFFER_TOO_SMALL",
				  size, need, rv);
		else if (short_len == P11TEST_SHORT_LEN_NEEDED && len != need)
			ok = fail(what,
				  "%lu elements of %lu: length %lu, not the "
				  "length needed",
				  size, need, len);
		else if (short_len == P11TEST_SHORT_LEN_UNAVAILABLE &&
			 len != CK_UNAVAILABLE_INFORMATION)
			ok = fail(what,
				  "%lu bytes of %lu: length %lu, not "
				  "CK_UNAVAILABLE_INFORMATION",
				  size, need, len);
	} else if (rv != CKR_OK) {
		ok = fail(what, "%lu elements, %lu needed: rv 0x%lx", size,
			  need, rv);
	} else if (len != need) {
		ok = fail(what, "%lu elements: length %lu, size query said %lu",
			  size, len, need);
	} else if (!*ref) {
		*ref = malloc(need * elem + 1);
		if (*ref)
			memcpy(*ref, buf, need * elem);
	} else if (memcmp(*ref, buf, need * elem) != 0) {
		ok = fail(what,
			  "%lu elements: value differs from the first "
			  "complete answer",
			  size);
	}
	char label[160];
	snprintf(label, sizeof(label), "%s (buffer of %lu elements)", what,
		 size);
	if (!p11test_canary_free(buf, label))
		ok = false;
	return ok;
}

long p11test_canary_two_call(const char *what, p11test_fill_fn fn, void *ctx,
			     size_t elem, p11test_short_len short_len,
			     CK_ULONG need_hint, void *out, size_t out_size)
{
	CK_ULONG need = need_hint;
	if (need == ~0UL) {
		CK_RV rv = fn(ctx, NULL, &need);
		if (rv != CKR_OK) {
			fprintf(stderr, "%s: size query: rv 0x%lx\n", what, rv);
			return -1;
		}
	}
	/* Sizes around the edges: none, one, half, one short, exact, more. */
	CK_ULONG sizes[] = {0,    1,       need / 2, need ? need - 1 : 0,
			    need, need + 2};
	unsigned char *ref = NULL;
	bool ok = true;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		bool dup = false;
		for (size_t j = 0; j < i; j++)
			dup |= sizes[j] == sizes[i];
		if (!dup && !one_size(what, fn, ctx, elem, short_len, need,
				      sizes[i], &ref))
			ok = false;
	}
	if (ok && out && ref)
		memcpy(out, ref,
		       need * elem < out_size ? need * elem : out_size);
	free(ref);
	return ok ? (long)need : -1;
}
