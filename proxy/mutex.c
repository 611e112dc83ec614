#include "mutex.h"

#include <stdatomic.h>
#include <stdbool.h>

/* Set at C_Initialize, before any lock is made; read-only afterwards. */
static CK_C_INITIALIZE_ARGS app_locking;
static atomic_bool use_app_locking;

void p11o_mutex_configure(const CK_C_INITIALIZE_ARGS *args)
{
	if (args && args->CreateMutex && !(args->flags & CKF_OS_LOCKING_OK)) {
		app_locking = *args;
		atomic_store(&use_app_locking, true);
	} else {
		atomic_store(&use_app_locking, false);
	}
}

CK_RV p11o_mutex_init(p11o_mutex *m)
{
	m->app = NULL;
	if (atomic_load(&use_app_locking)) {
		CK_RV rv = app_locking.CreateMutex(&m->app);
		return rv;
	}
	return pthread_mutex_init(&m->os, NULL) == 0 ? CKR_OK : CKR_HOST_MEMORY;
}

void p11o_mutex_destroy(p11o_mutex *m)
{
	if (m->app)
		app_locking.DestroyMutex(m->app);
	else
		pthread_mutex_destroy(&m->os);
	m->app = NULL;
}

void p11o_mutex_lock(p11o_mutex *m)
{
	if (m->app)
		app_locking.LockMutex(m->app);
	else
		pthread_mutex_lock(&m->os);
}

void p11o_mutex_unlock(p11o_mutex *m)
{
	if (m->app)
		app_locking.UnlockMutex(m->app);
	else
		pthread_mutex_unlock(&m->os);
}
