/* The slot view (docs/architecture.md, "slot view"): every provider slot
 * the proxy has seen, with what every layer needs to know of it, found
 * once and read by all.
 *
 * The slots layer adds the slots (slots_table.c: it learns them from the
 * provider's slot list and gives each its stable ID); entries are never
 * changed or removed afterwards except for the atomic fields, so a reader
 * needs no lock: `count` is published with release order after an entry
 * is complete.  The lazily found facts (is it a card in a PC/SC reader, a
 * soft token or neither, and the reader's name) are found by the first
 * layer that asks and published by `kind`.
 *
 * Facts of a slot:
 *   - id: the application's slot ID; down: the ID layers below the slots
 *     layer use (the provider's own ID);
 *   - description: the provider's slotDescription, also the key of the
 *     card cache (cardcache.h) for card slots;
 *   - kind and reader: P11O_SLOT_CARD with the PC/SC reader name,
 *     P11O_SLOT_SOFT (no hardware slot, no reader: SoftHSM2) or
 *     P11O_SLOT_OTHER;
 *   - index: the slot's position among the provider slots of the same
 *     description (a card's virtual tokens, one per PIN);
 *   - the card's PIN the virtual token stands for: p11o_slot_pin() below is
 *     the one place that maps a virtual token to a PIN of the card.
 *
 * Card insertions: p11o_slot_insertion() reads pcsc-lite's event counter of
 * the reader (one IPC to pcscd, no card access); a session remembers the
 * value at open, and a different value later means the card it was opened
 * on is gone (sessions.h). */
#ifndef P11O_SLOTVIEW_H
#define P11O_SLOTVIEW_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "card/card.h"
#include "mutex.h"

#define P11O_MAX_SLOTS 128
#define P11O_NO_SLOT ((CK_ULONG)-1)
/* p11o_slot_insertion() of a slot that is not a card, or unknown. */
#define P11O_NO_INSERTION UINT64_MAX

enum p11o_slot_kind {
	P11O_SLOT_UNKNOWN, /* not classified yet */
	P11O_SLOT_CARD,
	P11O_SLOT_SOFT,
	P11O_SLOT_OTHER,
};

typedef struct p11o_slot {
	CK_SLOT_ID id;       /* what the application sees */
	CK_SLOT_ID down;     /* what the layers below the slots layer see */
	uint32_t hash;       /* of the description */
	unsigned index;      /* among provider slots with that description */
	CK_FLAGS slot_flags; /* CK_SLOT_INFO.flags when learnt */
	unsigned char description[64];
	_Atomic int kind; /* enum p11o_slot_kind; reader valid when CARD */
	char reader[P11O_CARD_MAX_READER];
} p11o_slot;

#define P11O_SLOT_HINTS 64

typedef struct p11o_slot_view {
	p11o_mutex lock; /* adding slots, classifying */
	p11o_slot slots[P11O_MAX_SLOTS];
	atomic_size_t count;
	/* Lookup hints: 1 + the index of the slot last found whose `down`
	 * (`id`) hashes to the position, 0: none.  Only a guess, checked
	 * against the entry (entries never change, and a hint is stored
	 * after its entry was published), so they need no lock. */
	atomic_uchar by_down[P11O_SLOT_HINTS];
	atomic_uchar by_id[P11O_SLOT_HINTS];
	p11o_mutex pcsc_lock; /* the context below */
	void *pcsc;           /* SCARDCONTEXT for insertion counters */
} p11o_slot_view;

CK_RV p11o_slot_view_init(p11o_slot_view *v);
void p11o_slot_view_destroy(p11o_slot_view *v);

static inline size_t p11o_slot_count(const p11o_slot_view *v)
{
	return atomic_load_explicit(&((p11o_slot_view *)v)->count,
				    memory_order_acquire);
}

static inline unsigned p11o_slot_down_hash(CK_SLOT_ID down)
{
	/* the provider number is the top byte (provider.h) */
	return (unsigned)(down ^ (down >> 56)) & (P11O_SLOT_HINTS - 1);
}

static inline unsigned p11o_slot_id_hash(CK_SLOT_ID id)
{
	/* the description's hash << 4 | index (slots_table.c) */
	return (unsigned)(id ^ (id >> 4)) & (P11O_SLOT_HINTS - 1);
}

/* The scans behind the hints below (out of line; they set the hint). */
CK_ULONG p11o_slot_scan_down(const p11o_slot_view *v, CK_SLOT_ID down);
CK_ULONG p11o_slot_scan_id(const p11o_slot_view *v, CK_SLOT_ID id);

/* Index of the slot layers below the slots layer call `down`, or
 * P11O_NO_SLOT when the slots layer has not learnt it. */
static inline CK_ULONG p11o_slot_find_down(const p11o_slot_view *v,
					   CK_SLOT_ID down)
{
	/* 0 (no hint) wraps to past P11O_MAX_SLOTS */
	unsigned k =
	    atomic_load_explicit(
		&((p11o_slot_view *)v)->by_down[p11o_slot_down_hash(down)],
		memory_order_acquire) -
	    1u;
	if (__builtin_expect(k < P11O_MAX_SLOTS && v->slots[k].down == down, 1))
		return k;
	return p11o_slot_scan_down(v, down);
}

/* Index of the slot the application calls `id`, or P11O_NO_SLOT. */
static inline CK_ULONG p11o_slot_find_id(const p11o_slot_view *v, CK_SLOT_ID id)
{
	unsigned k = atomic_load_explicit(
			 &((p11o_slot_view *)v)->by_id[p11o_slot_id_hash(id)],
			 memory_order_acquire) -
		     1u;
	if (__builtin_expect(k < P11O_MAX_SLOTS && v->slots[k].id == id, 1))
		return k;
	return p11o_slot_scan_id(v, id);
}

/* The slot's kind, classifying it on first use (PC/SC reader list). */
enum p11o_slot_kind p11o_slot_classify(p11o_slot_view *v, CK_ULONG i);
static inline enum p11o_slot_kind p11o_slot_kind(p11o_slot_view *v, CK_ULONG i)
{
	if (i < p11o_slot_count(v)) {
		int k = atomic_load_explicit(&v->slots[i].kind,
					     memory_order_acquire);
		if (k != P11O_SLOT_UNKNOWN)
			return (enum p11o_slot_kind)k;
	}
	return p11o_slot_classify(v, i);
}

/* A slot that was found not to be a card is classified again on next use
 * (an event on it: a reader may have appeared).  A card slot keeps its
 * reader. */
void p11o_slot_reclassify(p11o_slot_view *v, CK_ULONG i);

/* Card slots: the reader's current insertion (see above); others and
 * PC/SC errors: P11O_NO_INSERTION. */
uint64_t p11o_slot_card_insertion(p11o_slot_view *v, CK_ULONG i);
static inline uint64_t p11o_slot_insertion(p11o_slot_view *v, CK_ULONG i)
{
	return p11o_slot_kind(v, i) == P11O_SLOT_CARD
		   ? p11o_slot_card_insertion(v, i)
		   : P11O_NO_INSERTION;
}

/* The user PIN of the card that virtual token `i` stands for, given the
 * card's facts and the provider's token label: p11o_card_pin_for_label()
 * (the longest " (<PIN name>)" suffix naming a PIN of the card, PIN names
 * may hold parentheses; else the slot's index), else the only PIN; -1
 * when the card has none. */
int p11o_slot_pin(const p11o_slot_view *v, CK_ULONG i,
		  const p11o_card_info *info, const CK_UTF8CHAR label[32]);

#endif
