/* Token initialisation and reset (docs/architecture.md §6).
 *
 * C_InitToken(slot, SO PIN, label) with the variables (proxy/variables.h)
 * init-user-pin, init-puk, init-pin-names, which every C_InitToken takes
 * (wipes and unsets) whatever its outcome:
 *   soft token (SoftHSM2: no PC/SC reader, no hardware slot): the
 *     provider's C_InitToken, then, with init-user-pin, in one call: open a
 *     R/W session, C_Login(CKU_SO), C_InitPIN(init-user-pin), C_Logout,
 *     close.  init-puk: CKR_FUNCTION_NOT_SUPPORTED (no PUK).
 *   card, with init-user-pin and/or init-puk: the SO PIN argument is the
 *     card's current PUK.  init-user-pin is set as the new value of the
 *     token's own PIN, of the PINs named in init-pin-names, or of every
 *     user PIN ("all"), each by RESET RETRY COUNTER with the PUK (which
 *     also unblocks it); then init-puk becomes the new PUK (CHANGE
 *     REFERENCE DATA old||new).  The label argument is not written (the
 *     TokenLabel object of the objects addon does that).  Lengths are
 *     checked before the first APDU.
 *   card without those variables, and other tokens: the provider's
 *     answer.
 *
 * C_ResetToken(slot, user PIN): soft token: a R/W session, C_Login as
 * CKU_USER (its CKR when that fails, e.g. CKR_PIN_INCORRECT or
 * CKR_USER_ALREADY_LOGGED_IN when the application is logged in: the PIN
 * must be proven), then every token object the user can destroy is
 * destroyed (the others, e.g. CKA_DESTROYABLE false, are left), logout.
 * Card: CKR_FUNCTION_NOT_SUPPORTED: the virtual card (and PKCS#15 cards in
 * general) have no user-level operation that brings them back to their
 * issued state; deleting keys needs the issuer's keys. */
#include <stdlib.h>
#include <string.h>

#include "unlock_internal.h"
#include "variables.h"

typedef struct init_vars {
	char user_pin[P11O_VARIABLE_MAX], puk[P11O_VARIABLE_MAX];
	char names[P11O_VARIABLE_MAX];
	bool have_user_pin, have_puk, have_names;
} init_vars;

static CK_RV soft_set_user_pin(unlock_layer *l, CK_SLOT_ID slot,
			       CK_UTF8CHAR_PTR so, CK_ULONG so_len,
			       const char *pin)
{
	CK_SESSION_HANDLE s;
	CK_RV rv =
	    P11O_DOWN(&l->base, C_OpenSession, slot,
		      CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
	if (rv != CKR_OK)
		return rv;
	rv = P11O_DOWN(&l->base, C_Login, s, CKU_SO, so, so_len);
	if (rv == CKR_OK) {
		rv = P11O_DOWN(&l->base, C_InitPIN, s, (CK_UTF8CHAR_PTR)pin,
			       strlen(pin));
		P11O_DOWN(&l->base, C_Logout, s);
	}
	P11O_DOWN(&l->base, C_CloseSession, s);
	return rv;
}

static CK_RV change_puk(p11o_card *card, const p11o_card_info *info,
			const uint8_t *old, size_t old_len, const char *new_puk)
{
	uint8_t apdu[5 + 2 * 64];
	size_t a = p11o_card_encode_pin(&info->puk, old, old_len, apdu + 5, 64);
	size_t b =
	    a ? p11o_card_encode_pin(&info->puk, (const uint8_t *)new_puk,
				     strlen(new_puk), apdu + 5 + a, 64)
	      : 0;
	if (!b)
		return CKR_PIN_LEN_RANGE;
	apdu[0] = 0x00;
	apdu[1] = 0x24;
	apdu[2] = 0x00;
	apdu[3] = (uint8_t)info->puk_ref;
	apdu[4] = (uint8_t)(a + b);
	uint8_t resp[8];
	size_t rlen;
	uint16_t sw = 0;
	CK_RV rv = p11o_card_begin(card);
	if (rv == CKR_OK) {
		rv = p11o_card_transmit(card, apdu, 5 + a + b, resp,
					sizeof(resp), &rlen, &sw);
		p11o_card_end(card);
	}
	explicit_bzero(apdu, sizeof(apdu));
	return rv == CKR_OK ? p11o_card_sw_to_rv(sw, NULL) : rv;
}

/* The PINs init-pin-names names: indexes into info->pins. */
static CK_RV pick_pins(unlock_layer *l, CK_SLOT_ID slot,
		       const p11o_card_info *info, const init_vars *v,
		       size_t *idx, size_t *n)
{
	*n = 0;
	if (!v->have_names || !v->names[0]) {
		CK_UTF8CHAR label[32];
		ul_token_label(l, slot, label);
		const p11o_card_pin *p = ul_pick_pin(l, slot, info, label);
		if (!p)
			return CKR_FUNCTION_NOT_SUPPORTED;
		idx[(*n)++] = (size_t)(p - info->pins);
		return CKR_OK;
	}
	char names[P11O_VARIABLE_MAX], *save = NULL;
	memcpy(names, v->names, sizeof(names));
	for (char *t = strtok_r(names, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		while (*t == ' ')
			t++;
		size_t e = strlen(t);
		while (e && t[e - 1] == ' ')
			t[--e] = '\0';
		bool all = strcmp(t, "all") == 0, found = false;
		for (size_t i = 0; i < info->pin_count; i++) {
			if (!all && strcmp(info->pins[i].name, t) != 0)
				continue;
			found = true;
			bool dup = false;
			for (size_t k = 0; k < *n; k++)
				dup |= idx[k] == i;
			if (!dup)
				idx[(*n)++] = i;
		}
		if (!found)
			return CKR_ARGUMENTS_BAD; /* no such PIN */
	}
	return *n ? CKR_OK : CKR_ARGUMENTS_BAD;
}

static CK_RV card_init(unlock_layer *l, CK_SLOT_ID slot, const char *reader,
		       CK_UTF8CHAR_PTR puk, CK_ULONG puk_len,
		       const init_vars *v)
{
	p11o_card_info *info = &l->scratch;
	p11o_card *card = NULL;
	size_t idx[P11O_CARD_MAX_PINS], n = 0;
	if (!puk)
		return CKR_ARGUMENTS_BAD;
	CK_UTF8CHAR label[32];
	unsigned char serial[16];
	bool have_serial = ul_token_label_serial(l, slot, label, serial);
	CK_RV rv = p11o_card_open(reader, &card);
	if (rv == CKR_OK)
		rv = p11o_card_read_info_for(card, &l->base.stack->config,
					     have_serial ? serial : NULL, info);
	if (rv == CKR_TOKEN_NOT_RECOGNIZED ||
	    (rv == CKR_OK &&
	     ((info->puk_ref == P11O_CARD_REF_NONE && !info->puk_count) ||
	      (info->puk_is_rc && v->have_puk))))
		rv = CKR_FUNCTION_NOT_SUPPORTED;
	if (rv == CKR_OK &&
	    !ul_len_ok(info->puk_is_rc ? NULL : &info->puk, puk_len))
		rv = CKR_PIN_LEN_RANGE;
	if (rv == CKR_OK && v->have_puk &&
	    !ul_len_ok(&info->puk, strlen(v->puk)))
		rv = CKR_PIN_LEN_RANGE;
	if (rv == CKR_OK && v->have_user_pin)
		rv = pick_pins(l, slot, info, v, idx, &n);
	for (size_t i = 0; rv == CKR_OK && i < n; i++)
		if (!ul_len_ok(&info->pins[idx[i]], strlen(v->user_pin)))
			rv = CKR_PIN_LEN_RANGE;
	/* Each PIN by its own PUK (the SO PIN argument is its value). */
	for (size_t i = 0; rv == CKR_OK && i < n; i++)
		if (!p11o_card_puk_for(info, &info->pins[idx[i]]))
			rv = CKR_FUNCTION_NOT_SUPPORTED;
	for (size_t i = 0; rv == CKR_OK && i < n; i++) {
		const p11o_card_pin *p = &info->pins[idx[i]];
		const p11o_card_pin *pk = p11o_card_puk_for(info, p);
		rv = p11o_card_unblock_puk(
		    card, p, ul_unblock_ref(info, p),
		    info->puk_is_rc ? NULL : pk, puk, puk_len,
		    (const uint8_t *)v->user_pin, strlen(v->user_pin), NULL);
	}
	if (rv == CKR_OK && v->have_puk)
		rv = change_puk(card, info, puk, puk_len, v->puk);
	p11o_card_close(card);
	explicit_bzero(info, sizeof(*info));
	return rv;
}

CK_RV ul_C_InitToken(p11o_layer *self, CK_SLOT_ID slotID, CK_UTF8CHAR_PTR pPin,
		     CK_ULONG ulPinLen, CK_UTF8CHAR_PTR pLabel)
{
	unlock_layer *l = UL(self);
	init_vars *v = calloc(1, sizeof(*v));
	if (!v)
		return CKR_HOST_MEMORY;
	v->have_user_pin = p11o_variable_take("init-user-pin", v->user_pin,
					      sizeof(v->user_pin));
	v->have_puk = p11o_variable_take("init-puk", v->puk, sizeof(v->puk));
	v->have_names =
	    p11o_variable_take("init-pin-names", v->names, sizeof(v->names));
	enum ul_kind kind = UL_OTHER;
	char reader[P11O_CARD_MAX_READER];
	CK_RV rv = ul_guard_slot(l, slotID);
	if (rv == CKR_OK && (v->have_user_pin || v->have_puk))
		rv = ul_slot_kind(l, slotID, &kind, reader, sizeof(reader));
	if (rv != CKR_OK) {
		/* nothing more */
	} else if (kind == UL_CARD) {
		p11o_mutex_lock(&l->op_mu);
		rv = card_init(l, slotID, reader, pPin, ulPinLen, v);
		p11o_mutex_unlock(&l->op_mu);
		ul_forget_pin_states(l, slotID);
	} else if (v->have_puk) {
		rv = CKR_FUNCTION_NOT_SUPPORTED;
	} else {
		rv = P11O_DOWN(self, C_InitToken, slotID, pPin, ulPinLen,
			       pLabel);
		if (rv == CKR_OK && v->have_user_pin)
			rv = soft_set_user_pin(l, slotID, pPin, ulPinLen,
					       v->user_pin);
	}
	explicit_bzero(v, sizeof(*v));
	free(v);
	return rv;
}

/* Every token object of the session, collected before any is destroyed. */
static CK_RV destroy_all(unlock_layer *l, CK_SESSION_HANDLE s)
{
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE tmpl = {CKA_TOKEN, &yes, sizeof(yes)};
	CK_OBJECT_HANDLE *all = NULL, batch[64];
	size_t n = 0;
	CK_ULONG got = 0;
	CK_RV rv = P11O_DOWN(&l->base, C_FindObjectsInit, s, &tmpl, 1);
	while (rv == CKR_OK) {
		rv = P11O_DOWN(&l->base, C_FindObjects, s, batch, 64, &got);
		if (rv != CKR_OK || got == 0)
			break;
		if (got > 64) /* never past the batch, whatever it says */
			got = 64;
		CK_OBJECT_HANDLE *t = realloc(all, (n + got) * sizeof(*all));
		if (!t) {
			rv = CKR_HOST_MEMORY;
			break;
		}
		all = t;
		memcpy(all + n, batch, got * sizeof(*all));
		n += got;
	}
	P11O_DOWN(&l->base, C_FindObjectsFinal, s);
	for (size_t i = 0; rv == CKR_OK && i < n; i++)
		P11O_DOWN(&l->base, C_DestroyObject, s,
			  all[i]); /* may refuse */
	free(all);
	return rv;
}

CK_RV ul_C_ResetToken(p11o_layer *self, CK_SLOT_ID slotID, CK_UTF8CHAR_PTR pPin,
		      CK_ULONG ulPinLen)
{
	unlock_layer *l = UL(self);
	if (!pPin && ulPinLen)
		return CKR_ARGUMENTS_BAD;
	enum ul_kind kind;
	char reader[P11O_CARD_MAX_READER];
	CK_RV rv = ul_guard_slot(l, slotID);
	if (rv == CKR_OK)
		rv = ul_slot_kind(l, slotID, &kind, reader, sizeof(reader));
	if (rv != CKR_OK)
		return rv;
	if (kind != UL_SOFT)
		return CKR_FUNCTION_NOT_SUPPORTED;
	CK_SESSION_HANDLE s;
	rv = P11O_DOWN(self, C_OpenSession, slotID,
		       CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
	if (rv != CKR_OK)
		return rv;
	rv = P11O_DOWN(self, C_Login, s, CKU_USER, pPin, ulPinLen);
	if (rv == CKR_OK) {
		rv = destroy_all(l, s);
		P11O_DOWN(self, C_Logout, s);
	}
	P11O_DOWN(self, C_CloseSession, s);
	return rv;
}
