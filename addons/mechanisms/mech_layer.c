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
	mk_session *s = mk_session_of(MK(self), hs);
	CK_RV rv = P11O_DOWN(self, C_SessionCancel, hs, flags);

	for (int k = 0; s && k < OPK_N; k++)
		if ((flags & mk_opk_flag(k)) && s->op[k] && s->op[k]->active) {
			if (rv == CKR_FUNCTION_NOT_SUPPORTED &&
			    (s->op[k]->base.soft || s->op[k]->base.engine))
				rv = CKR_OK;
			mk_op_end(s->op[k]);
		}
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

/* What a route depends on besides the mechanism: the slot's token (its
 * count of changes, mech_facts.c; the session's card insertion is fixed)
 * and the registered engines. */
static unsigned long route_generation(mk_layer *l, const mk_session *s)
{
	const mk_slot_facts *sf =
	    s->view_slot < P11O_MAX_SLOTS
		? atomic_load_explicit(&l->facts[s->view_slot],
				       memory_order_acquire)
		: NULL;
	unsigned long changes =
	    sf ? atomic_load_explicit(&((mk_slot_facts *)sf)->changes,
				      memory_order_acquire)
	       : 0xFFFFFFFFul;
	return (changes & 0xFFFFFFFFul) |
	       atomic_load_explicit(&l->engines_gen, memory_order_acquire)
		   << 32;
}

/* RT_PASS: *done false, the caller goes down; else the answer. */
static CK_RV init(p11o_layer *self, enum mk_opk k, CK_SESSION_HANDLE hs,
		  CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key, bool *done)
{
	mk_layer *l = MK(self);
	mk_session *s;
	const mk_def *def;
	mk_base base;

	*done = false;
	/* A mechanism this layer never completes costs no lookup. */
	if (mech && !mk_def_find(mech->mechanism) &&
	    !mk_listed(&l->cfg->mechanisms_hide, mech->mechanism) &&
	    atomic_load_explicit(&l->live_ops, memory_order_acquire) == 0)
		return CKR_OK;
	s = mk_session_of(l, hs);
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
	/* The session's last decision, while the slot's token and the
	 * engines are as they were: one compare instead of a routing. */
	CK_ULONG memo = mech->mechanism * OPK_N + k;
	unsigned long gen = route_generation(l, s);
	if (s->pass_valid && s->pass_memo == memo && s->pass_gen == gen)
		return CKR_OK;
	switch (mk_route(l, s, mech->mechanism, mk_opk_flag(k), &def, &base)) {
	case RT_PASS:
		s->pass_memo = memo;
		s->pass_gen = gen;
		s->pass_valid = true;
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

#define KEYED_INIT(fn, k)                                                      \
	static CK_RV mk_##fn(p11o_layer *self, CK_SESSION_HANDLE hs,           \
			     CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)      \
	{                                                                      \
		bool done;                                                     \
		CK_RV rv = init(self, k, hs, mech, key, &done);                \
		return done ? rv : P11O_DOWN(self, fn, hs, mech, key);         \
	}
KEYED_INIT(C_SignInit, OPK_SIGN)
KEYED_INIT(C_VerifyInit, OPK_VERIFY)
KEYED_INIT(C_EncryptInit, OPK_ENCRYPT)
KEYED_INIT(C_DecryptInit, OPK_DECRYPT)

static CK_RV mk_C_DigestInit(p11o_layer *self, CK_SESSION_HANDLE hs,
			     CK_MECHANISM_PTR mech)
{
	bool done;
	CK_RV rv = init(self, OPK_DIGEST, hs, mech, CK_INVALID_HANDLE, &done);
	return done ? rv : P11O_DOWN(self, C_DigestInit, hs, mech);
}

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
	return &l->base;
}
