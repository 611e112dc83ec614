/* Internals of the slots layer shared by slots.c (the layer: calls,
 * sessions, objects, events) and slots_table.c (the proxy's slot IDs, which
 * slots are shown, and what a card's virtual token looks like). */
#ifndef P11O_SLOTS_INT_H
#define P11O_SLOTS_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "events.h"
#include "handles.h"
#include "mutex.h"
#include "sessions.h"
#include "slotview.h"
#include "slots.h"

#define MAX_SLOTS P11O_MAX_SLOTS
#define NO_SLOT P11O_NO_SLOT
/* Lists of at most SL_LIST_MEMO IDs per provider are memoised. */
#define SL_LIST_MEMO 16
#define SL_LIST_MEMO_ALL (SL_LIST_MEMO * P11O_CONF_MAX_MODULES)
#define SL_LIST_MEMOS 32

struct sl_list_memo {
	CK_ULONG count[P11O_CONF_MAX_MODULES]; /* per lister; 0 past them */
	CK_SLOT_ID raw[SL_LIST_MEMO_ALL];      /* as the providers wrote */
	CK_SLOT_ID out[SL_LIST_MEMO_ALL];      /* what the application gets */
};

typedef struct slots_layer {
	p11o_layer base;
	p11o_ops ops;
	/* The stack's slot view (slotview.h): this layer adds its slots. */
	p11o_slot_view *view;
	p11o_sessions *sessions; /* the stack's registry (sessions.h) */
	/* value: provider object, aux: slot.  One table for all tokens, so
	 * a handle used in another token's session reaches the provider as
	 * it would without the proxy. */
	p11o_handle_table objects;
	p11o_events events;
	/* C_GetSlotList's memo (docs/architecture.md §3 "slot list"): the
	 * providers' lists as they wrote them and the application's list
	 * made of them.  A provider slot's view entry never changes, so the
	 * same lists always give the same answer.  Snapshots are immutable
	 * once published and live as long as the layer, so readers need no
	 * lock.  At most SL_LIST_MEMOS different ones are kept (readers and
	 * tokens come and go between a few states); lists after that are
	 * translated on every call. */
	_Atomic(const struct sl_list_memo *) memo;
	struct sl_list_memo *memos[SL_LIST_MEMOS];
	unsigned nmemos;
	p11o_mutex memo_lock; /* adding to memos */
	bool
	    filtering; /* config hides some slots: C_GetSlotList works harder */
} slots_layer;

#define SL(self) ((slots_layer *)(self))

size_t sl_slot_count(const slots_layer *l);
CK_ULONG sl_index_of_id(const slots_layer *l, CK_SLOT_ID id);
/* Learn all provider slots, in the provider's order. */
void sl_refresh(slots_layer *l);
/* A provider slot not seen before (hot-plugged); out of line. */
CK_ULONG sl_learn_new(slots_layer *l, CK_SLOT_ID pid);
/* Virtual -> index; IDs of slots not seen yet in this process are
 * learnt (IDs are stable across processes). */
__attribute__((noinline)) CK_ULONG sl_slot_index_slow(slots_layer *l,
						      CK_SLOT_ID id);
static inline CK_ULONG sl_slot_index(slots_layer *l, CK_SLOT_ID id)
{
	CK_ULONG i = p11o_slot_find_id(l->view, id);
	return i != NO_SLOT ? i : sl_slot_index_slow(l, id);
}
/* C_GetSlotList when [slots] hides some slots. */
CK_RV sl_filtered_slot_list(slots_layer *l, CK_BBOOL tokenPresent,
			    CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount);
/* A card's virtual token: label from the card, real PIN state. */
void sl_decorate_token(slots_layer *l, CK_ULONG slot, CK_TOKEN_INFO *ti);

static inline CK_ULONG sl_index_of_provider(slots_layer *l, CK_SLOT_ID pid)
{
	CK_ULONG i = p11o_slot_find_down(l->view, pid);
	return i != NO_SLOT ? i : sl_learn_new(l, pid);
}

/* Provider -> virtual (inline: C_GetSlotList's per-slot path). */
static inline CK_SLOT_ID sl_slot_up(slots_layer *l, CK_SLOT_ID pid)
{
	CK_ULONG i = sl_index_of_provider(l, pid);
	return i == NO_SLOT ? pid : l->view->slots[i].id;
}

#endif
