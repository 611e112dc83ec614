/* The mechanisms layer's space in the stack's session records
 * (sessions.h): lookups are the registry's lock-free one; an operation
 * state, once allocated, stays with the record for its next sessions. */
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

void mk_session_gone(void *ctx, p11o_session *rec, void *ext, bool last)
{
	mk_session *s = ext;
	(void)ctx;
	(void)rec;
	s->pass_memo = 0;
	if (!s->has_ops) /* no operation was ever completed in the record */
		return;
	for (int k = 0; k < OPK_N; k++) {
		if (!s->op[k])
			continue;
		mk_op_end(s->op[k]);
		if (last) {
			EVP_MD_CTX_free(s->op[k]->md);
			free(s->op[k]);
			s->op[k] = NULL;
		}
	}
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

	return r && r->op[k] && r->op[k]->active ? r->op[k] : NULL;
}

void mk_op_end(mk_op *op)
{
	if (op->est && op->base.eng.DigestEnd)
		op->base.eng.DigestEnd(op->base.eng.pContext, op->est, NULL,
				       NULL);
	op->est = NULL;
	if (op->active && op->live)
		atomic_fetch_sub(op->live, 1);
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
