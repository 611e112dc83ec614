/* Calls in flight (issue 16): C_Finalize may come while other threads are
 * inside calls.  It unpublishes the stack first (new calls get
 * CKR_CRYPTOKI_NOT_INITIALIZED), wakes calls that block, and then waits
 * until every call that could have seen the stack has left, before
 * anything of it is finalised or freed.
 *
 * The per-call cost is one relaxed load and two atomic adds, no lock.
 * There are two counters; p11o_inflight_now points at the one new calls
 * use.  C_Finalize points it at the other and waits for the one callers
 * used before, twice, so callers that keep coming (they count in the other
 * one) never hold it up.  A caller counts itself before it loads the active
 * table, so one that saw the stack is always in a counter C_Finalize waits for.
 */
#ifndef P11O_INFLIGHT_H
#define P11O_INFLIGHT_H

#include <stdatomic.h>

typedef struct p11o_inflight_counter {
	_Alignas(64) atomic_long n; /* a cache line each */
} p11o_inflight_counter;

extern p11o_inflight_counter p11o_inflight[2];
extern _Atomic(atomic_long *) p11o_inflight_now;

/* Before loading the active table; returns what p11o_call_leave takes
 * (one load, not an epoch's parity turned into an address: the entry
 * points are the per-call path). */
static inline atomic_long *p11o_call_enter(void)
{
	atomic_long *n =
	    atomic_load_explicit(&p11o_inflight_now, memory_order_relaxed);
	atomic_fetch_add_explicit(n, 1, memory_order_seq_cst);
	return n;
}

static inline void p11o_call_leave(atomic_long *n)
{
	atomic_fetch_sub_explicit(n, 1, memory_order_release);
}

/* After the stack is unpublished: returns when no call that entered
 * before is still running. */
void p11o_calls_drain(void);

/* In a forked child: the parent's other threads are not running here. */
void p11o_calls_reset(void);

#endif
