#include "inflight.h"

#include <sched.h>
#include <time.h>

p11o_inflight_counter p11o_inflight[2];
_Atomic(atomic_long *) p11o_inflight_now = &p11o_inflight[0].n;

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
		atomic_long *now = atomic_load(&p11o_inflight_now);
		atomic_long *other = now == &p11o_inflight[0].n
					 ? &p11o_inflight[1].n
					 : &p11o_inflight[0].n;
		wait_drained(atomic_exchange_explicit(&p11o_inflight_now, other,
						      memory_order_seq_cst));
	}
}

void p11o_calls_reset(void)
{
	atomic_store(&p11o_inflight[0].n, 0);
	atomic_store(&p11o_inflight[1].n, 0);
}
