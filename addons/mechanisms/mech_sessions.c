/* Session records of the mechanisms layer: a hash of provider session
 * handles in 64 shards, each with its own lock (held only for the walk).
 * Closed records go to a free list and are reused, never freed before the
 * layer, so a record stays valid memory whatever another thread does. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "mech_int.h"

static size_t shard_of(CK_SESSION_HANDLE h)
{
	return (size_t)((h ^ (h >> 6) ^ (h >> 17)) & (MK_SHARDS - 1));
}

CK_RV mk_sessions_init(mk_sessions *s)
{
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < MK_SHARDS; i++)
		if (p11o_mutex_init(&s->shard[i].lock) != CKR_OK)
			return CKR_HOST_MEMORY;
	return p11o_mutex_init(&s->free_lock);
}

static void free_record(mk_session *r)
{
	for (int k = 0; k < OPK_N; k++) {
		if (!r->op[k])
			continue;
		mk_op_end(r->op[k]);
		EVP_MD_CTX_free(r->op[k]->md);
		free(r->op[k]);
	}
	free(r);
}

void mk_sessions_destroy(mk_sessions *s)
{
	for (size_t i = 0; i < MK_SHARDS; i++) {
		for (mk_session *r = s->shard[i].head, *n; r; r = n) {
			n = r->next;
			free_record(r);
		}
		p11o_mutex_destroy(&s->shard[i].lock);
	}
	for (mk_session *r = s->free, *n; r; r = n) {
		n = r->next;
		free_record(r);
	}
	p11o_mutex_destroy(&s->free_lock);
}

/* Unlink h's record from its shard (caller holds the lock). */
static mk_session *unlink_locked(mk_sessions *s, size_t i, CK_SESSION_HANDLE h)
{
	for (mk_session **pp = &s->shard[i].head; *pp; pp = &(*pp)->next) {
		if ((*pp)->h == h) {
			mk_session *r = *pp;
			*pp = r->next;
			return r;
		}
	}
	return NULL;
}

static void recycle(mk_sessions *s, mk_session *r)
{
	for (int k = 0; k < OPK_N; k++)
		if (r->op[k])
			mk_op_end(r->op[k]);
	p11o_mutex_lock(&s->free_lock);
	r->next = s->free;
	s->free = r;
	p11o_mutex_unlock(&s->free_lock);
}

CK_RV mk_sessions_add(mk_sessions *s, CK_SESSION_HANDLE h, CK_SLOT_ID slot)
{
	size_t i = shard_of(h);
	mk_session *r;

	p11o_mutex_lock(&s->shard[i].lock);
	r = unlink_locked(s, i, h); /* a handle the provider reuses */
	p11o_mutex_unlock(&s->shard[i].lock);
	if (r)
		recycle(s, r);
	p11o_mutex_lock(&s->free_lock);
	r = s->free;
	if (r)
		s->free = r->next;
	p11o_mutex_unlock(&s->free_lock);
	if (!r && !(r = calloc(1, sizeof(*r))))
		return CKR_HOST_MEMORY;
	r->h = h;
	r->slot = slot;
	p11o_mutex_lock(&s->shard[i].lock);
	r->next = s->shard[i].head;
	s->shard[i].head = r;
	p11o_mutex_unlock(&s->shard[i].lock);
	return CKR_OK;
}

mk_session *mk_sessions_get(mk_sessions *s, CK_SESSION_HANDLE h)
{
	size_t i = shard_of(h);
	mk_session *r;

	p11o_mutex_lock(&s->shard[i].lock);
	for (r = s->shard[i].head; r && r->h != h; r = r->next)
		;
	p11o_mutex_unlock(&s->shard[i].lock);
	return r;
}

void mk_sessions_remove(mk_sessions *s, CK_SESSION_HANDLE h)
{
	size_t i = shard_of(h);

	p11o_mutex_lock(&s->shard[i].lock);
	mk_session *r = unlink_locked(s, i, h);
	p11o_mutex_unlock(&s->shard[i].lock);
	if (r)
		recycle(s, r);
}

void mk_sessions_remove_slot(mk_sessions *s, CK_SLOT_ID slot)
{
	for (size_t i = 0; i < MK_SHARDS; i++) {
		mk_session *gone = NULL;

		p11o_mutex_lock(&s->shard[i].lock);
		for (mk_session **pp = &s->shard[i].head; *pp;) {
			mk_session *r = *pp;
			if (r->slot == slot) {
				*pp = r->next;
				r->next = gone;
				gone = r;
			} else {
				pp = &r->next;
			}
		}
		p11o_mutex_unlock(&s->shard[i].lock);
		for (mk_session *r = gone, *n; r; r = n) {
			n = r->next;
			recycle(s, r);
		}
	}
}

mk_op *mk_op_get(mk_session *s, enum mk_opk k)
{
	if (!s->op[k])
		s->op[k] = calloc(1, sizeof(mk_op));
	return s->op[k];
}

mk_op *mk_op_active(mk_layer *l, CK_SESSION_HANDLE h, enum mk_opk k)
{
	mk_session *r;

	if (atomic_load_explicit(&l->live_ops, memory_order_acquire) == 0)
		return NULL;
	r = mk_sessions_get(&l->sessions, h);

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
