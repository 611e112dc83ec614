/* The mechanisms layer's space in the stack's session records
 * (sessions.h): lookups are the registry's lock-free one; an operation
 * state, once allocated, stays with the record for its next sessions,
 * and is touched only under the record's lock (mech_int.h, mk_session). */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "mech_int.h"

mk_session *mk_session_of(mk_layer *l, CK_SESSION_HANDLE h)
{
	p11o_session *rec = p11o_session_get(l->sessions, h);
	if (!rec)
		return NULL;
	mk_session *s = p11o_session_ext(rec, l->ext);
	s->h = h;
	s->slot = rec->down_slot;
	s->view_slot = rec->slot;
	s->insertion = rec->insertion;
	return s;
}

/* Under s->mu: end the operations of sessions that are gone. */
static void end_gone(mk_layer *l, mk_session *s)
{
	for (int k = 0; k < OPK_N; k++)
		if (s->op[k] && s->op[k]->active &&
		    !p11o_session_get(l->sessions, s->op[k]->owner))
			mk_op_end(s->op[k]);
}

mk_session mk_reentered;

void mk_unlock(mk_layer *l, mk_session *s)
{
	if (!s || s == MK_REENTERED)
		return;
	/* Nothing below calls the application: no owner needed for it. */
	atomic_store_explicit(&s->owner, 0, memory_order_relaxed);
	/* A hook that found mu taken left `pending` to whoever held it;
	 * one that comes after the exchange below finds mu free, or the
	 * check after unlocking sees its flag. */
	for (;;) {
		if (atomic_exchange(&s->pending, false))
			end_gone(l, s);
		pthread_mutex_unlock(&s->mu);
		if (!atomic_load(&s->pending) || pthread_mutex_trylock(&s->mu))
			return;
	}
}

mk_session *mk_lock(mk_layer *l, CK_SESSION_HANDLE h)
{
	p11o_session *rec = p11o_session_get(l->sessions, h);
	if (!rec)
		return NULL;
	mk_session *s = p11o_session_ext(rec, l->ext);
	/* Only this thread ever stores its own ID there: a relaxed load of
	 * it is exact. */
	const unsigned long me = (unsigned long)pthread_self();
	if (atomic_load_explicit(&s->owner, memory_order_relaxed) == me)
		return MK_REENTERED;
	if (pthread_mutex_trylock(&s->mu) != 0) {
		if (p11o_in_app_callback()) /* never wait there (mech_int.h) */
			return MK_REENTERED;
		pthread_mutex_lock(&s->mu);
	}
	atomic_store_explicit(&s->owner, me, memory_order_relaxed);
	if (p11o_session_get(l->sessions, h) != rec) { /* gone meanwhile */
		mk_unlock(l, s);
		return NULL;
	}
	return s;
}

/* Never waits for mu (see mech_int.h): the hook may run in a thread that
 * holds it, or holds another record's while this one's holder ends its
 * own session. */
void mk_session_gone(void *ctx, p11o_session *rec, void *ext, bool last)
{
	mk_layer *l = ctx;
	mk_session *s = ext;
	(void)rec;
	s->pass_memo = 0;
	/* No operation was ever completed in the record.  (One being made
	 * now, under mu, for a session that just went is ended by the next
	 * Init of its class in the record, or with the registry.) */
	if (!s->has_ops)
		return;
	if (last) { /* the registry goes: no call is running */
		for (int k = 0; k < OPK_N; k++) {
			if (!s->op[k])
				continue;
			mk_op_end(s->op[k]);
			EVP_MD_CTX_free(s->op[k]->md);
			free(s->op[k]);
			s->op[k] = NULL;
		}
		return;
	}
	atomic_store(&s->pending, true);
	if (pthread_mutex_trylock(&s->mu) == 0)
		mk_unlock(l, s);
}

mk_op *mk_op_get(mk_session *s, enum mk_opk k)
{
	if (!s->op[k]) {
		s->op[k] = calloc(1, sizeof(mk_op));
		s->has_ops = s->op[k] != NULL;
	}
	return s->op[k];
}

mk_op *mk_op_active(mk_layer *l, CK_SESSION_HANDLE h, enum mk_opk k)
{
	mk_session *r;

	if (atomic_load_explicit(&l->live_ops, memory_order_acquire) == 0)
		return NULL;
	r = mk_session_of(l, h);

	return r && r->op[k] && r->op[k]->active && r->op[k]->owner == h
		   ? r->op[k]
		   : NULL;
}

void mk_op_end(mk_op *op)
{
	if (op->est && op->base.eng.DigestEnd) {
		p11o_app_callback_enter();
		op->base.eng.DigestEnd(op->base.eng.pContext, op->est, NULL,
				       NULL);
		p11o_app_callback_leave();
	}
	op->est = NULL;
	if (op->active && op->live) {
		atomic_fetch_sub(op->live, 1);
		p11o_stack_busy_leave(op->stack);
	}
	EVP_PKEY_free(op->pkey);
	op->pkey = NULL;
	OPENSSL_free(op->label);
	op->label = NULL;
	op->label_len = 0;
	if (op->prepared || op->have_out || op->hashing) {
		OPENSSL_cleanse(op->in, sizeof(op->in));
		OPENSSL_cleanse(op->out, sizeof(op->out));
	}
	op->active = op->prepared = op->have_out = op->hashing = false;
	op->in_len = op->out_len = op->keyref_len = 0;
	op->def = NULL;
}
