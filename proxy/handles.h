/* Handle spaces (docs/architecture.md §3): application-visible session and
 * object handles belong to the proxy and map to a provider value.
 *
 * A handle is (generation << 20) | index, never 0 and below 2^31 so that
 * applications storing it in a 32-bit int keep working.  Lookups are
 * lock-free (paged array + per-entry sequence number, read like a seqlock);
 * adding and removing take the table's lock.  Tables created with
 * `reverse` also map (provider value, aux) -> handle, so the same provider
 * object always gets the same proxy handle. */
#ifndef P11O_HANDLES_H
#define P11O_HANDLES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "mutex.h"

#define P11O_HANDLE_INDEX_BITS 20
#define P11O_HANDLE_PAGE_BITS 10
#define P11O_HANDLE_PAGE_SIZE (1u << P11O_HANDLE_PAGE_BITS)
#define P11O_HANDLE_PAGES                                                      \
	(1u << (P11O_HANDLE_INDEX_BITS - P11O_HANDLE_PAGE_BITS))
#define P11O_HANDLE_GEN_MAX 2047u

typedef struct p11o_handle_entry {
	atomic_ulong seq; /* gen << 1 | live */
	atomic_ulong value;
	atomic_ulong aux;
	uint32_t next_free;
} p11o_handle_entry;

/* What a lookup returns. */
typedef struct p11o_handle_info {
	CK_ULONG value;
	CK_ULONG aux;
} p11o_handle_info;

typedef struct p11o_handle_table {
	p11o_mutex lock;
	_Atomic(p11o_handle_entry *) pages[P11O_HANDLE_PAGES];
	uint32_t next_unused; /* next never-used index, starts at 1 */
	uint32_t free_head;   /* 0 = empty */
	size_t live;
	bool reverse;
	CK_ULONG *rev_values;  /* open addressing, value -> handle */
	CK_ULONG *rev_handles; /* 0 = empty, ~0 = deleted */
	size_t rev_cap, rev_used;
} p11o_handle_table;

CK_RV p11o_handles_init(p11o_handle_table *t, bool reverse);
void p11o_handles_destroy(p11o_handle_table *t);

/* New handle for `value` (with reverse: the existing one if (`value`,
 * `aux`) is already mapped).  0 when out of memory or full. */
CK_ULONG p11o_handles_add(p11o_handle_table *t, CK_ULONG value, CK_ULONG aux);

/* Replace each of values[0..n) by its handle, under one lock; returns how
 * many were converted (n unless out of memory). */
size_t p11o_handles_add_many(p11o_handle_table *t, CK_ULONG *values, size_t n,
			     CK_ULONG aux);

static inline p11o_handle_entry *
p11o_handle_entry_at(const p11o_handle_table *t, uint32_t index)
{
	p11o_handle_entry *page = atomic_load_explicit(
	    &((p11o_handle_table *)t)->pages[index >> P11O_HANDLE_PAGE_BITS],
	    memory_order_acquire);
	return page ? &page[index & (P11O_HANDLE_PAGE_SIZE - 1)] : NULL;
}

/* The live entry of `handle`, read like a seqlock: *value (and *aux when
 * not NULL) are what the entry held while it was that handle.  No checks
 * of the index or the generation are needed: entry 0 is never used (its
 * seq stays 0), and a live entry's seq is gen << 1 | 1 with gen in
 * 1..P11O_HANDLE_GEN_MAX, so a handle with a generation out of range
 * (or 0) never matches; the index is below 2^20, so its page index is in
 * range.  Lock-free (inline: it is on every call's path). */
static inline bool p11o_handles_read(const p11o_handle_table *t,
				     CK_ULONG handle, CK_ULONG *value,
				     CK_ULONG *aux)
{
	uint32_t index =
	    (uint32_t)(handle & ((1ul << P11O_HANDLE_INDEX_BITS) - 1));
	p11o_handle_entry *e =
	    p11o_handle_entry_at(t, index); /* NULL: page not made */
	if (__builtin_expect(!e, 0))
		return false;
	unsigned long seq = atomic_load_explicit(&e->seq, memory_order_acquire);
	if (seq != ((handle >> P11O_HANDLE_INDEX_BITS) << 1 | 1))
		return false;
	*value = atomic_load_explicit(&e->value, memory_order_relaxed);
	if (aux)
		*aux = atomic_load_explicit(&e->aux, memory_order_relaxed);
	atomic_thread_fence(memory_order_acquire);
	return atomic_load_explicit(&e->seq, memory_order_relaxed) == seq;
}

static inline bool p11o_handles_get(const p11o_handle_table *t, CK_ULONG handle,
				    p11o_handle_info *out)
{
	return p11o_handles_read(t, handle, &out->value, &out->aux);
}

/* For callers that do more under the table's lock: the same as
 * p11o_handles_add with t->lock held. */
CK_ULONG p11o_handles_add_locked(p11o_handle_table *t, CK_ULONG value,
				 CK_ULONG aux);

bool p11o_handles_remove(p11o_handle_table *t, CK_ULONG handle);
/* Remove a live handle and say what it mapped to (out may be NULL); false
 * when it was not live.  Of threads removing the same handle, one wins. */
bool p11o_handles_take(p11o_handle_table *t, CK_ULONG handle,
		       p11o_handle_info *out);

/* Remove every live handle whose aux equals `aux`; returns how many. */
size_t p11o_handles_remove_aux(p11o_handle_table *t, CK_ULONG aux);

/* Remove every handle. */
void p11o_handles_clear(p11o_handle_table *t);

size_t p11o_handles_count(p11o_handle_table *t);

#endif
