/* Facts of card tokens (facts.h): the card cache shared by the layers
 * (proxy/cardcache.h) holds what p11o_card_read_info() found; this layer
 * adds the check for a new insertion (pcsc-lite event counter) and reads
 * the update seed afresh for UpdateCount. */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <winscard.h>

#include "cardcache.h"
#include "facts.h"
#include "stack.h"

struct ob_reader {
	unsigned char desc[64]; /* slot description: the cache's key */
	char name[P11O_CARD_MAX_READER];
	p11o_mutex lock;  /* everything below */
	SCARDCONTEXT ctx; /* for the event counter */
	bool have_ctx;
	uint64_t insertion;       /* last seen */
	uint64_t cache_insertion; /* the shared cache was valid for it */
	p11o_card *atr_card;      /* ATR of a card no profile knows */
};

static uint64_t insertion(struct ob_reader *r);

bool ob_card_attach(ob_layer *l, ob_token *t, const CK_SLOT_INFO *si)
{
	char name[P11O_CARD_MAX_READER];
	if (p11o_card_reader_for_slot(si->slotDescription,
				      sizeof(si->slotDescription), name,
				      sizeof(name)) != CKR_OK)
		return false;
	for (size_t i = 0; i < l->nreaders; i++)
		if (!memcmp(l->readers[i]->desc, si->slotDescription, 64)) {
			t->reader = l->readers[i];
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
	memcpy(r->desc, si->slotDescription, 64);
	strcpy(r->name, name);
	r->insertion = OB_NO_INSERTION;
	/* The shared cache was filled in this process, after C_Initialize:
	 * what it holds is taken as this insertion's (no second read). */
	r->cache_insertion = insertion(r);
	l->readers[l->nreaders++] = r;
	t->reader = r;
	return true;
}

/* Under r->lock: pcsc-lite keeps an event counter (insertions and
 * removals) in the upper 16 bits of dwEventState.  One IPC to pcscd, no
 * card access.  On PC/SC errors the last value stays. */
static uint64_t insertion(struct ob_reader *r)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		if (!r->have_ctx)
			r->have_ctx = SCardEstablishContext(
					  SCARD_SCOPE_SYSTEM, NULL, NULL,
					  &r->ctx) == SCARD_S_SUCCESS;
		if (!r->have_ctx)
			break;
		SCARD_READERSTATE st = {.szReader = r->name,
					.dwCurrentState = SCARD_STATE_UNAWARE};
		LONG rc = SCardGetStatusChange(r->ctx, 0, &st, 1);
		if (rc == SCARD_S_SUCCESS || rc == SCARD_E_TIMEOUT) {
			uint64_t present =
			    (st.dwEventState & SCARD_STATE_PRESENT) != 0;
			r->insertion =
			    (uint64_t)((st.dwEventState >> 16) & 0xFFFF) << 1 |
			    present;
			break;
		}
		SCardReleaseContext(r->ctx); /* pcscd restarted: retry */
		r->have_ctx = false;
	}
	return r->insertion;
}

uint64_t ob_card_insertion(struct ob_reader *r)
{
	p11o_mutex_lock(&r->lock);
	uint64_t v = insertion(r);
	p11o_mutex_unlock(&r->lock);
	return v;
}

/* The shared cache's entry, its facts those of the card inserted now. */
static p11o_card_entry *entry(ob_layer *l, struct ob_reader *r)
{
	p11o_card_cache *cards = l->base.stack->cards;
	p11o_mutex_lock(&r->lock);
	uint64_t now = insertion(r);
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

CK_RV ob_card_facts(ob_layer *l, ob_token *t, ob_facts *out)
{
	p11o_card_entry *e = entry(l, t->reader);
	if (!e)
		return unknown_card(l, t, out);
	const p11o_card_info *info = p11o_card_entry_info(e);
	memset(out, 0, sizeof(*out));
	copy_str(out->serial, &out->serial_len, info->serial_str);
	copy_str(out->label, &out->label_len, info->label);
	out->atr_len =
	    info->atr_len < sizeof(out->atr) ? info->atr_len : sizeof(out->atr);
	memcpy(out->atr, info->atr, out->atr_len);
	size_t a = strnlen(info->application, OB_MAX_VALUE - 1);
	memcpy(out->atr_app, info->application, a);
	out->has_atr = true;
	p11o_card_cache_put(e);
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
	 * afresh; when it moved, the cached facts go too. */
	CK_RV rv = p11o_card_read_info(p11o_card_entry_card(e),
				       &l->base.stack->config, fresh);
	const p11o_card_info *cached = p11o_card_entry_info(e);
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
	if (r->have_ctx)
		SCardReleaseContext(r->ctx);
	p11o_mutex_destroy(&r->lock);
	free(r);
}
