/* Token facts: what the synthetic objects show, per provider slot.
 *
 * Two sources.  Card tokens (the slot description names a PC/SC reader):
 * full serial, full label, ATR and application from the card profiles
 * (p11o_card_read_info) through the card cache the layers share
 * (proxy/cardcache.h), valid per card insertion; this layer detects a new
 * insertion by the reader's pcsc-lite event counter (SCardGetStatusChange,
 * an IPC to pcscd, no APDU) and then invalidates the shared entry.  A card
 * no profile knows: CK_TOKEN_INFO values and the ATR by SCardStatus.
 * Other tokens: trimmed serialNumber and label of CK_TOKEN_INFO, no ATR,
 * cached until the next C_OpenSession or C_Reinitialize on the slot.
 *
 * UpdateCount (OB_UPDATE_LEN bytes, computed only when its CKA_VALUE is
 * read or matched):
 *   card: SHA-256("p11overlay card" || update seed), the seed read afresh
 *     from the card (card.h: PKCS#15 lastUpdate or a digest of TokenInfo,
 *     ODF and every file the ODF lists; OpenPGP: digest of DOs 6E, 65);
 *   other: SHA-256("p11overlay soft" || CK_TOKEN_INFO fields that describe
 *     content (label, manufacturer, model, serial, flags, PIN lengths,
 *     versions; not session counts, memory or time) || the sorted SHA-256
 *     digests of every token object visible without login (CKA_TOKEN true,
 *     CKA_PRIVATE false), each over the type, length and value of CKA_CLASS,
 *     CKA_ID, CKA_LABEL, CKA_APPLICATION, CKA_OBJECT_ID, CKA_VALUE and
 *     a few more public attributes; unreadable ones by their error length).
 *   So it changes when such an object is created, destroyed or modified, or
 *   the token info changes, by this process or another, and is equal
 *   otherwise (login state, sessions and the reading itself do not count).
 */
#ifndef P11O_OBJECTS_FACTS_H
#define P11O_OBJECTS_FACTS_H

#include "layer.h"
#include "objects_int.h"
#include "sessions.h"
#include "tables.h"

#define OB_MAX_TOKENS 128
#define OB_MAX_READERS 16
#define OB_NO_INSERTION UINT64_MAX

typedef struct ob_facts {
	unsigned char serial[OB_MAX_VALUE];
	size_t serial_len;
	unsigned char label[OB_MAX_VALUE];
	size_t label_len;
	unsigned char atr[33];
	size_t atr_len;
	char atr_app[OB_MAX_VALUE];
	bool has_atr; /* a card token: the ATR object exists */
} ob_facts;

struct ob_reader;

/* The addon's space in a session record (sessions.h): its part of a find
 * operation, one word: the session it belongs to (OB_FIND_SESSION bits;
 * 0: none), the synthetic objects still to return (a bit per ob_kind)
 * and their token's index.  A session may end while another thread is
 * inside a call with it and its record then serve a new session, so the
 * word is only ever changed by compare-and-swap from a value of the
 * caller's own session (ops.c), and the registry hook clears it. */
typedef struct ob_session {
	atomic_ullong find;
} ob_session;
#define OB_FIND_SESSION 0xFFFFFFFFull /* handles are below 2^31 */
#define OB_FIND_PENDING(w) ((unsigned)((w) >> 32) & 0xFFu)
#define OB_FIND_TOKEN(w) ((unsigned)((w) >> 40))
#define OB_FIND(hs, pending, token)                                            \
	((unsigned long long)(hs) | (unsigned long long)(pending) << 32 |      \
	 (unsigned long long)(token) << 40)

enum ob_source { OB_SRC_UNKNOWN, OB_SRC_SOFT, OB_SRC_CARD };

typedef struct ob_token {
	CK_SLOT_ID pid;
	CK_ULONG slot; /* slot view index */
	unsigned idx;  /* in ob_layer.tokens: part of synthetic handles */
	p11o_mutex lock;
	_Atomic int source;       /* enum ob_source, set once */
	struct ob_reader *reader; /* OB_SRC_CARD */
	bool loaded;              /* facts valid (soft), under lock */
	unsigned long loaded_gen; /* `drops` when they were loaded */
	atomic_ulong drops;       /* ob_token_drop() calls */
	ob_facts facts;
} ob_token;

typedef struct ob_layer {
	p11o_layer base;
	p11o_ops ops;
	p11o_mutex lock; /* adding tokens and readers */
	ob_token *tokens[OB_MAX_TOKENS];
	atomic_size_t ntokens;
	struct ob_reader *readers[OB_MAX_READERS];
	size_t nreaders;
	p11o_sessions *sessions; /* the stack's */
	p11o_slot_view *view;    /* the stack's */
	size_t ext;              /* offset of ob_session in a record */
	ob_escapes escapes;
} ob_layer;

/* The token of a provider slot, its source known; NULL when the table is
 * full or out of memory. */
ob_token *ob_token_get(ob_layer *l, CK_SLOT_ID pid);
/* Copy of the facts, loading them when not cached. */
CK_RV ob_token_facts(ob_layer *l, ob_token *t, ob_facts *out);
CK_RV ob_token_update_count(ob_layer *l, ob_token *t,
			    unsigned char out[OB_UPDATE_LEN]);
/* Drop what is cached (C_Reinitialize; soft tokens: C_OpenSession). */
void ob_token_drop(ob_layer *l, ob_token *t);
/* The same for a soft token; no lock: this runs at every C_OpenSession
 * on the token. */
static inline void ob_token_drop_soft(ob_token *t)
{
	atomic_fetch_add(&t->drops, 1);
}
void ob_tokens_destroy(ob_layer *l);

/* ---- card source (facts_card.c) ---- */

/* A card slot (slot view index i): t->reader is set (shared per reader).
 * Called under l->lock; false when out of room or memory. */
bool ob_card_attach(ob_layer *l, ob_token *t, CK_ULONG i);
CK_RV ob_card_facts(ob_layer *l, ob_token *t, ob_facts *out);
CK_RV ob_card_update_count(ob_layer *l, ob_token *t,
			   unsigned char out[OB_UPDATE_LEN]);
void ob_card_drop(ob_layer *l, struct ob_reader *r);
void ob_card_reader_free(struct ob_reader *r);

/* ---- soft source (facts_soft.c) ---- */
CK_RV ob_soft_facts(ob_layer *l, CK_SLOT_ID pid, ob_facts *out);
CK_RV ob_soft_update_count(ob_layer *l, CK_SLOT_ID pid,
			   unsigned char out[OB_UPDATE_LEN]);

#endif
