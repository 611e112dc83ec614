/* Layers and the stack (docs/architecture.md §3).
 *
 * A layer is a table of the layered functions, each taking the layer itself
 * as first argument, with NULL for the functions it does not override.
 * p11o_stack_resolve() resolves, once, for every layer and every function
 * the first implementation below it, so a call goes straight to the next
 * layer that cares and skips the others.  A layer calls down with
 * P11O_DOWN(self, C_Foo, args...). */
#ifndef P11O_LAYER_H
#define P11O_LAYER_H

#include "functions.h"

typedef struct p11o_layer p11o_layer;

/* Table of a layer's overrides. */
typedef struct p11o_ops {
#define P11O_OP_(name, ...)                                                    \
	CK_RV (*name)(p11o_layer * self, P11O_PARAMS(__VA_ARGS__));
	P11O_FUNCTIONS(P11O_OP_)
#undef P11O_OP_
} p11o_ops;

/* A resolved call target: implementation plus the layer it belongs to. */
typedef struct p11o_targets {
#define P11O_TARGET_(name, ...)                                                \
	struct {                                                               \
		CK_RV (*fn)(p11o_layer * self, P11O_PARAMS(__VA_ARGS__));      \
		p11o_layer *layer;                                             \
	} name;
	P11O_FUNCTIONS(P11O_TARGET_)
#undef P11O_TARGET_
} p11o_targets;

struct p11o_stack;

struct p11o_layer {
	const char *name;
	const p11o_ops *ops;
	/* What the layer does while the stack is idle (stack.h: no card
	 * held, no operation completed in the proxy): ops without the
	 * functions that then only go down; NULL: the same as ops. */
	const p11o_ops *idle_ops;
	p11o_targets down;        /* filled by p11o_stack_resolve() */
	struct p11o_stack *stack; /* shared context (config, provider) */
	void (*destroy)(p11o_layer *self); /* frees the layer; may be NULL */
	/* C_Finalize, before it waits for calls in flight: make calls that
	 * block (C_WaitForSlotEvent) return.  May be NULL. */
	void (*wake)(p11o_layer *self);
};

#define P11O_DOWN(self, name, ...)                                             \
	((self)->down.name.fn((self)->down.name.layer, __VA_ARGS__))

/* Resolve every layer's `down` table and `top` (the entry targets) for the
 * given layers, ordered top (application side) to bottom.  Functions no
 * layer implements resolve to a stub returning CKR_FUNCTION_NOT_SUPPORTED. */
void p11o_stack_resolve(p11o_layer **layers, size_t count, p11o_targets *top);

/* The entry targets of the idle chain (docs/architecture.md §3): for each
 * function the first layer whose idle_ops (or ops) implements it.  The
 * layers' `down` tables are not touched: below a layer that runs, the
 * call goes on as in the full chain. */
void p11o_stack_resolve_idle(p11o_layer **layers, size_t count,
			     p11o_targets *top);

/* Fill every target with the stub that returns `rv`-style defaults:
 * CKR_CRYPTOKI_NOT_INITIALIZED (used before C_Initialize and after fork). */
void p11o_targets_fill_uninitialized(p11o_targets *t);

#endif
