/* The provider layer, the bottom of the stack (docs/architecture.md §3):
 * forwards to the provider(s) with their own session handles and slot
 * IDs, and makes the session records. */
#include "provider.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stack.h"
#include "variables.h"

/* The layer keeps its own copies of the lists: one load per forwarded
 * call.  `fl` is the provider's, NULL where it has no function; `call`
 * has a stub answering CKR_FUNCTION_NOT_SUPPORTED there instead, so the
 * per-call forwards need no test. */
typedef struct provider_layer {
	p11o_layer base;
	p11o_ops ops;
	unsigned count;
	p11o_function_list fl[P11O_CONF_MAX_MODULES];
	p11o_function_list call[P11O_CONF_MAX_MODULES];
	/* Somebody else in this process initialised the provider (p11-kit
	 * loading OpenSC's own registration too): it is theirs to finalise. */
	bool shared[P11O_CONF_MAX_MODULES];
	/* Initialised by us or by somebody else; a provider after the first
	 * whose C_Initialize failed shows no slots. */
	bool live[P11O_CONF_MAX_MODULES];
	/* Where the next event poll starts, so one busy provider cannot
	 * starve the others. */
	atomic_uint next_poll;
} provider_layer;

_Static_assert(sizeof(CK_SLOT_ID) * 8 > P11O_PROVIDER_SHIFT,
	       "slot IDs have room for a provider number");

#define PL(self) ((provider_layer *)(self))
#define REG(self) (&(self)->stack->sessions)

/* The provider a slot ID below the slots layer names, and its own ID. */
static inline const p11o_function_list *
route_slot(p11o_layer *self, CK_SLOT_ID *id, unsigned *which)
{
	provider_layer *l = PL(self);
	CK_SLOT_ID k = *id >> P11O_PROVIDER_SHIFT;
	if (k == 0 || k >= l->count) {
		*which = 0;
		return &l->call[0];
	}
	*id &= P11O_PROVIDER_SLOT_MASK;
	*which = (unsigned)k;
	return &l->call[k];
}

/* Session h as its provider knows it: the function list, the provider's
 * handle and the record, read as of h.  The record can be ended and reused
 * for another session between the lookup and the reads (the application
 * closing h in another thread), so the key is checked again after them
 * (seqlock style); a handle gone meanwhile reaches the first provider as
 * CK_INVALID_HANDLE, as an unknown one does, never as another session. */
static inline const p11o_function_list *
route_session_slot(p11o_layer *self, CK_SESSION_HANDLE h,
		   const p11o_session **rec, CK_SESSION_HANDLE *ph,
		   CK_SLOT_ID *app_slot)
{
	p11o_session *s = p11o_session_get(REG(self), h);
	if (__builtin_expect(s != NULL, 1)) {
		CK_SESSION_HANDLE p =
		    __atomic_load_n(&s->provider_handle, __ATOMIC_RELAXED);
		/* The provider's `call` list, published with h
		 * (pv_C_OpenSession): no index, no range check. */
		const void *fl = __atomic_load_n(&s->route, __ATOMIC_RELAXED);
		if (app_slot)
			*app_slot =
			    __atomic_load_n(&s->app_slot, __ATOMIC_RELAXED);
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&s->key, memory_order_relaxed) == h) {
			*rec = s;
			*ph = p;
			return fl;
		}
	}
	*rec = NULL;
	*ph = CK_INVALID_HANDLE;
	return &PL(self)->call[0];
}

static inline const p11o_function_list *route_session(p11o_layer *self,
						      CK_SESSION_HANDLE h,
						      const p11o_session **rec,
						      CK_SESSION_HANDLE *ph)
{
	return route_session_slot(self, h, rec, ph, NULL);
}

/* A call on session h failed: follow the verdict (sessions.h) on the
 * record if h is still its session (a session ended meanwhile is gone
 * already).  Out of line, and the record looked up again: the per-call
 * path keeps no record in a register across the provider's call.  (A
 * handle that named no session at the call but names one opened
 * meanwhile was guessed by the application: it ends its own session.) */
__attribute__((noinline)) static CK_RV failed(p11o_layer *self,
					      CK_SESSION_HANDLE h, CK_RV rv)
{
	const p11o_session *rec = p11o_session_get(REG(self), h);
	if (rec)
		p11o_sessions_follow(REG(self), h, rec, rv, false);
	return rv;
}

/* Session handles arrive as the application's (sessions.h): the record
 * gives the provider and its handle, and the provider's answer is followed
 * (a session it says is gone is ended).  A handle without a record reaches
 * the first provider as CK_INVALID_HANDLE, so it answers with its own
 * error in its own order.  A slot ID picks its provider. */
#define PV_PRE_SESSION P11O_KIND_HOOK
#define PV_POST_SESSION P11O_KIND_HOOK
#define PV_PRE_SLOT P11O_KIND_HOOK
#define PV_DO_PRE_SESSION(n)                                                   \
	const CK_SESSION_HANDLE app_session = n;                               \
	const p11o_session *rec_;                                              \
	fl = route_session(self, app_session, &rec_, &n);                      \
	(void)rec_;
#define PV_DO_POST_SESSION(n)                                                  \
	if (__builtin_expect(rv != CKR_OK, 0))                                 \
		return failed(self, app_session, rv);
#define PV_DO_PRE_SLOT(n)                                                      \
	unsigned which_;                                                       \
	fl = route_slot(self, &n, &which_);                                    \
	(void)which_;
#define PV_PRE_(kind, type, n)                                                 \
	P11O_IF_KIND(PV_PRE_, kind, P11O_CAT(PV_DO_PRE_, kind)(n))
#define PV_POST_(kind, type, n)                                                \
	P11O_IF_KIND(PV_POST_, kind, P11O_CAT(PV_DO_POST_, kind)(n))

/* The bounds layer's check of an output buffer (bounds.h), done here so
 * the per-call path has one layer less: a length the provider returns
 * beyond the caller's buffer is cut to it and the call fails with
 * CKR_DEVICE_ERROR (the provider wrote past it or lies; the session's
 * verdict of that answer is the same as of CKR_OK: alive).  Without a
 * buffer and its length there is nothing to check: the length compared
 * is then a zero of our own. */
#define PV_BD_OUT_BYTES P11O_KIND_HOOK
#define PV_BD_OUT_LEN P11O_KIND_HOOK
#define PV_BD_DO_OUT_BYTES(n) bd_buf_ = n;
#define PV_BD_DO_OUT_LEN(n) bd_len_ = n;
#define PV_BD_(kind, type, n)                                                  \
	P11O_IF_KIND(PV_BD_, kind, P11O_CAT(PV_BD_DO_, kind)(n))

/* Compared where a function has no output buffer to check: 0, so never
 * above the room and never written; const, so the compiler drops the
 * check from functions without such a buffer. */
static const CK_ULONG no_length = 0;

#define P11O_FORWARD_(name, ...)                                               \
	static CK_RV forward_##name(p11o_layer *self,                          \
				    P11O_PARAMS(__VA_ARGS__))                  \
	{                                                                      \
		const p11o_function_list *fl = &PL(self)->call[0];             \
		const void *bd_buf_ = NULL;                                    \
		CK_ULONG_PTR bd_len_ = NULL;                                   \
		P11O_MAPS(PV_BD_, __VA_ARGS__)                                 \
		const bool bd_ = bd_buf_ && bd_len_;                           \
		const CK_ULONG room_ = bd_ ? *bd_len_ : 0;                     \
		CK_ULONG *said_ = bd_ ? bd_len_ : (CK_ULONG *)&no_length;      \
		P11O_MAPS(PV_PRE_, __VA_ARGS__)                                \
		CK_RV rv = fl->name(P11O_ARGS(__VA_ARGS__));                   \
		P11O_MAPS(PV_POST_, __VA_ARGS__)                               \
		if (__builtin_expect(*said_ > room_, 0) && rv == CKR_OK) {     \
			*said_ = room_;                                        \
			rv = CKR_DEVICE_ERROR;                                 \
		}                                                              \
		return rv;                                                     \
	}
P11O_FUNCTIONS_V2_TAIL(P11O_FORWARD_)
P11O_FUNCTIONS_V3(P11O_FORWARD_)
#undef P11O_FORWARD_

/* What `call` holds where the provider has no function. */
#define P11O_NOSUP_(name, ...)                                                 \
	static CK_RV nosup_##name(P11O_PARAMS(__VA_ARGS__))                    \
	{                                                                      \
		P11O_MAPS(PV_UNUSED_, __VA_ARGS__)                             \
		return CKR_FUNCTION_NOT_SUPPORTED;                             \
	}
#define PV_UNUSED_(kind, type, n) (void)n;
P11O_FUNCTIONS_V2_TAIL(P11O_NOSUP_)
P11O_FUNCTIONS_V3(P11O_NOSUP_)
#undef P11O_NOSUP_
#undef PV_UNUSED_

static void fill_call(p11o_function_list *call, const p11o_function_list *fl)
{
	*call = *fl;
#define P11O_FILL_(name, ...)                                                  \
	if (!call->name)                                                       \
		call->name = nosup_##name;
	P11O_FUNCTIONS_V2_TAIL(P11O_FILL_)
	P11O_FUNCTIONS_V3(P11O_FILL_)
#undef P11O_FILL_
}

/* The record is made here, where the provider's handle is born.  An
 * application's Notify is wrapped (sessions.h: p11o_session_notify with
 * the record as pApplication), so a provider calling it hands the
 * application its own handle, never the provider's. */
static CK_RV pv_C_OpenSession(p11o_layer *self, CK_SLOT_ID slotID,
			      CK_FLAGS flags, CK_VOID_PTR pApplication,
			      CK_NOTIFY Notify, CK_SESSION_HANDLE_PTR phSession)
{
	const CK_SLOT_ID down_slot = slotID;
	unsigned which;
	const p11o_function_list *fl = route_slot(self, &slotID, &which);
	p11o_stack *st = self->stack;
	p11o_session *wrapped = NULL;
	if (Notify && phSession) {
		wrapped = p11o_sessions_take(&st->sessions);
		if (!wrapped)
			return CKR_HOST_MEMORY;
	}
	CK_SESSION_HANDLE ph = CK_INVALID_HANDLE;
	CK_RV rv = fl->C_OpenSession(
	    slotID, flags, wrapped ? (CK_VOID_PTR)wrapped : pApplication,
	    wrapped ? p11o_session_notify : Notify, phSession ? &ph : NULL);
	if (rv != CKR_OK || !phSession) {
		if (wrapped)
			p11o_sessions_give_back(&st->sessions, wrapped);
		return rv;
	}
	const CK_ULONG slot = p11o_slot_find_down(&st->view, down_slot);
	const p11o_session_init init = {
	    .provider_handle = ph,
	    .provider = which,
	    .route = fl,
	    .down_slot = down_slot,
	    .slot = slot,
	    .app_slot =
		slot != P11O_NO_SLOT ? st->view.slots[slot].id : down_slot,
	    .insertion = p11o_slot_insertion(&st->view, slot),
	    .rw = (flags & CKF_RW_SESSION) != 0,
	    .notify = Notify,
	    .application = pApplication};
	p11o_session *s =
	    wrapped ? (p11o_sessions_publish(&st->sessions, wrapped, &init)
			   ? wrapped
			   : NULL)
		    : p11o_sessions_add(&st->sessions, &init);
	if (!s) {
		fl->C_CloseSession(ph);
		return CKR_HOST_MEMORY;
	}
	*phSession = atomic_load_explicit(&s->handle, memory_order_relaxed);
	return CKR_OK;
}

/* The slot ID is the application's, read from the record with the
 * provider's handle (sessions.h: for a slot the slots layer never showed,
 * the ID layers below it use): the slots layer need not look the session
 * up again.  An unknown handle reaches the first provider as
 * CK_INVALID_HANDLE, and its answer is passed on as it is. */
static CK_RV pv_C_GetSessionInfo(p11o_layer *self, CK_SESSION_HANDLE hSession,
				 CK_SESSION_INFO_PTR pInfo)
{
	const p11o_session *rec;
	CK_SESSION_HANDLE ph;
	CK_SLOT_ID app_slot;
	const p11o_function_list *fl =
	    route_session_slot(self, hSession, &rec, &ph, &app_slot);
	if (__builtin_expect(!rec, 0))
		return fl->C_GetSessionInfo(ph, pInfo);
	CK_RV rv = fl->C_GetSessionInfo(ph, pInfo);
	if (__builtin_expect(rv != CKR_OK, 0))
		return failed(self, hSession, rv);
	if (pInfo)
		pInfo->slotID = app_slot;
	return rv;
}

static CK_RV pv_C_CloseSession(p11o_layer *self, CK_SESSION_HANDLE hSession)
{
	const p11o_session *rec;
	CK_SESSION_HANDLE ph;
	const p11o_function_list *fl = route_session(self, hSession, &rec, &ph);
	CK_RV rv = fl->C_CloseSession(ph);
	if (rec)
		p11o_sessions_follow(REG(self), hSession, rec, rv, true);
	return rv;
}

static CK_RV pv_C_CloseAllSessions(p11o_layer *self, CK_SLOT_ID slotID)
{
	const CK_SLOT_ID down_slot = slotID;
	unsigned which;
	const p11o_function_list *fl = route_slot(self, &slotID, &which);
	CK_RV rv = fl->C_CloseAllSessions(slotID);
	if (p11o_session_verdict(rv, false, true) == P11O_SLOT_GONE)
		p11o_sessions_end_slot(REG(self), which, down_slot);
	return rv;
}

static CK_RV forward_C_Initialize(p11o_layer *self, CK_VOID_PTR pInitArgs)
{
	(void)pInitArgs; /* validated by the core; the provider gets ours */
	provider_layer *l = PL(self);
	CK_RV first = CKR_GENERAL_ERROR;
	for (unsigned k = 0; k < l->count; k++) {
		CK_RV rv =
		    l->fl[k].C_Initialize
			? l->fl[k].C_Initialize(&self->stack->provider_args)
			: CKR_GENERAL_ERROR;
		l->shared[k] = rv == CKR_CRYPTOKI_ALREADY_INITIALIZED;
		l->live[k] = rv == CKR_OK || l->shared[k];
		if (k == 0) {
			first = l->shared[k] ? CKR_OK : rv;
			if (!l->live[k])
				return rv;
		} else if (!l->live[k]) {
			/* Its tokens are not shown; the others work. */
			fprintf(stderr,
				"p11overlay: provider '%s': C_Initialize "
				"failed (0x%lx); its tokens are not shown\n",
				self->stack->providers[k].path,
				(unsigned long)rv);
		}
	}
	p11o_slot_listers *ls = &self->stack->listers;
	ls->n = 0;
	for (unsigned k = 0; k < l->count; k++)
		if (l->live[k] && l->fl[k].C_GetSlotList)
			ls->at[ls->n++] =
			    (p11o_slot_lister){l->fl[k].C_GetSlotList, k};
	ls->direct = self->stack->slot_list_direct ? ls->n : 0;
	return first;
}

static CK_RV forward_C_Finalize(p11o_layer *self, CK_VOID_PTR pReserved)
{
	provider_layer *l = PL(self);
	CK_RV first = CKR_OK;
	for (unsigned k = l->count; k-- > 0;) {
		if (!l->live[k] || l->shared[k])
			continue;
		CK_RV rv = l->fl[k].C_Finalize ? l->fl[k].C_Finalize(pReserved)
					       : CKR_GENERAL_ERROR;
		l->live[k] = false;
		if (k == 0)
			first = rv;
	}
	return first;
}

static CK_RV forward_C_GetInfo(p11o_layer *self, CK_INFO_PTR pInfo)
{
	const p11o_function_list *fl = &PL(self)->fl[0];
	return fl->C_GetInfo ? fl->C_GetInfo(pInfo)
			     : CKR_FUNCTION_NOT_SUPPORTED;
}

/* ---- several providers (installed only when there are; §3) ---------- */

/* Provider k's slots tagged with k; IDs that have no room for the tag
 * (or that would read as another provider's) are left out. */
static CK_ULONG tag_slots(const provider_layer *l, unsigned k, CK_SLOT_ID *ids,
			  CK_ULONG n)
{
	CK_ULONG kept = 0;
	for (CK_ULONG i = 0; i < n; i++) {
		CK_SLOT_ID top = ids[i] >> P11O_PROVIDER_SHIFT;
		if (top != 0 && (k != 0 || top < l->count))
			continue;
		ids[kept++] = p11o_provider_slot_id(k, ids[i]);
	}
	return kept;
}

/* Every provider's list, in provider order, written straight into the
 * caller's buffer.  A count query (no buffer) is passed to each provider
 * as a count query too: OpenSC looks for new readers only then.  Once the
 * buffer is too short the remaining providers are only counted.  The
 * first provider's error is the answer; a later provider that fails shows
 * no slots.  (The slots layer's per-call path calls the providers itself:
 * slots.c, docs/architecture.md §3 "slot list".) */
static CK_RV pv_C_GetSlotList(p11o_layer *self, CK_BBOOL tokenPresent,
			      CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount)
{
	provider_layer *l = PL(self);
	const p11o_slot_listers *ls = &self->stack->listers;
	if (!pulCount || !l->fl[0].C_GetSlotList)
		return l->fl[0].C_GetSlotList
			   ? l->fl[0].C_GetSlotList(tokenPresent, pSlotList,
						    pulCount)
			   : CKR_FUNCTION_NOT_SUPPORTED;
	const CK_ULONG cap = pSlotList ? *pulCount : 0;
	CK_ULONG used = 0;
	bool filling = pSlotList != NULL;
	for (unsigned i = 0; i < ls->n; i++) {
		const unsigned k = ls->at[i].k;
		CK_ULONG n = filling ? cap - used : 0;
		CK_RV rv = ls->at[i].fn(tokenPresent,
					filling ? pSlotList + used : NULL, &n);
		if (rv == CKR_BUFFER_TOO_SMALL && filling) {
			filling = false; /* n is what it needs */
			rv = CKR_OK;
		} else if (rv == CKR_OK && filling) {
			n = n < cap - used ? n : cap - used;
			n = tag_slots(l, k, pSlotList + used, n);
		}
		if (rv != CKR_OK) {
			if (k == 0)
				return rv;
			continue;
		}
		used += n;
	}
	*pulCount = used;
	return pSlotList && !filling ? CKR_BUFFER_TOO_SMALL : CKR_OK;
}

/* Polls each provider once, starting where the last poll left off.  The
 * events layer only polls (CKF_DONT_BLOCK); a blocking call or one without
 * a slot pointer is the first provider's to answer.  Providers without
 * slot events (SoftHSM2) are passed over; only when none has them is the
 * answer CKR_FUNCTION_NOT_SUPPORTED. */
static CK_RV pv_C_WaitForSlotEvent(p11o_layer *self, CK_FLAGS flags,
				   CK_SLOT_ID_PTR pSlot, CK_VOID_PTR pRes)
{
	provider_layer *l = PL(self);
	if (!(flags & CKF_DONT_BLOCK) || !pSlot)
		return l->fl[0].C_WaitForSlotEvent
			   ? l->fl[0].C_WaitForSlotEvent(flags, pSlot, pRes)
			   : CKR_FUNCTION_NOT_SUPPORTED;
	unsigned start = atomic_fetch_add(&l->next_poll, 1);
	bool supported = false;
	for (unsigned i = 0; i < l->count; i++) {
		unsigned k = (start + i) % l->count;
		if (!l->live[k] || !l->fl[k].C_WaitForSlotEvent)
			continue;
		CK_SLOT_ID id;
		CK_RV rv = l->fl[k].C_WaitForSlotEvent(flags, &id, pRes);
		if (rv == CKR_OK && tag_slots(l, k, &id, 1) == 1) {
			*pSlot = id;
			return CKR_OK;
		}
		if (rv == CKR_OK || rv == CKR_NO_EVENT)
			supported = true;
		else if (rv != CKR_FUNCTION_NOT_SUPPORTED && k == 0)
			return rv;
	}
	return supported ? CKR_NO_EVENT : CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV provider_get_variable(p11o_layer *self, const char *name,
				   char *value, CK_ULONG valueLen)
{
	(void)self;
	return p11o_variable_get(name, value, valueLen);
}

static CK_RV provider_set_variable(p11o_layer *self, const char *name,
				   const char *value)
{
	(void)self;
	return p11o_variable_set(name, value);
}

static const p11o_ops provider_ops = {
#define P11O_OPS_(name, ...) .name = forward_##name,
    P11O_FUNCTIONS_V2(P11O_OPS_) P11O_FUNCTIONS_V3(P11O_OPS_)
#undef P11O_OPS_
	.C_GetVariable = provider_get_variable,
    .C_SetVariable = provider_set_variable,
};

static void provider_layer_destroy(p11o_layer *self)
{
	free(self);
}

p11o_layer *p11o_provider_layer_new(struct p11o_stack *stack)
{
	provider_layer *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->base.name = "provider";
	l->ops = provider_ops;
	l->ops.C_OpenSession = pv_C_OpenSession;
	l->ops.C_CloseSession = pv_C_CloseSession;
	l->ops.C_GetSessionInfo = pv_C_GetSessionInfo;
	l->ops.C_CloseAllSessions = pv_C_CloseAllSessions;
	l->base.ops = &l->ops;
	l->base.stack = stack;
	l->base.destroy = provider_layer_destroy;
	l->count = stack->provider_count;
	for (unsigned k = 0; k < l->count; k++) {
		l->fl[k] = stack->providers[k].fl;
		fill_call(&l->call[k], &l->fl[k]);
	}
	if (l->count > 1) {
		l->ops.C_GetSlotList = pv_C_GetSlotList;
		l->ops.C_WaitForSlotEvent = pv_C_WaitForSlotEvent;
	}
	return &l->base;
}
