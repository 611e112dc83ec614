/* Facts of card tokens (facts.h): the card cache shared by the layers
 * (proxy/cardcache.h) holds what p11o_card_read_info() found; this layer
 * adds the check for a new insertion (the slot view's insertion counter) and
 * reads the update seed afresh for UpdateCount. */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "cardcache.h"
#include "facts.h"
#include "stack.h"

struct ob_reader {
	unsigned char desc[64]; /* slot description: the cache's key */
	char name[P11O_CARD_MAX_READER];
	CK_ULONG slot;            /* a slot view index of the reader */
	p11o_mutex lock;          /* everything below */
	uint64_t cache_insertion; /* the shared cache was valid for it */
	p11o_card *atr_card;      /* ATR of a card no profile knows */
};

bool ob_card_attach(ob_layer *l, ob_token *t, CK_ULONG i)
{
	const p11o_slot *v = &l->view->slots[i];
	for (size_t k = 0; k < l->nreaders; k++)
		if (!memcmp(l->readers[k]->desc, v->description, 64)) {
			t->reader = l->readers[k];
			return true;
		}
	if (l->nreaders >= OB_MAX_READERS)
		return false;
	struct ob_reader *r = calloc(1, sizeof(*r));
	if (!r)
		return false;
	if (p11o_mutex_init(&r->lock) != CKR_OK) {
		free(r);
		return false;
	}
	memcpy(r->desc, v->description, 64);
	memcpy(r->name, v->reader, sizeof(r->name));
	r->slot = i;
	/* The shared cache was filled in this process, after C_Initialize:
	 * what it holds is taken as this insertion's (no second read). */
	r->cache_insertion = p11o_slot_insertion(l->view, i);
	l->readers[l->nreaders++] = r;
	t->reader = r;
	return true;
}

/* The shared cache's entry, its facts those of the card inserted now. */
static p11o_card_entry *entry(ob_layer *l, struct ob_reader *r)
{
	p11o_card_cache *cards = l->base.stack->cards;
	uint64_t now = p11o_slot_insertion(l->view, r->slot);
	p11o_mutex_lock(&r->lock);
	if (now != r->cache_insertion) {
		p11o_card_cache_invalidate(cards, r->desc);
		r->cache_insertion = now;
	}
	p11o_mutex_unlock(&r->lock);
	return p11o_card_cache_get(cards, r->desc, NULL);
}

static void copy_str(unsigned char *dst, size_t *len, const char *src)
{
	size_t n = strnlen(src, OB_MAX_VALUE);
	memcpy(dst, src, n);
	*len = n;
}

/* A card no profile knows: CK_TOKEN_INFO, and the ATR by SCardStatus. */
static CK_RV unknown_card(ob_layer *l, ob_token *t, ob_facts *out)
{
	struct ob_reader *r = t->reader;
	CK_RV rv = ob_soft_facts(l, t->pid, out);
	if (rv != CKR_OK)
		return rv;
	p11o_mutex_lock(&r->lock);
	if (!r->atr_card)
		rv = p11o_card_open(r->name, &r->atr_card);
	if (rv == CKR_OK)
		rv = p11o_card_atr(r->atr_card, out->atr, &out->atr_len);
	p11o_mutex_unlock(&r->lock);
	out->has_atr = rv == CKR_OK;
	return rv;
}

static size_t trimmed16(const unsigned char *s, size_t n)
{
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\0'))
		n--;
	return n;
}

CK_RV ob_card_facts(ob_layer *l, ob_token *t, ob_facts *out)
{
	p11o_card_entry *e = entry(l, t->reader);
	if (!e)
		return unknown_card(l, t, out);
	const p11o_card_info *info = p11o_card_entry_info(e);
	unsigned char tserial[16];
	bool have_tserial = p11o_card_entry_token_serial(e, tserial);
	memset(out, 0, sizeof(*out));
	copy_str(out->serial, &out->serial_len, info->serial_str);
	copy_str(out->label, &out->label_len, info->label);
	/* Never less than the standard field: the token's serial when the
	 * card's is shorter (OpenSC's OpenPGP serial adds the manufacturer)
	 * or unknown; the token's label when the card gives none. */
	if (have_tserial && trimmed16(tserial, 16) > out->serial_len) {
		out->serial_len = trimmed16(tserial, 16);
		memcpy(out->serial, tserial, out->serial_len);
	}
	out->atr_len =
	    info->atr_len < sizeof(out->atr) ? info->atr_len : sizeof(out->atr);
	memcpy(out->atr, info->atr, out->atr_len);
	size_t a = strnlen(info->application, OB_MAX_VALUE - 1);
	memcpy(out->atr_app, info->application, a);
	out->has_atr = true;
	p11o_card_cache_put(e);
	if (!have_tserial || out->label_len == 0) {
		ob_facts tok;
		if (ob_soft_facts(l, t->pid, &tok) == CKR_OK) {
			if (tok.serial_len > out->serial_len) {
				out->serial_len = tok.serial_len;
				memcpy(out->serial, tok.serial, tok.serial_len);
			}
			if (out->label_len == 0) {
				out->label_len = tok.label_len;
				memcpy(out->label, tok.label, tok.label_len);
			}
		}
	}
	return CKR_OK;
}

CK_RV ob_card_update_count(ob_layer *l, ob_token *t,
			   unsigned char out[OB_UPDATE_LEN])
{
	struct ob_reader *r = t->reader;
	p11o_card_entry *e = entry(l, r);
	if (!e)
		return ob_soft_update_count(l, t->pid, out);
	p11o_card_info *fresh = malloc(sizeof(*fresh));
	if (!fresh) {
		p11o_card_cache_put(e);
		return CKR_HOST_MEMORY;
	}
	/* Another process may have changed the card: the seed is read
	 * afresh; when it moved, the cached facts go too.  A card busy in
	 * someone else's transaction keeps the seed known. */
	const p11o_card_info *cached = p11o_card_entry_info(e);
	CK_RV rv = CKR_OK;
	if (!p11o_card_entry_reread(e, fresh))
		*fresh = *cached;
	bool moved = rv == CKR_OK &&
		     (fresh->update_seed_len != cached->update_seed_len ||
		      memcmp(fresh->update_seed, cached->update_seed,
			     fresh->update_seed_len) != 0);
	p11o_card_cache_put(e);
	if (moved)
		p11o_card_cache_invalidate(l->base.stack->cards, r->desc);
	if (rv == CKR_OK) {
		EVP_MD_CTX *c = EVP_MD_CTX_new();
		rv = CKR_HOST_MEMORY;
		if (c && EVP_DigestInit_ex(c, EVP_sha256(), NULL)) {
			EVP_DigestUpdate(c, "p11overlay card", 15);
			EVP_DigestUpdate(c, fresh->update_seed,
					 fresh->update_seed_len);
			EVP_DigestFinal_ex(c, out, NULL);
			rv = CKR_OK;
		}
		EVP_MD_CTX_free(c);
	}
	explicit_bzero(fresh, sizeof(*fresh));
	free(fresh);
	return rv;
}

void ob_card_drop(ob_layer *l, struct ob_reader *r)
{
	p11o_card_cache_invalidate(l->base.stack->cards, r->desc);
}

void ob_card_reader_free(struct ob_reader *r)
{
	if (r->atr_card)
		p11o_card_close(r->atr_card);
	p11o_mutex_destroy(&r->lock);
	free(r);
}
