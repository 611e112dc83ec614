/* Challenge-response unlock (docs/architecture.md §6, §8) and the exclusive
 * hold of the card it needs; the rules are in unlock_internal.h.
 *
 * C_LockToken(slot, t): t > 0 holds the card of that slot for t seconds
 * (again: the deadline moves to t from now); t = 0 ends the hold (CKR_OK
 * also when none).  Waits while another process holds the card.
 * C_GetUnlockChallenge without C_LockToken holds the card for [unlock]
 * timeout seconds.  The session that gets a challenge owns the hold: other
 * sessions then get UL_HELD_RV from the unlock functions too.
 * C_UnlockPINWithResponse: no challenge outstanding (never asked, spent,
 * hold ended) -> CKR_OPERATION_NOT_INITIALIZED; wrong response ->
 * CKR_PIN_INCORRECT and the challenge is spent (the hold stays: ask for a
 * new one); right response -> RESET RETRY COUNTER with the new PIN (an
 * empty new PIN resets the counter only) and the hold ends. */
#include <stdio.h>
#include <string.h>

#include "unlock_internal.h"

/* ---- table, under mu ----------------------------------------------- */

static int slot_index(const ul_hold *h, CK_SLOT_ID slot)
{
	for (size_t i = 0; i < h->nslots; i++)
		if (h->slots[i] == slot)
			return (int)i;
	return -1;
}

/* The card of a hold is still the one inserted when it began. */
static bool same_card(unlock_layer *l, const ul_hold *h)
{
	uint64_t now = p11o_slot_insertion(l->view, h->view_slot);
	return now == P11O_NO_INSERTION || now == h->insertion;
}

/* nholds and the stack's `busy` move together (unlock_internal.h): the
 * full chain, with the guard, is published before the guard can see a
 * new hold, and the idle chain may come back only after it is gone. */
static void hold_started(unlock_layer *l)
{
	p11o_stack_busy_enter(l->base.stack);
	atomic_fetch_add(&l->nholds, 1);
}

static void hold_ended(unlock_layer *l)
{
	atomic_fetch_sub(&l->nholds, 1);
	p11o_stack_busy_leave(l->base.stack);
}

/* Under mu: is an active hold still held?  Marks it ended if not (its
 * timeout passed, or its card was pulled: issue of a pulled card keeping
 * every call of this process from the new one). */
static bool still_held(unlock_layer *l, ul_hold *h)
{
	if (!h->active)
		return false;
	if (p11o_card_is_locked(h->card) && same_card(l, h))
		return true;
	h->active = false;
	hold_ended(l);
	return false;
}

static ul_hold *held_slot_locked(unlock_layer *l, CK_SLOT_ID slot, int *idx)
{
	for (size_t k = 0; k < UL_MAX_HOLDS; k++) {
		ul_hold *h = &l->holds[k];
		int i = h->active ? slot_index(h, slot) : -1;
		if (i >= 0 && still_held(l, h)) {
			if (idx)
				*idx = i;
			return h;
		}
	}
	return NULL;
}

CK_RV ul_guard_slot(unlock_layer *l, CK_SLOT_ID slot)
{
	if (!atomic_load_explicit(&l->nholds, memory_order_acquire))
		return CKR_OK;
	p11o_mutex_lock(&l->mu);
	ul_hold *h = held_slot_locked(l, slot, NULL);
	p11o_mutex_unlock(&l->mu);
	return h ? UL_HELD_RV : CKR_OK;
}

CK_RV ul_guard_session(unlock_layer *l, CK_SESSION_HANDLE s)
{
	if (!atomic_load_explicit(&l->nholds, memory_order_acquire))
		return CKR_OK;
	const p11o_session *rec = p11o_session_get(l->sessions, s);
	if (!rec)
		return CKR_OK; /* the provider answers for it */
	p11o_mutex_lock(&l->mu);
	ul_hold *h = held_slot_locked(l, rec->down_slot, NULL);
	p11o_mutex_unlock(&l->mu);
	return h ? UL_HELD_RV : CKR_OK;
}

bool ul_hold_token_info(unlock_layer *l, CK_SLOT_ID slot, CK_TOKEN_INFO *out,
			CK_RV *rv)
{
	int i = -1;
	p11o_mutex_lock(&l->mu);
	ul_hold *h = held_slot_locked(l, slot, &i);
	if (h) {
		*rv = h->have_tinfo[i] ? CKR_OK : UL_HELD_RV;
		if (h->have_tinfo[i])
			*out = h->tinfo[i];
	}
	p11o_mutex_unlock(&l->mu);
	return h != NULL;
}

/* ---- under op_mu ------------------------------------------------------- */

ul_hold *ul_hold_for_slot(unlock_layer *l, CK_SLOT_ID slot)
{
	p11o_mutex_lock(&l->mu);
	ul_hold *h = held_slot_locked(l, slot, NULL);
	p11o_mutex_unlock(&l->mu);
	return h;
}

static ul_hold *hold_for_reader(unlock_layer *l, const char *reader)
{
	ul_hold *found = NULL;
	p11o_mutex_lock(&l->mu);
	for (size_t k = 0; k < UL_MAX_HOLDS && !found; k++)
		if (l->holds[k].active &&
		    strcmp(l->holds[k].reader, reader) == 0 &&
		    still_held(l, &l->holds[k]))
			found = &l->holds[k];
	p11o_mutex_unlock(&l->mu);
	return found;
}

void ul_hold_release(unlock_layer *l, ul_hold *h)
{
	p11o_mutex_lock(&l->mu);
	p11o_card *card = h->card;
	if (h->active)
		hold_ended(l);
	h->active = false;
	h->card = NULL;
	h->owned = h->challenge = h->have_info = false;
	explicit_bzero(&h->info, sizeof(h->info));
	p11o_mutex_unlock(&l->mu);
	p11o_card_close(card); /* ends the transaction */
}

/* Close the handles of holds that ended by themselves. */
static void sweep(unlock_layer *l)
{
	for (size_t k = 0; k < UL_MAX_HOLDS; k++) {
		ul_hold *h = &l->holds[k];
		p11o_mutex_lock(&l->mu);
		bool ended = h->card && !still_held(l, h);
		p11o_mutex_unlock(&l->mu);
		if (ended)
			ul_hold_release(l, h);
	}
}

void ul_hold_release_all(unlock_layer *l)
{
	for (size_t k = 0; k < UL_MAX_HOLDS; k++)
		if (l->holds[k].card)
			ul_hold_release(l, &l->holds[k]);
}

void ul_hold_release_slot(unlock_layer *l, CK_SLOT_ID slot)
{
	ul_hold *h = ul_hold_for_slot(l, slot);
	if (h)
		ul_hold_release(l, h);
	sweep(l);
}

/* Take a new hold on a reader (op_mu not held: this may wait for another
 * process).  The token infos are read before, while the provider can. */
static CK_RV new_hold(unlock_layer *l, CK_SLOT_ID slot, const char *reader,
		      unsigned long timeout)
{
	CK_SLOT_ID slots[UL_MAX_READER_SLOTS];
	CK_TOKEN_INFO ti[UL_MAX_READER_SLOTS];
	bool have[UL_MAX_READER_SLOTS];
	CK_ULONG view_slot = p11o_slot_find_down(l->view, slot);
	uint64_t insertion = p11o_slot_insertion(l->view, view_slot);
	size_t n = ul_reader_slots(l, slot, slots, UL_MAX_READER_SLOTS);
	for (size_t i = 0; i < n; i++)
		have[i] = P11O_DOWN(&l->base, C_GetTokenInfo, slots[i],
				    &ti[i]) == CKR_OK;
	p11o_card *card;
	CK_RV rv = p11o_card_open(reader, &card);
	if (rv != CKR_OK)
		return rv;
	p11o_card_hold_fails_others(card);
	rv = p11o_card_lock(card, timeout, l->timer);
	if (rv != CKR_OK) {
		p11o_card_close(card);
		return rv;
	}
	p11o_mutex_lock(&l->op_mu);
	sweep(l);
	ul_hold *old = hold_for_reader(l, reader), *h = NULL;
	if (old)
		ul_hold_release(l, old);
	for (size_t k = 0; k < UL_MAX_HOLDS && !h; k++)
		if (!l->holds[k].card)
			h = &l->holds[k];
	if (!h) {
		p11o_mutex_unlock(&l->op_mu);
		p11o_card_close(card);
		return CKR_FUNCTION_FAILED; /* UL_MAX_HOLDS cards held */
	}
	p11o_mutex_lock(&l->mu);
	snprintf(h->reader, sizeof(h->reader), "%s", reader);
	h->card = card;
	h->nslots = n;
	memcpy(h->slots, slots, n * sizeof(slots[0]));
	memcpy(h->tinfo, ti, n * sizeof(ti[0]));
	memcpy(h->have_tinfo, have, n * sizeof(have[0]));
	h->owned = h->challenge = h->have_info = false;
	h->view_slot = view_slot;
	h->insertion = insertion;
	h->active = true;
	hold_started(l);
	p11o_mutex_unlock(&l->mu);
	p11o_mutex_unlock(&l->op_mu);
	return CKR_OK;
}

static CK_RV card_reader(unlock_layer *l, CK_SLOT_ID slot, char *reader,
			 size_t readersz)
{
	enum ul_kind kind;
	CK_RV rv = ul_slot_kind(l, slot, &kind, reader, readersz);
	if (rv == CKR_OK && kind != UL_CARD)
		rv = CKR_FUNCTION_NOT_SUPPORTED;
	return rv;
}

CK_RV ul_C_LockToken(p11o_layer *self, CK_SLOT_ID slotID, CK_ULONG timeout)
{
	unlock_layer *l = UL(self);
	char reader[P11O_CARD_MAX_READER];
	CK_RV rv = card_reader(l, slotID, reader, sizeof(reader));
	if (rv != CKR_OK)
		return rv;
	p11o_mutex_lock(&l->op_mu);
	sweep(l);
	ul_hold *h = hold_for_reader(l, reader);
	if (timeout == 0 || h) {
		if (h && timeout == 0)
			ul_hold_release(l, h);
		else if (h)
			rv = p11o_card_lock(h->card, timeout, l->timer);
		p11o_mutex_unlock(&l->op_mu);
		return rv;
	}
	p11o_mutex_unlock(&l->op_mu);
	return new_hold(l, slotID, reader, timeout);
}

static CK_RV read_info(p11o_layer *self, ul_hold *h)
{
	if (h->have_info)
		return CKR_OK;
	CK_RV rv = p11o_card_read_info(h->card, &self->stack->config, &h->info);
	h->have_info = rv == CKR_OK;
	return rv == CKR_TOKEN_NOT_RECOGNIZED ? CKR_FUNCTION_NOT_SUPPORTED : rv;
}

CK_RV ul_C_GetUnlockChallenge(p11o_layer *self, CK_SESSION_HANDLE hSession,
			      CK_BYTE_PTR pChallenge,
			      CK_ULONG_PTR pulChallengeLen)
{
	unlock_layer *l = UL(self);
	if (!pulChallengeLen)
		return CKR_ARGUMENTS_BAD;
	CK_SLOT_ID slot;
	CK_RV rv = ul_session_slot(l, hSession, &slot);
	if (rv != CKR_OK)
		return rv;
	p11o_mutex_lock(&l->op_mu);
	ul_hold *h = ul_hold_for_slot(l, slot);
	bool implicit = false;
	if (!h) {
		p11o_mutex_unlock(&l->op_mu);
		char reader[P11O_CARD_MAX_READER];
		rv = card_reader(l, slot, reader, sizeof(reader));
		if (rv == CKR_OK && pChallenge &&
		    *pulChallengeLen >= UL_CHALLENGE_LEN)
			rv = new_hold(l, slot, reader,
				      self->stack->config.unlock_timeout);
		if (rv != CKR_OK || !pChallenge ||
		    *pulChallengeLen < UL_CHALLENGE_LEN)
			goto size;
		p11o_mutex_lock(&l->op_mu);
		h = ul_hold_for_slot(l, slot);
		implicit = true;
		if (!h) {
			p11o_mutex_unlock(&l->op_mu);
			return CKR_FUNCTION_FAILED; /* ended at once */
		}
	}
	/* h is set on both paths above. */
	// cppcheck-suppress nullPointerRedundantCheck
	if (h->owned && h->owner != hSession) {
		p11o_mutex_unlock(&l->op_mu);
		return UL_HELD_RV;
	}
	if (!pChallenge || *pulChallengeLen < UL_CHALLENGE_LEN) {
		p11o_mutex_unlock(&l->op_mu);
		goto size;
	}
	rv = read_info(self, h);
	if (rv == CKR_OK && h->info.unlock_key_ref == P11O_CARD_REF_NONE)
		rv = CKR_FUNCTION_NOT_SUPPORTED;
	size_t n = UL_CHALLENGE_LEN;
	if (rv == CKR_OK)
		rv = p11o_card_get_challenge(h->card, pChallenge, &n);
	if (rv == CKR_OK) {
		*pulChallengeLen = n;
		h->owned = h->challenge = true;
		h->owner = hSession;
	} else if (implicit || p11o_card_rv_removed(rv)) {
		ul_hold_release(l, h);
	}
	p11o_mutex_unlock(&l->op_mu);
	return rv;
size:
	if (rv == CKR_OK) {
		if (pChallenge && *pulChallengeLen < UL_CHALLENGE_LEN)
			rv = CKR_BUFFER_TOO_SMALL;
		*pulChallengeLen = UL_CHALLENGE_LEN;
	}
	return rv;
}

CK_RV ul_C_UnlockPINWithResponse(p11o_layer *self, CK_SESSION_HANDLE hSession,
				 CK_BYTE_PTR pResponse, CK_ULONG ulResponseLen,
				 CK_UTF8CHAR_PTR pNewPin, CK_ULONG ulNewPinLen)
{
	unlock_layer *l = UL(self);
	if (!pResponse || !ulResponseLen || (!pNewPin && ulNewPinLen))
		return CKR_ARGUMENTS_BAD;
	CK_SLOT_ID slot;
	CK_RV rv = ul_session_slot(l, hSession, &slot);
	if (rv != CKR_OK)
		return rv;
	p11o_mutex_lock(&l->op_mu);
	ul_hold *h = ul_hold_for_slot(l, slot);
	if (h && h->owned && h->owner != hSession)
		rv = UL_HELD_RV;
	else if (!h || !h->challenge || !h->have_info)
		rv = CKR_OPERATION_NOT_INITIALIZED;
	if (rv != CKR_OK) {
		p11o_mutex_unlock(&l->op_mu);
		return rv;
	}
	int i = slot_index(h, slot);
	const p11o_card_pin *pin =
	    ul_pick_pin(l, slot, &h->info,
			i >= 0 && h->have_tinfo[i] ? h->tinfo[i].label : NULL);
	if (!pin)
		rv = CKR_FUNCTION_NOT_SUPPORTED;
	else if (ulNewPinLen && !ul_len_ok(pin, ulNewPinLen))
		rv = CKR_PIN_LEN_RANGE; /* the challenge is kept */
	if (rv == CKR_OK) {
		h->challenge = false; /* any attempt spends it */
		rv = p11o_card_external_authenticate(
		    h->card, (unsigned char)h->info.unlock_key_ref, pResponse,
		    ulResponseLen);
		if (rv == CKR_OK) {
			rv = p11o_card_reset_retry_counter(
			    h->card, pin, ul_unblock_ref(&h->info, pin),
			    pNewPin, ulNewPinLen);
			ul_hold_release(l, h);
		} else if (p11o_card_rv_removed(rv)) {
			ul_hold_release(l, h);
		}
	}
	p11o_mutex_unlock(&l->op_mu);
	if (rv == CKR_OK)
		ul_forget_pin_states(l, slot);
	return rv;
}
