#include "tables.h"

#include <stdlib.h>
#include <string.h>

#include "objects_int.h"

static size_t hash(CK_ULONG h)
{
	uint64_t x = (uint64_t)h * 0x9E3779B97F4A7C15ull;
	return (size_t)(x ^ (x >> 29));
}

static ob_buckets *buckets_new(size_t cap)
{
	ob_buckets *b = calloc(1, sizeof(*b) + cap * sizeof(b->b[0]));
	if (b)
		b->cap = cap;
	return b;
}

CK_RV ob_sessions_init(ob_sessions *s)
{
	memset(s, 0, sizeof(*s));
	ob_buckets *b = buckets_new(64);
	if (!b)
		return CKR_HOST_MEMORY;
	if (p11o_mutex_init(&s->lock) != CKR_OK) {
		free(b);
		return CKR_HOST_MEMORY;
	}
	atomic_init(&s->cur, b);
	return CKR_OK;
}

void ob_sessions_destroy(ob_sessions *s)
{
	free(atomic_load(&s->cur));
	for (ob_buckets *b = s->retired, *n; b; b = n) {
		n = b->retired;
		free(b);
	}
	for (ob_session *r = s->all, *n; r; r = n) {
		n = r->all_next;
		free(r);
	}
	p11o_mutex_destroy(&s->lock);
}

ob_session *ob_sessions_get(ob_sessions *s, CK_SESSION_HANDLE h)
{
	ob_buckets *b = atomic_load_explicit(&s->cur, memory_order_acquire);
	size_t mask = b->cap - 1;
	for (size_t i = hash(h) & mask, n = 0; n < b->cap;
	     i = (i + 1) & mask, n++) {
		ob_session *r =
		    atomic_load_explicit(&b->b[i], memory_order_acquire);
		if (!r)
			return NULL;
		if (atomic_load(&r->handle) == h && atomic_load(&r->live))
			return r;
	}
	return NULL;
}

/* Under the lock: put r in b (no growth). */
static void place(ob_buckets *b, ob_session *r)
{
	size_t mask = b->cap - 1;
	size_t i = hash(atomic_load(&r->handle)) & mask;
	while (atomic_load(&b->b[i]))
		i = (i + 1) & mask;
	atomic_store_explicit(&b->b[i], r, memory_order_release);
}

/* Under the lock: a table twice as big with the live records. */
static bool grow(ob_sessions *s)
{
	ob_buckets *old = atomic_load(&s->cur);
	ob_buckets *b = buckets_new(old->cap * 2);
	if (!b)
		return false;
	size_t used = 0;
	for (size_t i = 0; i < old->cap; i++) {
		ob_session *r = atomic_load(&old->b[i]);
		if (!r)
			continue;
		if (atomic_load(&r->live)) {
			place(b, r);
			used++;
		} else {
			r->free_next = s->free;
			s->free = r;
		}
	}
	/* Readers may still walk `old`: retire it, free at destroy. */
	old->retired = s->retired;
	s->retired = old;
	s->used = used;
	atomic_store_explicit(&s->cur, b, memory_order_release);
	return true;
}

static void reset(ob_session *r, CK_SLOT_ID pid, uint64_t insertion, bool rw)
{
	r->rw = rw;
	r->pid = pid;
	r->insertion = insertion;
	r->find_active = false;
	r->find_pending = 0;
}

ob_session *ob_sessions_add(ob_sessions *s, CK_SESSION_HANDLE h, CK_SLOT_ID pid,
			    uint64_t insertion, bool rw)
{
	p11o_mutex_lock(&s->lock);
	ob_buckets *b = atomic_load(&s->cur);
	size_t mask = b->cap - 1;
	ob_session *dead = NULL, *r = NULL;
	for (size_t i = hash(h) & mask;; i = (i + 1) & mask) {
		ob_session *x = atomic_load(&b->b[i]);
		if (!x)
			break;
		if (atomic_load(&x->handle) == h) {
			r = x;
			break;
		}
		if (!dead && !atomic_load(&x->live))
			dead = x;
	}
	if (!r && dead) {
		r = dead;
		atomic_store(&r->handle, h);
	}
	if (r) {
		reset(r, pid, insertion, rw);
		atomic_store(&r->live, true);
		p11o_mutex_unlock(&s->lock);
		return r;
	}
	if ((s->used + 1) * 2 > b->cap && !grow(s)) {
		p11o_mutex_unlock(&s->lock);
		return NULL;
	}
	r = s->free;
	if (r) {
		s->free = r->free_next;
	} else if ((r = calloc(1, sizeof(*r))) != NULL) {
		r->all_next = s->all;
		s->all = r;
	} else {
		p11o_mutex_unlock(&s->lock);
		return NULL;
	}
	atomic_store(&r->handle, h);
	reset(r, pid, insertion, rw);
	atomic_store(&r->live, true);
	place(atomic_load(&s->cur), r);
	s->used++;
	p11o_mutex_unlock(&s->lock);
	return r;
}

void ob_sessions_remove(ob_sessions *s, CK_SESSION_HANDLE h)
{
	p11o_mutex_lock(&s->lock);
	ob_session *r = ob_sessions_get(s, h);
	if (r)
		atomic_store(&r->live, false);
	p11o_mutex_unlock(&s->lock);
}

void ob_sessions_remove_slot(ob_sessions *s, CK_SLOT_ID pid)
{
	p11o_mutex_lock(&s->lock);
	ob_buckets *b = atomic_load(&s->cur);
	for (size_t i = 0; i < b->cap; i++) {
		ob_session *r = atomic_load(&b->b[i]);
		if (r && r->pid == pid)
			atomic_store(&r->live, false);
	}
	p11o_mutex_unlock(&s->lock);
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
