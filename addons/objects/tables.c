#include "tables.h"

#include <stdlib.h>
#include <string.h>

#include "objects_int.h"

static size_t hash(CK_ULONG h)
{
	uint64_t x = (uint64_t)h * 0x9E3779B97F4A7C15ull;
	return (size_t)(x ^ (x >> 29));
}

/* ---- escapes ------------------------------------------------------------ */

CK_RV ob_escapes_init(ob_escapes *e)
{
	memset(e, 0, sizeof(*e));
	return p11o_mutex_init(&e->lock);
}

void ob_escapes_destroy(ob_escapes *e)
{
	free(e->vals);
	free(e->index);
	p11o_mutex_destroy(&e->lock);
}

static bool index_grow(ob_escapes *e)
{
	size_t cap = e->index_cap ? e->index_cap * 2 : 64;
	uint32_t *idx = calloc(cap, sizeof(*idx));
	if (!idx)
		return false;
	for (size_t i = 0; i < e->count; i++) {
		size_t k = hash(e->vals[i]) & (cap - 1);
		while (idx[k])
			k = (k + 1) & (cap - 1);
		idx[k] = (uint32_t)i + 1;
	}
	free(e->index);
	e->index = idx;
	e->index_cap = cap;
	return true;
}

CK_ULONG ob_escape_up(ob_escapes *e, CK_ULONG v)
{
	CK_ULONG out = 0;
	p11o_mutex_lock(&e->lock);
	if ((e->count + 1) * 2 > e->index_cap && !index_grow(e))
		goto done;
	size_t mask = e->index_cap - 1, k = hash(v) & mask;
	for (; e->index[k]; k = (k + 1) & mask) {
		size_t i = e->index[k] - 1;
		if (e->vals[i] == v) {
			out = OB_TOP | (OB_ESC_BASE + i);
			goto done;
		}
	}
	if (e->count >= OB_ESC_MAX)
		goto done;
	if (e->count == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 16;
		CK_ULONG *vals = realloc(e->vals, cap * sizeof(*vals));
		if (!vals)
			goto done;
		e->vals = vals;
		e->cap = cap;
	}
	e->vals[e->count] = v;
	e->index[k] = (uint32_t)e->count + 1;
	out = OB_TOP | (OB_ESC_BASE + e->count);
	e->count++;
done:
	p11o_mutex_unlock(&e->lock);
	return out;
}

CK_ULONG ob_escape_down(ob_escapes *e, CK_ULONG h)
{
	CK_ULONG i = (h & ~OB_TOP) - OB_ESC_BASE, out = CK_INVALID_HANDLE;
	if ((h & OB_TOP) == 0 || (h & ~OB_TOP) < OB_ESC_BASE)
		return CK_INVALID_HANDLE;
	p11o_mutex_lock(&e->lock);
	if (i < e->count)
		out = e->vals[i];
	p11o_mutex_unlock(&e->lock);
	return out;
}
