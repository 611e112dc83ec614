/* The objects addon (docs/architecture.md §5): TokenSerialNumber, TokenLabel,
 * UpdateCount and ATR data objects in every token, below the slots layer. */
#ifndef P11O_OBJECTS_H
#define P11O_OBJECTS_H

#include "layer.h"

struct p11o_stack;

/* NULL only when out of memory; with [objects] enabled = no a layer
 * without overrides. */
p11o_layer *p11o_objects_layer_new(struct p11o_stack *stack);

#endif
