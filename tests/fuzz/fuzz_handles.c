/* libFuzzer target: the handle table (proxy/handles.c) driven by a
 * sequence of add / get / remove / remove_aux / clear operations decoded
 * from the fuzz bytes, each result checked against a simple model (an
 * array of every handle ever issued and whether it is live).
 *
 * Byte 0: bit 0 = table with reverse mapping.  Then per operation one
 * opcode byte and its argument bytes (missing bytes read as 0). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "handles.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MODEL 4096

typedef struct rec {
	CK_ULONG handle, value, aux;
	bool live;
} rec;

static rec model[MAX_MODEL];
static size_t nmodel;

typedef struct reader {
	const uint8_t *p;
	size_t n;
} reader;

static uint8_t byte(reader *r)
{
	if (!r->n)
		return 0;
	r->n--;
	return *r->p++;
}

static CK_ULONG value_of(uint8_t b)
{
	switch (b >> 5) {
	case 0:
		return 0;
	case 1:
		return ~(CK_ULONG)0;
	case 2:
		return (CK_ULONG)1 << (sizeof(CK_ULONG) * 8 - 1) | b;
	case 3:
		return (CK_ULONG)0xFFFFFFFFu + b;
	default:
		return b & 0x1F; /* small: collisions in the reverse map */
	}
}

static rec *live_with(CK_ULONG value, CK_ULONG aux)
{
	for (size_t i = 0; i < nmodel; i++)
		if (model[i].live && model[i].value == value &&
		    model[i].aux == aux)
			return &model[i];
	return NULL;
}

static rec *by_handle(CK_ULONG h)
{
	for (size_t i = 0; i < nmodel; i++)
		if (model[i].handle == h)
			return &model[i];
	return NULL;
}

static size_t live_count(void)
{
	size_t n = 0;
	for (size_t i = 0; i < nmodel; i++)
		n += model[i].live;
	return n;
}

static void check_get(p11o_handle_table *t, CK_ULONG h)
{
	p11o_handle_info info;
	const rec *m = by_handle(h);
	bool got = p11o_handles_get(t, h, &info);
	if (got != (m && m->live))
		__builtin_trap();
	if (got && (info.value != m->value || info.aux != m->aux))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static p11o_handle_table t;
	reader r = {data, size};
	bool reverse = byte(&r) & 1;

	if (p11o_handles_init(&t, reverse) != CKR_OK)
		return 0;
	nmodel = 0;
	while (r.n) {
		uint8_t op = byte(&r);
		switch (op % 6) {
		case 0:
		case 1: { /* add */
			CK_ULONG value = value_of(byte(&r));
			CK_ULONG aux = byte(&r) % 4;
			rec *same = reverse ? live_with(value, aux) : NULL;
			CK_ULONG h = p11o_handles_add(&t, value, aux);
			if (h == 0 || h >= 0x80000000ul)
				__builtin_trap();
			if (same) {
				if (h != same->handle)
					__builtin_trap();
				break;
			}
			rec *old = by_handle(h);
			if (old && old->live)
				__builtin_trap(); /* a live handle reissued */
			if (!old) {
				if (nmodel == MAX_MODEL)
					goto done;
				old = &model[nmodel++];
			}
			*old = (rec){h, value, aux, true};
			break;
		}
		case 2: /* get a known handle (live or dead) */
			if (nmodel)
				check_get(&t, model[byte(&r) % nmodel].handle);
			break;
		case 3: { /* get / remove a handle made of fuzz bytes */
			CK_ULONG h = 0;
			for (int i = 0; i < 3; i++)
				h = h << 8 | byte(&r);
			if (op & 0x80)
				h |= ~(CK_ULONG)0 << 24; /* huge */
			check_get(&t, h);
			rec *m = by_handle(h);
			bool removed = p11o_handles_remove(&t, h);
			if (removed != (m && m->live))
				__builtin_trap();
			if (m)
				m->live = false;
			break;
		}
		case 4: { /* remove a known handle */
			if (!nmodel)
				break;
			rec *m = &model[byte(&r) % nmodel];
			bool was = m->live;
			if (p11o_handles_remove(&t, m->handle) != was)
				__builtin_trap();
			m->live = false;
			if (p11o_handles_remove(&t, m->handle))
				__builtin_trap(); /* twice */
			break;
		}
		case 5: { /* remove_aux, or clear */
			uint8_t a = byte(&r);
			size_t expect = 0;
			for (size_t i = 0; i < nmodel; i++)
				if (model[i].live &&
				    (a == 0xFF || model[i].aux == a % 4)) {
					model[i].live = false;
					expect++;
				}
			if (a == 0xFF) {
				p11o_handles_clear(&t);
			} else if (p11o_handles_remove_aux(&t, a % 4) !=
				   expect) {
				__builtin_trap();
			}
			break;
		}
		}
		if (p11o_handles_count(&t) != live_count())
			__builtin_trap();
	}
done:
	for (size_t i = 0; i < nmodel; i++)
		check_get(&t, model[i].handle);
	p11o_handles_destroy(&t);
	return 0;
}
