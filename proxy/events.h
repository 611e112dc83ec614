/* Slot events (docs/architecture.md §4).  The proxy owns the provider's event
 * stream: one watcher thread polls the provider's C_WaitForSlotEvent
 * (CKF_DONT_BLOCK, every P11O_EVENT_POLL_MS) and records each event (as
 * virtual slot IDs) with a global sequence
 * number.  C_HasNewEvent compares a caller's last seen number with it, so
 * any number of threads each see every event; C_WaitForSlotEvent consumes
 * events in order, as the standard says, blocking or not.  Without a
 * watcher (the application forbade threads, or the provider has no events)
 * calls poll the provider with CKF_DONT_BLOCK instead. */
#ifndef P11O_EVENTS_H
#define P11O_EVENTS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "layer.h"

#define P11O_EVENT_RING 256
#define P11O_EVENT_POLL_MS 200 /* watcher's polling interval */
/* A blocking wait's polling interval without a watcher thread. */
#define P11O_EVENT_WAIT_POLL_MS 50

typedef struct p11o_events p11o_events;

enum { EV_UNKNOWN, EV_WATCHER, EV_POLL, EV_UNSUPPORTED };

/* Called for each provider event: true, with the virtual slot ID to
 * report in *report, or false to report nothing.  The events read from
 * the provider in one go are posted together, so a waiter woken by the
 * first sees the others of the same change too. */
typedef bool (*p11o_event_sink)(void *ctx, CK_SLOT_ID provider_slot,
				CK_SLOT_ID *report);

struct p11o_events {
	pthread_mutex_t lock;
	/* Held while the provider's events are read and posted (watcher,
	 * polling callers, p11o_events_sync), so that an event read by one
	 * thread is posted before another finds the provider empty. */
	pthread_mutex_t poll_lock;
	pthread_cond_t cond;
	pthread_cond_t watcher_cond; /* CLOCK_MONOTONIC; wakes the watcher */
	CK_SLOT_ID ring[P11O_EVENT_RING];
	atomic_ulong posted;    /* sequence number of the newest event */
	unsigned long consumed; /* next event C_WaitForSlotEvent returns */
	unsigned waiters;       /* threads inside a blocking wait */
	bool stopping;
	atomic_int mode;      /* EV_* */
	CK_RV unsupported_rv; /* the provider's answer when it has no events */
	bool watcher_started;
	bool threads_allowed;
	pthread_t watcher;
	p11o_layer *layer; /* calls down from here reach the provider */
	p11o_event_sink sink;
	void *sink_ctx;
};

void p11o_events_init(p11o_events *ev, p11o_layer *layer, bool threads_allowed,
		      p11o_event_sink sink, void *sink_ctx);

/* Record an event for virtual slot `id`. */
void p11o_events_post(p11o_events *ev, CK_SLOT_ID id);

/* Read the events the provider already has now, not at the watcher's
 * next poll: when this returns they are posted (C_AddSlot and
 * C_RemoveSlot return with their events visible). */
void p11o_events_sync(p11o_events *ev);

CK_RV p11o_events_has_new(p11o_events *ev, CK_ULONG_PTR pLastEvent);
CK_RV p11o_events_wait(p11o_events *ev, CK_FLAGS flags, CK_SLOT_ID_PTR pSlot);

/* Both before the provider's C_Finalize, in this order (sl_C_Finalize):
 * stop wakes blocked waiters (they return CKR_CRYPTOKI_NOT_INITIALIZED)
 * and the watcher; join waits for the watcher thread and for every
 * blocked waiter to leave.  stop is also the C_Finalize wake hook. */
void p11o_events_stop(p11o_events *ev);
void p11o_events_join(p11o_events *ev);

#endif
