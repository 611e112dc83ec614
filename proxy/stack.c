#include "layer.h"

#include <stdbool.h>

/* Terminal answers: what a call gets when no layer implements it, and what
 * every call gets before C_Initialize (and in a forked child). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#define P11O_TERMINAL_(name, ...)                                              \
	static CK_RV unsupported_##name(p11o_layer *self,                      \
					P11O_PARAMS(__VA_ARGS__))              \
	{                                                                      \
		return CKR_FUNCTION_NOT_SUPPORTED;                             \
	}                                                                      \
	static CK_RV uninitialized_##name(p11o_layer *self,                    \
					  P11O_PARAMS(__VA_ARGS__))            \
	{                                                                      \
		return CKR_CRYPTOKI_NOT_INITIALIZED;                           \
	}
P11O_FUNCTIONS(P11O_TERMINAL_)
#undef P11O_TERMINAL_
#pragma GCC diagnostic pop

/* Each function's first layer from the top that implements it, in its
 * `ops`, or for the idle chain in its `idle_ops` where it has them.  The
 * full chain also gives each layer its `down` targets; the idle chain
 * leaves them: below a layer that runs, a call goes on as in the full
 * chain. */
static void resolve(p11o_layer **layers, size_t count, p11o_targets *top,
		    bool idle)
{
#define P11O_RESOLVE_(name, ...)                                               \
	{                                                                      \
		top->name.fn = unsupported_##name;                             \
		top->name.layer = NULL;                                        \
		for (size_t i = count; i-- > 0;) {                             \
			const p11o_ops *o = idle && layers[i]->idle_ops        \
						? layers[i]->idle_ops          \
						: layers[i]->ops;              \
			if (!idle)                                             \
				layers[i]->down.name = top->name;              \
			if (o->name) {                                         \
				top->name.fn = o->name;                        \
				top->name.layer = layers[i];                   \
			}                                                      \
		}                                                              \
	}
	P11O_FUNCTIONS(P11O_RESOLVE_)
#undef P11O_RESOLVE_
}

void p11o_stack_resolve(p11o_layer **layers, size_t count, p11o_targets *top)
{
	resolve(layers, count, top, false);
}

void p11o_stack_resolve_idle(p11o_layer **layers, size_t count,
			     p11o_targets *top)
{
	resolve(layers, count, top, true);
}

void p11o_targets_fill_uninitialized(p11o_targets *t)
{
#define P11O_UNINIT_(name, ...)                                                \
	t->name.fn = uninitialized_##name;                                     \
	t->name.layer = NULL;
	P11O_FUNCTIONS(P11O_UNINIT_)
#undef P11O_UNINIT_
}
