/* The mechanisms addon (docs/architecture.md §3): completes the mechanisms a
 * token lacks in software (OpenSSL 3) or with engines registered by the
 * application (C_RegisterEngine), just above the provider. */
#ifndef P11O_MECHANISMS_H
#define P11O_MECHANISMS_H

#include "layer.h"

struct p11o_stack;

/* NULL only when out of memory; with [mechanisms] enabled = no a layer
 * without overrides. */
p11o_layer *p11o_mechanisms_layer_new(struct p11o_stack *stack);

#endif
