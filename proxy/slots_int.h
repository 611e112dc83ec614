/* Internals of the slots layer shared by slots.c (the layer: calls,
 * sessions, objects, events) and slots_table.c (the proxy's slot IDs, which
 * slots are shown, and what a card's virtual token looks like). */
#ifndef P11O_SLOTS_INT_H
#define P11O_SLOTS_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "events.h"
#include "handles.h"
#include "slots.h"

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

size_t sl_slot_count(const slots_layer *l);
CK_ULONG sl_index_of_id(const slots_layer *l, CK_SLOT_ID id);
/* Learn all provider slots, in the provider's order. */
void sl_refresh(slots_layer *l);
/* A provider slot not seen before (hot-plugged); out of line. */
CK_ULONG sl_learn_new(slots_layer *l, CK_SLOT_ID pid);
/* Virtual -> index; IDs of slots not seen yet in this process are
 * learnt (IDs are stable across processes). */
CK_ULONG sl_slot_index(slots_layer *l, CK_SLOT_ID id);
CK_SLOT_ID sl_slot_up(slots_layer *l, CK_SLOT_ID pid);
/* C_GetSlotList when [slots] hides some slots. */
CK_RV sl_filtered_slot_list(slots_layer *l, CK_BBOOL tokenPresent,
			    CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount);
/* A card's virtual token: label from the card, real PIN state. */
void sl_decorate_token(slots_layer *l, CK_ULONG slot, CK_TOKEN_INFO *ti);

static inline CK_ULONG sl_index_of_provider(slots_layer *l, CK_SLOT_ID pid)
{
	size_t n = sl_slot_count(l);
	for (size_t i = 0; i < n; i++)
		if (l->slots[i].provider == pid)
			return i;
	return sl_learn_new(l, pid);
}

#endif
