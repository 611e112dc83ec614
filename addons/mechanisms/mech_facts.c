/* Per-slot mechanism facts: the token's C_GetMechanismInfo answers for the
 * mechanisms this layer routes (mk_defs, and the key-pair generators that
 * say whether the token does RSA / EC at all), asked once per slot and
 * token instead of at every operation's Init (a provider may allocate in
 * that call: SoftHSM2 does).
 *
 * One table per slot of the slot view, made the first time an Init on
 * the slot needs it and kept until the layer goes (C_Finalize).  Each
 * answer is stamped with the token it is of: the card insertion the
 * session was opened on (sessions.h, so a card swapped for another is
 * asked again with no event needed) and the slot's count of changes this
 * layer saw (a slot event passing through it, C_Reinitialize).  Readers
 * take no lock: a stamp is cleared before an answer is written and set
 * after it (release), and a reader checks it before and after reading
 * (a sequence lock per answer).  Writers fill under the layer's lock. */
#include <stdlib.h>
#include <string.h>

#include "mech_int.h"

static int fact_index(CK_MECHANISM_TYPE m)
{
	const mk_def *d = mk_def_find(m);
	size_t i = d                                ? (size_t)(d - mk_defs)
		   : m == CKM_RSA_PKCS_KEY_PAIR_GEN ? mk_ndefs
		   : m == CKM_EC_KEY_PAIR_GEN       ? mk_ndefs + 1
						    : MK_NFACTS;
	return i < MK_NFACTS ? (int)i : -1;
}

/* Never 0 (0: no answer).  pcsc-lite's insertion value has 17 bits. */
static uint64_t stamp_of(unsigned long changes, uint64_t insertion)
{
	uint64_t ins =
	    insertion == P11O_NO_INSERTION ? 0x20000 : (insertion & 0x1FFFF);
	return ((uint64_t)changes << 18 | ins) + 1;
}

/* The token's answer as this layer uses it: none for a hidden mechanism
 * or an error. */
static void ask(mk_layer *l, CK_SLOT_ID slot, CK_MECHANISM_TYPE m,
		CK_MECHANISM_INFO *info)
{
	memset(info, 0, sizeof(*info));
	if (mk_listed(&l->cfg->mechanisms_hide, m) ||
	    P11O_DOWN(&l->base, C_GetMechanismInfo, slot, m, info) != CKR_OK)
		memset(info, 0, sizeof(*info));
}

static bool read_fact(mk_fact *f, uint64_t want, CK_MECHANISM_INFO *info)
{
	if (atomic_load_explicit(&f->stamp, memory_order_acquire) != want)
		return false;
	info->flags = atomic_load_explicit(&f->flags, memory_order_relaxed);
	info->ulMinKeySize =
	    atomic_load_explicit(&f->min, memory_order_relaxed);
	info->ulMaxKeySize =
	    atomic_load_explicit(&f->max, memory_order_relaxed);
	atomic_thread_fence(memory_order_acquire);
	return atomic_load_explicit(&f->stamp, memory_order_relaxed) == want;
}

static void write_fact(mk_fact *f, uint64_t stamp, const CK_MECHANISM_INFO *i)
{
	atomic_store_explicit(&f->stamp, 0, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&f->flags, i->flags, memory_order_relaxed);
	atomic_store_explicit(&f->min, i->ulMinKeySize, memory_order_relaxed);
	atomic_store_explicit(&f->max, i->ulMaxKeySize, memory_order_relaxed);
	atomic_store_explicit(&f->stamp, stamp, memory_order_release);
}

/* Out of line: the first Init of a mechanism on the slot's token. */
static void fill(mk_layer *l, const mk_session *s, int i, CK_MECHANISM_TYPE m,
		 CK_MECHANISM_INFO *info)
{
	p11o_mutex_lock(&l->facts_lock);
	mk_slot_facts *sf =
	    atomic_load_explicit(&l->facts[s->view_slot], memory_order_relaxed);
	if (!sf && (sf = calloc(1, sizeof(*sf))) != NULL)
		atomic_store_explicit(&l->facts[s->view_slot], sf,
				      memory_order_release);
	if (!sf) {
		p11o_mutex_unlock(&l->facts_lock);
		ask(l, s->slot, m, info); /* out of memory: as before */
		return;
	}
	uint64_t want =
	    stamp_of(atomic_load_explicit(&sf->changes, memory_order_acquire),
		     s->insertion);
	if (!read_fact(&sf->f[i], want, info)) {
		ask(l, s->slot, m, info);
		write_fact(&sf->f[i], want, info);
	}
	p11o_mutex_unlock(&l->facts_lock);
}

void mk_facts_info(mk_layer *l, const mk_session *s, CK_MECHANISM_TYPE m,
		   CK_MECHANISM_INFO *info)
{
	int i = fact_index(m);

	if (i < 0 || s->view_slot >= P11O_MAX_SLOTS) {
		ask(l, s->slot, m, info);
		return;
	}
	mk_slot_facts *sf =
	    atomic_load_explicit(&l->facts[s->view_slot], memory_order_acquire);
	if (sf && read_fact(&sf->f[i],
			    stamp_of(atomic_load_explicit(&sf->changes,
							  memory_order_acquire),
				     s->insertion),
			    info))
		return;
	fill(l, s, i, m, info);
}

void mk_facts_changed(mk_layer *l, CK_SLOT_ID slot)
{
	CK_ULONG i = p11o_slot_find_down(&l->base.stack->view, slot);
	mk_slot_facts *sf;

	if (i < P11O_MAX_SLOTS) {
		sf = atomic_load_explicit(&l->facts[i], memory_order_acquire);
		if (sf)
			atomic_fetch_add_explicit(&sf->changes, 1,
						  memory_order_acq_rel);
	}
	/* After the facts went stale: a route decided meanwhile is kept
	 * with the old epoch and decided again (mech_layer.c). */
	atomic_fetch_add_explicit(&l->route_epoch, 1, memory_order_acq_rel);
}

void mk_facts_destroy(mk_layer *l)
{
	for (size_t i = 0; i < P11O_MAX_SLOTS; i++)
		free(atomic_load_explicit(&l->facts[i], memory_order_relaxed));
}
