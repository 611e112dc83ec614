/* The session registry (sessions.h). */
#include "sessions.h"

#include <stdlib.h>
#include <string.h>

CK_RV p11o_sessions_init(p11o_sessions *r)
{
	memset(r, 0, sizeof(*r));
	return p11o_handles_init(&r->handles, false) == CKR_OK
		   ? CKR_OK
		   : CKR_HOST_MEMORY;
}

size_t p11o_sessions_reserve(p11o_sessions *r, size_t size,
			     p11o_session_end_fn end, void *ctx)
{
	const size_t align = _Alignof(max_align_t);
	p11o_mutex_lock(&r->handles.lock);
	size_t off = SIZE_MAX;
	if (!r->sealed && r->nhooks < P11O_SESSION_HOOKS) {
		off = r->ext_size;
		r->ext_size += (size + align - 1) / align * align;
		r->hooks[r->nhooks].fn = end;
		r->hooks[r->nhooks].ctx = ctx;
		r->hooks[r->nhooks].off = off;
		r->nhooks++;
	}
	p11o_mutex_unlock(&r->handles.lock);
	return off;
}

static void run_hooks(p11o_sessions *r, p11o_session *s, bool last)
{
	for (size_t i = r->nhooks; i-- > 0;)
		if (r->hooks[i].fn)
			r->hooks[i].fn(r->hooks[i].ctx, s,
				       p11o_session_ext(s, r->hooks[i].off),
				       last);
}

void p11o_sessions_destroy(p11o_sessions *r)
{
	p11o_session *s = atomic_load(&r->all);
	for (p11o_session *n; s; s = n) {
		n = s->next_all;
		CK_SESSION_HANDLE h = atomic_load(&s->handle);
		if (h && p11o_handles_remove(&r->handles, h))
			run_hooks(r, s, false);
		run_hooks(r, s, true);
		free(s);
	}
	p11o_handles_destroy(&r->handles);
	memset(r, 0, sizeof(*r));
}

/* Under the lock: a free record, or a new one. */
static p11o_session *take_locked(p11o_sessions *r)
{
	r->sealed = true;
	if (!r->free)
		r->free = atomic_exchange(&r->ended, NULL);
	p11o_session *s = r->free;
	if (s) {
		r->free = s->next_free;
		return s;
	}
	s = calloc(1, sizeof(*s) + r->ext_size);
	if (s) {
		s->next_all = atomic_load(&r->all);
		atomic_store_explicit(&r->all, s, memory_order_release);
	}
	return s;
}

/* Under the lock: fill s and give it its handle (false: out of memory,
 * s back on the free list). */
static bool publish_locked(p11o_sessions *r, p11o_session *s,
			   const p11o_session *init)
{
	s->provider_handle = init->provider_handle;
	s->provider = init->provider;
	s->down_slot = init->down_slot;
	s->slot = init->slot;
	s->insertion = init->insertion;
	s->rw = init->rw;
	s->notify = init->notify;
	s->application = init->application;
	/* Published by the handle table's release store. */
	CK_SESSION_HANDLE h = p11o_handles_add_locked(
	    &r->handles, (CK_ULONG)(uintptr_t)s, s->slot);
	if (!h) {
		s->next_free = r->free;
		r->free = s;
		return false;
	}
	atomic_store_explicit(&s->handle, h, memory_order_release);
	return true;
}

/* One lock for a record and its handle: the handle table's. */
p11o_session *p11o_sessions_add(p11o_sessions *r, const p11o_session *init)
{
	p11o_mutex_lock(&r->handles.lock);
	p11o_session *s = take_locked(r);
	if (s && !publish_locked(r, s, init))
		s = NULL;
	p11o_mutex_unlock(&r->handles.lock);
	return s;
}

p11o_session *p11o_sessions_take(p11o_sessions *r)
{
	p11o_mutex_lock(&r->handles.lock);
	p11o_session *s = take_locked(r);
	p11o_mutex_unlock(&r->handles.lock);
	return s;
}

bool p11o_sessions_publish(p11o_sessions *r, p11o_session *s,
			   const p11o_session *init)
{
	p11o_mutex_lock(&r->handles.lock);
	bool ok = publish_locked(r, s, init);
	p11o_mutex_unlock(&r->handles.lock);
	return ok;
}

void p11o_sessions_give_back(p11o_sessions *r, p11o_session *s)
{
	p11o_mutex_lock(&r->handles.lock);
	s->next_free = r->free;
	r->free = s;
	p11o_mutex_unlock(&r->handles.lock);
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
	return s->notify(h, event, s->application);
}

void p11o_sessions_end(p11o_sessions *r, CK_SESSION_HANDLE h)
{
	p11o_handle_info info;
	if (!h || !p11o_handles_take(&r->handles, h, &info))
		return;
	p11o_session *s = (p11o_session *)(uintptr_t)info.value;
	/* Outside the lock: hooks may take their layer's locks. */
	run_hooks(r, s, false);
	atomic_store_explicit(&s->handle, 0, memory_order_relaxed);
	/* Onto the lock-free `ended` stack (push only: no ABA); the next
	 * add takes the whole stack under the lock. */
	p11o_session *head = atomic_load(&r->ended);
	do
		s->next_free = head;
	while (!atomic_compare_exchange_weak(&r->ended, &head, s));
}

/* Records are only ever added at the head: the walk needs no lock, and a
 * record ended meanwhile is skipped by p11o_sessions_end(). */
void p11o_sessions_end_slot(p11o_sessions *r, unsigned provider,
			    CK_SLOT_ID down_slot)
{
	p11o_session *s = atomic_load_explicit(&r->all, memory_order_acquire);
	for (; s; s = s->next_all) {
		CK_SESSION_HANDLE h = atomic_load(&s->handle);
		if (h && s->provider == provider && s->down_slot == down_slot)
			p11o_sessions_end(r, h);
	}
}

void p11o_sessions_end_stale(p11o_sessions *r, CK_ULONG slot, uint64_t now)
{
	p11o_session *s = atomic_load_explicit(&r->all, memory_order_acquire);
	for (; s; s = s->next_all) {
		CK_SESSION_HANDLE h = atomic_load(&s->handle);
		if (h && s->slot == slot && s->insertion != now)
			p11o_sessions_end(r, h);
	}
}

void p11o_sessions_follow(p11o_sessions *r, CK_SESSION_HANDLE h,
			  const p11o_session *s, CK_RV rv, bool closing)
{
	switch (p11o_session_verdict(rv, closing, false)) {
	case P11O_ALIVE:
		break;
	case P11O_GONE:
		p11o_sessions_end(r, h);
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
