/* Trace layer internals shared by the proxy/trace sources, the tests and the
 * fuzz target.  Not a public interface. */
#ifndef P11O_TRACE_INT_H
#define P11O_TRACE_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "stack.h"
#include "trace.h"

/* ---- output buffer ------------------------------------------------------ */

/* Bounded append buffer: never writes past `end`; `overflow` records a cut. */
typedef struct p11o_tbuf {
	char *p, *end;
	bool overflow;
} p11o_tbuf;

static inline void p11o_tb_init(p11o_tbuf *b, char *buf, size_t cap)
{
	b->p = buf;
	b->end = buf + cap;
	b->overflow = false;
}

static inline void p11o_tb_mem(p11o_tbuf *b, const void *s, size_t n)
{
	size_t room = (size_t)(b->end - b->p);
	if (n > room) {
		n = room;
		b->overflow = true;
	}
	memcpy(b->p, s, n);
	b->p += n;
}

static inline void p11o_tb_c(p11o_tbuf *b, char c)
{
	if (b->p < b->end)
		*b->p++ = c;
	else
		b->overflow = true;
}

#define P11O_TB_LIT(b, lit) p11o_tb_mem((b), (lit), sizeof(lit) - 1)

void p11o_tb_str(p11o_tbuf *b, const char *s);
void p11o_tb_dec(p11o_tbuf *b, unsigned long v);
void p11o_tb_dec0(p11o_tbuf *b, unsigned long v, int width); /* 0-padded */
void p11o_tb_hex(p11o_tbuf *b, unsigned long v);             /* 0x.. */
void p11o_tb_ptr(p11o_tbuf *b, const void *p);               /* NULL/0x.. */
/* "(len N) hex \"printable\"", cut at min(len, cap) bytes. */
void p11o_tb_bytes(p11o_tbuf *b, const void *p, unsigned long len, size_t cap);
/* Quoted text of at most min(len, cap) bytes, non-printables escaped. */
void p11o_tb_text(p11o_tbuf *b, const void *p, size_t len, size_t cap);
/* Blank-padded fixed field, trailing blanks dropped, quoted. */
void p11o_tb_padded(p11o_tbuf *b, const unsigned char *p, size_t len);
void p11o_tb_version(p11o_tbuf *b, const CK_VERSION *v);
/* "***(len N)" */
void p11o_tb_secret(p11o_tbuf *b, unsigned long len);
/* Duration in microseconds with 3 decimals, e.g. "1.234us". */
void p11o_tb_duration(p11o_tbuf *b, uint64_t ns);
/* UTC "YYYY-MM-DDTHH:MM:SS.uuuuuuZ" from ns since the epoch. */
void p11o_tb_utc(p11o_tbuf *b, uint64_t ns);

/* ---- names (trace_names.c, from trace_names.def) ------------------------ */

enum p11o_ntab {
	P11O_NT_CKA,
	P11O_NT_CKO,
	P11O_NT_CKK,
	P11O_NT_CKC,
	P11O_NT_CKH,
	P11O_NT_CKU,
	P11O_NT_CKS,
	P11O_NT_CKG,
	P11O_NT_CKD,
	P11O_NT_CKZ,
	P11O_NT_CKM,
	P11O_NT_CKR,
	P11O_NT_COUNT
};

enum p11o_attr_kind {
	P11O_AT_BYTES, /* hex + printable */
	P11O_AT_TEXT,
	P11O_AT_BOOL,
	P11O_AT_ULONG,
	P11O_AT_CLASS,
	P11O_AT_KEY_TYPE,
	P11O_AT_CERT_TYPE,
	P11O_AT_HW_TYPE,
	P11O_AT_MECH,
	P11O_AT_DATE,
	P11O_AT_MECH_LIST,
	P11O_AT_ATTR_LIST,
	P11O_AT_SECRET /* redacted for private/secret keys and unknown class */
};

enum p11o_fgroup {
	P11O_FG_SLOT,
	P11O_FG_TOKEN,
	P11O_FG_SESSION,
	P11O_FG_MECH,
	P11O_FG_INIT,
	P11O_FG_WAIT,
	P11O_FG_MSG,
	P11O_FG_COUNT
};

/* Name of `v` in table `t`, NULL when unknown. */
const char *p11o_trace_name(enum p11o_ntab t, unsigned long v);
/* Value kind of attribute type `type` (BYTES when unknown). */
enum p11o_attr_kind p11o_trace_attr_kind(unsigned long type);
/* Name, or "0x.." for unknown values (vendor ranges marked). */
void p11o_tb_name(p11o_tbuf *b, enum p11o_ntab t, unsigned long v);
/* "CKF_A|CKF_B|0x.." or "0". */
void p11o_tb_flags(p11o_tbuf *b, enum p11o_fgroup g, unsigned long flags);
/* Sorts the tables once (thread-safe); lookups call it themselves. */
void p11o_trace_names_init(void);

/* ---- argument descriptors (trace_decode.c, from functions.h) ------------ */

enum p11o_arg_kind {
#define P11O_AK_(k) P11O_AK_##k,
	P11O_ARG_KINDS(P11O_AK_)
#undef P11O_AK_
	    P11O_AK__MAX
};

#define P11O_TRACE_MAX_ARGS 10

typedef struct p11o_fn_desc {
	const char *name;
	unsigned char name_len;
	unsigned char nargs;
	struct {
		unsigned char kind;
		unsigned char name_len;
		const char *name;
	} args[P11O_TRACE_MAX_ARGS];
} p11o_fn_desc;

extern const p11o_fn_desc p11o_trace_fns[P11O_FN_COUNT];

/* Every argument as an integer: CK_ULONG values and pointers alike. */
typedef uintptr_t p11o_targ;

/* ---- decoders ----------------------------------------------------------- */

/* May the decoder read what input pointers point to, given rv? */
bool p11o_trace_rv_allows_inputs(CK_RV rv);

/* Attribute template: one "      CKA_X = value" line each.  `out` selects
 * C_GetAttributeValue output rules (per-attribute availability). */
void p11o_tb_template(p11o_tbuf *b, const CK_ATTRIBUTE *t, CK_ULONG count,
		      bool out, size_t cap);
/* Mechanism: "CKM_X" plus decoded parameter.  `nested` allows reading
 * buffers that the parameter struct points to. */
void p11o_tb_mechanism(p11o_tbuf *b, const CK_MECHANISM *m, bool nested,
		       size_t cap);

/* Structs (trace_structs.c); the multi-line ones start with a newline. */
void p11o_tb_out_info(p11o_tbuf *b, const CK_INFO *i);
void p11o_tb_out_slot_info(p11o_tbuf *b, const CK_SLOT_INFO *i);
void p11o_tb_out_token_info(p11o_tbuf *b, const CK_TOKEN_INFO *i);
void p11o_tb_out_session_info(p11o_tbuf *b, const CK_SESSION_INFO *i);
void p11o_tb_out_mech_info(p11o_tbuf *b, const CK_MECHANISM_INFO *i);
void p11o_tb_init_args(p11o_tbuf *b, const CK_C_INITIALIZE_ARGS *a);

/* Options of one record. */
typedef struct p11o_trace_fmt {
	enum p11o_trace_level level;
	size_t max_value;
} p11o_trace_fmt;

/* Format one complete record (ends with '\n'; cut with a marker on
 * overflow).  Returns its length. */
size_t p11o_trace_format_record(char *buf, size_t cap,
				const p11o_trace_fmt *fmt,
				enum p11o_fn_index fn, const p11o_targ *av,
				CK_RV rv, uint64_t start_ns, uint64_t dur_ns,
				unsigned long pid, unsigned long tid);

/* ---- layer state (trace_layer.c / trace_sink.c) ------------------------- */

enum p11o_trace_dest { P11O_TD_NONE, P11O_TD_FD, P11O_TD_SYSLOG };

typedef struct p11o_trace_stat {
	atomic_ulong calls, errors;
	atomic_ullong ns;
} p11o_trace_stat;

typedef struct p11o_trace {
	p11o_layer layer; /* first: a p11o_layer * is a p11o_trace * */
	enum p11o_trace_dest dest;
	int fd;
	bool own_fd;
	bool include_events;
	p11o_trace_fmt fmt;  /* level for the configured destination */
	p11o_trace_fmt cfmt; /* level used when only the callback is set */
	_Atomic(CK_TRACE_CALLBACK) cb;
	char header[4096];
	size_t header_len;
	p11o_trace_stat stats[P11O_FN_COUNT];
} p11o_trace;

#define P11O_TRACE_RECORD_MAX 32768

/* Deliver one complete record to the destination and the callback. */
void p11o_trace_sink(p11o_trace *t, const char *rec, size_t len);
/* Open the destination from stack->config; build and write the header. */
void p11o_trace_sink_open(p11o_trace *t);
void p11o_trace_sink_close(p11o_trace *t);
/* "# provider info: ..." from stack->provider.fl.C_GetInfo. */
void p11o_trace_provider_info(p11o_trace *t);
/* Per-function statistics table; resets the counters. */
void p11o_trace_summary(p11o_trace *t);
/* Nanoseconds since the epoch (CLOCK_REALTIME). */
uint64_t p11o_trace_now(void);
/* pid and tid of the calling thread, cached per thread, fork-safe. */
void p11o_trace_ids(unsigned long *pid, unsigned long *tid);

#endif
