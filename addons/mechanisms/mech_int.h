/* Internals of the mechanisms addon.
 *
 * Below the slots layer: slot IDs are the provider's; sessions are the
 * stack's records (sessions.h), in which this layer has its space
 * (mk_session): one operation state per function class.
 *
 * An operation with a mechanism this layer knows (mk_def) is routed once,
 * at its Init: to the token as it is (the record stays inactive and every
 * later call goes straight down), or completed here:
 *  - private-key functions (sign, decrypt) over a base mechanism the token
 *    or a registered engine has: CKM_RSA_PKCS (DigestInfo), CKM_RSA_X_509
 *    (PKCS#1 v1.5, EMSA-PSS or EME-OAEP done here), CKM_ECDSA (hash);
 *  - public-key functions (verify, encrypt) in software from the key
 *    object's public attributes;
 *  - digests in software or by an engine. */
#ifndef P11O_MECH_INT_H
#define P11O_MECH_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "layer.h"
#include "mutex.h"
#include "stack.h"

enum mk_kind {
	MK_DIGEST,     /* CKM_SHA256 */
	MK_RSA_PKCS,   /* CKM_RSA_PKCS */
	MK_RSA_X509,   /* CKM_RSA_X_509 */
	MK_RSA_HASH,   /* CKM_SHA256_RSA_PKCS */
	MK_PSS,        /* CKM_RSA_PKCS_PSS */
	MK_PSS_HASH,   /* CKM_SHA256_RSA_PKCS_PSS */
	MK_OAEP,       /* CKM_RSA_PKCS_OAEP */
	MK_ECDSA,      /* CKM_ECDSA */
	MK_ECDSA_HASH, /* CKM_ECDSA_SHA256 */
};

typedef struct mk_def {
	CK_MECHANISM_TYPE type;
	enum mk_kind kind;
	CK_MECHANISM_TYPE hash; /* digest of MK_DIGEST and the *_HASH kinds */
} mk_def;

extern const mk_def mk_defs[];
extern const size_t mk_ndefs;
const mk_def *mk_def_find(CK_MECHANISM_TYPE type);
const EVP_MD *mk_md(CK_MECHANISM_TYPE hash);
/* Digest mechanism of a CKG_MGF1_* value, 0 if unknown. */
CK_MECHANISM_TYPE mk_mgf_hash(CK_ULONG mgf);
bool mk_is_ec(const mk_def *d);

/* Function classes, in the order of the session's operation states. */
enum mk_opk {
	OPK_SIGN,
	OPK_VERIFY,
	OPK_ENCRYPT,
	OPK_DECRYPT,
	OPK_DIGEST,
	OPK_N
};
CK_FLAGS mk_opk_flag(enum mk_opk k);

#define MK_MAX_K 1024 /* bytes: RSA up to 8192 bits */
#define MK_MAX_KEYREF 256

/* Where a completed private-key operation or digest gets done. */
typedef struct mk_base {
	CK_MECHANISM_TYPE mech; /* the token's or the engine's mechanism */
	bool engine;            /* eng below, else the token */
	bool soft;              /* OpenSSL (public-key functions, digests) */
	CK_ENGINE eng;
} mk_base;

typedef struct mk_op {
	bool active;
	CK_SESSION_HANDLE owner;  /* the session it was started in */
	atomic_long *live;        /* the layer's count of active operations */
	struct p11o_stack *stack; /* counts it as busy too (stack.h) */
	const mk_def *def;
	mk_base base;
	EVP_MD_CTX *md; /* made once, reused by every operation */
	void *est;      /* engine digest state */
	bool hashing;   /* md (or est) holds a running digest */
	bool prepared;  /* in[] holds the input of the base operation */
	bool have_out;  /* out[] holds the result (engine, soft decrypt) */
	const EVP_MD *hash, *mgf; /* PSS/OAEP */
	size_t salt;
	unsigned char *label;
	size_t label_len;
	EVP_PKEY *pkey;  /* public-key functions */
	size_t k, kbits; /* modulus bytes/bits, or 2 x EC field bytes */
	unsigned char keyref[MK_MAX_KEYREF];
	size_t keyref_len;
	unsigned char in[MK_MAX_K], out[MK_MAX_K];
	size_t in_len, out_len;
} mk_op;

/* The layer's space in a session record (sessions.h): one operation state
 * per function class, allocated the first time that class is completed
 * in a session and kept with the record (reused by its next sessions).
 *
 * A session may end while another thread is inside a call with it (a
 * C_CloseAllSessions, a card pulled: CKR_DEVICE_REMOVED on any session of
 * the slot), and its record may then serve a new session at once.  So the
 * operation states are only touched under `mu` (mk_lock), which a call
 * holds from its lookup to its return, provider call included; an
 * operation belongs to the session that started it (mk_op.owner).  The
 * registry's hook never waits for `mu`: it sets `pending` and takes `mu`
 * only if free; whoever holds `mu` ends the operations of sessions that
 * are gone before letting it go (mk_unlock).  `mu` is zero-initialised
 * like the rest of the space (glibc's PTHREAD_MUTEX_INITIALIZER, checked
 * when the layer is made).
 *
 * The thread holding `mu` may call the application while it does: a
 * provider calls the session's Notify (CKN_SURRENDER) from inside the
 * call, or an application engine runs the operation, and the application
 * may call the module again on the same session.  That call cannot wait
 * for its own thread: `owner` names the holder, and mk_lock() answers
 * MK_REENTERED instead of waiting (the call then fails with
 * CKR_FUNCTION_FAILED, docs/architecture.md §3).
 * Nor may a call from inside such a callback wait for another thread's
 * record: that thread may be inside its own callback, waiting for ours
 * (two sessions, crossed).  So inside an application callback
 * (p11o_in_app_callback: Notify, engines) mk_lock() only tries, and
 * answers MK_REENTERED when the record is taken.  (That rule also covers
 * this thread's own record there; `owner` stays as the net for a
 * re-entry from anywhere else.) */
typedef struct mk_session {
	pthread_mutex_t mu;
	atomic_ulong owner;  /* (unsigned long)pthread_self() of mu's holder */
	atomic_bool pending; /* a session of the record ended */
	CK_SESSION_HANDLE h; /* the session; these four set by mk_session_of */
	CK_SLOT_ID slot;     /* the record's down_slot */
	CK_ULONG view_slot;  /* the record's slot (slot view index) */
	uint64_t insertion;  /* the record's card insertion */
	mk_op *op[OPK_N];
	bool has_ops; /* some op[] was allocated */
	/* The last Init that went to the token as it is (mechanism * OPK_N
	 * + class + 1; 0: none) and the route epoch it was decided in. */
	CK_ULONG pass_memo;
	unsigned long pass_gen;
} mk_session;

/* The token's answer for one mechanism (mech_facts.c); stamp 0: none. */
typedef struct mk_fact {
	atomic_ullong stamp;
	atomic_ulong flags, min, max;
} mk_fact;

#define MK_NFACTS 32 /* mk_defs and the two key-pair generators */
typedef struct mk_slot_facts {
	atomic_ulong changes; /* slot events and C_Reinitialize seen */
	mk_fact f[MK_NFACTS];
} mk_slot_facts;

#define MK_MAX_ENGINES 32
typedef struct mk_engine_entry {
	CK_MECHANISM_TYPE type;
	char name[64];
	CK_ENGINE e;
} mk_engine_entry;

typedef struct mk_layer {
	p11o_layer base;
	p11o_ops ops;
	p11o_ops full; /* the operation functions behind the fast ones */
	p11o_ops idle; /* ops without the fast ones (stack.h: idle chain) */
	const p11o_config *cfg;
	p11o_sessions *sessions; /* the stack's */
	size_t ext;              /* offset of mk_session in a record */
	/* 0: no lookups on the per-call path.  Each active operation counts
	 * in the stack's `busy` too (enter before it starts, leave after it
	 * ends), so while none is, calls take the idle chain without the
	 * operation functions (docs/architecture.md §3). */
	atomic_long live_ops;
	p11o_mutex eng_lock;
	mk_engine_entry engines[MK_MAX_ENGINES];
	size_t neng;
	/* Per slot of the slot view, made on first use (mech_facts.c). */
	_Atomic(mk_slot_facts *) facts[P11O_MAX_SLOTS];
	/* Bumped when routes may change: C_RegisterEngine, and a slot's
	 * mechanism facts changing (after its `changes`). */
	atomic_ulong route_epoch;
	p11o_mutex facts_lock; /* filling facts */
} mk_layer;

#define MK(self) ((mk_layer *)(self))

/* ---- sessions (mech_sessions.c) ---- */
/* This layer's space in session h's record, or NULL (no such session).
 * Lock-free. */
mk_session *mk_session_of(struct mk_layer *l, CK_SESSION_HANDLE h);
/* Registry hook: a session is gone (its operations end). */
void mk_session_gone(void *ctx, p11o_session *rec, void *ext, bool last);
/* The session's state for class k, made on first use; NULL when out of
 * memory. */
mk_op *mk_op_get(mk_session *s, enum mk_opk k);
/* The active completed operation of class k of session h, or NULL.  With
 * h's record locked (mk_lock). */
struct mk_layer;
mk_op *mk_op_active(struct mk_layer *l, CK_SESSION_HANDLE h, enum mk_opk k);
/* Lock session h's record (see mk_session): NULL when h is no session
 * (nothing of this layer to protect then), MK_REENTERED when it cannot
 * wait for it (a call from inside the application's Notify or an engine:
 * this thread holds it already, or another thread does). */
mk_session *mk_lock(struct mk_layer *l, CK_SESSION_HANDLE h);
extern mk_session mk_reentered;
#define MK_REENTERED (&mk_reentered)
/* Unlock, after ending the operations of sessions that went meanwhile. */
void mk_unlock(struct mk_layer *l, mk_session *s);
/* End an operation: free what it holds, wipe its buffers. */
void mk_op_end(mk_op *op);
/* End an active operation of class k that this layer ends early: the
 * token's half too (mech_ops.c), then mk_op_end. */
void mk_abort(p11o_layer *self, CK_SESSION_HANDLE hs, mk_op *op, enum mk_opk k);

/* ---- engines (mech_engine.c) ---- */
/* Copy of the engine registered for `type` offering `fn`. */
bool mk_engine_get(mk_layer *l, CK_MECHANISM_TYPE type, CK_FLAGS fn,
		   CK_ENGINE *out);
CK_RV mk_C_RegisterEngine(p11o_layer *self, CK_MECHANISM_TYPE type,
			  const char *name, CK_ENGINE_PTR pEngine);
CK_RV mk_C_GenerateRandom(p11o_layer *self, CK_SESSION_HANDLE hSession,
			  CK_BYTE_PTR pRandom, CK_ULONG ulLen);
CK_RV mk_C_SeedRandom(p11o_layer *self, CK_SESSION_HANDLE hSession,
		      CK_BYTE_PTR pSeed, CK_ULONG ulSeedLen);

/* ---- per-slot mechanism facts (mech_facts.c) ---- */
/* The token's C_GetMechanismInfo answer for m on the session's slot (all
 * zero when it has none, or m is hidden); lock-free once known. */
void mk_facts_info(mk_layer *l, const mk_session *s, CK_MECHANISM_TYPE m,
		   CK_MECHANISM_INFO *info);
/* The token of (provider) slot may have changed: ask it again. */
void mk_facts_changed(mk_layer *l, CK_SLOT_ID slot);
void mk_facts_destroy(mk_layer *l);

/* ---- routing and mechanism lists (mech_list.c) ---- */
bool mk_listed(const p11o_mech_list *list, CK_MECHANISM_TYPE m);
enum mk_route { RT_PASS, RT_INVALID, RT_EMU };
/* How function fn (CKF_SIGN, ...) with mechanism m is done on the slot;
 * for RT_EMU *def and *base say how. */
enum mk_route mk_route(mk_layer *l, const mk_session *s, CK_MECHANISM_TYPE m,
		       CK_FLAGS fn, const mk_def **def, mk_base *base);
CK_RV mk_C_GetMechanismList(p11o_layer *self, CK_SLOT_ID slotID,
			    CK_MECHANISM_TYPE_PTR pList, CK_ULONG_PTR pulCount);
CK_RV mk_C_GetMechanismInfo(p11o_layer *self, CK_SLOT_ID slotID,
			    CK_MECHANISM_TYPE type,
			    CK_MECHANISM_INFO_PTR pInfo);

/* ---- keys (mech_key.c) ---- */
/* Check the key object for function fn of def (class, key type, CKA_SIGN
 * etc. not false) and fill op->k/kbits (and keyref when with_ref, pkey
 * when public).  CKR_KEY_HANDLE_INVALID etc. as a token answers. */
CK_RV mk_key_load(p11o_layer *self, CK_SESSION_HANDLE hs, CK_OBJECT_HANDLE key,
		  CK_FLAGS fn, mk_op *op);

/* ---- encodings (mech_pad.c) ---- */
/* DigestInfo of hash mechanism h over digest d into out (>= 19 + dlen). */
size_t mk_digest_info(CK_MECHANISM_TYPE h, const unsigned char *d, size_t dlen,
		      unsigned char *out);
/* EMSA-PKCS1-v1_5 type 1 block of k bytes around t. */
CK_RV mk_pad_pkcs1(const unsigned char *t, size_t tlen, size_t k,
		   unsigned char *em);
/* EMSA-PSS encoding of mhash for a modulus of kbits bits into em (k
 * bytes, leading zero byte included when kbits - 1 is a multiple of 8). */
CK_RV mk_pad_pss(const EVP_MD *md, const EVP_MD *mgf, size_t salt,
		 const unsigned char *mhash, size_t hlen, size_t kbits,
		 unsigned char *em);
/* EME-OAEP decoding of the k-byte block em; message to out/outlen. */
CK_RV mk_unpad_oaep(const EVP_MD *md, const EVP_MD *mgf,
		    const unsigned char *label, size_t label_len,
		    const unsigned char *em, size_t k, unsigned char *out,
		    size_t *outlen);
/* EME-PKCS1-v1_5 (type 2) decoding. */
CK_RV mk_unpad_pkcs1(const unsigned char *em, size_t k, unsigned char *out,
		     size_t *outlen);

/* ---- operations (mech_ops.c: private-key functions, digests;
 * mech_public.c: verify, encrypt) ---- */
/* Start the completed operation: parameters, key, base Init. */
CK_RV mk_start(p11o_layer *self, mk_session *s, enum mk_opk k,
	       const mk_def *def, const mk_base *base, CK_MECHANISM_PTR mech,
	       CK_OBJECT_HANDLE key);
CK_RV mk_hash_init(mk_op *op, const EVP_MD *md);
CK_RV mk_hash_update(mk_op *op, const unsigned char *p, size_t n);
CK_RV mk_hash_final(mk_op *op, unsigned char *out, size_t *len);
void mk_install_ops(p11o_ops *ops);
void mk_install_public_ops(p11o_ops *ops);
CK_RV mk_public_start(p11o_layer *self, CK_SESSION_HANDLE hs, mk_op *op,
		      CK_FLAGS fn, CK_OBJECT_HANDLE key);

#endif
