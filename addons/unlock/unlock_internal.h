/* Unlock addon internals.
 *
 * Holds (C_LockToken).  A hold is one reader whose card this process keeps
 * in a PC/SC transaction (p11o_card_lock) until the first of: a successful
 * C_UnlockPINWithResponse, C_CloseSession of the session that took the
 * challenge (the owner), C_CloseAllSessions / C_Reinitialize of any slot
 * of that reader, C_LockToken(slot, 0), C_Finalize, process exit (PC/SC
 * ends the transaction of a dead process) or the timeout.  The timeout is
 * ended by the card module's watcher thread, and also checked on every
 * entry here (so it holds without threads too).  While held:
 *   - other processes wait in SCardBeginTransaction (pcscd);
 *   - in this process, every call with a slot or session of that card
 *     (any of its virtual tokens, the owner's session too) answers
 *     UL_HELD_RV = CKR_FUNCTION_FAILED without reaching the provider,
 *     whose own transaction would otherwise wait for the hold to end.
 *     Exceptions, which never need the card: C_GetSlotInfo,
 *     C_GetMechanismList, C_GetMechanismInfo, C_OpenSession, C_CloseSession,
 *     C_CloseAllSessions, C_GetTokenInfo (answered from a snapshot taken
 *     when the hold began), and the unlock functions themselves.
 *
 * A hold also ends when its card is pulled: the hold remembers the
 * reader's insertion (slotview.h) and a guard that finds another one ends
 * it.  Sessions are the stack's (sessions.h): the extension functions check
 * theirs as the provider would (p11o_session_check), and a hold ends when
 * its owner session goes, for whatever reason.
 *
 * Locks: op_mu serialises the unlock operations and is the only lock under
 * which a hold's card handle is used or closed; mu protects the hold
 * table and is taken for short moments only.  Order:
 * op_mu, then mu, then the card's own mutex.  Neither is held while
 * calling down, except op_mu around card APDUs of an unlock operation. */
#ifndef P11O_UNLOCK_INTERNAL_H
#define P11O_UNLOCK_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>

#include "card/card.h"
#include "layer.h"
#include "mutex.h"
#include "stack.h"

#define UL_HELD_RV CKR_FUNCTION_FAILED
#define UL_MAX_HOLDS 4
#define UL_MAX_READER_SLOTS 8
#define UL_CHALLENGE_LEN 8

typedef struct ul_hold {
	bool active;     /* the transaction is (believed to be) held */
	p11o_card *card; /* open while active, or until swept */
	char reader[P11O_CARD_MAX_READER];
	CK_SLOT_ID slots[UL_MAX_READER_SLOTS]; /* provider slots of the card */
	CK_TOKEN_INFO tinfo[UL_MAX_READER_SLOTS];
	bool have_tinfo[UL_MAX_READER_SLOTS];
	size_t nslots;
	bool owned;
	CK_SESSION_HANDLE owner;
	bool challenge;     /* a challenge is outstanding */
	CK_ULONG view_slot; /* slot view index of slots[0] */
	uint64_t insertion; /* of the card held (slotview.h) */
	bool have_info;
	p11o_card_info info;
} ul_hold;

typedef struct unlock_layer {
	p11o_layer base;
	p11o_ops ops;
	p11o_ops idle; /* ops without what only goes down with no hold */
	p11o_mutex mu;
	p11o_mutex op_mu;
	/* Active holds: the per-call fast path.  Each one counts in the
	 * stack's `busy` too (p11o_stack_busy_enter before it grows,
	 * p11o_stack_busy_leave after it shrinks), so while it is 0 calls
	 * take the idle chain without the guard (docs/architecture.md §3). */
	atomic_int nholds;
	ul_hold holds[UL_MAX_HOLDS];
	p11o_sessions *sessions; /* the stack's (sessions.h) */
	p11o_slot_view *view;    /* the stack's (slotview.h) */
	bool timer;              /* the application lets us create threads */
	p11o_card_info scratch;  /* card info outside holds, under op_mu */
} unlock_layer;

#define UL(self) ((unlock_layer *)(self))

/* The provider slot of a session, checked as the provider would check it
 * (sessions.h); CKR_SESSION_HANDLE_INVALID. */
CK_RV ul_session_slot(unlock_layer *l, CK_SESSION_HANDLE s, CK_SLOT_ID *slot);

/* ---- card helpers (unlock_card.c) ---- */
enum ul_kind { UL_CARD, UL_SOFT, UL_OTHER };
/* What a provider slot is (the slot view's facts): a card in a PC/SC
 * reader (reader filled), a soft token (no hardware slot, no reader) or
 * neither.  A slot the view does not know gets the provider's error
 * (CKR_SLOT_ID_INVALID, ...). */
CK_RV ul_slot_kind(unlock_layer *l, CK_SLOT_ID slot, enum ul_kind *kind,
		   char *reader, size_t readersz);
/* Provider slots of the same card as `slot`, provider order. */
size_t ul_reader_slots(unlock_layer *l, CK_SLOT_ID slot, CK_SLOT_ID *out,
		       size_t max);
/* The user PIN of virtual token `slot` (the slot view's mapping,
 * p11o_slot_pin), given its provider label; NULL if none. */
const p11o_card_pin *ul_pick_pin(unlock_layer *l, CK_SLOT_ID slot,
				 const p11o_card_info *info,
				 const CK_UTF8CHAR label[32]);
/* The provider's label of a token (blanks when it cannot tell). */
void ul_token_label(unlock_layer *l, CK_SLOT_ID slot, CK_UTF8CHAR label[32]);
/* The same and the token's 16-byte serial (serial may be NULL); false
 * when the provider cannot tell. */
bool ul_token_label_serial(unlock_layer *l, CK_SLOT_ID slot,
			   CK_UTF8CHAR label[32], unsigned char *serial);
/* RESET RETRY COUNTER's P2 for that PIN (the card family's rule, e.g.
 * OpenPGP's PW1 is 81 whichever reference its slot verifies with). */
unsigned char ul_unblock_ref(const p11o_card_info *info,
			     const p11o_card_pin *pin);
/* The card's PIN states are read again (shared card cache, the slots
 * layer's token flags) after an unblock. */
void ul_forget_pin_states(unlock_layer *l, CK_SLOT_ID slot);
/* Length check against what the card says (0 = unknown). */
bool ul_len_ok(const p11o_card_pin *pin, CK_ULONG len);

/* ---- holds (unlock_hold.c) ---- */
/* Per-call guard: UL_HELD_RV when the slot's / session's card is held. */
CK_RV ul_guard_slot(unlock_layer *l, CK_SLOT_ID slot);
CK_RV ul_guard_session(unlock_layer *l, CK_SESSION_HANDLE s);
/* Under op_mu: the active hold containing a provider slot, or NULL. */
ul_hold *ul_hold_for_slot(unlock_layer *l, CK_SLOT_ID slot);
/* Under op_mu: end a hold / every hold / those of a slot's card. */
void ul_hold_release(unlock_layer *l, ul_hold *h);
void ul_hold_release_all(unlock_layer *l);
void ul_hold_release_slot(unlock_layer *l, CK_SLOT_ID slot);
/* C_GetTokenInfo while held: true and *rv (CKR_OK with the snapshot taken
 * when the hold began, or UL_HELD_RV without one); false when not held. */
bool ul_hold_token_info(unlock_layer *l, CK_SLOT_ID slot, CK_TOKEN_INFO *out,
			CK_RV *rv);

CK_RV ul_C_LockToken(p11o_layer *self, CK_SLOT_ID slotID, CK_ULONG timeout);
CK_RV ul_C_GetUnlockChallenge(p11o_layer *self, CK_SESSION_HANDLE hSession,
			      CK_BYTE_PTR pChallenge,
			      CK_ULONG_PTR pulChallengeLen);
CK_RV ul_C_UnlockPINWithResponse(p11o_layer *self, CK_SESSION_HANDLE hSession,
				 CK_BYTE_PTR pResponse, CK_ULONG ulResponseLen,
				 CK_UTF8CHAR_PTR pNewPin, CK_ULONG ulNewPinLen);

/* ---- PUK, init, reset (unlock_card.c, unlock_init.c) ---- */
CK_RV ul_C_UnlockPIN(p11o_layer *self, CK_SESSION_HANDLE hSession,
		     CK_UTF8CHAR_PTR pPuk, CK_ULONG ulPukLen,
		     CK_UTF8CHAR_PTR pNewPin, CK_ULONG ulNewPinLen);
CK_RV ul_C_InitToken(p11o_layer *self, CK_SLOT_ID slotID, CK_UTF8CHAR_PTR pPin,
		     CK_ULONG ulPinLen, CK_UTF8CHAR_PTR pLabel);
CK_RV ul_C_ResetToken(p11o_layer *self, CK_SLOT_ID slotID, CK_UTF8CHAR_PTR pPin,
		      CK_ULONG ulPinLen);

#endif
