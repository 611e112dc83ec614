/* Module state: C_Initialize / C_Finalize, fork detection and the active
 * dispatch table that the exported entry points call through. */
#ifndef P11O_CORE_H
#define P11O_CORE_H

#include <stdatomic.h>

#include "layer.h"

/* What every entry point calls: the uninitialised table before
 * C_Initialize (and in a forked child), the stack's table afterwards.
 * Swapped atomically; no lock on the per-call path. */
extern _Atomic(const p11o_targets *) p11o_active;

#endif
