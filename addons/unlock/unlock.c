/* Unlock layer: assembly, the per-call guard while a card is held, and
 * what a session's end means for a hold (unlock_internal.h). */
#include "unlock.h"

#include <stdlib.h>
#include <string.h>

#include "unlock_internal.h"

/* ---- generated guard: every function with a slot or session argument */

#define UL_CHK_SLOT P11O_KIND_HOOK
#define UL_CHK_SESSION P11O_KIND_HOOK
#define UL_DO_CHK_SLOT(n)                                                      \
	if (grv == CKR_OK)                                                     \
		grv = ul_guard_slot(l, n);
#define UL_DO_CHK_SESSION(n)                                                   \
	if (grv == CKR_OK)                                                     \
		grv = ul_guard_session(l, n);
#define UL_CHK_(kind, type, n)                                                 \
	P11O_IF_KIND(UL_CHK_, kind, P11O_CAT(UL_DO_CHK_, kind)(n))
#define UL_COUNT_(kind, type, n) P11O_IF_KIND(UL_CHK_, kind, +1)

/* The guard is out of line: with no hold (nholds 0, nearly always) the
 * wrapper is a load, a test and a jump to the layer below. */
#define UL_WRAP_(name, ...)                                                    \
	__attribute__((noinline)) static CK_RV guard_##name(                   \
	    p11o_layer *self, P11O_PARAMS(__VA_ARGS__))                        \
	{                                                                      \
		unlock_layer *l = UL(self);                                    \
		CK_RV grv = CKR_OK;                                            \
		(void)l;                                                       \
		P11O_MAPS(UL_CHK_, __VA_ARGS__)                                \
		if (grv != CKR_OK)                                             \
			return grv;                                            \
		return P11O_DOWN(self, name, P11O_ARGS(__VA_ARGS__));          \
	}                                                                      \
	static CK_RV wrap_##name(p11o_layer *self, P11O_PARAMS(__VA_ARGS__))   \
	{                                                                      \
		if (__builtin_expect(                                          \
			atomic_load_explicit(&UL(self)->nholds,                \
					     memory_order_acquire),            \
			0))                                                    \
			return guard_##name(self, P11O_ARGS(__VA_ARGS__));     \
		return P11O_DOWN(self, name, P11O_ARGS(__VA_ARGS__));          \
	}                                                                      \
	enum { guarded_##name = 0 P11O_MAPS(UL_COUNT_, __VA_ARGS__) };
P11O_FUNCTIONS(UL_WRAP_)
#undef UL_WRAP_

/* ---- own rules ----------------------------------------------------------
 */

CK_RV ul_session_slot(unlock_layer *l, CK_SESSION_HANDLE s, CK_SLOT_ID *slot)
{
	p11o_session *rec;
	CK_RV rv = p11o_session_check(l->sessions, l->view, s, &rec);
	if (rv == CKR_OK)
		*slot = rec->down_slot;
	return rv;
}

/* Registry hook (sessions.h): the hold of a session that is gone ends,
 * whatever ended it (close, card pulled, the provider's verdict). */
static void session_gone(void *ctx, p11o_session *s, void *ext, bool last)
{
	unlock_layer *l = ctx;
	(void)ext;
	(void)last;
	if (!atomic_load(&l->nholds))
		return;
	CK_SESSION_HANDLE h = atomic_load(&s->handle);
	p11o_mutex_lock(&l->op_mu);
	for (size_t k = 0; k < UL_MAX_HOLDS; k++) {
		ul_hold *hold = &l->holds[k];
		if (hold->card && hold->owned && hold->owner == h)
			ul_hold_release(l, hold);
	}
	p11o_mutex_unlock(&l->op_mu);
}

/* The hold ends before the provider is called: its C_CloseSession may
 * talk to the card (logout of the last session). */
__attribute__((noinline)) static CK_RV close_held(p11o_layer *self,
						  CK_SESSION_HANDLE hSession)
{
	unlock_layer *l = UL(self);
	p11o_mutex_lock(&l->op_mu);
	for (size_t k = 0; k < UL_MAX_HOLDS; k++) {
		ul_hold *h = &l->holds[k];
		if (h->card && h->owned && h->owner == hSession)
			ul_hold_release(l, h);
	}
	p11o_mutex_unlock(&l->op_mu);
	return P11O_DOWN(self, C_CloseSession, hSession);
}

static CK_RV ul_C_CloseSession(p11o_layer *self, CK_SESSION_HANDLE hSession)
{
	if (__builtin_expect(atomic_load(&UL(self)->nholds), 0))
		return close_held(self, hSession);
	return P11O_DOWN(self, C_CloseSession, hSession);
}

static void forget_slot(unlock_layer *l, CK_SLOT_ID slotID)
{
	p11o_mutex_lock(&l->op_mu);
	ul_hold_release_slot(l, slotID);
	p11o_mutex_unlock(&l->op_mu);
}

static CK_RV ul_C_CloseAllSessions(p11o_layer *self, CK_SLOT_ID slotID)
{
	unlock_layer *l = UL(self);
	forget_slot(l, slotID);
	return P11O_DOWN(self, C_CloseAllSessions, slotID);
}

static CK_RV ul_C_Reinitialize(p11o_layer *self, CK_SLOT_ID slotID)
{
	unlock_layer *l = UL(self);
	forget_slot(l, slotID);
	return P11O_DOWN(self, C_Reinitialize, slotID);
}

static CK_RV ul_C_GetTokenInfo(p11o_layer *self, CK_SLOT_ID slotID,
			       CK_TOKEN_INFO_PTR pInfo)
{
	unlock_layer *l = UL(self);
	CK_RV rv;
	if (pInfo && atomic_load(&l->nholds) &&
	    ul_hold_token_info(l, slotID, pInfo, &rv))
		return rv;
	return P11O_DOWN(self, C_GetTokenInfo, slotID, pInfo);
}

static CK_RV ul_C_Finalize(p11o_layer *self, CK_VOID_PTR pReserved)
{
	unlock_layer *l = UL(self);
	p11o_mutex_lock(&l->op_mu);
	ul_hold_release_all(l);
	p11o_mutex_unlock(&l->op_mu);
	return P11O_DOWN(self, C_Finalize, pReserved);
}

static void unlock_layer_destroy(p11o_layer *self)
{
	unlock_layer *l = UL(self);
	ul_hold_release_all(l);
	p11o_mutex_destroy(&l->mu);
	p11o_mutex_destroy(&l->op_mu);
	explicit_bzero(&l->scratch, sizeof(l->scratch));
	free(l);
}

p11o_layer *p11o_unlock_layer_new(struct p11o_stack *stack)
{
	unlock_layer *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	if (p11o_mutex_init(&l->mu) != CKR_OK) {
		free(l);
		return NULL;
	}
	if (p11o_mutex_init(&l->op_mu) != CKR_OK) {
		p11o_mutex_destroy(&l->mu);
		free(l);
		return NULL;
	}
	l->base.name = "unlock";
	l->base.ops = &l->ops;
	l->base.stack = stack;
	l->base.destroy = unlock_layer_destroy;
	l->sessions = &stack->sessions;
	l->view = &stack->view;
	if (!stack->config.unlock_enabled)
		return &l->base; /* no overrides: skipped */
	p11o_ops *ops = &l->ops;
#define UL_OP_(name, ...) ops->name = guarded_##name ? wrap_##name : NULL;
	P11O_FUNCTIONS(UL_OP_)
#undef UL_OP_
	/* Never need the card (PC/SC status only, or nothing). */
	ops->C_GetSlotInfo = NULL;
	ops->C_OpenSession = NULL;
	ops->C_GetMechanismList = NULL;
	ops->C_GetMechanismInfo = NULL;
	/* Own rules. */
	ops->C_Finalize = ul_C_Finalize;
	ops->C_CloseSession = ul_C_CloseSession;
	ops->C_CloseAllSessions = ul_C_CloseAllSessions;
	ops->C_GetTokenInfo = ul_C_GetTokenInfo;
	ops->C_Reinitialize = ul_C_Reinitialize;
	ops->C_InitToken = ul_C_InitToken;
	ops->C_UnlockPIN = ul_C_UnlockPIN;
	ops->C_LockToken = ul_C_LockToken;
	ops->C_GetUnlockChallenge = ul_C_GetUnlockChallenge;
	ops->C_UnlockPINWithResponse = ul_C_UnlockPINWithResponse;
	ops->C_ResetToken = ul_C_ResetToken;
	/* The idle chain (docs/architecture.md §3) leaves out what only goes
	 * down while nholds is 0 on the per-call path: the guard and
	 * C_CloseSession's hold check (C_GetTokenInfo's stays: the provider's
	 * own call costs far more). */
	l->idle = *ops;
#define UL_IDLE_(name, ...)                                                    \
	if (l->idle.name == wrap_##name)                                       \
		l->idle.name = NULL;
	P11O_FUNCTIONS(UL_IDLE_)
#undef UL_IDLE_
	l->idle.C_CloseSession = NULL;
	l->base.idle_ops = &l->idle;
	if (p11o_sessions_reserve(l->sessions, 0, session_gone, l) ==
	    SIZE_MAX) {
		unlock_layer_destroy(&l->base);
		return NULL;
	}
	l->timer =
	    !(stack->provider_args.flags & CKF_LIBRARY_CANT_CREATE_OS_THREADS);
	return &l->base;
}
