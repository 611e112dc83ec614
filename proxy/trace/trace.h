/* Trace layer (docs/architecture.md §7).
 *
 * The core builds the trace layer once with p11o_trace_layer_new() and puts
 * it at the top of the stack only while p11o_trace_active() says so; when
 * tracing is off the layer is not in the resolved chain and costs nothing.
 * Every function of P11O_FUNCTIONS is overridden (generated); C_Finalize
 * writes the summary table before calling down. */
#ifndef P11O_TRACE_H
#define P11O_TRACE_H

#include <stdbool.h>

#include "layer.h"

struct p11o_stack;

/* Always builds the layer (NULL only on out-of-memory).  Opens the
 * destination named by stack->config (trace_path: file with %p = pid,
 * "stderr" or "syslog") and writes the header lines that need no provider.
 * The provider's CK_INFO is added after the first successful C_Initialize
 * record. */
p11o_layer *p11o_trace_layer_new(struct p11o_stack *stack);

/* True when a destination is configured (path and level != off) or an
 * application callback is set.  NULL-safe (false). */
bool p11o_trace_active(const p11o_layer *trace);

/* Set (or, with NULL, clear) the application's record callback.  A newly
 * set callback first receives the header.  With no configured level the
 * callback gets `full` records. */
CK_RV p11o_trace_set_callback(p11o_layer *trace, CK_TRACE_CALLBACK cb);

/* Free-form diagnostic line ("# note: ...") into the trace. */
void p11o_trace_note(p11o_layer *trace, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
