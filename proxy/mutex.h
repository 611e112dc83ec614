/* Locks that honour CK_C_INITIALIZE_ARGS: the application's mutex callbacks
 * when it gave them without CKF_OS_LOCKING_OK, pthreads otherwise.  Used
 * only off the per-call hot path (handle creation, slot table updates).
 *
 * The one place that says which locks do not use them, and why:
 *   - core.c init_lock, variables.c and extreader.c's bridge list: static
 *     locks that exist before C_Initialize (when no callbacks are known)
 *     and across C_Finalize/C_Initialize and fork(), so they cannot be
 *     made by callbacks of one initialisation;
 *   - events.c, cardcache.c, card/pcsc.c: they wait on condition variables
 *     (with timeouts, on the monotonic clock) paired with their mutexes,
 *     which CK_C_INITIALIZE_ARGS has no callback for; they are taken in
 *     event waits, around card access (a card slot's C_GetTokenInfo,
 *     unlock operations) and in threads the proxy creates, never on the
 *     path of a call that is only forwarded.
 * An application that passes callbacks without CKF_OS_LOCKING_OK therefore
 * still gets these few pthread locks; everything else uses p11o_mutex. */
#ifndef P11O_MUTEX_H
#define P11O_MUTEX_H

#include <pthread.h>

#include "functions.h"

typedef struct p11o_mutex {
	pthread_mutex_t os;
	void *app; /* application mutex, or NULL */
} p11o_mutex;

/* Record how locks are made, from validated initialize args (NULL = OS). */
void p11o_mutex_configure(const CK_C_INITIALIZE_ARGS *args);
CK_RV p11o_mutex_init(p11o_mutex *m);
void p11o_mutex_destroy(p11o_mutex *m);
void p11o_mutex_lock(p11o_mutex *m);
void p11o_mutex_unlock(p11o_mutex *m);

#endif
