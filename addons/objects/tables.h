/* Tables of the objects addon: per-session state (allocated at
 * C_OpenSession, so find calls never allocate) and the escape table for
 * provider handles in the reserved range (objects_int.h). */
#ifndef P11O_OBJECTS_TABLES_H
#define P11O_OBJECTS_TABLES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "functions.h"
#include "mutex.h"

/* State of one provider session.  Records are never freed while the layer
 * lives (reused after close), so a lookup racing with a close never reads
 * freed memory. */
typedef struct ob_session {
	atomic_ulong handle; /* provider session handle */
	atomic_bool live;
	CK_SLOT_ID pid;        /* provider slot */
	uint64_t insertion;    /* card insertion seen at open */
	bool rw;               /* CKF_RW_SESSION */
	bool find_active;      /* our part of a find operation */
	unsigned find_pending; /* bit per ob_kind still to return */
	unsigned find_token;   /* their token's index */
	struct ob_session *all_next, *free_next;
} ob_session;

typedef struct ob_buckets {
	size_t cap; /* power of two */
	struct ob_buckets *retired;
	_Atomic(ob_session *) b[];
} ob_buckets;

/* Open addressing, lock-free lookups; changes under `lock`. */
typedef struct ob_sessions {
	p11o_mutex lock;
	_Atomic(ob_buckets *) cur;
	size_t used; /* occupied buckets of cur */
	ob_session *all, *free;
	ob_buckets *retired;
} ob_sessions;

CK_RV ob_sessions_init(ob_sessions *s);
void ob_sessions_destroy(ob_sessions *s);
/* Live record of provider session h, or NULL.  Lock-free. */
ob_session *ob_sessions_get(ob_sessions *s, CK_SESSION_HANDLE h);
/* Record for a newly opened session (reset if h was known); NULL when out
 * of memory. */
ob_session *ob_sessions_add(ob_sessions *s, CK_SESSION_HANDLE h, CK_SLOT_ID pid,
			    uint64_t insertion, bool rw);
void ob_sessions_remove(ob_sessions *s, CK_SESSION_HANDLE h);
void ob_sessions_remove_slot(ob_sessions *s, CK_SLOT_ID pid);

/* Provider values with the top bit set <-> escape handles. */
typedef struct ob_escapes {
	p11o_mutex lock;
	CK_ULONG *vals; /* entry i: provider value */
	size_t count, cap;
	uint32_t *index; /* open addressing over vals: i + 1, 0 = empty */
	size_t index_cap;
} ob_escapes;

CK_RV ob_escapes_init(ob_escapes *e);
void ob_escapes_destroy(ob_escapes *e);
/* Escape handle for provider value v (same v, same handle); 0 when out of
 * memory or OB_ESC_MAX values were escaped. */
CK_ULONG ob_escape_up(ob_escapes *e, CK_ULONG v);
/* Provider value of escape handle h; CK_INVALID_HANDLE when h is none. */
CK_ULONG ob_escape_down(ob_escapes *e, CK_ULONG h);

#endif
