/* The session registry (docs/architecture.md, "session registry"): the
 * stack owns every session, in one record per session.
 *
 * The record is made when the provider's C_OpenSession succeeds, by the
 * bottom layer (provider.c), so that the sessions the addons open for
 * themselves below the slots layer have one too; it holds the provider's
 * handle, the provider, the slot (as the slot view names it), R/W and the
 * card insertion it was opened on.  The handle the application gets is the
 * record's, and that handle travels down the whole stack unchanged: every
 * layer finds the record with one lock-free lookup (below), and only
 * the bottom layer hands the provider its own handle.
 *
 * Each layer reserves its own extension space in the record when the
 * stack is built (p11o_sessions_reserve); p11o_session_ext() gives it.
 * Records are reused, never freed before the registry: a lookup racing
 * with a close reads valid memory.  The space is zero when a record is
 * made the first time; the layer's `end` hook, run when a session goes,
 * leaves it ready for the next session (it may keep allocations).
 *
 * When a session is gone is decided in one place, p11o_session_verdict():
 * the provider's answer to a call on it (C_CloseSession CKR_OK, or
 * CKR_SESSION_HANDLE_INVALID / CKR_SESSION_CLOSED for any call: that
 * session; CKR_DEVICE_REMOVED / CKR_TOKEN_NOT_PRESENT: every session of
 * its slot) or to C_CloseAllSessions (CKR_OK, CKR_DEVICE_REMOVED,
 * CKR_TOKEN_NOT_PRESENT: every session of the slot), and the card being
 * pulled (the slots layer's events, and p11o_session_check()).  Every
 * layer follows it through its hook; none keeps a session table.
 *
 * Where records live: in pages of P11O_SESSION_PAGE records, never freed
 * before the registry.  A session handle is (generation << 20) | index
 * of its record (never 0, below 2^31, like handles.h), and the record's
 * `key` is that handle while the session lives, 0 otherwise: a lookup is
 * the page, the record and one compare.
 *
 * Threads: no lock on any per-session path.  Lookups read `key` (acquire;
 * it is stored with release after the record is filled).  Free records
 * are a lock-free stack whose top carries a tag against ABA; ending a
 * session is one compare-and-swap of `key` (of threads ending the same
 * session, one wins), then the hooks, unlocked.  The registry's lock is
 * taken only to reserve space and to make a new page of records (the
 * first session, then every P11O_SESSION_PAGE). */
#ifndef P11O_SESSIONS_H
#define P11O_SESSIONS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mutex.h"
#include "slotview.h"

#define P11O_SESSION_HOOKS 8
#define P11O_SESSION_INDEX_BITS 20 /* as handles.h */
#define P11O_SESSION_PAGE_BITS 8
#define P11O_SESSION_PAGE (1u << P11O_SESSION_PAGE_BITS)
#define P11O_SESSION_PAGES                                                     \
	(1u << (P11O_SESSION_INDEX_BITS - P11O_SESSION_PAGE_BITS))
#define P11O_SESSION_GEN_MAX 2047u

typedef struct p11o_session {
	atomic_ulong key;    /* the handle while the session lives, else 0 */
	atomic_ulong handle; /* the application's; 0 when free */
	CK_SESSION_HANDLE provider_handle; /* the provider's */
	unsigned provider;                 /* which provider */
	const void *route;    /* the provider layer's function list for it */
	CK_SLOT_ID down_slot; /* the slot as layers below the slots layer
				 name it */
	CK_ULONG slot;        /* slot view index, or P11O_NO_SLOT */
	CK_SLOT_ID app_slot;  /* that slot's application ID (its `id`);
				 down_slot when the view has no slot */
	uint64_t insertion;   /* p11o_slot_insertion() at open */
	bool rw;              /* CKF_RW_SESSION */
	/* The application's C_OpenSession callback and its argument: the
	 * provider gets p11o_session_notify and the record instead, so the
	 * application sees its own handle (never the provider's). */
	CK_NOTIFY notify;
	CK_VOID_PTR application;
	uint32_t index;             /* of the record */
	unsigned gen;               /* of its last session */
	_Atomic uint32_t next_free; /* index, on the free stack */
	max_align_t ext[];          /* the layers' extension spaces */
} p11o_session;

/* What a new session's record is filled with (the fields of the same
 * names above). */
typedef struct p11o_session_init {
	CK_SESSION_HANDLE provider_handle;
	unsigned provider;
	const void *route;
	CK_SLOT_ID down_slot;
	CK_ULONG slot;
	CK_SLOT_ID app_slot;
	uint64_t insertion;
	bool rw;
	CK_NOTIFY notify;
	CK_VOID_PTR application;
} p11o_session_init;

/* A layer's hook: session `s` is gone; `ext` is the layer's space.  With
 * `last` the registry is being destroyed: free what the space holds (it
 * runs then for every record, also those already ended).  Hooks never
 * call down the stack (the provider may be finalised already). */
typedef void (*p11o_session_end_fn)(void *ctx, p11o_session *s, void *ext,
				    bool last);

typedef struct p11o_sessions {
	/* Reserving, making pages (see above). */
	p11o_mutex lock;
	_Atomic(unsigned char *) pages[P11O_SESSION_PAGES];
	size_t rec_size;              /* a record and the extension spaces */
	_Atomic uint32_t next_unused; /* records made so far; from 1 */
	/* Free records: (tag << 32) | index, index 0: none. */
	_Atomic uint64_t free_top;
	size_t ext_size;
	struct p11o_session_hook {
		p11o_session_end_fn fn;
		void *ctx;
		size_t off;
	} hooks[P11O_SESSION_HOOKS], run[P11O_SESSION_HOOKS];
	size_t nhooks, nrun; /* run: those with a function, once sealed */
	bool sealed;         /* a record exists: no more reserving */
} p11o_sessions;

CK_RV p11o_sessions_init(p11o_sessions *r);
/* Ends every live session (hooks run) and frees every record.  Before the
 * layers whose hooks these are go. */
void p11o_sessions_destroy(p11o_sessions *r);

/* While the stack is built: `size` bytes of extension space for a layer,
 * and its hook (may be NULL).  Returns the offset for p11o_session_ext(),
 * or SIZE_MAX (too late, too many). */
size_t p11o_sessions_reserve(p11o_sessions *r, size_t size,
			     p11o_session_end_fn end, void *ctx);

static inline void *p11o_session_ext(p11o_session *s, size_t off)
{
	return (unsigned char *)s->ext + off;
}

/* Record `index` (below next_unused). */
static inline p11o_session *p11o_session_at(const p11o_sessions *r,
					    uint32_t index)
{
	unsigned char *page = atomic_load_explicit(
	    &((p11o_sessions *)r)->pages[index >> P11O_SESSION_PAGE_BITS],
	    memory_order_acquire);
	return page
		   ? (p11o_session *)(page + (index & (P11O_SESSION_PAGE - 1)) *
						 r->rec_size)
		   : NULL;
}

/* The live record of application handle h, or NULL.  Lock-free (inline:
 * every layer's per-call path).  Record 0 is never a session: its key
 * is ~0, which no handle of index 0 equals. */
static inline p11o_session *p11o_session_get(const p11o_sessions *r,
					     CK_SESSION_HANDLE h)
{
	p11o_session *s = p11o_session_at(
	    r, (uint32_t)(h & ((1ul << P11O_SESSION_INDEX_BITS) - 1)));
	if (__builtin_expect(!s, 0) ||
	    atomic_load_explicit(&s->key, memory_order_acquire) != h)
		return NULL;
	return s;
}

/* A new session, its record filled from `init`.  The new record (its
 * handle set), or NULL when out of memory. */
p11o_session *p11o_sessions_add(p11o_sessions *r,
				const p11o_session_init *init);

/* Two steps, for a session whose record the provider must know before it
 * answers (a Notify callback): take a record (not yet a session; NULL when
 * out of memory), then either add it (fields as above, false when out of
 * memory: the record is given back) or give it back. */
p11o_session *p11o_sessions_take(p11o_sessions *r);
bool p11o_sessions_publish(p11o_sessions *r, p11o_session *s,
			   const p11o_session_init *init);
void p11o_sessions_give_back(p11o_sessions *r, p11o_session *s);

/* The Notify the provider gets for an application that gave one; its
 * pApplication is the record.  Before the session is published (during
 * C_OpenSession) there is no handle to show: it answers CKR_OK. */
CK_RV p11o_session_notify(CK_SESSION_HANDLE provider_handle,
			  CK_NOTIFICATION event, CK_VOID_PTR record);
/* This thread is inside a callback of the application: its Notify
 * (called through p11o_session_notify) or an engine it registered.  The
 * callback may call the module again, so a layer must not wait there for
 * a lock another thread may hold across its own callback. */
bool p11o_in_app_callback(void);
void p11o_app_callback_enter(void);
void p11o_app_callback_leave(void);

/* What an answer of the provider means for the session(s). */
enum p11o_verdict {
	P11O_ALIVE,     /* nothing changes */
	P11O_GONE,      /* this session is gone */
	P11O_SLOT_GONE, /* every session of its slot is gone */
};
/* The one rule (see above).  `closing`: rv answers C_CloseSession;
 * `close_all`: rv answers C_CloseAllSessions. */
static inline enum p11o_verdict p11o_session_verdict(CK_RV rv, bool closing,
						     bool close_all)
{
	if (rv == CKR_OK)
		return close_all ? P11O_SLOT_GONE
		       : closing ? P11O_GONE
				 : P11O_ALIVE;
	if (rv == CKR_DEVICE_REMOVED || rv == CKR_TOKEN_NOT_PRESENT)
		return P11O_SLOT_GONE;
	if (!close_all &&
	    (rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED))
		return P11O_GONE;
	return P11O_ALIVE;
}

/* End every session of a slot (provider, down slot ID). */
void p11o_sessions_end_slot(p11o_sessions *r, unsigned provider,
			    CK_SLOT_ID down_slot);
/* End every session of slot view index `slot` opened on another card
 * insertion than the current one `now`. */
void p11o_sessions_end_stale(p11o_sessions *r, CK_ULONG slot, uint64_t now);

/* Apply p11o_session_verdict() to a call on session h (record s). */
void p11o_sessions_follow(p11o_sessions *r, CK_SESSION_HANDLE h,
			  const p11o_session *s, CK_RV rv, bool closing);

/* For functions the provider never sees (the extensions): the record of
 * h, checked as the provider would check it, including that its card was
 * not pulled since the session was opened (then the session is ended).
 * CKR_OK with *out, or CKR_SESSION_HANDLE_INVALID. */
CK_RV p11o_session_check(p11o_sessions *r, p11o_slot_view *view,
			 CK_SESSION_HANDLE h, p11o_session **out);

#endif
