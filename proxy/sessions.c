/* The session registry (sessions.h). */
#include "sessions.h"

#include <stdlib.h>
#include <string.h>

#define INDEX_MASK ((1ul << P11O_SESSION_INDEX_BITS) - 1)

CK_RV p11o_sessions_init(p11o_sessions *r)
{
	memset(r, 0, sizeof(*r));
	atomic_init(&r->next_unused, 1);
	return p11o_mutex_init(&r->lock) == CKR_OK ? CKR_OK : CKR_HOST_MEMORY;
}

size_t p11o_sessions_reserve(p11o_sessions *r, size_t size,
			     p11o_session_end_fn end, void *ctx)
{
	const size_t align = _Alignof(max_align_t);
	p11o_mutex_lock(&r->lock);
	size_t off = SIZE_MAX;
	if (!r->sealed && r->nhooks < P11O_SESSION_HOOKS) {
		off = r->ext_size;
		r->ext_size += (size + align - 1) / align * align;
		r->hooks[r->nhooks].fn = end;
		r->hooks[r->nhooks].ctx = ctx;
		r->hooks[r->nhooks].off = off;
		r->nhooks++;
	}
	p11o_mutex_unlock(&r->lock);
	return off;
}

/* The hooks, last reserved first.  Those with a function were gathered
 * in `run` when the registry was sealed (new_record); before that there
 * is no record to run them for. */
static void run_hooks(p11o_sessions *r, p11o_session *s, bool last)
{
	for (const struct p11o_session_hook *h = r->run + r->nrun;
	     h-- != r->run;)
		h->fn(h->ctx, s, p11o_session_ext(s, h->off), last);
}

/* Ends session h of record s (its key): one of the threads ending it
 * wins and runs the hooks. */
static void end_record(p11o_sessions *r, p11o_session *s, CK_SESSION_HANDLE h);

void p11o_sessions_destroy(p11o_sessions *r)
{
	uint32_t n = atomic_load(&r->next_unused);
	for (uint32_t i = 1; i < n; i++) {
		p11o_session *s = p11o_session_at(r, i);
		CK_SESSION_HANDLE h = atomic_load(&s->key);
		if (h)
			end_record(r, s, h);
		run_hooks(r, s, true);
	}
	for (size_t p = 0; p < P11O_SESSION_PAGES; p++)
		free(atomic_load(&r->pages[p]));
	p11o_mutex_destroy(&r->lock);
	memset(r, 0, sizeof(*r));
}

/* ---- free records: a stack of indexes, tagged against ABA ------------ */

static void push_free(p11o_sessions *r, p11o_session *s)
{
	uint64_t top = atomic_load_explicit(&r->free_top, memory_order_relaxed);
	uint64_t want;
	do {
		atomic_store_explicit(&s->next_free, (uint32_t)top,
				      memory_order_relaxed);
		want = ((top >> 32) + 1) << 32 | s->index;
	} while (!atomic_compare_exchange_weak_explicit(
	    &r->free_top, &top, want, memory_order_release,
	    memory_order_relaxed));
}

/* A record popped by another thread meanwhile may show any next_free:
 * the tag makes that compare-and-swap fail. */
static p11o_session *pop_free(p11o_sessions *r)
{
	uint64_t top = atomic_load_explicit(&r->free_top, memory_order_acquire);
	for (;;) {
		uint32_t i = (uint32_t)top;
		if (!i)
			return NULL;
		p11o_session *s = p11o_session_at(r, i);
		uint64_t want =
		    ((top >> 32) + 1) << 32 |
		    atomic_load_explicit(&s->next_free, memory_order_relaxed);
		if (atomic_compare_exchange_weak_explicit(
			&r->free_top, &top, want, memory_order_acquire,
			memory_order_acquire))
			return s;
	}
}

/* Out of line, under the lock: a record never used, in a new page when
 * the last one is full.  Pages are zeroed: a record's extension space is
 * zero when it is first used. */
__attribute__((noinline)) static p11o_session *new_record(p11o_sessions *r)
{
	p11o_session *s = NULL;
	p11o_mutex_lock(&r->lock);
	if (!r->sealed) {
		const size_t align = _Alignof(max_align_t);
		r->rec_size = (sizeof(p11o_session) + r->ext_size + align - 1) /
			      align * align;
		for (size_t k = 0; k < r->nhooks; k++)
			if (r->hooks[k].fn)
				r->run[r->nrun++] = r->hooks[k];
		r->sealed = true;
	}
	uint32_t i =
	    atomic_load_explicit(&r->next_unused, memory_order_relaxed);
	if (i > INDEX_MASK)
		goto out;
	size_t p = i >> P11O_SESSION_PAGE_BITS;
	if (!atomic_load_explicit(&r->pages[p], memory_order_relaxed)) {
		unsigned char *page = calloc(P11O_SESSION_PAGE, r->rec_size);
		if (!page)
			goto out;
		if (p == 0) /* record 0 is never a session (sessions.h) */
			atomic_init(&((p11o_session *)page)->key, ~0ul);
		atomic_store_explicit(&r->pages[p], page, memory_order_release);
	}
	s = p11o_session_at(r, i);
	s->index = i;
	atomic_store_explicit(&r->next_unused, i + 1, memory_order_release);
out:
	p11o_mutex_unlock(&r->lock);
	return s;
}

static p11o_session *take(p11o_sessions *r)
{
	p11o_session *s = pop_free(r);
	return s ? s : new_record(r);
}

/* Fill s and make it a session (its key published last). */
static void publish(p11o_session *s, const p11o_session_init *init)
{
	/* Read without a lock by walks and lookups of an older session of
	 * this record (the key's compare-and-swap decides; these reads only
	 * need to be whole): relaxed atomic stores. */
	__atomic_store_n(&s->provider_handle, init->provider_handle,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&s->provider, init->provider, __ATOMIC_RELAXED);
	__atomic_store_n(&s->route, init->route, __ATOMIC_RELAXED);
	__atomic_store_n(&s->down_slot, init->down_slot, __ATOMIC_RELAXED);
	__atomic_store_n(&s->slot, init->slot, __ATOMIC_RELAXED);
	__atomic_store_n(&s->app_slot, init->app_slot, __ATOMIC_RELAXED);
	__atomic_store_n(&s->insertion, init->insertion, __ATOMIC_RELAXED);
	s->rw = init->rw;
	s->notify = init->notify;
	s->application = init->application;
	s->gen = s->gen >= P11O_SESSION_GEN_MAX ? 1 : s->gen + 1;
	CK_SESSION_HANDLE h =
	    (CK_SESSION_HANDLE)s->gen << P11O_SESSION_INDEX_BITS | s->index;
	atomic_store_explicit(&s->handle, h, memory_order_release);
	atomic_store_explicit(&s->key, h, memory_order_release);
}

p11o_session *p11o_sessions_add(p11o_sessions *r, const p11o_session_init *init)
{
	p11o_session *s = take(r);
	if (s)
		publish(s, init);
	return s;
}

p11o_session *p11o_sessions_take(p11o_sessions *r)
{
	return take(r);
}

bool p11o_sessions_publish(p11o_sessions *r, p11o_session *s,
			   const p11o_session_init *init)
{
	(void)r;
	publish(s, init);
	return true;
}

void p11o_sessions_give_back(p11o_sessions *r, p11o_session *s)
{
	push_free(r, s);
}

/* Nesting depth of application callbacks in this thread. */
static _Thread_local unsigned in_callback;

bool p11o_in_app_callback(void)
{
	return in_callback != 0;
}

void p11o_app_callback_enter(void)
{
	in_callback++;
}

void p11o_app_callback_leave(void)
{
	in_callback--;
}

CK_RV p11o_session_notify(CK_SESSION_HANDLE provider_handle,
			  CK_NOTIFICATION event, CK_VOID_PTR record)
{
	const p11o_session *s = record;
	(void)provider_handle;
	CK_SESSION_HANDLE h =
	    atomic_load_explicit(&s->handle, memory_order_acquire);
	if (!h || !s->notify)
		return CKR_OK;
	p11o_app_callback_enter();
	CK_RV rv = s->notify(h, event, s->application);
	p11o_app_callback_leave();
	return rv;
}

static void end_record(p11o_sessions *r, p11o_session *s, CK_SESSION_HANDLE h)
{
	CK_SESSION_HANDLE expect = h;
	if (!atomic_compare_exchange_strong(&s->key, &expect, 0))
		return;
	/* Lookups fail from here on; `handle` still says which session
	 * went while the hooks run (they may take their layer's locks). */
	run_hooks(r, s, false);
	atomic_store_explicit(&s->handle, 0, memory_order_relaxed);
	push_free(r, s);
}

/* Records are never freed or moved: the walk needs no lock, and a
 * session ended meanwhile is skipped by end_record(). */
void p11o_sessions_end_slot(p11o_sessions *r, unsigned provider,
			    CK_SLOT_ID down_slot)
{
	uint32_t n =
	    atomic_load_explicit(&r->next_unused, memory_order_acquire);
	for (uint32_t i = 1; i < n; i++) {
		p11o_session *s = p11o_session_at(r, i);
		CK_SESSION_HANDLE h = atomic_load(&s->key);
		if (h &&
		    __atomic_load_n(&s->provider, __ATOMIC_RELAXED) ==
			provider &&
		    __atomic_load_n(&s->down_slot, __ATOMIC_RELAXED) ==
			down_slot)
			end_record(r, s, h);
	}
}

void p11o_sessions_end_stale(p11o_sessions *r, CK_ULONG slot, uint64_t now)
{
	uint32_t n =
	    atomic_load_explicit(&r->next_unused, memory_order_acquire);
	for (uint32_t i = 1; i < n; i++) {
		p11o_session *s = p11o_session_at(r, i);
		CK_SESSION_HANDLE h = atomic_load(&s->key);
		if (h && __atomic_load_n(&s->slot, __ATOMIC_RELAXED) == slot &&
		    __atomic_load_n(&s->insertion, __ATOMIC_RELAXED) != now)
			end_record(r, s, h);
	}
}

void p11o_sessions_follow(p11o_sessions *r, CK_SESSION_HANDLE h,
			  const p11o_session *s, CK_RV rv, bool closing)
{
	switch (p11o_session_verdict(rv, closing, false)) {
	case P11O_ALIVE:
		break;
	case P11O_GONE:
		end_record(r, (p11o_session *)s, h);
		break;
	case P11O_SLOT_GONE:
		p11o_sessions_end_slot(r, s->provider, s->down_slot);
		break;
	}
}

CK_RV p11o_session_check(p11o_sessions *r, p11o_slot_view *view,
			 CK_SESSION_HANDLE h, p11o_session **out)
{
	p11o_session *s = p11o_session_get(r, h);
	if (!s)
		return CKR_SESSION_HANDLE_INVALID;
	if (s->insertion != P11O_NO_INSERTION) {
		uint64_t now = p11o_slot_insertion(view, s->slot);
		/* The card was pulled since: every session on it is gone.
		 * (Unknown now, pcscd unreachable: the provider decides.) */
		if (now != P11O_NO_INSERTION && now != s->insertion) {
			p11o_sessions_end_stale(r, s->slot, now);
			return CKR_SESSION_HANDLE_INVALID;
		}
	}
	*out = s;
	return CKR_OK;
}
