/* Unlock addon (docs/architecture.md §6, §8): PIN unblock with the PUK
 * (C_UnlockPIN) and by challenge-response (C_LockToken,
 * C_GetUnlockChallenge, C_UnlockPINWithResponse), token initialisation
 * with token-dependent inputs given as variables (C_InitToken) and token
 * reset by the user (C_ResetToken).
 *
 * The layer sits below `slots`, so it sees provider slot IDs and
 * provider session handles.  Every other call passes straight through,
 * except while a card is held for a challenge-response unlock; see
 * unlock_internal.h for the rules. */
#ifndef P11O_UNLOCK_H
#define P11O_UNLOCK_H

#include "layer.h"

struct p11o_stack;
p11o_layer *p11o_unlock_layer_new(struct p11o_stack *stack);

#endif
