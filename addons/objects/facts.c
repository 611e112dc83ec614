/* Token facts: the per-slot table and the choice of source (facts.h). */
#include "facts.h"

#include <stdlib.h>
#include <string.h>

static ob_token *find(ob_layer *l, CK_SLOT_ID pid)
{
	size_t n = atomic_load_explicit(&l->ntokens, memory_order_acquire);
	for (size_t i = 0; i < n; i++)
		if (l->tokens[i]->pid == pid)
			return l->tokens[i];
	return NULL;
}

/* Under l->lock. */
static ob_token *add(ob_layer *l, CK_SLOT_ID pid)
{
	size_t n = atomic_load(&l->ntokens);
	if (n >= OB_MAX_TOKENS)
		return NULL;
	ob_token *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	if (p11o_mutex_init(&t->lock) != CKR_OK) {
		free(t);
		return NULL;
	}
	t->pid = pid;
	t->idx = (unsigned)n;
	l->tokens[n] = t;
	atomic_store_explicit(&l->ntokens, n + 1, memory_order_release);
	return t;
}

ob_token *ob_token_get(ob_layer *l, CK_SLOT_ID pid)
{
	ob_token *t = find(l, pid);
	if (t && atomic_load(&t->source) != OB_SRC_UNKNOWN)
		return t;
	/* A provider slot keeps its reader: classify once. */
	CK_SLOT_INFO si;
	bool have_si = P11O_DOWN(&l->base, C_GetSlotInfo, pid, &si) == CKR_OK;
	p11o_mutex_lock(&l->lock);
	t = find(l, pid);
	if (!t)
		t = add(l, pid);
	if (t && atomic_load(&t->source) == OB_SRC_UNKNOWN && have_si)
		atomic_store(&t->source, ob_card_attach(l, t, &si)
					     ? OB_SRC_CARD
					     : OB_SRC_SOFT);
	p11o_mutex_unlock(&l->lock);
	return t && atomic_load(&t->source) != OB_SRC_UNKNOWN ? t : NULL;
}

uint64_t ob_token_insertion(ob_layer *l, ob_token *t)
{
	(void)l;
	if (atomic_load(&t->source) != OB_SRC_CARD)
		return OB_NO_INSERTION;
	return ob_card_insertion(t->reader);
}

CK_RV ob_token_facts(ob_layer *l, ob_token *t, ob_facts *out)
{
	if (atomic_load(&t->source) == OB_SRC_CARD)
		return ob_card_facts(l, t, out);
	CK_RV rv = CKR_OK;
	p11o_mutex_lock(&t->lock);
	if (!t->loaded) {
		rv = ob_soft_facts(l, t->pid, &t->facts);
		t->loaded = rv == CKR_OK;
	}
	if (rv == CKR_OK)
		*out = t->facts;
	p11o_mutex_unlock(&t->lock);
	return rv;
}

CK_RV ob_token_update_count(ob_layer *l, ob_token *t,
			    unsigned char out[OB_UPDATE_LEN])
{
	if (atomic_load(&t->source) == OB_SRC_CARD)
		return ob_card_update_count(l, t, out);
	return ob_soft_update_count(l, t->pid, out);
}

void ob_token_drop(ob_layer *l, ob_token *t)
{
	if (atomic_load(&t->source) == OB_SRC_CARD) {
		ob_card_drop(l, t->reader);
		return;
	}
	p11o_mutex_lock(&t->lock);
	t->loaded = false;
	p11o_mutex_unlock(&t->lock);
}

void ob_tokens_destroy(ob_layer *l)
{
	size_t n = atomic_load(&l->ntokens);
	for (size_t i = 0; i < n; i++) {
		p11o_mutex_destroy(&l->tokens[i]->lock);
		free(l->tokens[i]);
	}
	atomic_store(&l->ntokens, 0);
	for (size_t i = 0; i < l->nreaders; i++)
		ob_card_reader_free(l->readers[i]);
	l->nreaders = 0;
}
