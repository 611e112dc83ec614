/* The virtual slot view (docs/architecture.md §4): stable slot IDs, which slots
 * are shown, and the label and PIN state of a card's virtual tokens. */
#include <stdlib.h>
#include <string.h>

#include "cardcache.h"
#include "labels.h"
#include "slots_int.h"
#include "stack.h"
#include "utf8.h"

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

size_t sl_slot_count(const slots_layer *l)
{
	return p11o_slot_count(l->view);
}

static bool id_used(const slots_layer *l, size_t n, CK_SLOT_ID id)
{
	for (size_t i = 0; i < n; i++)
		if (l->view->slots[i].id == id)
			return true;
	return false;
}

/* Under the lock: add provider slot `pid`; returns its index or NO_SLOT. */
static CK_ULONG learn(slots_layer *l, CK_SLOT_ID pid)
{
	size_t n = atomic_load(&l->view->count);
	for (size_t i = 0; i < n; i++)
		if (l->view->slots[i].down == pid)
			return i;
	CK_SLOT_INFO info;
	if (n >= MAX_SLOTS ||
	    P11O_DOWN(&l->base, C_GetSlotInfo, pid, &info) != CKR_OK)
		return NO_SLOT;
	p11o_slot *v = &l->view->slots[n];
	v->down = pid;
	v->slot_flags = info.flags;
	v->hash = description_hash(info.slotDescription);
	memcpy(v->description, info.slotDescription, 64);
	v->index = 0;
	for (size_t i = 0; i < n; i++)
		if (l->view->slots[i].hash == v->hash)
			v->index++;
	uint32_t h = v->hash;
	while (id_used(l, n, make_id(h, v->index)))
		h++;
	v->id = make_id(h, v->index);
	atomic_store_explicit(&l->view->count, n + 1, memory_order_release);
	return n;
}

/* Learn every provider slot, in the provider's order (which keeps the
 * per-description index stable). */
void sl_refresh(slots_layer *l)
{
	CK_SLOT_ID ids[MAX_SLOTS];
	CK_ULONG count = MAX_SLOTS;
	if (P11O_DOWN(&l->base, C_GetSlotList, CK_FALSE, ids, &count) != CKR_OK)
		return;
	if (count > MAX_SLOTS) /* a provider claiming more than it wrote */
		count = MAX_SLOTS;
	p11o_mutex_lock(&l->view->lock);
	for (CK_ULONG i = 0; i < count; i++)
		learn(l, ids[i]);
	p11o_mutex_unlock(&l->view->lock);
}

CK_ULONG sl_index_of_id(const slots_layer *l, CK_SLOT_ID id)
{
	return p11o_slot_find_id(l->view, id);
}

/* A slot not seen before (hot-plugged): learn all, in the provider's
 * order.  Out of line so the lookup below stays small. */
__attribute__((noinline)) CK_ULONG sl_learn_new(slots_layer *l, CK_SLOT_ID pid)
{
	sl_refresh(l);
	p11o_mutex_lock(&l->view->lock);
	CK_ULONG i = learn(l, pid);
	p11o_mutex_unlock(&l->view->lock);
	return i;
}

/* Virtual -> provider for IDs not seen yet in this process (IDs are
 * stable across processes): learn the provider's slots. */
CK_ULONG sl_slot_index_slow(slots_layer *l, CK_SLOT_ID id)
{
	sl_refresh(l);
	return sl_index_of_id(l, id);
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
	CK_ULONG i = sl_index_of_provider(l, pid);
	if (i == NO_SLOT)
		return false;
	if (cfg->pins == P11O_PINS_FIRST) {
		for (size_t k = 0; k < *nseen; k++)
			if (seen[k] == l->view->slots[i].hash)
				return false;
		seen[(*nseen)++] = l->view->slots[i].hash;
		return true;
	}
	if (cfg->pins == P11O_PINS_LIST) {
		CK_TOKEN_INFO ti;
		char name[40], pin[40];
		if (P11O_DOWN(&l->base, C_GetTokenInfo, pid, &ti) != CKR_OK)
			return false;
		/* The card's own PIN names when the proxy knows the card
		 * (they may hold " ("); a card with one PIN: always shown. */
		p11o_card_entry *e =
		    p11o_slot_kind(l->view, i) == P11O_SLOT_CARD
			? p11o_card_cache_get(l->base.stack->cards,
					      l->view->slots[i].description,
					      ti.serialNumber)
			: NULL;
		if (e) {
			const p11o_card_info *info = p11o_card_entry_info(e);
			int k = p11o_slot_pin(l->view, i, info, ti.label);
			bool shown = info->pin_count < 2 || k < 0 ||
				     pin_listed(cfg, info->pins[k].name);
			p11o_card_cache_put(e);
			return shown;
		}
		return !p11o_label_split(ti.label, name, sizeof(name), pin,
					 sizeof(pin)) ||
		       pin_listed(cfg, pin);
	}
	return true;
}

/* The slot list when config hides some slots: the provider's full list
 * is needed even for a size query. */
CK_RV sl_filtered_slot_list(slots_layer *l, CK_BBOOL tokenPresent,
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
			ids[shown++] = sl_slot_up(l, ids[i]);
	if (pSlotList && *pulCount < shown)
		rv = CKR_BUFFER_TOO_SMALL;
	else if (pSlotList)
		memcpy(pSlotList, ids, shown * sizeof(ids[0]));
	*pulCount = shown;
	return rv;
}

/* The token's other text (the provider's, or a card's TokenInfo) made
 * valid like the label (utf8.h): an application may print it. */
static void fix_token_text(CK_TOKEN_INFO *ti)
{
	p11o_utf8_fix_field(ti->manufacturerID, sizeof(ti->manufacturerID));
	p11o_utf8_fix_field(ti->model, sizeof(ti->model));
	p11o_utf8_fix_field(ti->serialNumber, sizeof(ti->serialNumber));
}

static void decorate_card(slots_layer *l, CK_ULONG slot, CK_TOKEN_INFO *ti);

/* docs/architecture.md §4: the label of a card's virtual token and its real PIN
 * state, whatever the provider made of them; every token's text valid
 * UTF-8 without control characters. */
void sl_decorate_token(slots_layer *l, CK_ULONG slot, CK_TOKEN_INFO *ti)
{
	/* Soft tokens: only the text made valid, the label like a card's. */
	if (p11o_slot_kind(l->view, slot) != P11O_SLOT_CARD)
		p11o_utf8_fix_field(ti->label, sizeof(ti->label));
	else
		decorate_card(l, slot, ti); /* reads the provider's serial */
	fix_token_text(ti);
}

static void decorate_card(slots_layer *l, CK_ULONG slot, CK_TOKEN_INFO *ti)
{
	p11o_slot *v = &l->view->slots[slot];
	p11o_card_cache *cards = l->base.stack->cards;
	p11o_card_entry *e =
	    p11o_card_cache_get(cards, v->description, ti->serialNumber);
	if (!e) { /* a card the proxy cannot read: as a soft token */
		p11o_utf8_fix_field(ti->label, sizeof(ti->label));
		return;
	}
	const p11o_card_info *info = p11o_card_entry_info(e);
	int k = p11o_slot_pin(l->view, slot, info, ti->label);
	size_t n = 32;
	while (n > 0 && (ti->label[n - 1] == ' ' || ti->label[n - 1] == '\0'))
		n--;
	if (k >= 0) /* the token name before OpenSC's " (<PIN name>)" */
		n -= p11o_card_pin_suffix(ti->label, info->pins[k].name);
	char name[33];
	memcpy(name, ti->label, n);
	name[n] = '\0';
	p11o_card_token_label(info, k, l->base.stack->config.label_format,
			      info->label[0] ? info->label : name, ti->label);
	/* The card's PIN state when the proxy could read it (the provider
	 * may be stale: OpenSC keeps the last VERIFY's count on cards whose
	 * driver cannot ask); otherwise the provider's flags stay, e.g.
	 * OpenSC's final try on a card the proxy cannot parse. */
	CK_FLAGS card;
	bool fresh;
	if (p11o_card_entry_pin_flags(e, k, &card, &fresh)) {
		/* A state cached from an earlier call may be older than the
		 * provider's: then the worse of the two. */
		if (fresh)
			ti->flags &=
			    ~(CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY |
			      CKF_USER_PIN_LOCKED);
		ti->flags |= card;
		if (ti->flags & CKF_USER_PIN_LOCKED)
			ti->flags &=
			    ~(CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY);
	}
	p11o_card_cache_put(e);
}
