/* Card access (docs/architecture.md §8): PC/SC channel, card profiles, APDU
 * operations.  Used by the slots layer (PIN state, PIN names), the objects
 * addon (full serial, full label, ATR, update count) and the unlock addon
 * (PUK and challenge-response APDUs).
 *
 * Threads.  A p11o_card is one reader with its own pcsc-lite context
 * (SCardEstablishContext per handle, never shared with another handle).
 * Every operation on a handle holds the handle's own pthread mutex for the
 * whole APDU batch, so one context is only ever used by one thread at a
 * time; different handles (even on the same reader) work in parallel and
 * are serialized by pcscd's transactions.  The mutex is internal: it is
 * never held while calling the application, so it needs no
 * CK_C_INITIALIZE_ARGS callbacks.
 *
 * Card state.  Every batch is SCardConnect(SHARED, T0|T1) +
 * SCardBeginTransaction ... SCardEndTransaction(SCARD_LEAVE_CARD) +
 * SCardDisconnect(SCARD_LEAVE_CARD): never a reset, the security state
 * (verified PINs) is shared with the provider.  Reading a card changes
 * the card's currently selected file (SELECT by path below the MF); the
 * PKCS#15 reader never selects another application by AID unless the
 * PKCS#15 application is missing.
 *
 * Errors are CK_RVs: card gone during an operation (SCARD_W_REMOVED_CARD)
 * -> CKR_DEVICE_REMOVED; no card at connect (SCARD_E_NO_SMARTCARD) ->
 * CKR_TOKEN_NOT_PRESENT; reader gone -> CKR_DEVICE_REMOVED; use
 * p11o_card_rv_removed() to test for "the card is not there".  Other PC/SC
 * failures -> CKR_DEVICE_ERROR; unexpected status words ->
 * CKR_FUNCTION_FAILED (or the mapping of p11o_card_sw_to_rv).
 *
 * Secrets (PIN, PUK, response) are read from the caller's buffers only and
 * copied into a local APDU buffer that is wiped (explicit_bzero) after
 * use. */
#ifndef P11O_CARD_H
#define P11O_CARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "functions.h"

#define P11O_CARD_MAX_ATR 33
#define P11O_CARD_MAX_PINS 8
#define P11O_CARD_MAX_SERIAL 64
#define P11O_CARD_STR 256
#define P11O_CARD_MAX_READER 256
#define P11O_CARD_REF_NONE (-1)

/* PKCS#15 PinFlags bits (bit i of the BIT STRING -> 1u << i). */
#define P11O_P15_PIN_CASE_SENSITIVE (1u << 0)
#define P11O_P15_PIN_LOCAL (1u << 1)
#define P11O_P15_PIN_CHANGE_DISABLED (1u << 2)
#define P11O_P15_PIN_UNBLOCK_DISABLED (1u << 3)
#define P11O_P15_PIN_INITIALIZED (1u << 4)
#define P11O_P15_PIN_NEEDS_PADDING (1u << 5)
#define P11O_P15_PIN_UNBLOCKING (1u << 6)
#define P11O_P15_PIN_SO (1u << 7)

/* PKCS#15 PinType. */
enum p11o_pin_type {
	P11O_PIN_TYPE_UNKNOWN = -1,
	P11O_PIN_TYPE_BCD = 0,
	P11O_PIN_TYPE_ASCII_NUMERIC = 1,
	P11O_PIN_TYPE_UTF8 = 2,
	P11O_PIN_TYPE_HALF_NIBBLE_BCD = 3,
	P11O_PIN_TYPE_ISO9564_1 = 4,
};

/* A PIN (user PIN, PUK or SO PIN) as the card describes it. */
typedef struct p11o_card_pin {
	char name[P11O_CARD_STR]; /* AODF label, profile or config name */
	unsigned char ref;        /* VERIFY P2 */
	unsigned char auth_id[16], parent_id[16]; /* parent = unblocking PIN */
	size_t auth_id_len, parent_id_len;
	uint32_t flags;    /* P11O_P15_PIN_* */
	int type;          /* enum p11o_pin_type */
	size_t min_len;    /* 0 = unknown */
	size_t max_len;    /* 0 = unknown */
	size_t stored_len; /* 0 = unknown; NEEDS_PADDING pads to this */
	int pad_char;      /* -1 = none given (OpenSC then pads with 00) */
	int status_index;  /* -1: VERIFY without data; else the index of its
			      tries-left byte in GET DATA C4 (OpenPGP) */
} p11o_card_pin;

/* How OpenSC 0.23's driver for a card family handles its PINs, as data
 * (one entry per family, card_family.c).  A family nobody here tried
 * needs an entry, not code. */
typedef struct p11o_card_family_pin {
	const char *name; /* OpenSC's PIN label: the token label's suffix */
	unsigned char ref;
	int type; /* enum p11o_pin_type */
	size_t min_len, max_len;
	size_t stored_len; /* with pad: padded to this */
	int pad_char;      /* -1 = none */
	bool pad;          /* sets P11O_P15_PIN_NEEDS_PADDING */
	int status_index;  /* see p11o_card_pin */
} p11o_card_family_pin;

typedef struct p11o_card_family {
	const char *profile;     /* info->profile */
	const char *application; /* the ATR object's application */
	const uint8_t *aid;      /* application OpenSC selects (NULL: paths) */
	size_t aid_len;
	/* User PINs in the order OpenSC makes their slots; for PKCS#15 they
	 * come from the AODF instead (npins 0). */
	p11o_card_family_pin pins[3];
	size_t npins;
	p11o_card_family_pin so, puk; /* name NULL = none */
	bool puk_is_rc;               /* OpenPGP resetting code (no VERIFY) */
	/* RESET RETRY COUNTER with the PUK: P2 for every user PIN (-1 = the
	 * PIN's own reference); P1 is 00 with PUK || new PIN. */
	int unblock_ref;
} p11o_card_family;

/* The built-in family of a profile name ("pkcs15", "openpgp", "piv"), or
 * NULL. */
const p11o_card_family *p11o_card_family_by_profile(const char *profile);
/* A family PIN as a p11o_card_pin (flags, encoding, lengths). */
void p11o_card_family_pin_fill(const p11o_card_family_pin *fp,
			       p11o_card_pin *out);

/* What a card says about itself, read once by p11o_card_read_info(). */
typedef struct p11o_card_info {
	unsigned char atr[P11O_CARD_MAX_ATR];
	size_t atr_len;
	char profile[P11O_CARD_STR]; /* "pkcs15", "openpgp", "piv", [card] */
	char application[P11O_CARD_STR]; /* "PKCS #15", "OpenPGP", config */
	const p11o_card_family *family;  /* NULL: config-only profile */
	int unblock_ref; /* RESET RETRY COUNTER P2, -1 = the PIN's own ref */
	unsigned char serial[P11O_CARD_MAX_SERIAL]; /* raw serial bytes */
	size_t serial_len;
	char serial_str[2 * P11O_CARD_MAX_SERIAL + 1]; /* full serial text */
	char label[P11O_CARD_STR];                     /* full label */
	char manufacturer[P11O_CARD_STR];
	p11o_card_pin pins[P11O_CARD_MAX_PINS]; /* user PINs, card order */
	size_t pin_count;
	/* PKCS#15: the PUK of each user PIN (its AODF parent), -1 = none;
	 * see p11o_card_puk_for(). */
	bool puk_per_pin;
	int puk_of[P11O_CARD_MAX_PINS]; /* index into puks */
	p11o_card_pin puks[P11O_CARD_MAX_PINS];
	size_t puk_count;
	p11o_card_pin puk;  /* valid when puk_ref != P11O_CARD_REF_NONE */
	int puk_ref;        /* ref, or P11O_CARD_REF_NONE */
	bool puk_is_rc;     /* OpenPGP resetting code: puk_ref 0, no VERIFY;
			       unblock with p11o_card_unblock_puk(0x81) */
	p11o_card_pin so;   /* valid when so_ref != P11O_CARD_REF_NONE */
	int so_ref;         /* PKCS#15 soPin, OpenPGP PW3 (0x83) */
	int unlock_key_ref; /* EXTERNAL AUTHENTICATE key, or NONE */
	/* Update counter seed: bytes that change when the token's content
	 * changes and are equal otherwise.
	 *  PKCS#15: 'L' || the lastUpdate value of TokenInfo (its encoded
	 *    GeneralizedTime) when TokenInfo has one; otherwise 'H' ||
	 *    SHA-256(TokenInfo || ODF || every file the ODF lists by path, in
	 *    ODF order: PrKDF, PuKDF, CDF, DODF, AODF, ...).  Each file is
	 *    hashed as 4-byte big-endian length || content.
	 *  OpenPGP: 'H' || SHA-256(GET DATA 6E || GET DATA 65), each with its
	 *    length (application data incl. fingerprints, cardholder data).
	 *  Other profiles: 'H' || SHA-256(ATR || serial || label). */
	unsigned char update_seed[33];
	size_t update_seed_len;
} p11o_card_info;

/* ---- pure helpers (no PC/SC; unit-tested and fuzzed) ---- */

/* Does a PKCS#11 slot description (fixed field, space padded, maybe not
 * NUL-terminated) name this PC/SC reader?  Compares the trimmed texts; a
 * description ending in "..." (OpenSC cut a long name) matches every
 * reader name starting with the text before the dots. */
bool p11o_card_reader_matches(const unsigned char *desc, size_t desc_len,
			      const char *reader);

/* ATR matches a profile (profile atr_len 0 = any ATR). */
bool p11o_card_atr_matches(const p11o_card_profile *prof,
			   const unsigned char *atr, size_t atr_len);

/* Status word to CK_RV for PIN operations: 9000 CKR_OK; 63Cx
 * CKR_PIN_INCORRECT and *tries = x; 6300 CKR_PIN_INCORRECT (for EXTERNAL
 * AUTHENTICATE a wrong response); 6983 CKR_PIN_LOCKED; 6700/6A80
 * CKR_PIN_LEN_RANGE; 6982 (security status not satisfied) and 6985
 * (conditions of use not satisfied, e.g. no challenge) ->
 * CKR_FUNCTION_FAILED; 6A88/6A86/6A82 CKR_FUNCTION_NOT_SUPPORTED; others
 * CKR_DEVICE_ERROR.  *tries (may be NULL) = -1 when not told. */
CK_RV p11o_card_sw_to_rv(uint16_t sw, int *tries);

/* PIN status from the status word of VERIFY without data. */
enum p11o_pin_state {
	P11O_PIN_STATE_ERROR = -1,
	P11O_PIN_VERIFIED = 0,      /* 9000 */
	P11O_PIN_NOT_VERIFIED = 1,  /* 63Cx: x tries left (x may be 0) */
	P11O_PIN_BLOCKED = 2,       /* 6983 (or 63C0) */
	P11O_PIN_NOT_SUPPORTED = 3, /* 6A88, 6A86, 6D00, 6E00, 6A82 */
};
enum p11o_pin_state p11o_card_pin_state_from_sw(uint16_t sw, int *tries);

/* Set Le of a short APDU (for 6Cxx): writes the APDU with Le = le into
 * out (size >= len + 1); returns the new length or 0 (not a short APDU). */
size_t p11o_card_apdu_set_le(const uint8_t *apdu, size_t len, uint8_t le,
			     uint8_t *out, size_t outsz);

/* Encode a PIN for VERIFY/RESET RETRY COUNTER exactly as OpenSC 0.23's
 * sc_build_pin does with the PIN's AODF entry: ASCII / UTF-8 are copied,
 * BCD packs digits (odd length: padChar's low nibble); only with
 * NEEDS_PADDING is the result padded with padChar (default 00) to
 * stored_len (BCD: stored_len / 2 bytes).  pin may be
 * NULL (then no pin info: copied as is).  Returns the encoded length, or
 * 0 when it does not fit in outsz or the value is invalid for the type. */
size_t p11o_card_encode_pin(const p11o_card_pin *pin, const uint8_t *value,
			    size_t len, uint8_t *out, size_t outsz);

/* PKCS#15 TokenInfo. */
typedef struct p11o_p15_tokeninfo {
	unsigned long version;
	unsigned char serial[P11O_CARD_MAX_SERIAL];
	size_t serial_len;
	char serial_hex[2 * P11O_CARD_MAX_SERIAL + 1]; /* lowercase, OpenSC */
	char manufacturer[P11O_CARD_STR];
	char label[P11O_CARD_STR];
	uint32_t token_flags;
	unsigned char last_update[32]; /* encoded lastUpdate value */
	size_t last_update_len;        /* 0 = absent */
} p11o_p15_tokeninfo;
int p11o_p15_parse_tokeninfo(const uint8_t *buf, size_t len,
			     p11o_p15_tokeninfo *out);

/* AODF: PIN objects (other authentication objects are skipped); trailing
 * 00/FF padding of the file is ignored.  0 or -1 (malformed); *count
 * stops at max. */
int p11o_p15_parse_aodf(const uint8_t *buf, size_t len, p11o_card_pin *pins,
			size_t max, size_t *count);

/* Index of the PUK among pins: the entry flagged unblockingPin (not SO)
 * whose authId is the parent of a user PIN; failing that the only
 * unblockingPin entry; -1 when none. */
int p11o_p15_find_puk(const p11o_card_pin *pins, size_t count);

/* EF.DIR application templates (61 { 4F aid, 50 label, 51 path }). */
typedef struct p11o_card_app {
	unsigned char aid[16];
	size_t aid_len;
	char label[P11O_CARD_STR];
	unsigned char path[16];
	size_t path_len;
} p11o_card_app;
int p11o_p15_parse_efdir(const uint8_t *buf, size_t len, p11o_card_app *apps,
			 size_t max, size_t *count);

/* ODF: entries [n] { Path } -> type n and path bytes. */
typedef struct p11o_p15_odf_entry {
	unsigned type; /* 0 PrKDF, 1 PuKDF, 2 trusted PuKDF, 3 SKDF, 4 CDF,
			  5 trusted CDF, 6 useful CDF, 7 DODF, 8 AODF */
	unsigned char path[16];
	size_t path_len;
} p11o_p15_odf_entry;
int p11o_p15_parse_odf(const uint8_t *buf, size_t len,
		       p11o_p15_odf_entry *entries, size_t max, size_t *count);

/* CDF: the file paths of the certificates (X.509 entries given by path;
 * type 4 each).  0 or -1 (malformed); *count stops at max. */
int p11o_p15_parse_cdf_paths(const uint8_t *buf, size_t len,
			     p11o_p15_odf_entry *paths, size_t max,
			     size_t *count);

/* OpenPGP AID (D2 76 00 01 24 01 ver(2) manufacturer(2) serial(4) rfu(2)):
 * serial_hex = uppercase hex of bytes 10..13 (as OpenSC shows it). */
typedef struct p11o_openpgp_aid {
	unsigned version, manufacturer;
	unsigned char serial[4];
	char serial_hex[9];
} p11o_openpgp_aid;
int p11o_openpgp_parse_aid(const uint8_t *buf, size_t len,
			   p11o_openpgp_aid *out);
/* PW status bytes (GET DATA C4, 7 bytes): tries left of PW1, RC, PW3. */
int p11o_openpgp_parse_pw_status(const uint8_t *buf, size_t len, int tries[3],
				 size_t max_len[3]);

/* The user PIN (index into info->pins) a provider token stands for, from
 * its 32-byte label and its position `index` among the provider slots of
 * the reader (pinmap.c): the PIN whose " (<name>)" suffix is the longest
 * match, else the PIN whose name (cut to 32) is the label, the slot's
 * position deciding ties; else the position itself; -1 when the card has
 * no PIN there.  *suffix_len (may be NULL): bytes of the matched suffix
 * (0 when the label is not "<token name> (<PIN name>)"). */
int p11o_card_pin_for_label(const p11o_card_info *info,
			    const unsigned char label[32], unsigned index,
			    size_t *suffix_len);
/* The PUK that unblocks user PIN `pin` (an element of info->pins): its
 * own AODF parent on PKCS#15 cards (NULL when it has none), else the
 * card's PUK or resetting code (NULL when none). */
const p11o_card_pin *p11o_card_puk_for(const p11o_card_info *info,
				       const p11o_card_pin *pin);
/* Bytes of label's " (<name>)" suffix (trailing blanks not counted), 0
 * when the label does not end so. */
size_t p11o_card_pin_suffix(const unsigned char label[32], const char *name);
/* The label of the virtual token of PIN k ([slots] label-format, token
 * name, the PIN's name when the card has two or more), distinct from the
 * labels of the card's other PINs. */
void p11o_card_token_label(const p11o_card_info *info, int k,
			   const char *format, const char *token_name,
			   unsigned char out[32]);

/* ---- PC/SC ---- */

typedef struct p11o_card p11o_card;

/* Find the reader named by a slot description: 0-terminated name in
 * reader (size readersz), CKR_OK; CKR_SLOT_ID_INVALID when no reader
 * matches; CKR_DEVICE_ERROR when PC/SC fails.  1 SCardListReaders. */
CK_RV p11o_card_reader_for_slot(const unsigned char *desc, size_t desc_len,
				char *reader, size_t readersz);

/* Open/close a handle on a reader (SCardEstablishContext; no APDU). */
CK_RV p11o_card_open(const char *reader, p11o_card **out);
void p11o_card_close(p11o_card *card); /* releases a held lock */
bool p11o_card_rv_removed(CK_RV rv);

/* ATR with SCardStatus (connect, status, disconnect; no APDU). */
CK_RV p11o_card_atr(p11o_card *card, unsigned char *atr, size_t *atr_len);

/* Raw APDU batch: begin = connect + transaction (or join the held lock),
 * transmit follows 61xx (GET RESPONSE) and 6Cxx (re-send with Le), end =
 * end transaction + disconnect, LEAVE_CARD.  *resp_len excludes SW. */
CK_RV p11o_card_begin(p11o_card *card);
CK_RV p11o_card_transmit(p11o_card *card, const uint8_t *apdu, size_t len,
			 uint8_t *resp, size_t respsz, size_t *resp_len,
			 uint16_t *sw);
void p11o_card_end(p11o_card *card);

/* Exclusive hold (C_LockToken): connect + begin transaction and keep them
 * until p11o_card_unlock(), p11o_card_close(), card removal or the
 * deadline (timeout_seconds from now).  While held, every operation on
 * this handle runs inside the held transaction; other handles and other
 * processes wait in SCardBeginTransaction.  A watcher thread ends the hold
 * at the deadline (the unlock addon must not lock when the application
 * said CKF_LIBRARY_CANT_CREATE_OS_THREADS: pass timer = false, then the
 * deadline is only checked on each call on this handle).  timeout 0 =
 * p11o_card_unlock().  Locking again extends the deadline.
 * Other processes wait in SCardBeginTransaction.
 * After p11o_card_hold_fails_others(card), the holds of that handle also
 * make the other handles of this process on the same reader fail at once
 * instead of waiting (the holder's thread may be waiting for them, and
 * nothing but the deadline would end that): until the hold ends or its
 * deadline passes, their begin (every operation, p11o_card_atr,
 * p11o_card_lock) returns CKR_FUNCTION_FAILED.  The unlock addon's holds
 * do this, so the card cache (slots, objects) never waits for them. */
CK_RV p11o_card_lock(p11o_card *card, unsigned long timeout_seconds,
		     bool timer);
void p11o_card_unlock(p11o_card *card);
void p11o_card_hold_fails_others(p11o_card *card);
bool p11o_card_is_locked(p11o_card *card);

/* ---- profiles ---- */

/* Read the card once: ATR, profile (config profiles matched by ATR first,
 * then built-in PKCS#15 by EF.DIR/DF 5015, then OpenPGP by AID), serial,
 * label, PINs, PUK, unlock key, update seed.  A config profile overrides
 * application name, PIN names/refs, PUK ref, unlock key ref and PIN
 * lengths of what the built-in profile read.  cfg may be NULL.
 * CKR_TOKEN_NOT_RECOGNIZED when no profile applies.
 * Cost: SCardStatus (no APDU), then one transaction.  PKCS#15: per file
 * 1 SELECT (by path, P1 08) + ceil((size + 1) / 256) READ BINARY; files:
 * EF.DIR, ODF, TokenInfo and each file the ODF lists (the virtual card:
 * 6 files, 12 APDUs).  OpenPGP: the 2 failed PKCS#15 SELECTs + SELECT AID
 * + GET DATA 4F, C4, 6E, 65 (7 APDUs).  Cache the result per card
 * insertion; compare update_seed to see content changes. */
CK_RV p11o_card_read_info(p11o_card *card, const p11o_config *cfg,
			  p11o_card_info *info);
/* The same, for the application whose serial ends in the provider's
 * 16-byte token serial (NULL: the first application found); a card with
 * several applications (PIV and OpenPGP) is then read as the provider
 * serves it, and left with that application selected. */
/* Does the provider's 16-byte token serial end the card's serial? */
bool p11o_card_serial_matches(const p11o_card_info *info,
			      const unsigned char *token_serial);
CK_RV p11o_card_read_info_for(p11o_card *card, const p11o_config *cfg,
			      const unsigned char *token_serial,
			      p11o_card_info *info);

/* ---- APDU operations (each one transaction, or inside the held lock) */

/* VERIFY without data (00 20 00 ref): 1 APDU. */
CK_RV p11o_card_pin_status(p11o_card *card, unsigned char ref,
			   enum p11o_pin_state *state, int *tries);
/* The PIN's state the way its family reads it: VERIFY without data, or
 * (status_index >= 0) its tries-left byte of GET DATA C4: 1 APDU. */
CK_RV p11o_card_pin_status_of(p11o_card *card, const p11o_card_pin *pin,
			      enum p11o_pin_state *state, int *tries);
/* VERIFY with data (00 20 00 ref PIN), encoded per pin (may be NULL):
 * 1 APDU.  63Cx -> CKR_PIN_INCORRECT, *tries = x. */
CK_RV p11o_card_verify(p11o_card *card, const p11o_card_pin *pin,
		       unsigned char ref, const uint8_t *value, size_t len,
		       int *tries);
/* RESET RETRY COUNTER with PUK (00 2C 00 pin_ref PUK||newPIN), each
 * encoded per puk / pin (may be NULL): 1 APDU.  *tries: PUK tries left on
 * 63Cx. */
CK_RV p11o_card_unblock_puk(p11o_card *card, const p11o_card_pin *pin,
			    unsigned char pin_ref, const p11o_card_pin *puk,
			    const uint8_t *puk_value, size_t puk_len,
			    const uint8_t *new_pin, size_t new_len, int *tries);
/* GET CHALLENGE (00 84 00 00 08): 1 APDU; *len in: size, out: 8. */
CK_RV p11o_card_get_challenge(p11o_card *card, uint8_t *challenge, size_t *len);
/* EXTERNAL AUTHENTICATE (00 82 00 key_ref response): 1 APDU.  6300 or
 * 6982 -> CKR_PIN_INCORRECT (wrong response), 6985 -> CKR_FUNCTION_FAILED
 * (no challenge), 6700 -> CKR_ARGUMENTS_BAD (response length). */
CK_RV p11o_card_external_authenticate(p11o_card *card, unsigned char key_ref,
				      const uint8_t *response, size_t len);
/* RESET RETRY COUNTER after EXTERNAL AUTHENTICATE (00 2C 02 ref newPIN;
 * new_len 0 -> 00 2C 03 ref, counter only): 1 APDU. */
CK_RV p11o_card_reset_retry_counter(p11o_card *card, const p11o_card_pin *pin,
				    unsigned char ref, const uint8_t *new_pin,
				    size_t new_len);

#endif
