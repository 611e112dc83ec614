/* Finding and reading the synthetic objects (docs/architecture.md §5). */
#include "ops.h"

#include <string.h>

#include "stack.h"

#define L(self) ((ob_layer *)(self))

CK_OBJECT_HANDLE ob_obj_down(ob_layer *l, CK_OBJECT_HANDLE h)
{
	return (h & OB_TOP) ? ob_escape_down(&l->escapes, h) : h;
}

CK_RV ob_obj_up(ob_layer *l, CK_OBJECT_HANDLE *h)
{
	if (!(*h & OB_TOP))
		return CKR_OK;
	CK_ULONG e = ob_escape_up(&l->escapes, *h);
	if (!e)
		return CKR_HOST_MEMORY;
	*h = e;
	return CKR_OK;
}

/* A synthetic object in a session of ours. */
typedef struct ob_call {
	p11o_session *rec; /* the stack's record (sessions.h) */
	ob_session *s;     /* this layer's space in it */
	ob_token *t;
	enum ob_kind kind;
} ob_call;

static ob_session *space(ob_layer *l, p11o_session *rec)
{
	return p11o_session_ext(rec, l->ext);
}

static bool exists(ob_token *t, enum ob_kind kind)
{
	return kind != OB_ATR || atomic_load(&t->source) == OB_SRC_CARD;
}

/* 1: synthetic object of a live session (c filled); 0: not one, the
 * provider answers (with CK_INVALID_HANDLE for reserved values); -1: *rv
 * says the session is gone (its card was pulled, sessions.h). */
static int resolve(ob_layer *l, CK_SESSION_HANDLE hs, CK_OBJECT_HANDLE h,
		   ob_call *c, CK_RV *rv)
{
	unsigned idx;
	int kind = ob_kind_of(h, &idx);
	if (kind < 0 || !(c->rec = p11o_session_get(l->sessions, hs)))
		return 0;
	if (!(c->t = ob_token_get(l, c->rec->down_slot)) || c->t->idx != idx ||
	    !exists(c->t, kind))
		return 0;
	c->s = space(l, c->rec);
	c->kind = (enum ob_kind)kind;
	if (c->rec->insertion != P11O_NO_INSERTION) {
		p11o_session *same;
		*rv = p11o_session_check(l->sessions, l->view, hs, &same);
		if (*rv != CKR_OK)
			return -1;
	}
	return 1;
}

static const char *app_of(ob_layer *l, enum ob_kind kind, const ob_facts *f)
{
	const p11o_config *cfg = &l->base.stack->config;
	switch (kind) {
	case OB_SERIAL:
		return cfg->app_serial;
	case OB_LABEL:
		return cfg->app_label;
	case OB_UPDATE:
		return cfg->app_update_count;
	default:
		return f ? f->atr_app : "";
	}
}

/* The view of one object.  Facts are loaded when `facts` is set (then f is
 * filled), the UpdateCount digest when `digest` is set; without it the
 * UpdateCount value is known by its length only (upd zeroed). */
static CK_RV view(ob_layer *l, ob_token *t, enum ob_kind kind, bool facts,
		  bool digest, ob_facts *f, unsigned char *upd, ob_view *v)
{
	memset(v, 0, sizeof(*v));
	v->kind = kind;
	if (kind == OB_UPDATE) {
		memset(upd, 0, OB_UPDATE_LEN);
		if (digest) {
			CK_RV rv = ob_token_update_count(l, t, upd);
			if (rv != CKR_OK)
				return rv;
		}
		v->value = upd;
		v->value_len = OB_UPDATE_LEN;
		v->value_known = true;
		v->app = app_of(l, kind, NULL);
		return CKR_OK;
	}
	if (!facts) {
		v->app = app_of(l, kind, NULL);
		return CKR_OK;
	}
	CK_RV rv = ob_token_facts(l, t, f);
	if (rv != CKR_OK)
		return rv;
	v->app = app_of(l, kind, f);
	v->value_known = true;
	if (kind == OB_SERIAL) {
		v->value = f->serial;
		v->value_len = f->serial_len;
	} else if (kind == OB_LABEL) {
		v->value = f->label;
		v->value_len = f->label_len;
	} else {
		v->value = f->atr;
		v->value_len = f->atr_len;
	}
	return CKR_OK;
}

/* Does the template ask for bytes of CKA_VALUE (not just its size)? */
static bool wants_value(const CK_ATTRIBUTE *t, CK_ULONG n)
{
	for (CK_ULONG i = 0; t && i < n; i++)
		if (t[i].type == CKA_VALUE && t[i].pValue &&
		    t[i].ulValueLen >= OB_UPDATE_LEN)
			return true;
	return false;
}

static CK_RV pass_get(ob_layer *l, CK_SESSION_HANDLE hs, CK_OBJECT_HANDLE h,
		      CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
	return P11O_DOWN(&l->base, C_GetAttributeValue, hs, ob_obj_down(l, h),
			 t, n);
}

static CK_RV ob_C_GetAttributeValue(p11o_layer *self, CK_SESSION_HANDLE hs,
				    CK_OBJECT_HANDLE h, CK_ATTRIBUTE_PTR t,
				    CK_ULONG n)
{
	ob_layer *l = L(self);
	ob_call c;
	CK_RV rv = CKR_OK;
	int r = resolve(l, hs, h, &c, &rv);
	if (r <= 0)
		return r < 0 ? rv : pass_get(l, hs, h, t, n);
	if (!t && n)
		return CKR_ARGUMENTS_BAD;
	ob_facts f;
	unsigned char upd[OB_UPDATE_LEN];
	ob_view v;
	bool value = ob_template_has_value(t, n);
	rv = view(l, c.t, c.kind, value || c.kind == OB_ATR, wants_value(t, n),
		  &f, upd, &v);
	return rv != CKR_OK ? rv : ob_get_attributes(&v, t, n);
}

static CK_RV ob_C_GetObjectSize(p11o_layer *self, CK_SESSION_HANDLE hs,
				CK_OBJECT_HANDLE h, CK_ULONG_PTR pulSize)
{
	ob_layer *l = L(self);
	ob_call c;
	CK_RV rv = CKR_OK;
	int r = resolve(l, hs, h, &c, &rv);
	if (r <= 0)
		return r < 0 ? rv
			     : P11O_DOWN(self, C_GetObjectSize, hs,
					 ob_obj_down(l, h), pulSize);
	if (!pulSize)
		return CKR_ARGUMENTS_BAD;
	ob_facts f;
	unsigned char upd[OB_UPDATE_LEN];
	ob_view v;
	rv = view(l, c.t, c.kind, true, false, &f, upd, &v);
	if (rv == CKR_OK)
		*pulSize = ob_object_size(&v);
	return rv;
}

static CK_RV ob_C_SetAttributeValue(p11o_layer *self, CK_SESSION_HANDLE hs,
				    CK_OBJECT_HANDLE h, CK_ATTRIBUTE_PTR t,
				    CK_ULONG n)
{
	ob_layer *l = L(self);
	ob_call c;
	CK_RV rv = CKR_OK;
	int r = resolve(l, hs, h, &c, &rv);
	if (r <= 0)
		return r < 0 ? rv
			     : P11O_DOWN(self, C_SetAttributeValue, hs,
					 ob_obj_down(l, h), t, n);
	if (!c.rec->rw)
		return CKR_SESSION_READ_ONLY;
	ob_view v = {.kind = c.kind, .app = ""};
	return ob_set_attributes(&v, t, n);
}

static CK_RV ob_C_DestroyObject(p11o_layer *self, CK_SESSION_HANDLE hs,
				CK_OBJECT_HANDLE h)
{
	ob_layer *l = L(self);
	ob_call c;
	CK_RV rv = CKR_OK;
	int r = resolve(l, hs, h, &c, &rv);
	if (r <= 0)
		return r < 0 ? rv
			     : P11O_DOWN(self, C_DestroyObject, hs,
					 ob_obj_down(l, h));
	/* CKA_DESTROYABLE false (2.40 §4.4). */
	return c.rec->rw ? CKR_ACTION_PROHIBITED : CKR_SESSION_READ_ONLY;
}

static CK_RV ob_C_CopyObject(p11o_layer *self, CK_SESSION_HANDLE hs,
			     CK_OBJECT_HANDLE h, CK_ATTRIBUTE_PTR t, CK_ULONG n,
			     CK_OBJECT_HANDLE_PTR phNew)
{
	ob_layer *l = L(self);
	ob_call c;
	CK_RV rv = CKR_OK;
	int r = resolve(l, hs, h, &c, &rv);
	if (r < 0)
		return rv;
	if (r == 0) {
		rv = P11O_DOWN(self, C_CopyObject, hs, ob_obj_down(l, h), t, n,
			       phNew);
		return rv == CKR_OK && phNew ? ob_obj_up(l, phNew) : rv;
	}
	if (!phNew || (!t && n))
		return CKR_ARGUMENTS_BAD;
	return CKR_ACTION_PROHIBITED; /* CKA_COPYABLE false */
}

/* ---- finding ------------------------------------------------------------ */

static bool names(const CK_ATTRIBUTE *t, CK_ULONG n, CK_ATTRIBUTE_TYPE type)
{
	for (CK_ULONG i = 0; t && i < n; i++)
		if (t[i].type == type)
			return true;
	return false;
}

/* Which synthetic objects of the token match: values are loaded only for
 * objects the rest of the template matches, and only when it names them;
 * the ATR object's application is the card's. */
static unsigned matching(ob_layer *l, ob_token *t, const CK_ATTRIBUTE *tmpl,
			 CK_ULONG n)
{
	unsigned mask = 0;
	ob_facts f;
	unsigned char upd[OB_UPDATE_LEN];
	for (int k = 0; k < OB_KINDS; k++) {
		ob_view v;
		int m = -1;
		if (!exists(t, k))
			continue;
		if (k != OB_ATR || !names(tmpl, n, CKA_APPLICATION)) {
			view(l, t, k, false, false, &f, upd, &v);
			v.value_known = false;
			m = ob_match(&v, tmpl, n);
		}
		if (m < 0)
			m = view(l, t, k, true, true, &f, upd, &v) == CKR_OK
				? ob_match(&v, tmpl, n)
				: 0;
		if (m > 0)
			mask |= 1u << k;
	}
	return mask;
}

static CK_RV ob_C_FindObjectsInit(p11o_layer *self, CK_SESSION_HANDLE hs,
				  CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
	ob_layer *l = L(self);
	CK_RV rv = P11O_DOWN(self, C_FindObjectsInit, hs, t, n);
	p11o_session *rec = p11o_session_get(l->sessions, hs);
	if (rv != CKR_OK || !rec)
		return rv;
	ob_session *s = space(l, rec);
	ob_token *tok = ob_token_get(l, rec->down_slot);
	unsigned long long want =
	    OB_FIND(hs, tok ? matching(l, tok, t, n) : 0, tok ? tok->idx : 0);
	/* Not over the find of a session that took the record meanwhile
	 * (facts.h, ob_session). */
	unsigned long long w = atomic_load(&s->find);
	while (((w & OB_FIND_SESSION) == 0 || (w & OB_FIND_SESSION) == hs) &&
	       !atomic_compare_exchange_weak(&s->find, &w, want))
		;
	return CKR_OK;
}

static CK_RV find_down(ob_layer *l, CK_SESSION_HANDLE hs, CK_OBJECT_HANDLE *h,
		       CK_ULONG max, CK_ULONG_PTR count)
{
	CK_RV rv = P11O_DOWN(&l->base, C_FindObjects, hs, h, max, count);
	if (rv != CKR_OK || !h || !count)
		return rv;
	for (CK_ULONG i = 0; i < *count && i < max && rv == CKR_OK; i++)
		rv = ob_obj_up(l, &h[i]);
	return rv;
}

/* Synthetic objects first, then the provider's, in one stream that honours
 * ulMaxObjectCount across calls. */
static CK_RV ob_C_FindObjects(p11o_layer *self, CK_SESSION_HANDLE hs,
			      CK_OBJECT_HANDLE_PTR h, CK_ULONG max,
			      CK_ULONG_PTR count)
{
	ob_layer *l = L(self);
	p11o_session *rec = p11o_session_get(l->sessions, hs);
	ob_session *s = rec ? space(l, rec) : NULL;
	if (!s || !h || !count || max == 0)
		return find_down(l, hs, h, max, count);
	/* Take up to max of this session's pending objects (facts.h). */
	unsigned long long w = atomic_load(&s->find), left;
	unsigned taken;
	do {
		if ((w & OB_FIND_SESSION) != hs || !OB_FIND_PENDING(w))
			return find_down(l, hs, h, max, count);
		unsigned pending = OB_FIND_PENDING(w);
		taken = 0;
		for (CK_ULONG n = 0; n < max && pending; n++) {
			unsigned bit = pending & -pending;
			taken |= bit;
			pending &= ~bit;
		}
		left = OB_FIND(hs, pending, OB_FIND_TOKEN(w));
	} while (!atomic_compare_exchange_weak(&s->find, &w, left));
	CK_ULONG n = 0;
	while (taken) {
		int k = __builtin_ctz(taken);
		taken &= ~(1u << k);
		h[n++] = OB_HANDLE(OB_FIND_TOKEN(w), k);
	}
	CK_RV rv = CKR_OK;
	if (n < max) {
		CK_ULONG got = 0;
		rv = find_down(l, hs, h + n, max - n, &got);
		if (rv == CKR_OK)
			n += got < max - n ? got : max - n;
	}
	if (rv == CKR_OK)
		*count = n;
	return rv;
}

static CK_RV ob_C_FindObjectsFinal(p11o_layer *self, CK_SESSION_HANDLE hs)
{
	ob_layer *l = L(self);
	CK_RV rv = P11O_DOWN(self, C_FindObjectsFinal, hs);
	p11o_session *rec = p11o_session_get(l->sessions, hs);
	if (rec) {
		ob_session *s = space(l, rec);
		unsigned long long w = atomic_load(&s->find);
		while ((w & OB_FIND_SESSION) == hs &&
		       !atomic_compare_exchange_weak(&s->find, &w, 0))
			;
	}
	return rv;
}

void ob_ops_install(p11o_ops *ops)
{
	ops->C_GetAttributeValue = ob_C_GetAttributeValue;
	ops->C_GetObjectSize = ob_C_GetObjectSize;
	ops->C_SetAttributeValue = ob_C_SetAttributeValue;
	ops->C_DestroyObject = ob_C_DestroyObject;
	ops->C_CopyObject = ob_C_CopyObject;
	ops->C_FindObjectsInit = ob_C_FindObjectsInit;
	ops->C_FindObjects = ob_C_FindObjects;
	ops->C_FindObjectsFinal = ob_C_FindObjectsFinal;
}
