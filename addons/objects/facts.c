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
	/* Card or not: the slot view's facts, found once for all layers. */
	CK_ULONG i = p11o_slot_find_down(l->view, pid);
	enum p11o_slot_kind kind = p11o_slot_kind(l->view, i);
	if (kind == P11O_SLOT_UNKNOWN)
		return NULL;
	p11o_mutex_lock(&l->lock);
	t = find(l, pid);
	if (!t)
		t = add(l, pid);
	if (t && atomic_load(&t->source) == OB_SRC_UNKNOWN) {
		t->slot = i;
		atomic_store(&t->source,
			     kind == P11O_SLOT_CARD && ob_card_attach(l, t, i)
				 ? OB_SRC_CARD
				 : OB_SRC_SOFT);
	}
	p11o_mutex_unlock(&l->lock);
	return t && atomic_load(&t->source) != OB_SRC_UNKNOWN ? t : NULL;
}

CK_RV ob_token_facts(ob_layer *l, ob_token *t, ob_facts *out)
{
	if (atomic_load(&t->source) == OB_SRC_CARD)
		return ob_card_facts(l, t, out);
	CK_RV rv = CKR_OK;
	p11o_mutex_lock(&t->lock);
	/* Valid for the drop generation they were loaded in. */
	unsigned long gen = atomic_load(&t->drops);
	if (!t->loaded || t->loaded_gen != gen) {
		rv = ob_soft_facts(l, t->pid, &t->facts);
		t->loaded = rv == CKR_OK;
		t->loaded_gen = gen;
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
	ob_token_drop_soft(t);
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
