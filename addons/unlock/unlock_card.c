/* Which token is which (card, soft token) and the PUK unblock
 * (C_UnlockPIN, docs/architecture.md §8).
 *
 * [unlock] method:
 *   auto (default)  the card's RESET RETRY COUNTER with the PIN's own PUK
 *                   (or OpenPGP resetting code), shaped and encoded by its
 *                   card family (card_family.c), when the proxy knows the
 *                   card; on a card no family or profile knows, the
 *                   provider's path below; CKR_FUNCTION_NOT_SUPPORTED with
 *                   a trace note saying why otherwise (a PIN without PUK,
 *                   soft tokens).
 *   apdu            the APDU path only.
 *   provider        the provider's own path: C_Login(CKU_SO, PUK),
 *                   C_InitPIN(new PIN), C_Logout in the caller's session
 *                   (OpenSC with user_pin_unblock_style = so_pin).
 * The layer keeps no PIN state: the next C_GetTokenInfo reads the card's
 * counters again (slots layer). */
#include <string.h>

#include "cardcache.h"
#include "labels.h"
#include "trace/trace.h"
#include "unlock_internal.h"

CK_RV ul_slot_kind(unlock_layer *l, CK_SLOT_ID slot, enum ul_kind *kind,
		   char *reader, size_t readersz)
{
	CK_ULONG i = p11o_slot_find_down(l->view, slot);
	if (i == P11O_NO_SLOT) {
		/* Not a slot of ours: the provider's own error. */
		CK_SLOT_INFO si;
		CK_RV rv = P11O_DOWN(&l->base, C_GetSlotInfo, slot, &si);
		*kind = UL_OTHER;
		return rv;
	}
	switch (p11o_slot_kind(l->view, i)) {
	case P11O_SLOT_CARD:
		if (strlen(l->view->slots[i].reader) >= readersz)
			return CKR_BUFFER_TOO_SMALL;
		strcpy(reader, l->view->slots[i].reader);
		*kind = UL_CARD;
		break;
	case P11O_SLOT_SOFT:
		*kind = UL_SOFT;
		break;
	default:
		*kind = UL_OTHER;
		break;
	}
	return CKR_OK;
}

size_t ul_reader_slots(unlock_layer *l, CK_SLOT_ID slot, CK_SLOT_ID *out,
		       size_t max)
{
	const p11o_slot_view *v = l->view;
	CK_ULONG i = p11o_slot_find_down(v, slot);
	size_t n = p11o_slot_count(v), got = 0;
	if (i == P11O_NO_SLOT)
		return 0;
	for (size_t k = 0; k < n && got < max; k++)
		if (memcmp(v->slots[k].description, v->slots[i].description,
			   64) == 0)
			out[got++] = v->slots[k].down;
	return got;
}

const p11o_card_pin *ul_pick_pin(unlock_layer *l, CK_SLOT_ID slot,
				 const p11o_card_info *info,
				 const CK_UTF8CHAR label[32])
{
	int k = p11o_slot_pin(l->view, p11o_slot_find_down(l->view, slot), info,
			      label);
	return k < 0 ? NULL : &info->pins[k];
}

unsigned char ul_unblock_ref(const p11o_card_info *info,
			     const p11o_card_pin *pin)
{
	return info->unblock_ref >= 0 ? (unsigned char)info->unblock_ref
				      : pin->ref;
}

void ul_forget_pin_states(unlock_layer *l, CK_SLOT_ID slot)
{
	CK_ULONG i = p11o_slot_find_down(l->view, slot);
	if (i == P11O_NO_SLOT)
		return;
	p11o_card_entry *e = p11o_card_cache_get(
	    l->base.stack->cards, l->view->slots[i].description, NULL);
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

void ul_token_label(unlock_layer *l, CK_SLOT_ID slot, CK_UTF8CHAR label[32])
{
	ul_token_label_serial(l, slot, label, NULL);
}

bool ul_token_label_serial(unlock_layer *l, CK_SLOT_ID slot,
			   CK_UTF8CHAR label[32], unsigned char *serial)
{
	CK_TOKEN_INFO ti;
	memset(label, ' ', 32);
	if (P11O_DOWN(&l->base, C_GetTokenInfo, slot, &ti) != CKR_OK)
		return false;
	memcpy(label, ti.label, 32);
	if (serial)
		memcpy(serial, ti.serialNumber, 16);
	return true;
}

#define NOTE(l, ...) p11o_trace_note((l)->base.stack->trace, __VA_ARGS__)

static CK_RV unblock(unlock_layer *l, p11o_card *card,
		     const p11o_card_info *info, const p11o_card_pin *pin,
		     CK_UTF8CHAR_PTR puk, CK_ULONG puk_len,
		     CK_UTF8CHAR_PTR new_pin, CK_ULONG new_len)
{
	const p11o_card_pin *pk = pin ? p11o_card_puk_for(info, pin) : NULL;
	if (!pk) {
		NOTE(l, "C_UnlockPIN: the card (%s) has no PUK for PIN '%s'",
		     info->profile, pin ? pin->name : "?");
		return CKR_FUNCTION_NOT_SUPPORTED;
	}
	if (info->puk_is_rc)
		pk = NULL; /* the resetting code: sent as given, no checks */
	if (!ul_len_ok(pin, new_len) || !ul_len_ok(pk, puk_len))
		return CKR_PIN_LEN_RANGE;
	int tries = -1;
	return p11o_card_unblock_puk(card, pin, ul_unblock_ref(info, pin), pk,
				     puk, puk_len, new_pin, new_len, &tries);
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

	bool provider = false, have_serial = false;
	unsigned char serial[16];
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
	memset(label, ' ', sizeof(label));
	if (h) {
		for (size_t i = 0; i < h->nslots; i++)
			if (h->slots[i] == slot)
				memcpy(label, h->tinfo[i].label, 32);
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
		have_serial = ul_token_label_serial(l, slot, label, serial);
	}
	if (need_info) {
		/* The application the provider serves on this token (a card
		 * may hold PIV and OpenPGP): the one with the token's serial.
		 */
		rv = p11o_card_read_info_for(card, &self->stack->config,
					     have_serial ? serial : NULL, info);
		if (h && rv == CKR_OK)
			h->have_info = true;
	}
	if (rv == CKR_TOKEN_NOT_RECOGNIZED) {
		/* A card the proxy does not know: only the provider knows
		 * how its PUK works. */
		provider = strcmp(method, "auto") == 0 && !h;
		NOTE(l,
		     "C_UnlockPIN: no card family or [card] profile knows "
		     "this card%s",
		     provider ? ": the provider's C_Login(CKU_SO, PUK) + "
				"C_InitPIN (OpenSC: user_pin_unblock_style = "
				"so_pin)"
			      : "");
		rv = CKR_FUNCTION_NOT_SUPPORTED;
	} else if (rv == CKR_OK) {
		rv = unblock(l, card, info, ul_pick_pin(l, slot, info, label),
			     pPuk, ulPukLen, pNewPin, ulNewPinLen);
	}
out:
	p11o_card_close(own);
	p11o_mutex_unlock(&l->op_mu);
	if (provider)
		rv = by_provider(l, hSession, pPuk, ulPukLen, pNewPin,
				 ulNewPinLen);
	if (rv == CKR_OK || rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED)
		ul_forget_pin_states(l, slot);
	return rv;
}
