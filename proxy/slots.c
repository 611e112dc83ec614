#include "slots_int.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cardcache.h"
#include "extreader.h"
#include "labels.h"
#include "stack.h"
#include "utf8.h"

/* ---- sessions and objects ------------------------------------------- */

/* Session handles pass down unchanged (sessions.h); what this layer needs
 * of a session is its slot, for the object handles it makes and the PIN
 * states a login changes, asked only then. */
typedef struct call_ctx {
	CK_ULONG slot;             /* index of the call's slot, or NO_SLOT */
	CK_SESSION_HANDLE session; /* the call's session, if any */
} call_ctx;

static CK_ULONG slot_of(slots_layer *l, call_ctx *ctx)
{
	if (ctx->slot == NO_SLOT && ctx->session) {
		const p11o_session *s =
		    p11o_session_get(l->sessions, ctx->session);
		if (s)
			ctx->slot = s->slot;
	}
	return ctx->slot;
}

static CK_OBJECT_HANDLE object_down(slots_layer *l, CK_OBJECT_HANDLE h)
{
	CK_ULONG value;
	return p11o_handles_read(&l->objects, h, &value, NULL)
		   ? value
		   : CK_INVALID_HANDLE;
}

/* 0 when the handle cannot be recorded (out of memory). */
static CK_OBJECT_HANDLE object_up(slots_layer *l, call_ctx *ctx,
				  CK_OBJECT_HANDLE provider)
{
	return p11o_handles_add(&l->objects, provider, slot_of(l, ctx));
}

static void forget_pin_states(slots_layer *l, call_ctx *ctx)
{
	CK_ULONG slot = slot_of(l, ctx);
	if (slot == NO_SLOT)
		return;
	p11o_card_entry *e = p11o_card_cache_get(
	    l->base.stack->cards, l->view->slots[slot].description, NULL);
	if (e) {
		p11o_card_entry_forget_pins(e);
		p11o_card_cache_put(e);
	}
}

/* ---- generated wrappers: translate handles by argument kind ----------- */

/* Functions with one of these kinds are wrapped; the others (a session
 * and bytes: the crypto calls) skip this layer.  C_GetSessionInfo's slot
 * ID is the application's already: the bottom layer takes it from the
 * session's record. */
#define SL_HAS_OBJECT P11O_KIND_HOOK
#define SL_HAS_OUT_OBJECT P11O_KIND_HOOK
#define SL_HAS_SLOT P11O_KIND_HOOK
#define SL_HAS_OUT_SLOT P11O_KIND_HOOK
#define SL_HAS_PIN P11O_KIND_HOOK

#define SL_PRE_SESSION P11O_KIND_HOOK
#define SL_PRE_OBJECT P11O_KIND_HOOK
#define SL_PRE_SLOT P11O_KIND_HOOK
#define SL_POST_OUT_OBJECT P11O_KIND_HOOK
#define SL_POST_OUT_SESSION_INFO P11O_KIND_HOOK
#define SL_POST_OUT_SLOT P11O_KIND_HOOK
#define SL_POST_PIN P11O_KIND_HOOK

#define SL_DO_PRE_SESSION(n) ctx.session = n;
#define SL_DO_PRE_OBJECT(n) n = object_down(l, n);
#define SL_DO_PRE_SLOT(n)                                                      \
	ctx.slot = sl_slot_index(l, n);                                        \
	n = ctx.slot == NO_SLOT ? P11O_INVALID_PROVIDER_SLOT                   \
				: l->view->slots[ctx.slot].down;
/* A call with a PIN may change the PIN's state on the card. */
#define SL_DO_POST_PIN(n) forget_pin_states(l, &ctx);
#define SL_DO_POST_OUT_OBJECT(n)                                               \
	if (rv == CKR_OK && n) {                                               \
		*n = object_up(l, &ctx, *n);                                   \
		if (!*n)                                                       \
			rv = CKR_HOST_MEMORY;                                  \
	}
#define SL_DO_POST_OUT_SESSION_INFO(n)                                         \
	if (rv == CKR_OK && n)                                                 \
		n->slotID = sl_slot_up(l, n->slotID);
#define SL_DO_POST_OUT_SLOT(n)                                                 \
	if (rv == CKR_OK && n)                                                 \
		*n = sl_slot_up(l, *n);

#define SL_HAS_(kind, type, n) P11O_IF_KIND(SL_HAS_, kind, | 1)
#define SL_PRE_(kind, type, n)                                                 \
	P11O_IF_KIND(SL_PRE_, kind, P11O_CAT(SL_DO_PRE_, kind)(n))
#define SL_POST_(kind, type, n)                                                \
	P11O_IF_KIND(SL_POST_, kind, P11O_CAT(SL_DO_POST_, kind)(n))

#define SL_WRAP_(name, ...)                                                    \
	static CK_RV wrap_##name(p11o_layer *self, P11O_PARAMS(__VA_ARGS__))   \
	{                                                                      \
		slots_layer *l = SL(self);                                     \
		call_ctx ctx = {NO_SLOT, CK_INVALID_HANDLE};                   \
		(void)l;                                                       \
		(void)ctx;                                                     \
		P11O_MAPS(SL_PRE_, __VA_ARGS__)                                \
		CK_RV rv = P11O_DOWN(self, name, P11O_ARGS(__VA_ARGS__));      \
		P11O_MAPS(SL_POST_, __VA_ARGS__)                               \
		return rv;                                                     \
	}
P11O_FUNCTIONS(SL_WRAP_)
#undef SL_WRAP_

/* ---- functions with their own rules ------------------------------------ */

static void pad(CK_UTF8CHAR *dst, size_t len, const char *src)
{
	size_t n = strlen(src);
	memset(dst, ' ', len);
	memcpy(dst, src, n < len ? n : len);
}

static CK_RV sl_C_GetInfo(p11o_layer *self, CK_INFO_PTR pInfo)
{
	if (!pInfo)
		return CKR_ARGUMENTS_BAD;
	const p11o_config *cfg = &self->stack->config;
	memset(pInfo, 0, sizeof(*pInfo));
	pInfo->cryptokiVersion = cfg->cryptoki_version;
	pad(pInfo->manufacturerID, sizeof(pInfo->manufacturerID), "p11overlay");
	pad(pInfo->libraryDescription, sizeof(pInfo->libraryDescription),
	    "p11overlay PKCS#11 proxy");
	pInfo->libraryVersion = cfg->library_version;
	return CKR_OK;
}

/* ---- the slot list (docs/architecture.md §3 "slot list") -------------- */

/* Every slot shown, through the layers below, each ID translated on its
 * own (learning slots not seen before; an unknown one stays the
 * provider's ID, as without the proxy).  The count is cut to the
 * application's buffer here rather than in the bounds layer: this layer
 * reads the list anyway. */
__attribute__((noinline)) static CK_RV slot_list_down(p11o_layer *self,
						      CK_BBOOL tokenPresent,
						      CK_SLOT_ID_PTR pSlotList,
						      CK_ULONG_PTR pulCount)
{
	if (!pSlotList || !pulCount)
		return P11O_DOWN(self, C_GetSlotList, tokenPresent, pSlotList,
				 pulCount);
	CK_ULONG room = *pulCount;
	CK_RV rv =
	    P11O_DOWN(self, C_GetSlotList, tokenPresent, pSlotList, pulCount);
	if (rv != CKR_OK)
		return rv;
	if (*pulCount > room) /* the provider wrote past the buffer or lies */
		*pulCount = room;
	for (CK_ULONG i = 0; i < *pulCount; i++)
		pSlotList[i] = sl_slot_up(SL(self), pSlotList[i]);
	return CKR_OK;
}

/* Before any list: no provider has a slot. */
static const struct sl_list_memo no_lists;

/* Publish the snapshot of these lists (one already kept, or a new one
 * while there is room).  Under memo_lock. */
static void memo_publish(slots_layer *l, unsigned nl, const CK_ULONG *count,
			 CK_ULONG used, const CK_SLOT_ID *raw,
			 const CK_SLOT_ID *out)
{
	struct sl_list_memo *m = NULL;
	for (unsigned i = 0; i < l->nmemos && !m; i++) {
		m = l->memos[i];
		if (memcmp(m->count, count, nl * sizeof(*count)) != 0 ||
		    memcmp(m->raw, raw, used * sizeof(*raw)) != 0)
			m = NULL;
	}
	if (!m && l->nmemos < SL_LIST_MEMOS &&
	    (m = calloc(1, sizeof(*m))) != NULL) {
		memcpy(m->count, count, nl * sizeof(*count));
		memcpy(m->raw, raw, used * sizeof(*raw));
		memcpy(m->out, out, used * sizeof(*out));
		l->memos[l->nmemos++] = m;
	}
	if (m)
		atomic_store_explicit(&l->memo, m, memory_order_release);
}

/* The providers' lists in list[0..used), count[i] from lister i, as they
 * wrote them: tagged and translated, and memoised when every slot is
 * known.  False if an ID has provider bits of its own: the general way
 * decides what becomes of it.  Out of line: the lists changed. */
__attribute__((noinline)) static bool
slot_list_fresh(slots_layer *l, const p11o_slot_listers *ls, CK_SLOT_ID *list,
		const CK_ULONG *count, CK_ULONG used)
{
	CK_SLOT_ID raw[SL_LIST_MEMO_ALL];
	bool memo = true;
	for (unsigned i = 0; i < ls->n; i++)
		memo = memo && count[i] <= SL_LIST_MEMO;
	if (memo)
		memcpy(raw, list, used * sizeof(*list));
	for (CK_ULONG i = 0, at = 0; i < ls->n; i++)
		for (CK_ULONG end = at + count[i]; at < end; at++) {
			if (list[at] >> P11O_PROVIDER_SHIFT)
				return false;
			CK_SLOT_ID down =
			    p11o_provider_slot_id(ls->at[i].k, list[at]);
			CK_ULONG k = sl_index_of_provider(l, down);
			memo = memo && k != NO_SLOT;
			list[at] = k == NO_SLOT ? down : l->view->slots[k].id;
		}
	if (memo) {
		p11o_mutex_lock(&l->memo_lock);
		memo_publish(l, ls->n, count, used, raw, list);
		p11o_mutex_unlock(&l->memo_lock);
	}
	return true;
}

/* The per-call path's way out when the lists are not memo m's.  With
 * every provider answered (`count`, `used`): the IDs before `copied`
 * matched m and were replaced by its answer, so they are put back, and the
 * lists are translated afresh.  Otherwise the general way starts again
 * from the caller's `cap`. */
__attribute__((noinline)) static CK_RV
slot_list_miss(p11o_layer *self, CK_BBOOL tokenPresent,
	       CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount, CK_ULONG cap,
	       const CK_ULONG *count, CK_ULONG used, CK_ULONG copied,
	       const struct sl_list_memo *m)
{
	if (count) {
		memcpy(pSlotList, m->raw, copied * sizeof(*pSlotList));
		if (slot_list_fresh(SL(self), &self->stack->listers, pSlotList,
				    count, used)) {
			*pulCount = used;
			return CKR_OK;
		}
	}
	*pulCount = cap;
	return slot_list_down(self, tokenPresent, pSlotList, pulCount);
}

/* The per-call path for `nl` listers, a constant: the loops unroll, which
 * keeps what lives across the providers' calls in registers. */
static inline __attribute__((always_inline)) CK_RV
slot_list_direct(p11o_layer *self, const unsigned nl, CK_BBOOL tokenPresent,
		 CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount)
{
	const p11o_slot_lister *at = self->stack->listers.at;
	const CK_ULONG cap = *pulCount;
	CK_SLOT_ID *dst = pSlotList;
	CK_ULONG room = cap, count[P11O_CONF_MAX_MODULES];
#pragma GCC unroll 4
	for (unsigned i = 0; i < nl; i++) {
		count[i] = room;
		if (__builtin_expect(at[i].fn(tokenPresent, dst, &count[i]) !=
					     CKR_OK ||
					 count[i] > room,
				     0))
			return slot_list_miss(self, tokenPresent, pSlotList,
					      pulCount, cap, NULL, 0, 0, NULL);
		room -= count[i];
		dst += count[i];
	}
	const CK_ULONG used = (CK_ULONG)(dst - pSlotList);
	const struct sl_list_memo *m =
	    atomic_load_explicit(&SL(self)->memo, memory_order_acquire);
	/* Equal counts bound `used` by the memo's room (each at most
	 * SL_LIST_MEMO). */
	CK_ULONG diff = 0;
#pragma GCC unroll 4
	for (unsigned i = 0; i < nl; i++)
		diff |= count[i] ^ m->count[i];
	CK_ULONG j = 0;
	if (__builtin_expect(diff == 0, 1))
		for (; j < used; j++) {
			if (pSlotList[j] != m->raw[j])
				break;
			pSlotList[j] = m->out[j];
		}
	if (__builtin_expect(diff != 0 || j < used, 0))
		return slot_list_miss(self, tokenPresent, pSlotList, pulCount,
				      cap, count, used, j, m);
	*pulCount = used;
	return CKR_OK;
}

/* Right above the provider layer (stack.h) this layer calls the
 * providers' C_GetSlotList itself and answers lists the memo has from it;
 * anything else goes the general way.  One and two providers are the
 * usual counts, tested first. */
static CK_RV sl_C_GetSlotList(p11o_layer *self, CK_BBOOL tokenPresent,
			      CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount)
{
	if (__builtin_expect(!pSlotList || !pulCount, 0))
		return slot_list_down(self, tokenPresent, pSlotList, pulCount);
	_Static_assert(P11O_CONF_MAX_MODULES == 4, "a case per count");
	const unsigned direct = self->stack->listers.direct;
	if (direct == 2)
		return slot_list_direct(self, 2, tokenPresent, pSlotList,
					pulCount);
	if (direct == 1)
		return slot_list_direct(self, 1, tokenPresent, pSlotList,
					pulCount);
	if (direct == 3)
		return slot_list_direct(self, 3, tokenPresent, pSlotList,
					pulCount);
	if (direct == 4)
		return slot_list_direct(self, 4, tokenPresent, pSlotList,
					pulCount);
	return slot_list_down(self, tokenPresent, pSlotList, pulCount);
}

static CK_RV sl_C_GetSlotList_filtered(p11o_layer *self, CK_BBOOL tokenPresent,
				       CK_SLOT_ID_PTR pSlotList,
				       CK_ULONG_PTR pulCount)
{
	return sl_filtered_slot_list(SL(self), tokenPresent, pSlotList,
				     pulCount);
}

/* As the generated wrapper, with the slot's lookup out of line when its
 * hint misses (slotview.h). */
__attribute__((noinline)) static CK_RV
open_slow(p11o_layer *self, CK_SLOT_ID slotID, CK_FLAGS flags,
	  CK_VOID_PTR pApplication, CK_NOTIFY Notify,
	  CK_SESSION_HANDLE_PTR phSession)
{
	slots_layer *l = SL(self);
	CK_ULONG i = sl_slot_index(l, slotID);
	return P11O_DOWN(self, C_OpenSession,
			 i == NO_SLOT ? P11O_INVALID_PROVIDER_SLOT
				      : l->view->slots[i].down,
			 flags, pApplication, Notify, phSession);
}

static CK_RV sl_C_OpenSession(p11o_layer *self, CK_SLOT_ID slotID,
			      CK_FLAGS flags, CK_VOID_PTR pApplication,
			      CK_NOTIFY Notify, CK_SESSION_HANDLE_PTR phSession)
{
	const p11o_slot_view *v = SL(self)->view;
	unsigned k =
	    atomic_load_explicit(
		&((p11o_slot_view *)v)->by_id[p11o_slot_id_hash(slotID)],
		memory_order_acquire) -
	    1u;
	if (__builtin_expect(k >= MAX_SLOTS || v->slots[k].id != slotID, 0))
		return open_slow(self, slotID, flags, pApplication, Notify,
				 phSession);
	return P11O_DOWN(self, C_OpenSession, v->slots[k].down, flags,
			 pApplication, Notify, phSession);
}

static CK_RV sl_C_GetTokenInfo(p11o_layer *self, CK_SLOT_ID slotID,
			       CK_TOKEN_INFO_PTR pInfo)
{
	slots_layer *l = SL(self);
	CK_ULONG slot = sl_slot_index(l, slotID);
	CK_RV rv = P11O_DOWN(self, C_GetTokenInfo,
			     slot == NO_SLOT ? P11O_INVALID_PROVIDER_SLOT
					     : l->view->slots[slot].down,
			     pInfo);
	if (rv == CKR_OK && slot != NO_SLOT)
		sl_decorate_token(l, slot, pInfo);
	return rv;
}

/* The slot's text made valid like a token's (utf8.h, docs/architecture.md
 * §4): an application may print it.  The view keeps the provider's own
 * description (the slot's ID and card key are made of it). */
static CK_RV sl_C_GetSlotInfo(p11o_layer *self, CK_SLOT_ID slotID,
			      CK_SLOT_INFO_PTR pInfo)
{
	CK_RV rv = wrap_C_GetSlotInfo(self, slotID, pInfo);
	if (rv == CKR_OK && pInfo) {
		p11o_utf8_fix_field(pInfo->slotDescription,
				    sizeof(pInfo->slotDescription));
		p11o_utf8_fix_field(pInfo->manufacturerID,
				    sizeof(pInfo->manufacturerID));
	}
	return rv;
}

static CK_RV sl_C_FindObjects(p11o_layer *self, CK_SESSION_HANDLE hSession,
			      CK_OBJECT_HANDLE_PTR phObject,
			      CK_ULONG ulMaxObjectCount,
			      CK_ULONG_PTR pulObjectCount)
{
	slots_layer *l = SL(self);
	CK_RV rv = P11O_DOWN(self, C_FindObjects, hSession, phObject,
			     ulMaxObjectCount, pulObjectCount);
	if (rv != CKR_OK || !phObject || !pulObjectCount)
		return rv;
	CK_ULONG n = *pulObjectCount < ulMaxObjectCount ? *pulObjectCount
							: ulMaxObjectCount;
	call_ctx ctx = {NO_SLOT, hSession};
	/* One lock for the whole batch. */
	if (p11o_handles_add_many(&l->objects, phObject, n, slot_of(l, &ctx)) !=
	    n)
		return CKR_HOST_MEMORY;
	return rv;
}

/* ---- events ------------------------------------------------------------ */

/* A provider event concerns the whole card: the caches and stale
 * sessions of every virtual slot of its reader are dropped. */
static bool on_provider_event(void *ctx, CK_SLOT_ID pid, CK_SLOT_ID *report)
{
	slots_layer *l = ctx;
	CK_ULONG i = sl_index_of_provider(l, pid);
	if (i == NO_SLOT)
		return false;
	p11o_card_cache_invalidate(l->base.stack->cards,
				   l->view->slots[i].description);
	size_t n = sl_slot_count(l);
	for (size_t k = 0; k < n; k++) {
		if (l->view->slots[k].hash != l->view->slots[i].hash)
			continue;
		p11o_slot_reclassify(l->view, k); /* ask again */
		/* Sessions opened on a card that was pulled since are gone
		 * (sessions.h), in every layer. */
		uint64_t now = p11o_slot_insertion(l->view, k);
		if (now != P11O_NO_INSERTION)
			p11o_sessions_end_stale(l->sessions, k, now);
	}
	/* Reported as the provider reports it: once, for its slot (OpenSC
	 * reports each PIN's slot of a card), so every insertion or removal
	 * is seen once per virtual slot, as without the proxy. */
	*report = l->view->slots[i].id;
	return true;
}

static CK_RV sl_C_WaitForSlotEvent(p11o_layer *self, CK_FLAGS flags,
				   CK_SLOT_ID_PTR pSlot, CK_VOID_PTR pRes)
{
	slots_layer *l = SL(self);
	if (pRes)
		return P11O_DOWN(self, C_WaitForSlotEvent, flags, pSlot, pRes);
	CK_RV rv = p11o_events_wait(&l->events, flags, pSlot);
	/* A provider without events answered itself, with its own IDs. */
	if (rv == CKR_OK && atomic_load(&l->events.mode) == EV_UNSUPPORTED)
		*pSlot = sl_slot_up(l, *pSlot);
	return rv;
}

static CK_RV sl_C_HasNewEvent(p11o_layer *self, CK_ULONG_PTR pLastEvent)
{
	return p11o_events_has_new(&SL(self)->events, pLastEvent);
}

/* docs/architecture.md §6: close the token's sessions, drop what is cached of
 * it and let every application see it anew. */
static CK_RV sl_C_Reinitialize(p11o_layer *self, CK_SLOT_ID slotID)
{
	slots_layer *l = SL(self);
	CK_ULONG i = sl_slot_index(l, slotID);
	if (i == NO_SLOT)
		return CKR_SLOT_ID_INVALID;
	/* [unlock] logout-on-reinitialize = no keeps the sessions (and
	 * with them the login, single sign-on style); only caches go. */
	if (self->stack->config.logout_on_reinitialize) {
		CK_RV rv =
		    P11O_DOWN(self, C_CloseAllSessions, l->view->slots[i].down);
		if (rv != CKR_OK && rv != CKR_TOKEN_NOT_PRESENT)
			return rv;
		p11o_handles_remove_aux(&l->objects, i);
	}
	p11o_card_cache_invalidate(l->base.stack->cards,
				   l->view->slots[i].description);
	/* Lower layers drop their caches of the token too. */
	CK_RV down = P11O_DOWN(self, C_Reinitialize, l->view->slots[i].down);
	if (down != CKR_OK && down != CKR_FUNCTION_NOT_SUPPORTED)
		return down;
	p11o_events_post(&l->events, slotID);
	return CKR_OK;
}

static CK_RV sl_C_Finalize(p11o_layer *self, CK_VOID_PTR pReserved)
{
	slots_layer *l = SL(self);
	p11o_extreader_stop_all(self);
	/* The watcher and blocked waiters leave before the provider goes. */
	p11o_events_stop(&l->events);
	p11o_events_join(&l->events);
	CK_RV rv = P11O_DOWN(self, C_Finalize, pReserved);
	p11o_handles_clear(&l->objects);
	return rv;
}

/* C_Finalize is coming: blocked C_WaitForSlotEvent calls return
 * CKR_CRYPTOKI_NOT_INITIALIZED (PKCS#11 2.40 C_Finalize). */
static void slots_layer_wake(p11o_layer *self)
{
	p11o_events_stop(&SL(self)->events);
}

static void slots_layer_destroy(p11o_layer *self)
{
	slots_layer *l = SL(self);
	p11o_handles_destroy(&l->objects);
	for (unsigned i = 0; i < l->nmemos; i++)
		free(l->memos[i]);
	p11o_mutex_destroy(&l->memo_lock);
	free(l);
}

p11o_layer *p11o_slots_layer_new(struct p11o_stack *stack)
{
	slots_layer *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	if (p11o_handles_init(&l->objects, true) != CKR_OK) {
		free(l);
		return NULL;
	}
	if (p11o_mutex_init(&l->memo_lock) != CKR_OK) {
		p11o_handles_destroy(&l->objects);
		free(l);
		return NULL;
	}
	atomic_init(&l->memo, &no_lists);
	l->view = &stack->view;
	l->sessions = &stack->sessions;
	p11o_ops *ops = &l->ops;
#define SL_OP_(name, ...)                                                      \
	ops->name = (0 P11O_MAPS(SL_HAS_, __VA_ARGS__)) ? wrap_##name : NULL;
	P11O_FUNCTIONS(SL_OP_)
#undef SL_OP_
	/* No handles to translate: skip this layer. */
	ops->C_Initialize = NULL;
	ops->C_GetVariable = NULL;
	ops->C_SetVariable = NULL;
	ops->C_RegisterEngine = NULL;
	ops->C_SetTraceCallback = NULL;
	/* Own rules. */
	ops->C_Finalize = sl_C_Finalize;
	ops->C_GetInfo = sl_C_GetInfo;
	ops->C_GetSlotList = sl_C_GetSlotList;
	ops->C_OpenSession = sl_C_OpenSession;
	ops->C_FindObjects = sl_C_FindObjects;
	ops->C_GetSlotInfo = sl_C_GetSlotInfo;
	ops->C_GetTokenInfo = sl_C_GetTokenInfo;
	ops->C_WaitForSlotEvent = sl_C_WaitForSlotEvent;
	ops->C_HasNewEvent = sl_C_HasNewEvent;
	ops->C_Reinitialize = sl_C_Reinitialize;
	ops->C_AddSlot = p11o_extreader_add_slot;
	ops->C_RemoveSlot = p11o_extreader_remove_slot;
	l->base.name = "slots";
	l->base.ops = ops;
	l->base.stack = stack;
	l->base.destroy = slots_layer_destroy;
	l->base.wake = slots_layer_wake;
	const p11o_config *cfg = &stack->config;
	l->filtering = cfg->pins != P11O_PINS_ALL || !cfg->empty_slots_show;
	if (l->filtering)
		ops->C_GetSlotList = sl_C_GetSlotList_filtered;
	p11o_events_init(
	    &l->events, &l->base,
	    !(stack->provider_args.flags & CKF_LIBRARY_CANT_CREATE_OS_THREADS),
	    on_provider_event, l);
	return &l->base;
}
