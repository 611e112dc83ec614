/* The slot view's facts (slotview.h); the slots layer fills the entries
 * (slots_table.c). */
#include "slotview.h"

#include <stdlib.h>
#include <string.h>
#include <winscard.h>

CK_RV p11o_slot_view_init(p11o_slot_view *v)
{
	memset(v, 0, sizeof(*v));
	if (p11o_mutex_init(&v->lock) != CKR_OK)
		return CKR_HOST_MEMORY;
	if (p11o_mutex_init(&v->pcsc_lock) != CKR_OK) {
		p11o_mutex_destroy(&v->lock);
		return CKR_HOST_MEMORY;
	}
	return CKR_OK;
}

void p11o_slot_view_destroy(p11o_slot_view *v)
{
	if (v->pcsc) {
		SCardReleaseContext(*(SCARDCONTEXT *)v->pcsc);
		free(v->pcsc);
	}
	p11o_mutex_destroy(&v->pcsc_lock);
	p11o_mutex_destroy(&v->lock);
	memset(v, 0, sizeof(*v));
}

CK_ULONG p11o_slot_scan_down(const p11o_slot_view *v, CK_SLOT_ID down)
{
	size_t n = p11o_slot_count(v);
	for (size_t i = 0; i < n; i++)
		if (v->slots[i].down == down) {
			atomic_store_explicit(
			    &((p11o_slot_view *)v)
				 ->by_down[p11o_slot_down_hash(down)],
			    (unsigned char)(i + 1), memory_order_release);
			return i;
		}
	return P11O_NO_SLOT;
}

CK_ULONG p11o_slot_scan_id(const p11o_slot_view *v, CK_SLOT_ID id)
{
	size_t n = p11o_slot_count(v);
	for (size_t i = 0; i < n; i++)
		if (v->slots[i].id == id) {
			atomic_store_explicit(
			    &((p11o_slot_view *)v)
				 ->by_id[p11o_slot_id_hash(id)],
			    (unsigned char)(i + 1), memory_order_release);
			return i;
		}
	return P11O_NO_SLOT;
}

enum p11o_slot_kind p11o_slot_classify(p11o_slot_view *v, CK_ULONG i)
{
	if (i == P11O_NO_SLOT || i >= p11o_slot_count(v))
		return P11O_SLOT_UNKNOWN;
	p11o_slot *s = &v->slots[i];
	int kind = atomic_load_explicit(&s->kind, memory_order_acquire);
	if (kind != P11O_SLOT_UNKNOWN)
		return (enum p11o_slot_kind)kind;
	/* A slot keeps its reader: asked once (PC/SC reader list, an IPC).
	 * No pcscd at all counts as no reader; an event on the slot has it
	 * asked again (p11o_slot_reclassify). */
	char reader[P11O_CARD_MAX_READER];
	CK_RV rv = p11o_card_reader_for_slot(s->description, 64, reader,
					     sizeof(reader));
	p11o_mutex_lock(&v->lock);
	kind = atomic_load(&s->kind);
	if (kind == P11O_SLOT_UNKNOWN) {
		if (rv == CKR_OK) {
			memcpy(s->reader, reader, sizeof(reader));
			kind = P11O_SLOT_CARD;
		} else {
			kind = (s->slot_flags & CKF_HW_SLOT) ? P11O_SLOT_OTHER
							     : P11O_SLOT_SOFT;
		}
		atomic_store_explicit(&s->kind, kind, memory_order_release);
	}
	p11o_mutex_unlock(&v->lock);
	return (enum p11o_slot_kind)kind;
}

/* Under pcsc_lock. */
static SCARDCONTEXT *context(p11o_slot_view *v)
{
	if (!v->pcsc) {
		SCARDCONTEXT *c = malloc(sizeof(*c));
		if (!c)
			return NULL;
		if (SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, c) !=
		    SCARD_S_SUCCESS) {
			free(c);
			return NULL;
		}
		v->pcsc = c;
	}
	return v->pcsc;
}

/* pcsc-lite counts insertions and removals in the upper 16 bits of
 * dwEventState. */
uint64_t p11o_slot_card_insertion(p11o_slot_view *v, CK_ULONG i)
{
	uint64_t out = P11O_NO_INSERTION;
	p11o_mutex_lock(&v->pcsc_lock);
	for (int attempt = 0; attempt < 2; attempt++) {
		SCARDCONTEXT *c = context(v);
		if (!c)
			break;
		SCARD_READERSTATE st = {.szReader = v->slots[i].reader,
					.dwCurrentState = SCARD_STATE_UNAWARE};
		LONG rc = SCardGetStatusChange(*c, 0, &st, 1);
		if (rc == SCARD_S_SUCCESS || rc == SCARD_E_TIMEOUT) {
			uint64_t present =
			    (st.dwEventState & SCARD_STATE_PRESENT) != 0;
			out = (uint64_t)((st.dwEventState >> 16) & 0xFFFF)
				  << 1 |
			      present;
			break;
		}
		/* pcscd restarted (or the reader went): a new context. */
		SCardReleaseContext(*c);
		free(c);
		v->pcsc = NULL;
	}
	p11o_mutex_unlock(&v->pcsc_lock);
	return out;
}

int p11o_slot_pin(const p11o_slot_view *v, CK_ULONG i,
		  const p11o_card_info *info, const CK_UTF8CHAR label[32])
{
	static const CK_UTF8CHAR none[32] = {0};
	if (!info || info->pin_count == 0)
		return -1;
	unsigned index = i < p11o_slot_count(v) ? v->slots[i].index : 0;
	int k =
	    p11o_card_pin_for_label(info, label ? label : none, index, NULL);
	if (k < 0 && info->pin_count == 1)
		k = 0;
	return k;
}

void p11o_slot_reclassify(p11o_slot_view *v, CK_ULONG i)
{
	if (i >= p11o_slot_count(v))
		return;
	int expected = P11O_SLOT_SOFT;
	atomic_compare_exchange_strong(&v->slots[i].kind, &expected,
				       P11O_SLOT_UNKNOWN);
	expected = P11O_SLOT_OTHER;
	atomic_compare_exchange_strong(&v->slots[i].kind, &expected,
				       P11O_SLOT_UNKNOWN);
}
