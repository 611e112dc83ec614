/* The objects layer (docs/architecture.md §5): handle translation and the token
 * caches; the synthetic objects themselves are in ops.c.  Sessions are the
 * stack's (sessions.h): this layer keeps its find state in its space of
 * the record. */
#include "objects.h"

#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "stack.h"

#define L(self) ((ob_layer *)(self))

/* ---- generated wrappers: reserved-range handles both ways --------------- */

#define OB_HAS_OBJECT P11O_KIND_HOOK
#define OB_HAS_OUT_OBJECT P11O_KIND_HOOK
#define OB_PRE_OBJECT P11O_KIND_HOOK
#define OB_POST_OUT_OBJECT P11O_KIND_HOOK

#define OB_DO_PRE_OBJECT(n) n = ob_obj_down(l, n);
#define OB_DO_POST_OUT_OBJECT(n)                                               \
	if (rv == CKR_OK && n)                                                 \
		rv = ob_obj_up(l, n);

#define OB_HAS_(kind, type, n) P11O_IF_KIND(OB_HAS_, kind, | 1)
#define OB_PRE_(kind, type, n)                                                 \
	P11O_IF_KIND(OB_PRE_, kind, P11O_CAT(OB_DO_PRE_, kind)(n))
#define OB_POST_(kind, type, n)                                                \
	P11O_IF_KIND(OB_POST_, kind, P11O_CAT(OB_DO_POST_, kind)(n))

#define OB_WRAP_(name, ...)                                                    \
	static CK_RV wrap_##name(p11o_layer *self, P11O_PARAMS(__VA_ARGS__))   \
	{                                                                      \
		ob_layer *l = L(self);                                         \
		(void)l;                                                       \
		P11O_MAPS(OB_PRE_, __VA_ARGS__)                                \
		CK_RV rv = P11O_DOWN(self, name, P11O_ARGS(__VA_ARGS__));      \
		P11O_MAPS(OB_POST_, __VA_ARGS__)                               \
		return rv;                                                     \
	}
P11O_FUNCTIONS(OB_WRAP_)
#undef OB_WRAP_

/* ---- sessions and caches ------------------------------------------------ */

/* Soft facts live until the next session on their token; card facts
 * until the next insertion (checked when read). */
static CK_RV ob_C_OpenSession(p11o_layer *self, CK_SLOT_ID pid, CK_FLAGS flags,
			      CK_VOID_PTR app, CK_NOTIFY notify,
			      CK_SESSION_HANDLE_PTR ph)
{
	ob_layer *l = L(self);
	CK_RV rv = P11O_DOWN(self, C_OpenSession, pid, flags, app, notify, ph);
	if (rv != CKR_OK || !ph)
		return rv;
	/* The token seen before (its source known), else found and
	 * classified out of line. */
	ob_token *t = NULL;
	size_t n = atomic_load_explicit(&l->ntokens, memory_order_acquire);
	for (size_t i = 0; i < n; i++)
		if (l->tokens[i]->pid == pid) {
			t = l->tokens[i];
			break;
		}
	int src = t ? atomic_load(&t->source) : OB_SRC_UNKNOWN;
	if (src == OB_SRC_UNKNOWN) {
		t = ob_token_get(l, pid);
		src = t ? atomic_load(&t->source) : OB_SRC_UNKNOWN;
	}
	if (src == OB_SRC_SOFT)
		ob_token_drop_soft(t);
	return CKR_OK;
}

/* Registry hook (sessions.h): a session is gone; its space is left as a
 * new session finds it. */
static void session_gone(void *ctx, p11o_session *s, void *ext, bool last)
{
	(void)ctx;
	(void)s;
	(void)last;
	atomic_store(&((ob_session *)ext)->find, 0);
}

/* The slots layer closes the token's sessions, then passes C_Reinitialize
 * down with the provider slot: drop the token's caches. */
static CK_RV ob_C_Reinitialize(p11o_layer *self, CK_SLOT_ID pid)
{
	ob_layer *l = L(self);
	size_t n = atomic_load_explicit(&l->ntokens, memory_order_acquire);
	for (size_t i = 0; i < n; i++)
		if (l->tokens[i]->pid == pid)
			ob_token_drop(l, l->tokens[i]);
	return P11O_DOWN(self, C_Reinitialize, pid);
}

static void objects_layer_destroy(p11o_layer *self)
{
	ob_layer *l = L(self);
	ob_tokens_destroy(l);
	ob_escapes_destroy(&l->escapes);
	p11o_mutex_destroy(&l->lock);
	free(l);
}

p11o_layer *p11o_objects_layer_new(struct p11o_stack *stack)
{
	ob_layer *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	if (p11o_mutex_init(&l->lock) != CKR_OK) {
		free(l);
		return NULL;
	}
	if (ob_escapes_init(&l->escapes) != CKR_OK) {
		p11o_mutex_destroy(&l->lock);
		free(l);
		return NULL;
	}
	l->base.name = "objects";
	l->base.ops = &l->ops;
	l->base.stack = stack;
	l->base.destroy = objects_layer_destroy;
	l->sessions = &stack->sessions;
	l->view = &stack->view;
	if (!stack->config.objects_enabled)
		return &l->base; /* no overrides: skipped */
	l->ext = p11o_sessions_reserve(l->sessions, sizeof(ob_session),
				       session_gone, l);
	if (l->ext == SIZE_MAX) {
		objects_layer_destroy(&l->base);
		return NULL;
	}
	p11o_ops *ops = &l->ops;
	/* Only functions that carry object handles. */
#define OB_OP_(name, ...)                                                      \
	ops->name = (0 P11O_MAPS(OB_HAS_, __VA_ARGS__)) ? wrap_##name : NULL;
	P11O_FUNCTIONS(OB_OP_)
#undef OB_OP_
	ob_ops_install(ops);
	ops->C_OpenSession = ob_C_OpenSession;
	ops->C_Reinitialize = ob_C_Reinitialize;
	return &l->base;
}
