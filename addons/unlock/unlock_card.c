/* Which token is which (card, soft token) and the PUK unblock
 * (C_UnlockPIN, design.md §8).
 *
 * [unlock] method:
 *   auto (default)  the card's RESET RETRY COUNTER with the PUK when the
 *                   token is a card whose profile has a PUK;
 *                   CKR_FUNCTION_NOT_SUPPORTED otherwise (soft tokens).
 *   apdu            the same, card only.
 *   provider        the provider's own path: C_Login(CKU_SO, PUK),
 *                   C_InitPIN(new PIN), C_Logout in the caller's session
 *                   (OpenSC with user_pin_unblock_style = so_pin).
 * The layer keeps no PIN state: the next C_GetTokenInfo reads the card's
 * counters again (slots layer). */
#include <string.h>

#include "cardcache.h"
#include "labels.h"
#include "unlock_internal.h"

CK_RV ul_slot_kind(unlock_layer *l, CK_SLOT_ID slot, enum ul_kind *kind,
		   char *reader, size_t readersz)
{
	CK_SLOT_INFO si;
	CK_RV rv = P11O_DOWN(&l->base, C_GetSlotInfo, slot, &si);
	if (rv != CKR_OK)
		return rv;
	if (p11o_card_reader_for_slot(si.slotDescription,
				      sizeof(si.slotDescription), reader,
				      readersz) == CKR_OK)
		*kind = UL_CARD;
	else
		*kind = (si.flags & CKF_HW_SLOT) ? UL_OTHER : UL_SOFT;
	return CKR_OK;
}

size_t ul_reader_slots(unlock_layer *l, const char *reader, CK_SLOT_ID *out,
		       size_t max)
{
	CK_SLOT_ID ids[64];
	CK_ULONG n = 64;
	size_t got = 0;
	if (P11O_DOWN(&l->base, C_GetSlotList, CK_FALSE, ids, &n) != CKR_OK)
		return 0;
	for (CK_ULONG i = 0; i < n && got < max; i++) {
		CK_SLOT_INFO si;
		if (P11O_DOWN(&l->base, C_GetSlotInfo, ids[i], &si) == CKR_OK &&
		    p11o_card_reader_matches(
			si.slotDescription, sizeof(si.slotDescription), reader))
			out[got++] = ids[i];
	}
	return got;
}

const p11o_card_pin *ul_pick_pin(const p11o_card_info *info,
				 const CK_UTF8CHAR label[32], size_t index)
{
	char name[40], pin[40];
	if (info->pin_count == 0)
		return NULL;
	if (label &&
	    p11o_label_split(label, name, sizeof(name), pin, sizeof(pin))) {
		for (size_t i = 0; i < info->pin_count; i++)
			if (strcmp(info->pins[i].name, pin) == 0)
				return &info->pins[i];
	}
	if (index < info->pin_count)
		return &info->pins[index];
	return &info->pins[0];
}

void ul_forget_pin_states(unlock_layer *l, CK_SLOT_ID slot)
{
	CK_SLOT_INFO si;
	if (P11O_DOWN(&l->base, C_GetSlotInfo, slot, &si) != CKR_OK)
		return;
	p11o_card_entry *e =
	    p11o_card_cache_get(l->base.stack->cards, si.slotDescription, NULL);
	if (e) {
		p11o_card_entry_forget_pins(e);
		p11o_card_cache_put(e);
	}
}

bool ul_len_ok(const p11o_card_pin *pin, CK_ULONG len)
{
	if (!pin)
		return len > 0;
	if (len == 0 || (pin->min_len && len < pin->min_len) ||
	    (pin->max_len && len > pin->max_len))
		return false;
	return true;
}

static CK_RV by_provider(unlock_layer *l, CK_SESSION_HANDLE s,
			 CK_UTF8CHAR_PTR puk, CK_ULONG puk_len,
			 CK_UTF8CHAR_PTR pin, CK_ULONG pin_len)
{
	CK_RV rv = P11O_DOWN(&l->base, C_Login, s, CKU_SO, puk, puk_len);
	if (rv != CKR_OK)
		return rv;
	rv = P11O_DOWN(&l->base, C_InitPIN, s, pin, pin_len);
	P11O_DOWN(&l->base, C_Logout, s);
	return rv;
}

void ul_token_identity(unlock_layer *l, CK_SLOT_ID slot, const char *reader,
		       CK_UTF8CHAR label[32], size_t *index)
{
	CK_TOKEN_INFO ti;
	CK_SLOT_ID ids[UL_MAX_READER_SLOTS];
	size_t n = ul_reader_slots(l, reader, ids, UL_MAX_READER_SLOTS);
	*index = 0;
	for (size_t i = 0; i < n; i++)
		if (ids[i] == slot)
			*index = i;
	memset(label, ' ', 32);
	if (P11O_DOWN(&l->base, C_GetTokenInfo, slot, &ti) == CKR_OK)
		memcpy(label, ti.label, 32);
}

static CK_RV unblock(p11o_card *card, const p11o_card_info *info,
		     const p11o_card_pin *pin, CK_UTF8CHAR_PTR puk,
		     CK_ULONG puk_len, CK_UTF8CHAR_PTR new_pin,
		     CK_ULONG new_len)
{
	if (info->puk_ref == P11O_CARD_REF_NONE || !pin)
		return CKR_FUNCTION_NOT_SUPPORTED;
	if (!ul_len_ok(pin, new_len) ||
	    !ul_len_ok(info->puk_is_rc ? NULL : &info->puk, puk_len))
		return CKR_PIN_LEN_RANGE;
	int tries = -1;
	return p11o_card_unblock_puk(card, pin, pin->ref,
				     info->puk_is_rc ? NULL : &info->puk, puk,
				     puk_len, new_pin, new_len, &tries);
}

CK_RV ul_C_UnlockPIN(p11o_layer *self, CK_SESSION_HANDLE hSession,
		     CK_UTF8CHAR_PTR pPuk, CK_ULONG ulPukLen,
		     CK_UTF8CHAR_PTR pNewPin, CK_ULONG ulNewPinLen)
{
	unlock_layer *l = UL(self);
	if ((!pPuk && ulPukLen) || (!pNewPin && ulNewPinLen))
		return CKR_ARGUMENTS_BAD;
	CK_SLOT_ID slot;
	CK_RV rv = ul_session_slot(l, hSession, &slot);
	if (rv != CKR_OK)
		return rv;
	const char *method = self->stack->config.unlock_method;
	if (strcmp(method, "provider") == 0) {
		rv = ul_guard_slot(l, slot);
		if (rv == CKR_OK)
			rv = by_provider(l, hSession, pPuk, ulPukLen, pNewPin,
					 ulNewPinLen);
		ul_forget_pin_states(l, slot);
		return rv;
	}
	if (!pPuk || !pNewPin)
		return CKR_PIN_LEN_RANGE;

	p11o_mutex_lock(&l->op_mu);
	ul_hold *h = ul_hold_for_slot(l, slot);
	if (h && h->owned && h->owner != hSession) {
		p11o_mutex_unlock(&l->op_mu);
		return UL_HELD_RV;
	}
	p11o_card_info *info = h ? &h->info : &l->scratch;
	bool need_info = !h || !h->have_info;
	p11o_card *card = h ? h->card : NULL, *own = NULL;
	CK_UTF8CHAR label[32];
	size_t index = 0;
	if (h) {
		for (size_t i = 0; i < h->nslots; i++)
			if (h->slots[i] == slot) {
				index = i;
				memcpy(label, h->tinfo[i].label, 32);
			}
	} else {
		enum ul_kind kind;
		char reader[P11O_CARD_MAX_READER];
		rv = ul_slot_kind(l, slot, &kind, reader, sizeof(reader));
		if (rv == CKR_OK && kind != UL_CARD)
			rv = CKR_FUNCTION_NOT_SUPPORTED;
		if (rv == CKR_OK)
			rv = p11o_card_open(reader, &own);
		if (rv != CKR_OK)
			goto out;
		card = own;
		ul_token_identity(l, slot, reader, label, &index);
	}
	if (need_info) {
		rv = p11o_card_read_info(card, &self->stack->config, info);
		if (h && rv == CKR_OK)
			h->have_info = true;
	}
	if (rv == CKR_TOKEN_NOT_RECOGNIZED)
		rv = CKR_FUNCTION_NOT_SUPPORTED;
	if (rv == CKR_OK)
		rv = unblock(card, info, ul_pick_pin(info, label, index), pPuk,
			     ulPukLen, pNewPin, ulNewPinLen);
out:
	p11o_card_close(own);
	p11o_mutex_unlock(&l->op_mu);
	if (rv == CKR_OK || rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED)
		ul_forget_pin_states(l, slot);
	return rv;
}
