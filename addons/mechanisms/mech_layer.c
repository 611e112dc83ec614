/* The mechanisms layer (docs/architecture.md §3): routing at the operation's
 * Init, C_RegisterEngine.  With [mechanisms] enabled = no it overrides nothing
 * and resolution skips it. */
#include <stdlib.h>
#include <string.h>

#include "mech_int.h"
#include "mechanisms.h"

/* ---- sessions: the stack's records (mech_sessions.c) ------------------- */

/* PKCS#11 3.0: ends the operations named by flags. */
static CK_RV mk_C_SessionCancel(p11o_layer *self, CK_SESSION_HANDLE hs,
				CK_FLAGS flags)
{
	mk_session *s = mk_lock(MK(self), hs);
	if (s == MK_REENTERED)
		return CKR_FUNCTION_FAILED;
	CK_RV rv = P11O_DOWN(self, C_SessionCancel, hs, flags);

	for (int k = 0; s && k < OPK_N; k++) {
		mk_op *op = mk_op_active(MK(self), hs, k);
		if ((flags & mk_opk_flag(k)) && op) {
			if (rv == CKR_FUNCTION_NOT_SUPPORTED &&
			    (op->base.soft || op->base.engine))
				rv = CKR_OK;
			mk_op_end(op);
		}
	}
	mk_unlock(MK(self), s);
	return rv;
}

/* The proxy's own state cannot be saved. */
static CK_RV mk_C_GetOperationState(p11o_layer *self, CK_SESSION_HANDLE hs,
				    CK_BYTE_PTR p, CK_ULONG_PTR len)
{
	for (int k = 0; k < OPK_N; k++)
		if (mk_op_active(MK(self), hs, k))
			return CKR_STATE_UNSAVEABLE;
	return P11O_DOWN(self, C_GetOperationState, hs, p, len);
}

/* ---- token changes: the slot's mechanism facts go (mech_facts.c) ----- */

/* The slots layer's event watcher reads the provider's events through
 * here. */
static CK_RV mk_C_WaitForSlotEvent(p11o_layer *self, CK_FLAGS flags,
				   CK_SLOT_ID_PTR pSlot, CK_VOID_PTR pRes)
{
	CK_RV rv = P11O_DOWN(self, C_WaitForSlotEvent, flags, pSlot, pRes);

	if (rv == CKR_OK && pSlot)
		mk_facts_changed(MK(self), *pSlot);
	return rv;
}

static CK_RV mk_C_Reinitialize(p11o_layer *self, CK_SLOT_ID slot)
{
	mk_facts_changed(MK(self), slot);
	return P11O_DOWN(self, C_Reinitialize, slot);
}

/* ---- Init: routing ---------------------------------------------------- */

static CK_RV init_locked(p11o_layer *self, enum mk_opk k, CK_SESSION_HANDLE hs,
			 CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key,
			 bool *done);

/* RT_PASS: *done false, the caller goes down; else the answer.  Out of
 * line: the usual Init is decided by passes() below. */
__attribute__((noinline)) static CK_RV init(p11o_layer *self, enum mk_opk k,
					    CK_SESSION_HANDLE hs,
					    CK_MECHANISM_PTR mech,
					    CK_OBJECT_HANDLE key, bool *done)
{
	mk_layer *l = MK(self);

	*done = false;
	/* A mechanism this layer never completes costs no lookup. */
	if (mech && !mk_def_find(mech->mechanism) &&
	    !mk_listed(&l->cfg->mechanisms_hide, mech->mechanism) &&
	    atomic_load_explicit(&l->live_ops, memory_order_acquire) == 0)
		return CKR_OK;
	mk_session *locked = mk_lock(l, hs);
	if (!locked)
		return CKR_OK; /* no such session: the provider answers */
	if (locked == MK_REENTERED) {
		*done = true;
		return CKR_FUNCTION_FAILED;
	}
	CK_RV rv = init_locked(self, k, hs, mech, key, done);
	mk_unlock(l, locked);
	return rv;
}

/* Under the record's lock (mech_int.h, mk_session). */
static CK_RV init_locked(p11o_layer *self, enum mk_opk k, CK_SESSION_HANDLE hs,
			 CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key,
			 bool *done)
{
	mk_layer *l = MK(self);
	mk_session *s;
	const mk_def *def;
	mk_base base;

	s = mk_session_of(l, hs);
	/* An operation of a session that ended while its record was
	 * locked (mech_int.h): ended before the state is used again. */
	if (s && s->op[k] && s->op[k]->active && s->op[k]->owner != hs)
		mk_op_end(s->op[k]);
	*done = true;
	if (s && s->op[k] && s->op[k]->active) {
		if (mech)
			return CKR_OPERATION_ACTIVE;
		/* 3.0: Init with no mechanism ends the active operation */
		bool soft = s->op[k]->base.soft || s->op[k]->base.engine;
		mk_op_end(s->op[k]);
		*done = soft;
		return CKR_OK;
	}
	*done = false;
	if (!s || !mech)
		return CKR_OK;
	/* The session's last decision, while the slots' tokens and the
	 * engines are as they were (read before routing: a change while
	 * routing makes the memo stale). */
	CK_ULONG memo = mech->mechanism * OPK_N + k + 1;
	unsigned long gen =
	    atomic_load_explicit(&l->route_epoch, memory_order_acquire);
	if (s->pass_memo == memo && s->pass_gen == gen)
		return CKR_OK;
	switch (mk_route(l, s, mech->mechanism, mk_opk_flag(k), &def, &base)) {
	case RT_PASS:
		s->pass_memo = memo;
		s->pass_gen = gen;
		return CKR_OK;
	case RT_INVALID:
		*done = true;
		return CKR_MECHANISM_INVALID;
	case RT_EMU:
		break;
	}
	*done = true;
	return mk_start(self, s, k, def, &base, mech, key);
}

/* The per-call path of an Init: no operation completed here is active
 * anywhere (so none in this session), and the session's last Init went
 * to the token as it is with the same mechanism and class, with the
 * tokens and the engines as they were: one lookup and three compares. */
static inline bool passes(mk_layer *l, enum mk_opk k, CK_SESSION_HANDLE hs,
			  const CK_MECHANISM *mech)
{
	if (!mech ||
	    atomic_load_explicit(&l->live_ops, memory_order_acquire) != 0)
		return false;
	const p11o_session *rec = p11o_session_get(l->sessions, hs);
	if (!rec)
		return false;
	const mk_session *s = p11o_session_ext((p11o_session *)rec, l->ext);
	return s->pass_memo == mech->mechanism * OPK_N + k + 1 &&
	       s->pass_gen ==
		   atomic_load_explicit(&l->route_epoch, memory_order_acquire);
}

#define KEYED_INIT(fn, k)                                                      \
	__attribute__((noinline)) static CK_RV slow_##fn(                      \
	    p11o_layer *self, CK_SESSION_HANDLE hs, CK_MECHANISM_PTR mech,     \
	    CK_OBJECT_HANDLE key)                                              \
	{                                                                      \
		bool done;                                                     \
		CK_RV rv = init(self, k, hs, mech, key, &done);                \
		return done ? rv : P11O_DOWN(self, fn, hs, mech, key);         \
	}                                                                      \
	static CK_RV mk_##fn(p11o_layer *self, CK_SESSION_HANDLE hs,           \
			     CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)      \
	{                                                                      \
		if (passes(MK(self), k, hs, mech))                             \
			return P11O_DOWN(self, fn, hs, mech, key);             \
		return slow_##fn(self, hs, mech, key);                         \
	}
KEYED_INIT(C_SignInit, OPK_SIGN)
KEYED_INIT(C_VerifyInit, OPK_VERIFY)
KEYED_INIT(C_EncryptInit, OPK_ENCRYPT)
KEYED_INIT(C_DecryptInit, OPK_DECRYPT)

__attribute__((noinline)) static CK_RV
slow_C_DigestInit(p11o_layer *self, CK_SESSION_HANDLE hs, CK_MECHANISM_PTR mech)
{
	bool done;
	CK_RV rv = init(self, OPK_DIGEST, hs, mech, CK_INVALID_HANDLE, &done);
	return done ? rv : P11O_DOWN(self, C_DigestInit, hs, mech);
}

static CK_RV mk_C_DigestInit(p11o_layer *self, CK_SESSION_HANDLE hs,
			     CK_MECHANISM_PTR mech)
{
	if (passes(MK(self), OPK_DIGEST, hs, mech))
		return P11O_DOWN(self, C_DigestInit, hs, mech);
	return slow_C_DigestInit(self, hs, mech);
}

/* ---- operations: straight down while none is completed here --------- */

/* The functions of an operation (mech_ops.c, mech_public.c) look for the
 * session's active completed operation first; while the layer has none
 * (live_ops 0) they only go down, so they are entered only then, with
 * the session's record locked (mech_int.h, mk_session). */
#define MK_SESSION_ARG_SESSION P11O_KIND_HOOK
#define MK_SESSION_ARG_(kind, type, n)                                         \
	P11O_IF_KIND(MK_SESSION_ARG_, kind, hs_ = n;)
#define MK_FAST_(name, ...)                                                    \
	__attribute__((noinline)) static CK_RV locked_##name(                  \
	    p11o_layer *self, P11O_PARAMS(__VA_ARGS__))                        \
	{                                                                      \
		mk_layer *l = MK(self);                                        \
		CK_SESSION_HANDLE hs_ = CK_INVALID_HANDLE;                     \
		P11O_MAPS(MK_SESSION_ARG_, __VA_ARGS__)                        \
		mk_session *s_ = mk_lock(l, hs_);                              \
		if (s_ == MK_REENTERED)                                        \
			return CKR_FUNCTION_FAILED;                            \
		CK_RV rv_ = l->full.name(self, P11O_ARGS(__VA_ARGS__));        \
		mk_unlock(l, s_);                                              \
		return rv_;                                                    \
	}                                                                      \
	static CK_RV fast_##name(p11o_layer *self, P11O_PARAMS(__VA_ARGS__))   \
	{                                                                      \
		if (__builtin_expect(                                          \
			atomic_load_explicit(&MK(self)->live_ops,              \
					     memory_order_acquire),            \
			0))                                                    \
			return locked_##name(self, P11O_ARGS(__VA_ARGS__));    \
		return P11O_DOWN(self, name, P11O_ARGS(__VA_ARGS__));          \
	}
#define MK_FAST_FNS(X)                                                         \
	X(C_Sign)                                                              \
	X(C_SignUpdate)                                                        \
	X(C_SignFinal)                                                         \
	X(C_Decrypt)                                                           \
	X(C_DecryptUpdate)                                                     \
	X(C_DecryptFinal)                                                      \
	X(C_Digest)                                                            \
	X(C_DigestUpdate)                                                      \
	X(C_DigestKey)                                                         \
	X(C_DigestFinal)                                                       \
	X(C_Verify)                                                            \
	X(C_VerifyUpdate)                                                      \
	X(C_VerifyFinal)                                                       \
	X(C_Encrypt)                                                           \
	X(C_EncryptUpdate)                                                     \
	X(C_EncryptFinal)                                                      \
	X(C_GetOperationState)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
P11O_FUNCTIONS(MK_FAST_)
#pragma GCC diagnostic pop
#undef MK_FAST_

/* ---- the layer -------------------------------------------------------- */

static void mechanisms_destroy(p11o_layer *self)
{
	mk_layer *l = MK(self);

	if (l->cfg->mechanisms_enabled) {
		p11o_mutex_destroy(&l->eng_lock);
		p11o_mutex_destroy(&l->facts_lock);
		mk_facts_destroy(l);
	}
	free(l);
}

p11o_layer *p11o_mechanisms_layer_new(struct p11o_stack *stack)
{
	mk_layer *l = calloc(1, sizeof(*l));
	p11o_ops *ops;

	if (!l)
		return NULL;
	l->base.name = "mechanisms";
	l->base.ops = &l->ops;
	l->base.stack = stack;
	l->base.destroy = mechanisms_destroy;
	l->cfg = &stack->config;
	if (!l->cfg->mechanisms_enabled)
		return &l->base; /* no overrides: costs nothing */
	/* The records' locks are zero-initialised (mech_int.h). */
	static const pthread_mutex_t unlocked = PTHREAD_MUTEX_INITIALIZER;
	static const unsigned char zero[sizeof(pthread_mutex_t)];
	if (memcmp(&unlocked, zero, sizeof(zero)) != 0) {
		free(l);
		return NULL;
	}
	l->sessions = &stack->sessions;
	l->ext = p11o_sessions_reserve(l->sessions, sizeof(mk_session),
				       mk_session_gone, l);
	if (l->ext == SIZE_MAX || p11o_mutex_init(&l->eng_lock) != CKR_OK) {
		free(l);
		return NULL;
	}
	if (p11o_mutex_init(&l->facts_lock) != CKR_OK) {
		p11o_mutex_destroy(&l->eng_lock);
		free(l);
		return NULL;
	}
	for (size_t i = 0; i < P11O_MAX_SLOTS; i++)
		atomic_init(&l->facts[i], NULL);
	atomic_init(&l->live_ops, 0);
	ops = &l->ops;
	ops->C_SessionCancel = mk_C_SessionCancel;
	ops->C_WaitForSlotEvent = mk_C_WaitForSlotEvent;
	ops->C_Reinitialize = mk_C_Reinitialize;
	ops->C_GetOperationState = mk_C_GetOperationState;
	ops->C_GetMechanismList = mk_C_GetMechanismList;
	ops->C_GetMechanismInfo = mk_C_GetMechanismInfo;
	ops->C_SignInit = mk_C_SignInit;
	ops->C_VerifyInit = mk_C_VerifyInit;
	ops->C_EncryptInit = mk_C_EncryptInit;
	ops->C_DecryptInit = mk_C_DecryptInit;
	ops->C_DigestInit = mk_C_DigestInit;
	ops->C_GenerateRandom = mk_C_GenerateRandom;
	ops->C_SeedRandom = mk_C_SeedRandom;
	ops->C_RegisterEngine = mk_C_RegisterEngine;
	mk_install_ops(ops);
	mk_install_public_ops(ops);
	l->full = *ops;
#define MK_INSTALL_(name) ops->name = fast_##name;
	MK_FAST_FNS(MK_INSTALL_)
#undef MK_INSTALL_
	/* The idle chain (docs/architecture.md §3) skips the fast functions:
	 * with live_ops 0 they only go down. */
	l->idle = *ops;
#define MK_IDLE_(name) l->idle.name = NULL;
	MK_FAST_FNS(MK_IDLE_)
#undef MK_IDLE_
	l->base.idle_ops = &l->idle;
	return &l->base;
}
