#include "slots.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cardcache.h"
#include "events.h"
#include "extreader.h"
#include "handles.h"
#include "labels.h"
#include "stack.h"

#define MAX_SLOTS 128
#define NO_SLOT ((CK_ULONG)-1)

typedef struct vslot {
	CK_SLOT_ID id;       /* what the application sees */
	CK_SLOT_ID provider; /* the provider's ID */
	uint32_t hash;       /* of the description */
	unsigned index;      /* among provider slots with that description */
	unsigned char description[64];
	atomic_bool no_reader; /* not a PC/SC reader: no card to ask */
} vslot;

typedef struct slots_layer {
	p11o_layer base;
	p11o_ops ops;
	p11o_mutex lock; /* adding slots and object tables */
	/* Published by `count` (release); entries never change afterwards. */
	vslot slots[MAX_SLOTS];
	atomic_size_t count;
	p11o_handle_table sessions; /* value: provider session, aux: slot */
	/* value: provider object, aux: slot.  One table for all tokens, so
	 * a handle used in another token's session reaches the provider as
	 * it would without the proxy. */
	p11o_handle_table objects;
	p11o_events events;
	bool
	    filtering; /* config hides some slots: C_GetSlotList works harder */
} slots_layer;

#define SL(self) ((slots_layer *)(self))

/* ---- slot IDs ----------------------------------------------------------- */

static uint32_t description_hash(const unsigned char d[64])
{
	size_t n = 64;
	while (n > 0 && (d[n - 1] == ' ' || d[n - 1] == '\0'))
		n--;
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ d[i]) * 16777619u;
	return h;
}

static CK_SLOT_ID make_id(uint32_t hash, unsigned index)
{
	return ((CK_SLOT_ID)(hash & 0x7FFFFFFu) << 4) | (index & 0xFu);
}

CK_SLOT_ID p11o_slot_id_for(const unsigned char description[64], unsigned index)
{
	return make_id(description_hash(description), index);
}

static size_t slot_count(const slots_layer *l)
{
	return atomic_load_explicit(&((slots_layer *)l)->count,
				    memory_order_acquire);
}

static bool id_used(const slots_layer *l, size_t n, CK_SLOT_ID id)
{
	for (size_t i = 0; i < n; i++)
		if (l->slots[i].id == id)
			return true;
	return false;
}

/* Under the lock: add provider slot `pid`; returns its index or NO_SLOT. */
static CK_ULONG learn(slots_layer *l, CK_SLOT_ID pid)
{
	size_t n = atomic_load(&l->count);
	for (size_t i = 0; i < n; i++)
		if (l->slots[i].provider == pid)
			return i;
	CK_SLOT_INFO info;
	if (n >= MAX_SLOTS ||
	    P11O_DOWN(&l->base, C_GetSlotInfo, pid, &info) != CKR_OK)
		return NO_SLOT;
	vslot *v = &l->slots[n];
	v->provider = pid;
	v->hash = description_hash(info.slotDescription);
	memcpy(v->description, info.slotDescription, 64);
	v->index = 0;
	for (size_t i = 0; i < n; i++)
		if (l->slots[i].hash == v->hash)
			v->index++;
	uint32_t h = v->hash;
	while (id_used(l, n, make_id(h, v->index)))
		h++;
	v->id = make_id(h, v->index);
	atomic_store_explicit(&l->count, n + 1, memory_order_release);
	return n;
}

/* Learn every provider slot, in the provider's order (which keeps the
 * per-description index stable). */
static void refresh(slots_layer *l)
{
	CK_SLOT_ID ids[MAX_SLOTS];
	CK_ULONG count = MAX_SLOTS;
	if (P11O_DOWN(&l->base, C_GetSlotList, CK_FALSE, ids, &count) != CKR_OK)
		return;
	if (count > MAX_SLOTS) /* a provider claiming more than it wrote */
		count = MAX_SLOTS;
	p11o_mutex_lock(&l->lock);
	for (CK_ULONG i = 0; i < count; i++)
		learn(l, ids[i]);
	p11o_mutex_unlock(&l->lock);
}

static CK_ULONG index_of_id(const slots_layer *l, CK_SLOT_ID id)
{
	size_t n = slot_count(l);
	for (size_t i = 0; i < n; i++)
		if (l->slots[i].id == id)
			return i;
	return NO_SLOT;
}

/* A slot not seen before (hot-plugged): learn all, in the provider's
 * order.  Out of line so the lookup below stays small. */
__attribute__((noinline)) static CK_ULONG learn_new(slots_layer *l,
						    CK_SLOT_ID pid)
{
	refresh(l);
	p11o_mutex_lock(&l->lock);
	CK_ULONG i = learn(l, pid);
	p11o_mutex_unlock(&l->lock);
	return i;
}

static inline CK_ULONG index_of_provider(slots_layer *l, CK_SLOT_ID pid)
{
	size_t n = slot_count(l);
	for (size_t i = 0; i < n; i++)
		if (l->slots[i].provider == pid)
			return i;
	return learn_new(l, pid);
}

/* Virtual -> provider; unknown IDs may be slots not seen yet in this
 * process (IDs are stable across processes). */
static CK_ULONG slot_index(slots_layer *l, CK_SLOT_ID id)
{
	CK_ULONG i = index_of_id(l, id);
	if (i == NO_SLOT) {
		refresh(l);
		i = index_of_id(l, id);
	}
	return i;
}

static CK_SLOT_ID slot_up(slots_layer *l, CK_SLOT_ID pid)
{
	CK_ULONG i = index_of_provider(l, pid);
	return i == NO_SLOT ? pid : l->slots[i].id;
}

/* ---- sessions and objects ------------------------------------------- */

typedef struct call_ctx {
	CK_ULONG slot; /* index of the session's slot, or NO_SLOT */
} call_ctx;

static CK_SESSION_HANDLE session_down(slots_layer *l, CK_SESSION_HANDLE h,
				      call_ctx *ctx)
{
	p11o_handle_info info;
	if (!p11o_handles_get(&l->sessions, h, &info)) {
		ctx->slot = NO_SLOT;
		return CK_INVALID_HANDLE;
	}
	ctx->slot = info.aux;
	return info.value;
}

static CK_OBJECT_HANDLE object_down(slots_layer *l, const call_ctx *ctx,
				    CK_OBJECT_HANDLE h)
{
	(void)ctx;
	p11o_handle_info info;
	return p11o_handles_get(&l->objects, h, &info) ? info.value
						       : CK_INVALID_HANDLE;
}

/* 0 when the handle cannot be recorded (out of memory). */
static CK_OBJECT_HANDLE object_up(slots_layer *l, const call_ctx *ctx,
				  CK_OBJECT_HANDLE provider)
{
	return p11o_handles_add(&l->objects, provider, ctx->slot);
}

static void forget_pin_states(slots_layer *l, CK_ULONG slot)
{
	if (slot == NO_SLOT)
		return;
	p11o_card_entry *e = p11o_card_cache_get(
	    l->base.stack->cards, l->slots[slot].description, NULL);
	if (e) {
		p11o_card_entry_forget_pins(e);
		p11o_card_cache_put(e);
	}
}

/* ---- generated wrappers: translate handles by argument kind ----------- */

#define SL_PRE_SESSION P11O_KIND_HOOK
#define SL_PRE_OBJECT P11O_KIND_HOOK
#define SL_PRE_SLOT P11O_KIND_HOOK
#define SL_POST_OUT_OBJECT P11O_KIND_HOOK
#define SL_POST_OUT_SESSION_INFO P11O_KIND_HOOK
#define SL_POST_OUT_SLOT P11O_KIND_HOOK
#define SL_POST_PIN P11O_KIND_HOOK

#define SL_DO_PRE_SESSION(n) n = session_down(l, n, &ctx);
#define SL_DO_PRE_OBJECT(n) n = object_down(l, &ctx, n);
#define SL_DO_PRE_SLOT(n)                                                      \
	ctx.slot = slot_index(l, n);                                           \
	n = ctx.slot == NO_SLOT ? P11O_INVALID_PROVIDER_SLOT                   \
				: l->slots[ctx.slot].provider;
/* A call with a PIN may change the PIN's state on the card. */
#define SL_DO_POST_PIN(n) forget_pin_states(l, ctx.slot);
#define SL_DO_POST_OUT_OBJECT(n)                                               \
	if (rv == CKR_OK && n) {                                               \
		*n = object_up(l, &ctx, *n);                                   \
		if (!*n)                                                       \
			rv = CKR_HOST_MEMORY;                                  \
	}
#define SL_DO_POST_OUT_SESSION_INFO(n)                                         \
	if (rv == CKR_OK && n && ctx.slot != NO_SLOT)                          \
		n->slotID = l->slots[ctx.slot].id;
#define SL_DO_POST_OUT_SLOT(n)                                                 \
	if (rv == CKR_OK && n)                                                 \
		*n = slot_up(l, *n);

#define SL_PRE_(kind, type, n)                                                 \
	P11O_IF_KIND(SL_PRE_, kind, P11O_CAT(SL_DO_PRE_, kind)(n))
#define SL_POST_(kind, type, n)                                                \
	P11O_IF_KIND(SL_POST_, kind, P11O_CAT(SL_DO_POST_, kind)(n))

#define SL_WRAP_(name, ...)                                                    \
	static CK_RV wrap_##name(p11o_layer *self, P11O_PARAMS(__VA_ARGS__))   \
	{                                                                      \
		slots_layer *l = SL(self);                                     \
		call_ctx ctx = {NO_SLOT};                                      \
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

static bool pin_listed(const p11o_config *cfg, const char *pin)
{
	for (size_t i = 0; i < cfg->pin_name_count; i++)
		if (strcmp(cfg->pin_names[i], pin) == 0)
			return true;
	return false;
}

/* [slots] pins and empty-slots: is provider slot `pid` shown?  `seen`
 * holds the description hashes of readers that showed a token already
 * (pins = first). */
static bool slot_visible(slots_layer *l, CK_SLOT_ID pid, uint32_t *seen,
			 size_t *nseen)
{
	const p11o_config *cfg = &l->base.stack->config;
	CK_SLOT_INFO si;
	if (P11O_DOWN(&l->base, C_GetSlotInfo, pid, &si) != CKR_OK)
		return false;
	if (!(si.flags & CKF_TOKEN_PRESENT))
		return cfg->empty_slots_show;
	CK_ULONG i = index_of_provider(l, pid);
	if (i == NO_SLOT)
		return false;
	if (cfg->pins == P11O_PINS_FIRST) {
		for (size_t k = 0; k < *nseen; k++)
			if (seen[k] == l->slots[i].hash)
				return false;
		seen[(*nseen)++] = l->slots[i].hash;
		return true;
	}
	if (cfg->pins == P11O_PINS_LIST) {
		CK_TOKEN_INFO ti;
		char name[40], pin[40];
		if (P11O_DOWN(&l->base, C_GetTokenInfo, pid, &ti) != CKR_OK)
			return false;
		/* A card with one PIN has no suffix: always shown. */
		return !p11o_label_split(ti.label, name, sizeof(name), pin,
					 sizeof(pin)) ||
		       pin_listed(cfg, pin);
	}
	return true;
}

/* The slot list when config hides some slots: the provider's full list
 * is needed even for a size query. */
static CK_RV filtered_slot_list(slots_layer *l, CK_BBOOL tokenPresent,
				CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount)
{
	CK_SLOT_ID ids[MAX_SLOTS];
	CK_ULONG n = MAX_SLOTS;
	if (!pulCount)
		return CKR_ARGUMENTS_BAD;
	CK_RV rv = P11O_DOWN(&l->base, C_GetSlotList, tokenPresent, ids, &n);
	if (rv != CKR_OK)
		return rv;
	if (n > MAX_SLOTS)
		n = MAX_SLOTS;
	uint32_t seen[MAX_SLOTS];
	size_t nseen = 0;
	CK_ULONG shown = 0;
	for (CK_ULONG i = 0; i < n; i++)
		if (slot_visible(l, ids[i], seen, &nseen))
			ids[shown++] = slot_up(l, ids[i]);
	if (pSlotList && *pulCount < shown)
		rv = CKR_BUFFER_TOO_SMALL;
	else if (pSlotList)
		memcpy(pSlotList, ids, shown * sizeof(ids[0]));
	*pulCount = shown;
	return rv;
}

static CK_RV sl_C_GetSlotList(p11o_layer *self, CK_BBOOL tokenPresent,
			      CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount)
{
	if (SL(self)->filtering)
		return filtered_slot_list(SL(self), tokenPresent, pSlotList,
					  pulCount);
	/* Never past the application's buffer, whatever count the provider
	 * returns. */
	CK_ULONG room = pSlotList && pulCount ? *pulCount : 0;
	CK_RV rv =
	    P11O_DOWN(self, C_GetSlotList, tokenPresent, pSlotList, pulCount);
	if (rv == CKR_OK && pSlotList)
		for (CK_ULONG i = 0; i < *pulCount && i < room; i++)
			pSlotList[i] = slot_up(SL(self), pSlotList[i]);
	return rv;
}

/* design.md §4: the label of a card's virtual token and its real PIN
 * state, whatever the provider made of them. */
static void decorate_token(slots_layer *l, CK_ULONG slot, CK_TOKEN_INFO *ti)
{
	vslot *v = &l->slots[slot];
	if (atomic_load_explicit(&v->no_reader, memory_order_relaxed))
		return; /* soft tokens pay nothing */
	p11o_card_cache *cards = l->base.stack->cards;
	p11o_card_entry *e =
	    p11o_card_cache_get(cards, v->description, ti->serialNumber);
	if (!e) {
		if (p11o_card_cache_no_reader(cards, v->description))
			atomic_store(&v->no_reader, true);
		return;
	}
	const p11o_card_info *info = p11o_card_entry_info(e);
	char name[40], pin[40];
	p11o_label_split(ti->label, name, sizeof(name), pin, sizeof(pin));
	int k = p11o_card_entry_pin_index(e, pin, l->slots[slot].index);
	const char *token = info->label[0] ? info->label : name;
	p11o_label_compose(ti->label, l->base.stack->config.label_format, token,
			   info->pin_count >= 2 && k >= 0 ? info->pins[k].name
							  : NULL);
	ti->flags &= ~(CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY |
		       CKF_USER_PIN_LOCKED);
	ti->flags |= p11o_card_entry_pin_flags(e, k);
	p11o_card_cache_put(e);
}

static CK_RV sl_C_GetTokenInfo(p11o_layer *self, CK_SLOT_ID slotID,
			       CK_TOKEN_INFO_PTR pInfo)
{
	slots_layer *l = SL(self);
	CK_ULONG slot = slot_index(l, slotID);
	CK_RV rv = P11O_DOWN(self, C_GetTokenInfo,
			     slot == NO_SLOT ? P11O_INVALID_PROVIDER_SLOT
					     : l->slots[slot].provider,
			     pInfo);
	if (rv == CKR_OK && slot != NO_SLOT)
		decorate_token(l, slot, pInfo);
	return rv;
}

static CK_RV sl_C_OpenSession(p11o_layer *self, CK_SLOT_ID slotID,
			      CK_FLAGS flags, CK_VOID_PTR pApplication,
			      CK_NOTIFY Notify, CK_SESSION_HANDLE_PTR phSession)
{
	slots_layer *l = SL(self);
	CK_ULONG slot = slot_index(l, slotID);
	CK_SLOT_ID pid = slot == NO_SLOT ? P11O_INVALID_PROVIDER_SLOT
					 : l->slots[slot].provider;
	CK_SESSION_HANDLE provider_session = CK_INVALID_HANDLE;
	CK_RV rv = P11O_DOWN(self, C_OpenSession, pid, flags, pApplication,
			     Notify, phSession ? &provider_session : NULL);
	if (rv != CKR_OK || !phSession)
		return rv;
	CK_SESSION_HANDLE h =
	    p11o_handles_add(&l->sessions, provider_session, slot);
	if (!h) {
		P11O_DOWN(self, C_CloseSession, provider_session);
		return CKR_HOST_MEMORY;
	}
	*phSession = h;
	return CKR_OK;
}

static CK_RV sl_C_CloseSession(p11o_layer *self, CK_SESSION_HANDLE hSession)
{
	slots_layer *l = SL(self);
	call_ctx ctx;
	CK_RV rv =
	    P11O_DOWN(self, C_CloseSession, session_down(l, hSession, &ctx));
	/* Gone in the provider too when it no longer knows it (card
	 * removed): drop ours either way. */
	if (ctx.slot != NO_SLOT &&
	    (rv == CKR_OK || rv == CKR_SESSION_HANDLE_INVALID ||
	     rv == CKR_SESSION_CLOSED || rv == CKR_DEVICE_REMOVED ||
	     rv == CKR_TOKEN_NOT_PRESENT))
		p11o_handles_remove(&l->sessions, hSession);
	return rv;
}

static CK_RV sl_C_CloseAllSessions(p11o_layer *self, CK_SLOT_ID slotID)
{
	slots_layer *l = SL(self);
	CK_ULONG slot = slot_index(l, slotID);
	CK_SLOT_ID pid = slot == NO_SLOT ? P11O_INVALID_PROVIDER_SLOT
					 : l->slots[slot].provider;
	CK_RV rv = P11O_DOWN(self, C_CloseAllSessions, pid);
	if (rv == CKR_OK && slot != NO_SLOT)
		p11o_handles_remove_aux(&l->sessions, slot);
	return rv;
}

static CK_RV sl_C_FindObjects(p11o_layer *self, CK_SESSION_HANDLE hSession,
			      CK_OBJECT_HANDLE_PTR phObject,
			      CK_ULONG ulMaxObjectCount,
			      CK_ULONG_PTR pulObjectCount)
{
	slots_layer *l = SL(self);
	call_ctx ctx;
	CK_RV rv =
	    P11O_DOWN(self, C_FindObjects, session_down(l, hSession, &ctx),
		      phObject, ulMaxObjectCount, pulObjectCount);
	if (rv != CKR_OK || !phObject || !pulObjectCount)
		return rv;
	CK_ULONG n = *pulObjectCount < ulMaxObjectCount ? *pulObjectCount
							: ulMaxObjectCount;
	/* One lock for the whole batch. */
	if (p11o_handles_add_many(&l->objects, phObject, n, ctx.slot) != n)
		return CKR_HOST_MEMORY;
	return rv;
}

static void clear_tables(slots_layer *l)
{
	p11o_handles_clear(&l->sessions);
	p11o_handles_clear(&l->objects);
}

/* ---- events ------------------------------------------------------------ */

/* A provider event concerns the whole card: every virtual slot of its
 * reader reports it, and the caches of those slots are dropped. */
static void on_provider_event(void *ctx, CK_SLOT_ID pid)
{
	slots_layer *l = ctx;
	CK_ULONG i = index_of_provider(l, pid);
	if (i == NO_SLOT)
		return;
	p11o_card_cache_invalidate(l->base.stack->cards,
				   l->slots[i].description);
	size_t n = slot_count(l);
	for (size_t k = 0; k < n; k++) {
		if (l->slots[k].hash != l->slots[i].hash)
			continue;
		atomic_store(&l->slots[k].no_reader, false); /* ask again */
		p11o_events_post(&l->events, l->slots[k].id);
	}
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
		*pSlot = slot_up(l, *pSlot);
	return rv;
}

static CK_RV sl_C_HasNewEvent(p11o_layer *self, CK_ULONG_PTR pLastEvent)
{
	return p11o_events_has_new(&SL(self)->events, pLastEvent);
}

/* design.md §6: close the token's sessions, drop what is cached of it and
 * let every application see it anew. */
static CK_RV sl_C_Reinitialize(p11o_layer *self, CK_SLOT_ID slotID)
{
	slots_layer *l = SL(self);
	CK_ULONG i = slot_index(l, slotID);
	if (i == NO_SLOT)
		return CKR_SLOT_ID_INVALID;
	/* [unlock] logout-on-reinitialize = no keeps the sessions (and
	 * with them the login, single sign-on style); only caches go. */
	if (self->stack->config.logout_on_reinitialize) {
		CK_RV rv =
		    P11O_DOWN(self, C_CloseAllSessions, l->slots[i].provider);
		if (rv != CKR_OK && rv != CKR_TOKEN_NOT_PRESENT)
			return rv;
		p11o_handles_remove_aux(&l->sessions, i);
		p11o_handles_remove_aux(&l->objects, i);
	}
	p11o_card_cache_invalidate(l->base.stack->cards,
				   l->slots[i].description);
	/* Lower layers drop their caches of the token too. */
	CK_RV down = P11O_DOWN(self, C_Reinitialize, l->slots[i].provider);
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
	clear_tables(l);
	return rv;
}

static void slots_layer_destroy(p11o_layer *self)
{
	slots_layer *l = SL(self);
	clear_tables(l);
	p11o_handles_destroy(&l->sessions);
	p11o_handles_destroy(&l->objects);
	p11o_mutex_destroy(&l->lock);
	free(l);
}

p11o_layer *p11o_slots_layer_new(struct p11o_stack *stack)
{
	slots_layer *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	if (p11o_mutex_init(&l->lock) != CKR_OK) {
		free(l);
		return NULL;
	}
	if (p11o_handles_init(&l->sessions, false) != CKR_OK ||
	    p11o_handles_init(&l->objects, true) != CKR_OK) {
		p11o_mutex_destroy(&l->lock);
		free(l);
		return NULL;
	}
	p11o_ops *ops = &l->ops;
#define SL_OP_(name, ...) ops->name = wrap_##name;
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
	ops->C_CloseSession = sl_C_CloseSession;
	ops->C_CloseAllSessions = sl_C_CloseAllSessions;
	ops->C_FindObjects = sl_C_FindObjects;
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
	const p11o_config *cfg = &stack->config;
	l->filtering = cfg->pins != P11O_PINS_ALL || !cfg->empty_slots_show;
	p11o_events_init(
	    &l->events, &l->base,
	    !(stack->provider_args.flags & CKF_LIBRARY_CANT_CREATE_OS_THREADS),
	    on_provider_event, l);
	return &l->base;
}
