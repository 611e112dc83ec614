#include "inflight.h"

#include <sched.h>
#include <time.h>

p11o_inflight_counter p11o_inflight[2];
atomic_ulong p11o_inflight_epoch;

static void wait_drained(atomic_long *n)
{
	for (unsigned spins = 0;
	     atomic_load_explicit(n, memory_order_acquire) > 0; spins++) {
		if (spins < 64) {
			sched_yield();
		} else {
			/* a slow call (a card, a blocked provider) */
			struct timespec ts = {0, 200000};
			nanosleep(&ts, NULL);
		}
	}
}

void p11o_calls_drain(void)
{
	for (int i = 0; i < 2; i++) {
		unsigned long e = atomic_fetch_add_explicit(
		    &p11o_inflight_epoch, 1, memory_order_seq_cst);
		wait_drained(&p11o_inflight[e & 1].n);
	}
}

void p11o_calls_reset(void)
{
	atomic_store(&p11o_inflight[0].n, 0);
	atomic_store(&p11o_inflight[1].n, 0);
}
