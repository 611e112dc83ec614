/* The assembled stack and what every layer shares (docs/architecture.md §3).
 * Built by C_Initialize, immutable until C_Finalize. */
#ifndef P11O_STACK_H
#define P11O_STACK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "config.h"
#include "layer.h"
#include "provider.h"
#include "sessions.h"
#include "slotview.h"

#define P11O_MAX_LAYERS 8

typedef struct p11o_stack {
	p11o_config config;
	/* The modules below, in config order (p11o_config_module); the
	 * first is the one C_GetInfo describes.  Modules that could not be
	 * loaded when others could are named in `skipped` with the reason. */
	p11o_provider providers[P11O_CONF_MAX_MODULES];
	unsigned provider_count;
	char skipped[P11O_CONF_MAX_MODULES][384];
	unsigned skipped_count;
	/* top (application side) first; the trace layer is layers[0] and is
	 * only part of the resolved chain while tracing is active. */
	p11o_layer *layers[P11O_MAX_LAYERS];
	size_t layer_count;
	p11o_layer *trace;   /* NULL if not built */
	p11o_targets plain;  /* resolved chain without the trace layer */
	p11o_targets traced; /* resolved chain with it */
	/* What the entry points call: the chains above with the core's own
	 * C_Initialize/C_Finalize/C_SetTraceCallback in front.  Immutable
	 * while published. */
	p11o_targets entry_plain, entry_traced;
	/* The idle chain (docs/architecture.md §3): entry_plain without the
	 * layer functions that only go down while `busy` is 0 (the unlock
	 * guard, the mechanisms layer's operation functions).  Published
	 * instead of entry_plain while busy is 0 and tracing is off. */
	p11o_targets entry_idle;
	/* Card holds and operations completed in the proxy that exist
	 * (p11o_stack_busy_enter/leave); switch_mu orders the switches
	 * between entry_idle and entry_plain. */
	atomic_long busy;
	pthread_mutex_t switch_mu;
	/* What the provider's C_Initialize gets: OS locking, and the
	 * application's no-threads flag (docs/architecture.md §3). */
	CK_C_INITIALIZE_ARGS provider_args;
	/* Every session (sessions.h) and every slot (slotview.h), shared by
	 * the layers. */
	p11o_sessions sessions;
	p11o_slot_view view;
	bool have_registry; /* the two above are initialised */
	/* Set by the core for C_Initialize: makes this stack the module's
	 * live one.  The trace layer calls it once the provider is
	 * initialised, before it delivers the C_Initialize record, so a
	 * trace callback can already call the module (include/p11overlay.h).
	 * Runs in the C_Initialize caller's thread, under the core's lock. */
	void (*go_live)(struct p11o_stack *s);
	/* C_GetSlotList's providers (provider.h), filled by the provider
	 * layer's C_Initialize.  When the slots layer is the next layer
	 * above it for C_GetSlotList (`slot_list_direct`, set at assembly)
	 * it calls them itself (docs/architecture.md §3 "slot list"). */
	p11o_slot_listers listers;
	bool slot_list_direct;
	/* Cards behind the provider's slots, shared by the layers. */
	struct p11o_card_cache *cards;
} p11o_stack;

/* A layer is about to create state that the idle chain would pass by (a
 * card hold, an operation completed in the proxy): returns once the full
 * chain is published, so every call that starts after this returns runs
 * the full chain until the matching p11o_stack_busy_leave (docs/
 * architecture.md §3).  Call it before the state is visible. */
void p11o_stack_busy_enter(p11o_stack *s);
/* That state is gone (after it is no longer visible): with none left the
 * idle chain is published again. */
void p11o_stack_busy_leave(p11o_stack *s);

#endif
