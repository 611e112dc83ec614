/* Test rig for the trace layer: a canned bottom layer under the real trace
 * layer, resolved with the real p11o_stack_resolve(). */
#ifndef P11O_TRACE_MOCK_H
#define P11O_TRACE_MOCK_H

#include <stddef.h>

#include "stack.h"
#include "trace/trace.h"
#include "trace/trace_int.h"

typedef struct mock_rig {
	p11o_stack *stack;
	p11o_layer *trace;
	p11o_layer mock;
	p11o_targets top;
	char path[1024];
} mock_rig;

/* rv every mock function returns (CKR_OK by default). */
extern CK_RV mock_rv;
/* Make the mock fail the given function only (CKR_OK = none). */
extern enum p11o_fn_index mock_fail_fn;
/* Every function returns mock_rv and touches nothing. */
extern bool mock_all;
/* Switch the bottom layer to functions that never touch their arguments. */
void mock_rig_defaults(mock_rig *r);

/* Build the rig: trace to a fresh temp file (path "" = no destination). */
void mock_rig_init(mock_rig *r, enum p11o_trace_level level,
		   bool include_events, unsigned long max_value, bool to_file);
void mock_rig_free(mock_rig *r);

/* Call a function through the top of the stack. */
#define CALL(r, name, ...) ((r)->top.name.fn((r)->top.name.layer, __VA_ARGS__))

/* Whole trace file, NUL-terminated (malloc'd). */
char *mock_read_trace(const mock_rig *r, size_t *len);
/* Records only ('#' header/summary lines and the endianness line dropped),
 * with time, pid:tid and durations masked. */
char *mock_masked_records(const char *trace);
/* Compare with tests/trace/golden/<name>; P11O_UPDATE_GOLDEN=1 rewrites. */
int mock_check_golden(const char *name, const char *got);

#endif
