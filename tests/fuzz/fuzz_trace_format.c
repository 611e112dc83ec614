/* libFuzzer target: the trace record formatter (docs/architecture.md §7) on
 * random calls.  Fuzz bytes choose the function, the rv and every argument; all
 * memory the formatter may read is owned here (one malloc per buffer, so
 * ASan sees any over-read), and every pointer it must NOT read (PINs,
 * inputs when rv says the provider read nothing, outputs of failed calls,
 * nested mechanism buffers of failed calls) is an unmapped address. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trace/trace_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BAD ((uintptr_t)0x10) /* never mapped: reading it crashes */

typedef struct rd {
	const uint8_t *p;
	size_t n;
	void *allocs[512];
	size_t nallocs;
} rd;

static uint8_t u8(rd *r)
{
	if (!r->n)
		return 0;
	r->n--;
	return *r->p++;
}

static CK_ULONG ulong_(rd *r)
{
	CK_ULONG v = 0;
	for (size_t i = 0; i < sizeof(v); i++)
		v = v << 8 | u8(r);
	return v;
}

/* A small length: mostly short, sometimes large. */
static CK_ULONG len_(rd *r)
{
	uint8_t b = u8(r);
	return b < 240 ? b % 48 : (CK_ULONG)(b - 240) * 64;
}

static void *own(rd *r, size_t n)
{
	if (r->nallocs == sizeof(r->allocs) / sizeof(r->allocs[0]))
		return NULL;
	void *p = malloc(n ? n : 1);
	r->allocs[r->nallocs++] = p;
	for (size_t i = 0; i < n; i++)
		((uint8_t *)p)[i] = u8(r);
	return p;
}

static const CK_ULONG attr_types[] = {CKA_CLASS,
				      CKA_TOKEN,
				      CKA_LABEL,
				      CKA_VALUE,
				      CKA_KEY_TYPE,
				      CKA_MODULUS_BITS,
				      CKA_PRIVATE_EXPONENT,
				      CKA_START_DATE,
				      CKA_ALLOWED_MECHANISMS,
				      CKA_WRAP_TEMPLATE,
				      CKA_CERTIFICATE_TYPE,
				      CKA_KEY_GEN_MECHANISM,
				      CKA_ID,
				      CKA_PRIME_1,
				      CKA_HW_FEATURE_TYPE,
				      CKA_VENDOR_DEFINED | 1};

static CK_ATTRIBUTE *template_(rd *r, CK_ULONG *count, bool values_ok)
{
	CK_ULONG n = u8(r) % 12;
	CK_ATTRIBUTE *t = own(r, 0);
	t = realloc(t, (n ? n : 1) * sizeof(*t));
	r->allocs[r->nallocs - 1] = t;
	for (CK_ULONG i = 0; i < n; i++) {
		uint8_t sel = u8(r);
		t[i].type = sel < 200 ? attr_types[sel % 16] : ulong_(r);
		uint8_t how = u8(r) % 8;
		if (how == 0) {
			t[i].pValue = (void *)BAD; /* must not be read */
			t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
		} else if (how == 1) {
			t[i].pValue = NULL;
			t[i].ulValueLen = ulong_(r);
		} else if (how ==
			   2) { /* exact ulong-sized, class/type values */
			t[i].ulValueLen = sizeof(CK_ULONG);
			t[i].pValue = own(r, sizeof(CK_ULONG));
		} else {
			t[i].ulValueLen = len_(r);
			t[i].pValue = own(r, t[i].ulValueLen);
		}
		if (!values_ok && t[i].pValue)
			t[i].pValue = (void *)BAD;
	}
	*count = n;
	return t;
}

static const CK_ULONG mechs[] = {
    CKM_RSA_PKCS_PSS, CKM_SHA256_RSA_PKCS_PSS, CKM_RSA_PKCS_OAEP, CKM_AES_GCM,
    CKM_AES_CBC,      CKM_DES3_CBC_PAD,        CKM_ECDH1_DERIVE,  CKM_SHA256,
    CKM_ECDSA};

static CK_MECHANISM *mechanism_(rd *r, bool nested)
{
	CK_MECHANISM *m = own(r, sizeof(*m));
	uint8_t sel = u8(r);
	m->mechanism = sel < 220 ? mechs[sel % 9] : ulong_(r);
	uint8_t how = u8(r) % 4;
	if (how == 0) { /* the struct the mechanism expects */
		void *nb = nested ? own(r, 64) : (void *)BAD;
		CK_ULONG nl = nested ? u8(r) % 65 : ulong_(r);
		switch (m->mechanism) {
		case CKM_RSA_PKCS_OAEP: {
			CK_RSA_PKCS_OAEP_PARAMS *p = own(r, sizeof(*p));
			p->pSourceData = nb;
			p->ulSourceDataLen = nl;
			m->pParameter = p;
			m->ulParameterLen = sizeof(*p);
			return m;
		}
		case CKM_AES_GCM: {
			if (u8(r) & 1) {
				CK_GCM_PARAMS *p = own(r, sizeof(*p));
				p->pIv = p->pAAD = nb;
				p->ulIvLen = p->ulAADLen = nl;
				m->pParameter = p;
				m->ulParameterLen = sizeof(*p);
			} else { /* 2.40 layout without ulIvBits */
				struct {
					CK_BYTE_PTR pIv;
					CK_ULONG ulIvLen;
					CK_BYTE_PTR pAAD;
					CK_ULONG ulAADLen, ulTagBits;
				} *p = own(r, sizeof(*p));
				p->pIv = p->pAAD = nb;
				p->ulIvLen = p->ulAADLen = nl;
				m->pParameter = p;
				m->ulParameterLen = sizeof(*p);
			}
			return m;
		}
		case CKM_ECDH1_DERIVE: {
			CK_ECDH1_DERIVE_PARAMS *p = own(r, sizeof(*p));
			p->pSharedData = nb;
			p->ulSharedDataLen = nl;
			p->pPublicData = nb;
			p->ulPublicDataLen = nl;
			m->pParameter = p;
			m->ulParameterLen = sizeof(*p);
			return m;
		}
		default:
			break;
		}
	}
	if (how == 1) { /* garbage parameter: length must not match */
		m->pParameter = (void *)BAD;
		m->ulParameterLen = 0xdeadbeef;
	} else if (how == 2) {
		m->pParameter = NULL;
		m->ulParameterLen = 0;
	} else { /* raw bytes of any length (structs with no pointers) */
		m->ulParameterLen = len_(r);
		if (m->mechanism == CKM_RSA_PKCS_OAEP ||
		    m->mechanism == CKM_AES_GCM ||
		    m->mechanism == CKM_ECDH1_DERIVE)
			m->ulParameterLen = 7; /* not their size */
		m->pParameter = own(r, m->ulParameterLen);
	}
	return m;
}

static const CK_RV rvs[] = {CKR_OK,
			    CKR_BUFFER_TOO_SMALL,
			    CKR_ATTRIBUTE_SENSITIVE,
			    CKR_ATTRIBUTE_TYPE_INVALID,
			    CKR_CRYPTOKI_NOT_INITIALIZED,
			    CKR_ARGUMENTS_BAD,
			    CKR_SESSION_HANDLE_INVALID,
			    CKR_DEVICE_ERROR,
			    CKR_MECHANISM_PARAM_INVALID,
			    CKR_DATA_LEN_RANGE,
			    CKR_VENDOR_DEFINED | 5};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char out[P11O_TRACE_RECORD_MAX];
	rd r = {.p = data, .n = size};
	enum p11o_fn_index fn = (enum p11o_fn_index)(u8(&r) % P11O_FN_COUNT);
	CK_RV rv = rvs[u8(&r) % (sizeof(rvs) / sizeof(rvs[0]))];
	const p11o_fn_desc *d = &p11o_trace_fns[fn];
	bool in_ok = p11o_trace_rv_allows_inputs(rv);
	bool out_ok = rv == CKR_OK || rv == CKR_BUFFER_TOO_SMALL ||
		      rv == CKR_ATTRIBUTE_SENSITIVE ||
		      rv == CKR_ATTRIBUTE_TYPE_INVALID;
	p11o_targ av[P11O_TRACE_MAX_ARGS] = {0};

	for (unsigned i = 0; i < d->nargs; i++) {
		unsigned k = d->args[i].kind;
		bool null = u8(&r) == 0;
		switch (k) {
		case P11O_AK_TEMPLATE:
		case P11O_AK_OUT_TEMPLATE: {
			/* the array is input; C_GetAttributeValue's values
			 * are output */
			CK_ULONG n;
			CK_ATTRIBUTE *t = template_(
			    &r, &n, k == P11O_AK_TEMPLATE ? in_ok : out_ok);
			av[i] = in_ok ? (p11o_targ)t : BAD;
			av[++i] = in_ok ? n : ulong_(&r);
			break;
		}
		case P11O_AK_MECHANISM:
			av[i] = in_ok ? (p11o_targ)mechanism_(&r, rv == CKR_OK)
				      : BAD;
			break;
		case P11O_AK_IN_BYTES:
		case P11O_AK_IN_TEXT: {
			CK_ULONG n = len_(&r);
			av[i] = in_ok ? (p11o_targ)own(&r, n) : BAD;
			av[++i] = in_ok ? n : ulong_(&r);
			break;
		}
		case P11O_AK_PIN:
			av[i] = null ? 0 : BAD; /* never read */
			av[++i] = ulong_(&r);
			break;
		case P11O_AK_LABEL32:
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
		case P11O_AK_INIT_ARGS: {
			bool ok = k == P11O_AK_LABEL32 || k == P11O_AK_INIT_ARGS
				      ? in_ok
				      : rv == CKR_OK;
			av[i] = null ? 0
				: ok ? (p11o_targ)own(&r, sizeof(CK_TOKEN_INFO))
				     : BAD;
			break;
		}
		case P11O_AK_STRING:
		case P11O_AK_VAR_NAME:
		case P11O_AK_VAR_VALUE: {
			size_t n = len_(&r);
			char *s = own(&r, n + 1);
			s[n] = 0;
			av[i] = null ? 0 : in_ok ? (p11o_targ)s : BAD;
			break;
		}
		case P11O_AK_OUT_STRING: { /* followed by ULONG valueLen */
			CK_ULONG n = len_(&r) + 1;
			char *s = own(&r, n);
			s[n - 1] = 0;
			av[i] = rv == CKR_OK ? (p11o_targ)s : BAD;
			av[++i] = n;
			break;
		}
		case P11O_AK_OUT_BYTES:
		case P11O_AK_OUT_SLOT_LIST:
		case P11O_AK_OUT_MECH_LIST:
		case P11O_AK_OUT_OBJECTS: {
			/* buffer, then its LEN / OUT_LEN / OUT_COUNT (or
			 * ULONG max + OUT_COUNT) */
			CK_ULONG cap = len_(&r);
			size_t unit =
			    k == P11O_AK_OUT_BYTES ? 1 : sizeof(CK_ULONG);
			void *buf = own(&r, cap * unit);
			av[i] = null ? 0 : rv == CKR_OK ? (p11o_targ)buf : BAD;
			if (k == P11O_AK_OUT_OBJECTS)
				av[++i] = u8(&r) & 1 ? cap : ulong_(&r);
			if (i + 1 >= d->nargs)
				break;
			if (d->args[i + 1].kind == P11O_AK_LEN) {
				av[++i] = cap;
				break;
			}
			CK_ULONG *pl = own(&r, sizeof(*pl));
			/* on success the provider returns at most cap;
			 * larger only with a NULL buffer (size query) */
			*pl =
			    av[i - (k == P11O_AK_OUT_OBJECTS)] || !(u8(&r) & 1)
				? (cap ? *pl % (cap + 1) : 0)
				: *pl;
			if (k == P11O_AK_OUT_OBJECTS && *pl > cap)
				*pl = cap;
			av[++i] = rv == CKR_OK || rv == CKR_BUFFER_TOO_SMALL
				      ? (p11o_targ)pl
				      : BAD;
			break;
		}
		default: /* scalars and pointers shown as values only */
			av[i] = u8(&r) & 1 ? ulong_(&r) : u8(&r);
			break;
		}
	}
	p11o_trace_fmt fmt = {.level = P11O_TRACE_FULL,
			      .max_value = u8(&r) & 1 ? 256 : len_(&r)};
	size_t n = p11o_trace_format_record(out, sizeof(out), &fmt, fn, av, rv,
					    ulong_(&r), ulong_(&r), 1, 2);
	if (n > sizeof(out) || n == 0 || out[n - 1] != '\n')
		__builtin_trap();
	for (size_t i = 0; i < r.nallocs; i++)
		free(r.allocs[i]);
	return 0;
}
