/* Locks that honour CK_C_INITIALIZE_ARGS: the application's mutex callbacks
 * when it gave them without CKF_OS_LOCKING_OK, pthreads otherwise.  Used
 * only off the per-call hot path (handle creation, slot table updates). */
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
