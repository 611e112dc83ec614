/* The trace layer: one generated wrapper per function of P11O_FUNCTIONS
 * (functions.h).  Each calls down, then formats one record in a per-thread
 * buffer and hands it to the sink with one write.  No lock, no malloc, no
 * localtime on this path; statistics are relaxed atomics. */
#include <stdlib.h>

#include "trace_int.h"

static _Thread_local char record[P11O_TRACE_RECORD_MAX];

static bool excluded(const p11o_trace *t, enum p11o_fn_index fn)
{
	return !t->include_events && (fn == P11O_FN_C_WaitForSlotEvent ||
				      fn == P11O_FN_C_HasNewEvent);
}

static void emit(p11o_trace *t, enum p11o_fn_index fn, const p11o_targ *av,
		 CK_RV rv, uint64_t t0, uint64_t t1)
{
	uint64_t dur = t1 > t0 ? t1 - t0 : 0;
	p11o_trace_stat *s = &t->stats[fn];
	unsigned long pid, tid;
	struct p11o_stack *stack = t->layer.stack;

	/* The record of a successful C_Initialize reaches a callback that
	 * may call the module: the stack is live first (stack.h). */
	if (fn == P11O_FN_C_Initialize && rv == CKR_OK && stack->go_live)
		stack->go_live(stack);

	atomic_fetch_add_explicit(&s->calls, 1, memory_order_relaxed);
	if (rv != CKR_OK)
		atomic_fetch_add_explicit(&s->errors, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->ns, dur, memory_order_relaxed);

	const p11o_trace_fmt *fmt = &t->fmt;
	if (t->dest == P11O_TD_NONE) {
		if (!atomic_load_explicit(&t->cb, memory_order_relaxed))
			return;
		fmt = &t->cfmt;
	}
	p11o_trace_ids(&pid, &tid);
	size_t len = p11o_trace_format_record(record, sizeof(record), fmt, fn,
					      av, rv, t0, dur, pid, tid);
	p11o_trace_sink(t, record, len);
	if (fn == P11O_FN_C_Initialize && rv == CKR_OK)
		p11o_trace_provider_info(t);
}

/* C_Finalize: the summary table first, then the call (and its record). */
static void before_finalize(p11o_trace *t)
{
	if (t->dest != P11O_TD_NONE ||
	    atomic_load_explicit(&t->cb, memory_order_relaxed))
		p11o_trace_summary(t);
}

/* clang-format off */
#define P11O_TR_ARG_(kind, type, param) (p11o_targ)(param)
#define P11O_TR_WRAP_(name, ...)                                               \
static CK_RV tr_##name(p11o_layer *self, P11O_PARAMS(__VA_ARGS__))             \
{                                                                              \
	p11o_trace *t = (p11o_trace *)self;                                    \
	if (excluded(t, P11O_FN_##name))                                       \
		return P11O_DOWN(self, name, P11O_ARGS(__VA_ARGS__));          \
	if (P11O_FN_##name == P11O_FN_C_Finalize)                              \
		before_finalize(t);                                            \
	uint64_t t0 = p11o_trace_now();                                        \
	CK_RV rv = P11O_DOWN(self, name, P11O_ARGS(__VA_ARGS__));              \
	uint64_t t1 = p11o_trace_now();                                        \
	const p11o_targ av[] = {P11O_MAPC(P11O_TR_ARG_, __VA_ARGS__)};         \
	emit(t, P11O_FN_##name, av, rv, t0, t1);                               \
	return rv;                                                             \
}
P11O_FUNCTIONS(P11O_TR_WRAP_)
#undef P11O_TR_WRAP_
#undef P11O_TR_ARG_
/* clang-format on */

static const p11o_ops trace_ops = {
#define P11O_TR_OP_(name, ...) .name = tr_##name,
    P11O_FUNCTIONS(P11O_TR_OP_)
#undef P11O_TR_OP_
};

static void trace_destroy(p11o_layer *layer)
{
	p11o_trace *t = (p11o_trace *)layer;
	p11o_trace_sink_close(t);
	free(t);
}

p11o_layer *p11o_trace_layer_new(struct p11o_stack *stack)
{
	p11o_trace *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->layer.name = "trace";
	t->layer.ops = &trace_ops;
	t->layer.stack = stack;
	t->layer.destroy = trace_destroy;
	t->include_events = stack->config.trace_include_events;
	t->fmt.level = stack->config.trace_level;
	t->fmt.max_value = stack->config.trace_max_value;
	t->cfmt = t->fmt;
	if (t->cfmt.level == P11O_TRACE_OFF)
		t->cfmt.level = P11O_TRACE_FULL;
	atomic_init(&t->cb, NULL);
	p11o_trace_sink_open(t);
	return &t->layer;
}

bool p11o_trace_active(const p11o_layer *layer)
{
	const p11o_trace *t = (const p11o_trace *)layer;
	if (!t)
		return false;
	return t->dest != P11O_TD_NONE ||
	       atomic_load_explicit(&((p11o_trace *)t)->cb,
				    memory_order_acquire) != NULL;
}

CK_RV p11o_trace_set_callback(p11o_layer *layer, CK_TRACE_CALLBACK cb)
{
	p11o_trace *t = (p11o_trace *)layer;
	if (!t)
		return CKR_GENERAL_ERROR;
	CK_TRACE_CALLBACK old =
	    atomic_exchange_explicit(&t->cb, cb, memory_order_acq_rel);
	if (cb && cb != old)
		cb(t->header, t->header_len);
	return CKR_OK;
}
