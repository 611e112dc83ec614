/* Bounds layer: the layer right above the provider, where every count and
 * length the provider returns into a caller's buffer is checked against
 * that buffer (issue 16).  Everything above it (the addons, the trace, the
 * application) sees only what fits:
 *
 *  - a slot, mechanism or object list claiming more entries than the
 *    buffer holds is cut to the buffer (every entry in it was written);
 *  - an attribute value longer than its buffer becomes
 *    CK_UNAVAILABLE_INFORMATION with CKR_BUFFER_TOO_SMALL, as the standard
 *    says a provider must answer; pValue and type are restored if the
 *    provider changed them;
 *  - an output byte buffer (C_Sign, C_Decrypt, ...) said to hold more than
 *    its size fails with CKR_DEVICE_ERROR, its length reset to the size:
 *    checked in the provider layer's forward (provider.c), the one layer
 *    below, so those calls skip this one.
 *
 * Size queries (a NULL buffer) are passed on as they are: callers that
 * allocate from them must do so overflow-safe themselves.  Functions
 * without such outputs are not overridden, so calls skip the layer. */
#ifndef P11O_BOUNDS_H
#define P11O_BOUNDS_H

#include "layer.h"

struct p11o_stack;
p11o_layer *p11o_bounds_layer_new(struct p11o_stack *stack);

#endif
