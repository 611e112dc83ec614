/* Slots layer (docs/architecture.md §4): the proxy's own slot IDs and session
 * and object handle spaces, and the library identity (C_GetInfo).
 *
 * Slot IDs are stable across card removal and across processes: a slot's
 * ID is derived from its slot description (the PC/SC reader name, or the
 * soft token's description) and its position among the provider slots
 * with that description:  id = (fnv1a32(description) mod 2^27) << 4 | n.
 * A (rare) collision moves the later slot to the next free hash value. */
#ifndef P11O_SLOTS_H
#define P11O_SLOTS_H

#include "layer.h"

struct p11o_stack;
p11o_layer *p11o_slots_layer_new(struct p11o_stack *stack);

/* Value passed to the provider for a slot ID the proxy does not know, so
 * that the provider answers with its own error in its own order. */
#define P11O_INVALID_PROVIDER_SLOT (~(CK_SLOT_ID)0)

#endif
