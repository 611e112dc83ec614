#include "events.h"

#include <string.h>
#include <time.h>

void p11o_events_init(p11o_events *ev, p11o_layer *layer, bool threads_allowed,
		      p11o_event_sink sink, void *sink_ctx)
{
	memset(ev, 0, sizeof(*ev));
	pthread_mutex_init(&ev->lock, NULL);
	pthread_mutex_init(&ev->poll_lock, NULL);
	pthread_cond_init(&ev->cond, NULL);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&ev->watcher_cond, &attr);
	pthread_condattr_destroy(&attr);
	ev->layer = layer;
	ev->threads_allowed = threads_allowed;
	ev->sink = sink;
	ev->sink_ctx = sink_ctx;
}

static void post_many(p11o_events *ev, const CK_SLOT_ID *ids, size_t count)
{
	if (!count)
		return;
	pthread_mutex_lock(&ev->lock);
	unsigned long n = atomic_load(&ev->posted);
	for (size_t i = 0; i < count; i++)
		ev->ring[(n + i) % P11O_EVENT_RING] = ids[i];
	n += count;
	atomic_store(&ev->posted, n);
	/* A slow consumer loses the oldest events, never the newest. */
	if (n - ev->consumed > P11O_EVENT_RING)
		ev->consumed = n - P11O_EVENT_RING;
	pthread_cond_broadcast(&ev->cond);
	pthread_mutex_unlock(&ev->lock);
}

void p11o_events_post(p11o_events *ev, CK_SLOT_ID id)
{
	post_many(ev, &id, 1);
}

/* Read the provider's pending events and post them together (see
 * p11o_event_sink); the answer to the first read. */
static CK_RV drain(p11o_events *ev)
{
	CK_SLOT_ID batch[64];
	size_t n = 0;
	CK_RV first = CKR_NO_EVENT;
	pthread_mutex_lock(&ev->poll_lock);
	for (int i = 0; i < 64; i++) {
		CK_SLOT_ID slot;
		CK_RV rv = P11O_DOWN(ev->layer, C_WaitForSlotEvent,
				     CKF_DONT_BLOCK, &slot, NULL);
		if (i == 0)
			first = rv;
		if (rv != CKR_OK)
			break;
		if (ev->sink(ev->sink_ctx, slot, &batch[n]))
			n++;
	}
	post_many(ev, batch, n);
	pthread_mutex_unlock(&ev->poll_lock);
	return first;
}

static void poll_provider(p11o_events *ev)
{
	drain(ev);
}

/* The watcher polls the provider without blocking, then sleeps on our own
 * condition variable.  It never blocks inside the provider: a provider's
 * C_Finalize cannot be relied on to release a thread blocked in its
 * C_WaitForSlotEvent (OpenSC 0.23 leaves it waiting on a destroyed lock),
 * and C_Finalize must not hang. */
static void *watch(void *arg)
{
	p11o_events *ev = arg;
	pthread_mutex_lock(&ev->lock);
	while (!ev->stopping) {
		pthread_mutex_unlock(&ev->lock);
		poll_provider(ev);
		pthread_mutex_lock(&ev->lock);
		if (ev->stopping)
			break;
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += P11O_EVENT_POLL_MS * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&ev->watcher_cond, &ev->lock, &until);
	}
	pthread_mutex_unlock(&ev->lock);
	return NULL;
}

/* Decide once how events are read: probe the provider without blocking;
 * a provider without events keeps answering with its own error. */
static void choose_mode(p11o_events *ev)
{
	pthread_mutex_lock(&ev->lock);
	bool known = ev->mode != EV_UNKNOWN;
	pthread_mutex_unlock(&ev->lock);
	if (known)
		return;
	CK_RV rv = drain(ev);
	pthread_mutex_lock(&ev->lock);
	if (ev->mode == EV_UNKNOWN && !ev->stopping) {
		if (rv != CKR_OK && rv != CKR_NO_EVENT) {
			ev->mode = EV_UNSUPPORTED;
			ev->unsupported_rv = rv;
		} else if (ev->threads_allowed &&
			   pthread_create(&ev->watcher, NULL, watch, ev) == 0) {
			ev->watcher_started = true;
			ev->mode = EV_WATCHER;
		} else {
			ev->mode = EV_POLL;
		}
	}
	pthread_mutex_unlock(&ev->lock);
}

void p11o_events_sync(p11o_events *ev)
{
	choose_mode(ev);
	if (ev->mode == EV_WATCHER || ev->mode == EV_POLL)
		poll_provider(ev);
}

CK_RV p11o_events_has_new(p11o_events *ev, CK_ULONG_PTR pLastEvent)
{
	if (!pLastEvent)
		return CKR_ARGUMENTS_BAD;
	choose_mode(ev);
	if (ev->mode == EV_POLL)
		poll_provider(ev);
	unsigned long n = atomic_load(&ev->posted);
	if (n == *pLastEvent)
		return CKR_NO_EVENT;
	*pLastEvent = n;
	return CKR_OK;
}

/* Under the lock: the next unconsumed event, if any. */
static bool take(p11o_events *ev, CK_SLOT_ID_PTR pSlot)
{
	if (ev->consumed >= atomic_load(&ev->posted))
		return false;
	*pSlot = ev->ring[ev->consumed++ % P11O_EVENT_RING];
	return true;
}

/* An event to take, or C_Finalize coming. */
static bool ready(p11o_events *ev)
{
	pthread_mutex_lock(&ev->lock);
	bool r = ev->stopping || ev->consumed < atomic_load(&ev->posted);
	pthread_mutex_unlock(&ev->lock);
	return r;
}

CK_RV p11o_events_wait(p11o_events *ev, CK_FLAGS flags, CK_SLOT_ID_PTR pSlot)
{
	choose_mode(ev);
	if (ev->mode == EV_UNSUPPORTED)
		return P11O_DOWN(ev->layer, C_WaitForSlotEvent, flags, pSlot,
				 NULL);
	/* Argument errors are the provider's to answer (it consumes no event
	 * without somewhere to put it). */
	if (!pSlot)
		return P11O_DOWN(ev->layer, C_WaitForSlotEvent, flags, pSlot,
				 NULL);
	if (ev->mode == EV_POLL) {
		poll_provider(ev);
		/* Blocking: this thread polls (the application allows no
		 * thread of ours), never blocking inside the provider, so
		 * that C_Finalize can end the wait (p11o_events_stop). */
		while (!(flags & CKF_DONT_BLOCK) && !ready(ev)) {
			struct timespec ts = {0, P11O_EVENT_WAIT_POLL_MS *
						     1000000L};
			nanosleep(&ts, NULL);
			poll_provider(ev);
		}
	}
	CK_RV rv = CKR_NO_EVENT;
	pthread_mutex_lock(&ev->lock);
	for (;;) {
		if (ev->stopping) {
			rv = CKR_CRYPTOKI_NOT_INITIALIZED;
			break;
		}
		if (take(ev, pSlot)) {
			rv = CKR_OK;
			break;
		}
		if ((flags & CKF_DONT_BLOCK) || ev->mode != EV_WATCHER)
			break;
		ev->waiters++;
		pthread_cond_wait(&ev->cond, &ev->lock);
		ev->waiters--;
		if (ev->stopping)
			pthread_cond_broadcast(&ev->cond);
	}
	pthread_mutex_unlock(&ev->lock);
	return rv;
}

void p11o_events_stop(p11o_events *ev)
{
	pthread_mutex_lock(&ev->lock);
	ev->stopping = true;
	pthread_cond_broadcast(&ev->cond);
	pthread_cond_broadcast(&ev->watcher_cond);
	pthread_mutex_unlock(&ev->lock);
}

void p11o_events_join(p11o_events *ev)
{
	pthread_mutex_lock(&ev->lock);
	bool started = ev->watcher_started;
	ev->watcher_started = false;
	pthread_mutex_unlock(&ev->lock);
	if (started)
		pthread_join(ev->watcher, NULL);
	/* Blocked application threads leave before the layers go away. */
	pthread_mutex_lock(&ev->lock);
	while (ev->waiters)
		pthread_cond_wait(&ev->cond, &ev->lock);
	pthread_mutex_unlock(&ev->lock);
}
