#include "core.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "cardcache.h"
#include "inflight.h"
#include "mutex.h"
#include "p11o_build.h"
#include "slots.h"
#include "stack.h"
#include "variables.h"
#include "trace/trace.h"
#include "addons/objects/objects.h"
#include "addons/unlock/unlock.h"
#include "addons/mechanisms/mechanisms.h"

_Atomic(const p11o_targets *) p11o_active;

static p11o_targets uninitialized;
static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static p11o_stack *current;                /* under init_lock */
static CK_TRACE_CALLBACK pending_callback; /* under init_lock */
/* A forked child's copy of the parent's stack: kept reachable (so leak
 * checkers do not report it in every child), never used or freed. */
static p11o_stack *volatile abandoned;

/* Set while this thread is inside C_Initialize or C_Finalize: a provider
 * that calls back into p11overlay from there (a module that loads us, as
 * p11-kit's proxy does when p11overlay is registered with it) would wait
 * for init_lock forever. */
static _Thread_local bool in_init_lock;

static CK_RV core_initialize(p11o_layer *self, CK_VOID_PTR pInitArgs);
static CK_RV core_finalize(p11o_layer *self, CK_VOID_PTR pReserved);

static CK_RV core_get_variable(p11o_layer *self, const char *name, char *value,
			       CK_ULONG valueLen)
{
	(void)self;
	return p11o_variable_get(name, value, valueLen);
}

static CK_RV core_set_variable(p11o_layer *self, const char *name,
			       const char *value)
{
	(void)self;
	return p11o_variable_set(name, value);
}

/* Switch tracing on for the application's callback (C_SetTraceCallback),
 * which also works before C_Initialize. */
static CK_RV set_trace_callback(CK_TRACE_CALLBACK callback);

static CK_RV core_set_trace_callback(p11o_layer *self,
				     CK_TRACE_CALLBACK callback)
{
	(void)self;
	return set_trace_callback(callback);
}

/* A fork from inside C_Initialize or C_Finalize (a provider's constructor
 * or C_Initialize may fork: GIO autolaunching D-Bus in OpenSC's) comes from
 * the thread that already holds init_lock: taking it again would hang the
 * application for good, so the handlers leave it alone there. */
static void atfork_prepare(void)
{
	if (!in_init_lock)
		pthread_mutex_lock(&init_lock);
}

static void atfork_parent(void)
{
	if (!in_init_lock)
		pthread_mutex_unlock(&init_lock);
}

/* The child must call C_Initialize itself (docs/architecture.md §3).  The
 * parent's stack is abandoned, not freed: other threads' locks died mid-use. */
static void atfork_child(void)
{
	atomic_store(&p11o_active, &uninitialized);
	/* The parent's other threads, counted in flight, are not here. */
	p11o_calls_reset();
	/* Forked from inside C_Initialize/C_Finalize: that call goes on in
	 * this thread and releases init_lock itself (it usually execs). */
	if (in_init_lock)
		return;
	if (current)
		abandoned = current;
	current = NULL;
	pthread_mutex_unlock(&init_lock);
}

/* While C_Finalize runs, entry points call `during_finalize`: the stack
 * C_Finalize is finishing for the finalizing thread itself (the trace
 * callback's nested calls, include/p11overlay.h, still reach it there),
 * CKR_CRYPTOKI_NOT_INITIALIZED for every other thread.  The thread-local
 * is read on this path only, never on a call to a live stack. */
static _Thread_local const p11o_targets *finalizing;
static p11o_targets during_finalize;

#define P11O_FINALIZING_(name, ...)                                            \
	static CK_RV finalizing_##name(p11o_layer *self,                       \
				       P11O_PARAMS(__VA_ARGS__))               \
	{                                                                      \
		const p11o_targets *t = finalizing;                            \
		if (!t)                                                        \
			return uninitialized.name.fn(self,                     \
						     P11O_ARGS(__VA_ARGS__));  \
		return t->name.fn(t->name.layer, P11O_ARGS(__VA_ARGS__));      \
	}
P11O_FUNCTIONS(P11O_FINALIZING_)
#undef P11O_FINALIZING_

/* At load time, so every entry point has a table before its first call. */
__attribute__((constructor)) static void core_setup(void)
{
	p11o_targets_fill_uninitialized(&uninitialized);
	uninitialized.C_Initialize.fn = core_initialize;
	/* Module-level functions that work before C_Initialize. */
	uninitialized.C_GetVariable.fn = core_get_variable;
	uninitialized.C_SetVariable.fn = core_set_variable;
	uninitialized.C_SetTraceCallback.fn = core_set_trace_callback;
#define P11O_FILL_(name, ...)                                                  \
	during_finalize.name.fn = finalizing_##name;                           \
	during_finalize.name.layer = NULL;
	P11O_FUNCTIONS(P11O_FILL_)
#undef P11O_FILL_
	atomic_store(&p11o_active, &uninitialized);
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* CK_C_INITIALIZE_ARGS rules of PKCS#11 2.40 §5.4. */
static CK_RV check_init_args(const CK_C_INITIALIZE_ARGS *a)
{
	if (!a)
		return CKR_OK;
	if (a->pReserved)
		return CKR_ARGUMENTS_BAD;
	int set = !!a->CreateMutex + !!a->DestroyMutex + !!a->LockMutex +
		  !!a->UnlockMutex;
	if (set != 0 && set != 4)
		return CKR_ARGUMENTS_BAD;
	return CKR_OK;
}

static void stack_destroy(p11o_stack *s)
{
	/* Sessions first: their hooks belong to the layers. */
	if (s->have_registry)
		p11o_sessions_destroy(&s->sessions);
	for (size_t i = 0; i < s->layer_count; i++)
		if (s->layers[i] && s->layers[i]->destroy)
			s->layers[i]->destroy(s->layers[i]);
	for (unsigned k = 0; k < s->provider_count; k++)
		p11o_provider_unload(&s->providers[k]);
	p11o_card_cache_free(s->cards);
	if (s->have_registry)
		p11o_slot_view_destroy(&s->view);
	pthread_mutex_destroy(&s->switch_mu);
	free(s);
}

/* What the entry points call that the core answers itself. */
static void core_entries(p11o_targets *entry)
{
	entry->C_Initialize.fn = core_initialize;
	entry->C_Initialize.layer = NULL;
	entry->C_Finalize.fn = core_finalize;
	entry->C_Finalize.layer = NULL;
	entry->C_SetTraceCallback.fn = core_set_trace_callback;
	entry->C_SetTraceCallback.layer = NULL;
}

static void resolve(p11o_stack *s, size_t first, p11o_targets *chain,
		    p11o_targets *entry)
{
	p11o_stack_resolve(s->layers + first, s->layer_count - first, chain);
	*entry = *chain;
	core_entries(entry);
}

/* Every module of [provider] (docs/architecture.md §3).  With one
 * module, a module that cannot be loaded fails C_Initialize; with several,
 * it is reported (stderr and the trace header) and the others go on, so a
 * missing soft-token module never hides the cards. */
static int load_providers(p11o_stack *s, char *err, size_t errlen)
{
	char path[sizeof(s->providers[0].path)], why[320];
	size_t listed = 0;

	for (size_t i = 0;
	     i < P11O_CONF_MAX_MODULES &&
	     p11o_config_module(&s->config, i, path, sizeof(path));
	     i++) {
		listed++;
		p11o_provider *p = &s->providers[s->provider_count];
		if (p11o_provider_load(p, path, why, sizeof(why)) != 0) {
			snprintf(s->skipped[s->skipped_count++],
				 sizeof(s->skipped[0]), "%s", why);
			continue;
		}
		/* Two names for one file: the loader gives one instance. */
		bool again = false;
		for (unsigned k = 0; k < s->provider_count; k++)
			again = again || s->providers[k].dl == p->dl;
		if (again) {
			snprintf(s->skipped[s->skipped_count++],
				 sizeof(s->skipped[0]),
				 "provider '%.300s' is already loaded under "
				 "another name",
				 path);
			p11o_provider_unload(p);
			continue;
		}
		s->provider_count++;
	}
	if (s->provider_count == 0) {
		snprintf(err, errlen, "%s",
			 s->skipped_count ? s->skipped[0]
					  : "no provider module");
		return -1;
	}
	if (listed > 1)
		for (unsigned k = 0; k < s->skipped_count; k++)
			fprintf(stderr, "p11overlay: %s; going on without it\n",
				s->skipped[k]);
	return 0;
}

/* A broken config leaves `err` empty: its diagnostics, on stderr and in
 * the trace header, are the one message that says what is wrong. */
static CK_RV stack_build(p11o_stack *s, char *err, size_t errlen)
{
	size_t n = 0;
	int broken = p11o_config_load(&s->config);
	/* Warnings (unknown keys, a world-writable file) are never silent. */
	p11o_config_report(&s->config);
	/* Before anything else can fail, so the trace says why it did. */
	s->trace = p11o_trace_layer_new(s);
	if (!s->trace)
		return CKR_HOST_MEMORY;
	s->layers[n++] = s->trace;
	s->layer_count = n;
	if (broken)
		return CKR_GENERAL_ERROR;
	if (load_providers(s, err, errlen) != 0)
		return CKR_GENERAL_ERROR;
	s->cards = p11o_card_cache_new(&s->config);
	if (!s->cards)
		return CKR_HOST_MEMORY;
	if (p11o_slot_view_init(&s->view) != CKR_OK)
		return CKR_HOST_MEMORY;
	if (p11o_sessions_init(&s->sessions) != CKR_OK) {
		p11o_slot_view_destroy(&s->view);
		return CKR_HOST_MEMORY;
	}
	s->have_registry = true;
	/* docs/architecture.md §3 order; an addon switched off by config is a
	 * layer without overrides, which resolution skips at no cost. */
	s->layers[n++] = p11o_slots_layer_new(s);
	s->layers[n++] = p11o_objects_layer_new(s);
	s->layers[n++] = p11o_unlock_layer_new(s);
	s->layers[n++] = p11o_mechanisms_layer_new(s);
	/* Right above the provider: what it says about our buffers. */
	s->layers[n++] = p11o_bounds_layer_new(s);
	s->layers[n++] = p11o_provider_layer_new(s);
	s->layer_count = n;
	for (size_t i = 0; i < n; i++)
		if (!s->layers[i])
			return CKR_HOST_MEMORY;
	resolve(s, s->trace ? 1 : 0, &s->plain, &s->entry_plain);
	/* The slots layer calls the providers' C_GetSlotList itself only
	 * while no layer between them takes part in it (stack.h). */
	s->slot_list_direct =
	    s->layers[1]->down.C_GetSlotList.layer == s->layers[n - 1];
	resolve(s, 0, &s->traced, &s->entry_traced);
	const size_t first = s->trace ? 1 : 0;
	p11o_stack_resolve_idle(s->layers + first, n - first, &s->entry_idle);
	core_entries(&s->entry_idle);
	return CKR_OK;
}

static bool trace_active(const p11o_stack *s)
{
	return s->trace && p11o_trace_active(s->trace);
}

static const p11o_targets *chain(const p11o_stack *s)
{
	return trace_active(s) ? &s->traced : &s->plain;
}

/* The chain every call takes while tracing is off (docs/architecture.md
 * §3): the idle one while nothing is busy.  Under switch_mu. */
static const p11o_targets *untraced(p11o_stack *s)
{
	return atomic_load(&s->busy) ? &s->entry_plain : &s->entry_idle;
}

static void publish(p11o_stack *s)
{
	pthread_mutex_lock(&s->switch_mu);
	atomic_store(&p11o_active,
		     trace_active(s) ? &s->entry_traced : untraced(s));
	pthread_mutex_unlock(&s->switch_mu);
}

/* The idle chain and the full one (docs/architecture.md §3).  A layer
 * counts its state in `busy` before the state can be seen, then publishes
 * the full chain under switch_mu; the idle chain comes back only under
 * switch_mu with busy 0.  So once busy_enter returns, no switch to the idle
 * chain can happen before the matching busy_leave: one that checked busy
 * before the increment finished its store before we took switch_mu, and
 * we replace it.  Only the pair idle <-> full of this stack is swapped
 * (compare-and-swap): tracing, C_Finalize and a fork publish other
 * tables, which stay.  A call that loaded the idle chain just before
 * busy_enter finishes there, as a call that read the counters just before
 * they grew did before this chain existed. */
void p11o_stack_busy_enter(p11o_stack *s)
{
	atomic_fetch_add(&s->busy, 1);
	pthread_mutex_lock(&s->switch_mu);
	const p11o_targets *idle = &s->entry_idle;
	atomic_compare_exchange_strong(&p11o_active, &idle, &s->entry_plain);
	pthread_mutex_unlock(&s->switch_mu);
}

void p11o_stack_busy_leave(p11o_stack *s)
{
	if (atomic_fetch_sub(&s->busy, 1) != 1)
		return;
	pthread_mutex_lock(&s->switch_mu);
	const p11o_targets *full = &s->entry_plain;
	if (atomic_load(&s->busy) == 0)
		atomic_compare_exchange_strong(&p11o_active, &full,
					       &s->entry_idle);
	pthread_mutex_unlock(&s->switch_mu);
}

static void report_failure(p11o_stack *s, const char *err)
{
	if (err[0])
		fprintf(stderr, "p11overlay: %s\n", err);
	if (s->trace)
		p11o_trace_note(s->trace, "C_Initialize failed: %s",
				err[0] ? err : "configuration error");
}

static bool reentered(const char *fn)
{
	if (in_init_lock)
		fprintf(stderr,
			"p11overlay: %s called from inside p11overlay's own "
			"C_Initialize or C_Finalize: the provider loads "
			"p11overlay again\n",
			fn);
	return in_init_lock;
}

/* Under init_lock, in C_Initialize (stack.h): the stack is live from here
 * on, also for the trace callback of the C_Initialize record. */
static void go_live(p11o_stack *s)
{
	current = s;
	publish(s);
}

static CK_RV core_initialize(p11o_layer *self, CK_VOID_PTR pInitArgs)
{
	(void)self;
	const CK_C_INITIALIZE_ARGS *args = pInitArgs;
	CK_RV rv = check_init_args(args);
	if (rv != CKR_OK)
		return rv;
	if (reentered("C_Initialize"))
		return CKR_GENERAL_ERROR;
	pthread_mutex_lock(&init_lock);
	if (current) {
		pthread_mutex_unlock(&init_lock);
		return CKR_CRYPTOKI_ALREADY_INITIALIZED;
	}
	p11o_stack *s = calloc(1, sizeof(*s));
	if (!s) {
		pthread_mutex_unlock(&init_lock);
		return CKR_HOST_MEMORY;
	}
	pthread_mutex_init(&s->switch_mu, NULL);
	p11o_mutex_configure(args);
	s->provider_args.flags = CKF_OS_LOCKING_OK;
	if (args)
		s->provider_args.flags |=
		    args->flags & CKF_LIBRARY_CANT_CREATE_OS_THREADS;
	char err[512] = "";
	in_init_lock = true;
	rv = stack_build(s, err, sizeof(err));
	if (rv == CKR_OK)
		p11o_card_cache_threads(s->cards,
					!(s->provider_args.flags &
					  CKF_LIBRARY_CANT_CREATE_OS_THREADS));
	if (rv == CKR_OK && pending_callback)
		p11o_trace_set_callback(s->trace, pending_callback);
	if (rv == CKR_OK) {
		const p11o_targets *t = chain(s);
		s->go_live = go_live;
		rv = t->C_Initialize.fn(t->C_Initialize.layer, pInitArgs);
		s->go_live = NULL;
	} else {
		report_failure(s, err);
	}
	if (rv != CKR_OK) {
		if (current == s) { /* live already: as C_Finalize does */
			atomic_store(&p11o_active, &uninitialized);
			current = NULL;
			p11o_calls_drain();
		}
		stack_destroy(s);
	} else {
		go_live(s);
	}
	in_init_lock = false;
	pthread_mutex_unlock(&init_lock);
	return rv;
}

static CK_RV core_finalize(p11o_layer *self, CK_VOID_PTR pReserved)
{
	(void)self;
	if (pReserved)
		return CKR_ARGUMENTS_BAD;
	if (reentered("C_Finalize"))
		return CKR_GENERAL_ERROR;
	pthread_mutex_lock(&init_lock);
	p11o_stack *s = current;
	if (!s) {
		pthread_mutex_unlock(&init_lock);
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	}
	in_init_lock = true;
	/* New calls get CKR_CRYPTOKI_NOT_INITIALIZED; blocked ones are woken;
	 * then nothing of the stack is finalised or freed while a call that
	 * saw it still runs (inflight.h). */
	finalizing = atomic_load(&p11o_active);
	if (finalizing == &s->entry_idle) /* the full one: busy may change */
		finalizing = &s->entry_plain;
	atomic_store(&p11o_active, &during_finalize);
	for (size_t i = 0; i < s->layer_count; i++)
		if (s->layers[i] && s->layers[i]->wake)
			s->layers[i]->wake(s->layers[i]);
	p11o_calls_drain();
	const p11o_targets *t = chain(s);
	CK_RV rv = t->C_Finalize.fn(t->C_Finalize.layer, pReserved);
	atomic_store(&p11o_active, &uninitialized);
	finalizing = NULL;
	in_init_lock = false;
	current = NULL;
	stack_destroy(s);
	p11o_variables_clear();
	pthread_mutex_unlock(&init_lock);
	return rv;
}

static CK_RV set_trace_callback(CK_TRACE_CALLBACK callback)
{
	CK_RV rv = CKR_OK;
	pthread_mutex_lock(&init_lock);
	pending_callback = callback;
	if (current) {
		in_init_lock = true; /* the callback gets the header now */
		rv = p11o_trace_set_callback(current->trace, callback);
		in_init_lock = false;
		publish(current);
	}
	pthread_mutex_unlock(&init_lock);
	return rv;
}
