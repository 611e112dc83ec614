/* Argument descriptors (expanded from functions.h) and the record decoder.
 *
 * Rules (docs/architecture.md §3, §7): decode after the call; read what input
 * pointers point to only when rv says the provider got that far; outputs only
 * on success (per-attribute rules for C_GetAttributeValue); secrets never. */
#include "trace_int.h"
#include "variables.h"

/* ---- the argument table ------------------------------------------------- */

/* clang-format off */
#define P11O_DESC_ARG_(kind, type, param)                                      \
	{P11O_AK_##kind, sizeof(#param) - 1, #param}
#define P11O_DESC_(fname, ...)                                                 \
	[P11O_FN_##fname] = {#fname, sizeof(#fname) - 1,                       \
			     P11O_NARGS(__VA_ARGS__),                          \
			     {P11O_MAPC(P11O_DESC_ARG_, __VA_ARGS__)}},
/* clang-format on */
const p11o_fn_desc p11o_trace_fns[P11O_FN_COUNT] = {P11O_FUNCTIONS(P11O_DESC_)};
#undef P11O_DESC_
#undef P11O_DESC_ARG_

/* ---- helpers ------------------------------------------------------------ */

bool p11o_trace_rv_allows_inputs(CK_RV rv)
{
	switch (rv) {
	case CKR_CRYPTOKI_NOT_INITIALIZED:
	case CKR_ARGUMENTS_BAD:
	case CKR_SESSION_HANDLE_INVALID:
	case CKR_SLOT_ID_INVALID:
	case CKR_FUNCTION_NOT_SUPPORTED:
	case CKR_CRYPTOKI_ALREADY_INITIALIZED:
		return false;
	default:
		return true;
	}
}

/* Input byte buffers with a length the provider refused: it need not have
 * read them, and the length may be garbage. */
static bool rv_allows_in_bytes(CK_RV rv)
{
	switch (rv) {
	case CKR_DATA_LEN_RANGE:
	case CKR_ENCRYPTED_DATA_LEN_RANGE:
	case CKR_SIGNATURE_LEN_RANGE:
	case CKR_WRAPPED_KEY_LEN_RANGE:
	case CKR_MECHANISM_PARAM_INVALID:
		return false;
	default:
		return p11o_trace_rv_allows_inputs(rv);
	}
}

/* C_SetVariable/C_GetVariable names whose values are secrets: the
 * variables' own rule (p11o_variable_is_secret) on the part of the name
 * within `cap`. */
static bool secret_var(const char *name, size_t cap)
{
	char copy[128];
	size_t n =
	    strnlen(name, cap < sizeof(copy) - 1 ? cap : sizeof(copy) - 1);
	memcpy(copy, name, n);
	copy[n] = 0;
	return n == cap /* longer than we look at: be safe */ ||
	       p11o_variable_is_secret(copy);
}

static unsigned long rd_ulong(p11o_targ p)
{
	CK_ULONG v;
	memcpy(&v, (const void *)p, sizeof(v));
	return v;
}

static void line(p11o_tbuf *b, bool out, const char *name, size_t len)
{
	if (out)
		P11O_TB_LIT(b, "  < ");
	else
		P11O_TB_LIT(b, "  > ");
	p11o_tb_mem(b, name, len);
	P11O_TB_LIT(b, " = ");
}

static void ulong_list(p11o_tbuf *b, enum p11o_ntab t, p11o_targ p,
		       unsigned long n, size_t cap)
{
	const CK_ULONG *v = (const CK_ULONG *)p;
	unsigned long max = cap / sizeof(CK_ULONG) ? cap / sizeof(CK_ULONG) : 1;
	p11o_tb_c(b, '[');
	for (unsigned long i = 0; i < n && i < max && !b->overflow; i++) {
		CK_ULONG x;
		memcpy(&x, v + i, sizeof(x));
		if (i)
			P11O_TB_LIT(b, ", ");
		if (t == P11O_NT_COUNT)
			p11o_tb_hex(b, x);
		else
			p11o_tb_name(b, t, x);
	}
	if (n > max)
		P11O_TB_LIT(b, ", ...");
	p11o_tb_c(b, ']');
}

/* ---- the decoder -------------------------------------------------------- */

static bool rv_allows_out_template(CK_RV rv)
{
	return rv == CKR_OK || rv == CKR_ATTRIBUTE_SENSITIVE ||
	       rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_BUFFER_TOO_SMALL;
}

static void ptr_len(p11o_tbuf *b, p11o_targ p, unsigned long len)
{
	p11o_tb_ptr(b, (const void *)p);
	P11O_TB_LIT(b, " (len ");
	p11o_tb_dec(b, len);
	p11o_tb_c(b, ')');
}

typedef struct dctx {
	const p11o_fn_desc *d;
	const p11o_targ *av;
	CK_RV rv;
	bool in, ok;
	size_t cap;
	enum p11o_fn_index fn;
	const char *var; /* variable name read from STRING/VAR_NAME */
} dctx;

/* Decode argument i in the input (out=false) or output phase; returns how
 * many following arguments it consumed. */
/* An output buffer with a length pointer (two-call convention): before
 * the call only a size query is worth a line; after it, the contents or
 * the length matter only on success or CKR_BUFFER_TOO_SMALL.  True when
 * the caller prints them. */
static bool out_buffer_head(p11o_tbuf *b, const dctx *c, bool out, p11o_targ v,
			    p11o_targ len, const char *nm, size_t nml)
{
	if (!out) {
		if (!v) {
			line(b, false, nm, nml);
			P11O_TB_LIT(b, "NULL (size query)");
			p11o_tb_c(b, '\n');
		}
		return false;
	}
	return len && (c->ok || c->rv == CKR_BUFFER_TOO_SMALL);
}

static unsigned decode_arg(p11o_tbuf *b, dctx *c, unsigned i, bool out)
{
	const char *nm = c->d->args[i].name;
	size_t nml = c->d->args[i].name_len;
	p11o_targ v = c->av[i];
	bool has_next = i + 1 < c->d->nargs;
	p11o_targ nx = has_next ? c->av[i + 1] : 0;
	const char *nxname = has_next ? c->d->args[i + 1].name : "";
	size_t nxl = has_next ? c->d->args[i + 1].name_len : 0;
	unsigned nxkind = has_next ? c->d->args[i + 1].kind : P11O_AK__MAX;

	switch ((enum p11o_arg_kind)c->d->args[i].kind) {
	case P11O_AK_ULONG:
	case P11O_AK_COUNT:
	case P11O_AK_LEN:
		if (out)
			return 0;
		line(b, false, nm, nml);
		p11o_tb_dec(b, v);
		break;
	case P11O_AK_BOOL:
		if (out)
			return 0;
		line(b, false, nm, nml);
		p11o_tb_str(b, v == CK_FALSE ? "CK_FALSE" : "CK_TRUE");
		break;
	case P11O_AK_SLOT:
	case P11O_AK_SESSION:
	case P11O_AK_OBJECT:
		if (out)
			return 0;
		line(b, false, nm, nml);
		p11o_tb_hex(b, v);
		break;
	case P11O_AK_FLAGS:
	case P11O_AK_SESSION_FLAGS:
	case P11O_AK_WAIT_FLAGS:
		if (out)
			return 0;
		line(b, false, nm, nml);
		p11o_tb_flags(b,
			      c->d->args[i].kind == P11O_AK_SESSION_FLAGS
				  ? P11O_FG_SESSION
			      : c->d->args[i].kind == P11O_AK_WAIT_FLAGS
				  ? P11O_FG_WAIT
			      : c->fn == P11O_FN_C_SessionCancel ? P11O_FG_MECH
								 : P11O_FG_MSG,
			      v);
		break;
	case P11O_AK_USER:
	case P11O_AK_MECH_TYPE:
		if (out)
			return 0;
		line(b, false, nm, nml);
		p11o_tb_name(b,
			     c->d->args[i].kind == P11O_AK_USER ? P11O_NT_CKU
								: P11O_NT_CKM,
			     v);
		break;
	case P11O_AK_POINTER:
	case P11O_AK_RESERVED:
		if (out)
			return 0;
		line(b, false, nm, nml);
		p11o_tb_ptr(b, (const void *)v);
		break;
	case P11O_AK_INIT_ARGS:
		if (out)
			return 0;
		line(b, false, nm, nml);
		if (v && c->in)
			p11o_tb_init_args(b, (const CK_C_INITIALIZE_ARGS *)v);
		else
			p11o_tb_ptr(b, (const void *)v);
		break;
	case P11O_AK_MECHANISM:
		if (out)
			return 0;
		line(b, false, nm, nml);
		if (v && c->in)
			p11o_tb_mechanism(b, (const CK_MECHANISM *)v, c->ok,
					  c->cap);
		else
			p11o_tb_ptr(b, (const void *)v);
		break;
	case P11O_AK_TEMPLATE:
		if (out)
			return 1;
		line(b, false, nm, nml);
		if (!v || !c->in)
			p11o_tb_ptr(b, (const void *)v);
		P11O_TB_LIT(b, "[");
		p11o_tb_dec(b, nx);
		p11o_tb_c(b, ']');
		p11o_tb_c(b, '\n');
		if (v && c->in && nx)
			p11o_tb_template(b, (const CK_ATTRIBUTE *)v, nx, false,
					 c->cap);
		return 1;
	case P11O_AK_OUT_TEMPLATE: {
		bool show = v && rv_allows_out_template(c->rv);
		if (out != show)
			return 1;
		line(b, out, nm, nml);
		if (!v || !c->in)
			p11o_tb_ptr(b, (const void *)v);
		P11O_TB_LIT(b, "[");
		p11o_tb_dec(b, nx);
		p11o_tb_c(b, ']');
		if (show && nx) {
			p11o_tb_c(b, '\n');
			p11o_tb_template(b, (const CK_ATTRIBUTE *)v, nx, true,
					 c->cap);
			return 1;
		}
		if (!show && v && c->in) {
			/* failed: the types asked for */
			P11O_TB_LIT(b, " types");
			const CK_ATTRIBUTE *t = (const CK_ATTRIBUTE *)v;
			for (CK_ULONG j = 0; j < nx && !b->overflow; j++) {
				p11o_tb_c(b, ' ');
				p11o_tb_name(b, P11O_NT_CKA, t[j].type);
			}
		}
		p11o_tb_c(b, '\n');
		return 1;
	}
	case P11O_AK_IN_BYTES:
	case P11O_AK_IN_TEXT:
		if (out)
			return 1;
		line(b, false, nm, nml);
		if (!v || !rv_allows_in_bytes(c->rv))
			ptr_len(b, v, nx);
		else if (c->d->args[i].kind == P11O_AK_IN_TEXT)
			p11o_tb_text(b, (const void *)v, nx, c->cap);
		else
			p11o_tb_bytes(b, (const void *)v, nx, c->cap);
		break;
	case P11O_AK_PIN:
		if (out)
			return 1;
		line(b, false, nm, nml);
		if (v)
			p11o_tb_secret(b, nx);
		else
			ptr_len(b, v, nx);
		break;
	case P11O_AK_LABEL32:
		if (out)
			return 0;
		line(b, false, nm, nml);
		if (v && c->in)
			p11o_tb_padded(b, (const unsigned char *)v, 32);
		else
			p11o_tb_ptr(b, (const void *)v);
		break;
	case P11O_AK_STRING:
	case P11O_AK_VAR_NAME:
		if (out)
			return 0;
		line(b, false, nm, nml);
		if (v && c->in) {
			c->var = (const char *)v;
			p11o_tb_text(b, c->var, strnlen(c->var, c->cap + 1),
				     c->cap);
		} else
			p11o_tb_ptr(b, (const void *)v);
		break;
	case P11O_AK_VAR_VALUE:
		if (out)
			return 0;
		line(b, false, nm, nml);
		if (!v || !c->in)
			p11o_tb_ptr(b, (const void *)v);
		else if (!c->var || secret_var(c->var, c->cap))
			p11o_tb_secret(b, strnlen((const char *)v, 65536));
		else
			p11o_tb_text(b, (const void *)v,
				     strnlen((const char *)v, c->cap + 1),
				     c->cap);
		break;
	case P11O_AK_OUT_STRING:
		if (!out || !c->ok || !v)
			return 0;
		line(b, true, nm, nml);
		{
			size_t lim = nxkind == P11O_AK_ULONG ? nx : 0;
			size_t n = strnlen((const char *)v,
					   lim < c->cap ? lim : c->cap);
			if (!c->var || secret_var(c->var, c->cap))
				p11o_tb_secret(b, n);
			else
				p11o_tb_text(b, (const void *)v, n, c->cap);
		}
		break;
	case P11O_AK_OUT_INFO:
	case P11O_AK_OUT_SLOT_INFO:
	case P11O_AK_OUT_TOKEN_INFO:
	case P11O_AK_OUT_MECH_INFO:
	case P11O_AK_OUT_SESSION_INFO:
	case P11O_AK_OUT_SESSION:
	case P11O_AK_OUT_OBJECT:
	case P11O_AK_OUT_SLOT:
	case P11O_AK_OUT_ULONG:
	case P11O_AK_INOUT_ULONG:
		if (!out || !c->ok || !v)
			return 0;
		line(b, true, nm, nml);
		switch ((enum p11o_arg_kind)c->d->args[i].kind) {
		case P11O_AK_OUT_INFO:
			p11o_tb_out_info(b, (const CK_INFO *)v);
			break;
		case P11O_AK_OUT_SLOT_INFO:
			p11o_tb_out_slot_info(b, (const CK_SLOT_INFO *)v);
			break;
		case P11O_AK_OUT_TOKEN_INFO:
			p11o_tb_out_token_info(b, (const CK_TOKEN_INFO *)v);
			break;
		case P11O_AK_OUT_MECH_INFO:
			p11o_tb_out_mech_info(b, (const CK_MECHANISM_INFO *)v);
			break;
		case P11O_AK_OUT_SESSION_INFO:
			p11o_tb_out_session_info(b, (const CK_SESSION_INFO *)v);
			break;
		case P11O_AK_OUT_ULONG:
		case P11O_AK_INOUT_ULONG:
			p11o_tb_dec(b, rd_ulong(v));
			break;
		default:
			p11o_tb_hex(b, rd_ulong(v));
			break;
		}
		break;
	case P11O_AK_OUT_SLOT_LIST:
	case P11O_AK_OUT_MECH_LIST:
		if (!out_buffer_head(b, c, out, v, nx, nm, nml))
			return 1;
		if (c->ok && v) {
			line(b, true, nm, nml);
			ulong_list(b,
				   c->d->args[i].kind == P11O_AK_OUT_MECH_LIST
				       ? P11O_NT_CKM
				       : P11O_NT_COUNT,
				   v, rd_ulong(nx), c->cap);
			p11o_tb_c(b, '\n');
		}
		line(b, true, nxname, nxl);
		p11o_tb_dec(b, rd_ulong(nx));
		p11o_tb_c(b, '\n');
		return 1;
	case P11O_AK_OUT_BYTES:
		if (nxkind == P11O_AK_LEN) { /* fixed-size output */
			if (!out) {
				line(b, false, nxname, nxl);
				p11o_tb_dec(b, nx);
			} else if (c->ok && v) {
				line(b, true, nm, nml);
				p11o_tb_bytes(b, (const void *)v, nx, c->cap);
			} else
				return 1;
			p11o_tb_c(b, '\n');
			return 1;
		}
		if (!out_buffer_head(b, c, out, v, nx, nm, nml))
			return 1;
		if (c->ok && v) {
			line(b, true, nm, nml);
			p11o_tb_bytes(b, (const void *)v, rd_ulong(nx), c->cap);
		} else {
			line(b, true, nxname, nxl);
			p11o_tb_dec(b, rd_ulong(nx));
		}
		p11o_tb_c(b, '\n');
		return 1;
	case P11O_AK_OUT_OBJECTS: {
		p11o_targ max = nx;
		p11o_targ pcount = i + 2 < c->d->nargs ? c->av[i + 2] : 0;
		const char *cname =
		    i + 2 < c->d->nargs ? c->d->args[i + 2].name : "";
		size_t cl =
		    i + 2 < c->d->nargs ? c->d->args[i + 2].name_len : 0;
		if (!out) {
			line(b, false, nxname, nxl);
			p11o_tb_dec(b, max);
			p11o_tb_c(b, '\n');
			return 2;
		}
		if (!c->ok || !pcount)
			return 2;
		unsigned long n = rd_ulong(pcount);
		line(b, true, cname, cl);
		p11o_tb_dec(b, n);
		p11o_tb_c(b, '\n');
		if (v && n) {
			line(b, true, nm, nml);
			ulong_list(b, P11O_NT_COUNT, v, n < max ? n : max,
				   c->cap);
			p11o_tb_c(b, '\n');
		}
		return 2;
	}
	case P11O_AK_OUT_LEN:
	case P11O_AK_OUT_COUNT:
		/* only ever after their buffer; stand-alone: the value */
		if (!out || !c->ok || !v)
			return 0;
		line(b, true, nm, nml);
		p11o_tb_dec(b, rd_ulong(v));
		break;
	default:
		return 0;
	}
	p11o_tb_c(b, '\n');
	return 0;
}

static void decode(p11o_tbuf *b, enum p11o_fn_index fn, const p11o_targ *av,
		   CK_RV rv, size_t cap)
{
	dctx c = {.d = &p11o_trace_fns[fn],
		  .av = av,
		  .rv = rv,
		  .in = p11o_trace_rv_allows_inputs(rv),
		  .ok = rv == CKR_OK,
		  .cap = cap,
		  .fn = fn};
	for (int phase = 0; phase < 2; phase++)
		for (unsigned i = 0; i < c.d->nargs && !b->overflow; i++)
			i += decode_arg(b, &c, i, phase == 1);
}

static const char trunc_marker[] = "\n  ...[record truncated]\n";

size_t p11o_trace_format_record(char *buf, size_t cap,
				const p11o_trace_fmt *fmt,
				enum p11o_fn_index fn, const p11o_targ *av,
				CK_RV rv, uint64_t start_ns, uint64_t dur_ns,
				unsigned long pid, unsigned long tid)
{
	p11o_tbuf b;
	if (cap < sizeof(trunc_marker) + 64)
		return 0;
	p11o_tb_init(&b, buf, cap - sizeof(trunc_marker));
	p11o_tb_utc(&b, start_ns);
	p11o_tb_c(&b, ' ');
	p11o_tb_dec(&b, pid);
	p11o_tb_c(&b, ':');
	p11o_tb_dec(&b, tid);
	p11o_tb_c(&b, ' ');
	p11o_tb_mem(&b, p11o_trace_fns[fn].name, p11o_trace_fns[fn].name_len);
	if (fmt->level >= P11O_TRACE_FULL) {
		p11o_tb_c(&b, '\n');
		decode(&b, fn, av, rv, fmt->max_value);
		P11O_TB_LIT(&b, "  = ");
	} else
		P11O_TB_LIT(&b, " = ");
	p11o_tb_name(&b, P11O_NT_CKR, rv);
	p11o_tb_c(&b, ' ');
	p11o_tb_duration(&b, dur_ns);
	p11o_tb_c(&b, '\n');
	if (b.overflow) {
		b.end = buf + cap;
		b.overflow = false;
		P11O_TB_LIT(&b, trunc_marker);
	}
	return (size_t)(b.p - buf);
}
