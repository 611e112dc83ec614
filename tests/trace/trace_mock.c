/* Canned bottom layer and helpers for the trace tests. */
#include "trace_mock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef P11O_TRACE_GOLDEN_DIR
#define P11O_TRACE_GOLDEN_DIR "tests/trace/golden"
#endif

CK_RV mock_rv = CKR_OK;
enum p11o_fn_index mock_fail_fn = P11O_FN_COUNT;
bool mock_all;

static p11o_ops mock_ops, default_ops;

#define RV(fn) (mock_all || mock_fail_fn == P11O_FN_##fn ? mock_rv : CKR_OK)
#define UNUSED(x) (void)(x)

static void pad(CK_UTF8CHAR *dst, size_t n, const char *s)
{
	memset(dst, ' ', n);
	memcpy(dst, s, strlen(s) < n ? strlen(s) : n);
}

static CK_RV provider_get_info(CK_INFO_PTR p)
{
	memset(p, 0, sizeof(*p));
	p->cryptokiVersion.major = 2;
	p->cryptokiVersion.minor = 40;
	pad(p->manufacturerID, sizeof(p->manufacturerID), "Mock Provider");
	pad(p->libraryDescription, sizeof(p->libraryDescription),
	    "canned answers");
	p->libraryVersion.major = 1;
	p->libraryVersion.minor = 2;
	return CKR_OK;
}

static CK_RV m_get_info(p11o_layer *s, CK_INFO_PTR p)
{
	UNUSED(s);
	if (RV(C_GetInfo) != CKR_OK)
		return RV(C_GetInfo);
	return provider_get_info(p);
}

static CK_RV m_get_slot_list(p11o_layer *s, CK_BBOOL present,
			     CK_SLOT_ID_PTR list, CK_ULONG_PTR count)
{
	UNUSED(s);
	UNUSED(present);
	if (RV(C_GetSlotList) != CKR_OK)
		return RV(C_GetSlotList);
	if (list && *count < 2) {
		*count = 2;
		return CKR_BUFFER_TOO_SMALL;
	}
	if (list) {
		list[0] = 1;
		list[1] = 0x20;
	}
	*count = 2;
	return CKR_OK;
}

static CK_RV m_get_slot_info(p11o_layer *s, CK_SLOT_ID id, CK_SLOT_INFO_PTR p)
{
	UNUSED(s);
	UNUSED(id);
	memset(p, 0, sizeof(*p));
	pad(p->slotDescription, sizeof(p->slotDescription), "Mock Reader 00");
	pad(p->manufacturerID, sizeof(p->manufacturerID), "Mock");
	p->flags = CKF_TOKEN_PRESENT | CKF_REMOVABLE_DEVICE | CKF_HW_SLOT;
	p->hardwareVersion.major = 1;
	return RV(C_GetSlotInfo);
}

static CK_RV m_get_token_info(p11o_layer *s, CK_SLOT_ID id, CK_TOKEN_INFO_PTR p)
{
	UNUSED(s);
	UNUSED(id);
	memset(p, 0, sizeof(*p));
	pad(p->label, sizeof(p->label), "Mock Card (PIN1)");
	pad(p->manufacturerID, sizeof(p->manufacturerID), "Mock");
	pad(p->model, sizeof(p->model), "PKCS#15");
	pad(p->serialNumber, sizeof(p->serialNumber), "0123456789abcdef");
	p->flags = CKF_RNG | CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED |
		   CKF_TOKEN_INITIALIZED | CKF_USER_PIN_COUNT_LOW | 0x10000000;
	p->ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
	p->ulSessionCount = CK_UNAVAILABLE_INFORMATION;
	p->ulMaxRwSessionCount = 16;
	p->ulRwSessionCount = 1;
	p->ulMaxPinLen = 8;
	p->ulMinPinLen = 4;
	p->ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
	p->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
	p->ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
	p->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
	memcpy(p->utcTime, "2024010112000000", 16);
	return RV(C_GetTokenInfo);
}

static CK_RV m_get_mech_list(p11o_layer *s, CK_SLOT_ID id,
			     CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR n)
{
	static const CK_MECHANISM_TYPE m[] = {
	    CKM_RSA_PKCS, CKM_SHA256_RSA_PKCS_PSS, CKM_AES_GCM,
	    CKM_VENDOR_DEFINED | 0x1234};
	UNUSED(s);
	UNUSED(id);
	if (list)
		memcpy(list, m, sizeof(m));
	*n = 4;
	return RV(C_GetMechanismList);
}

static CK_RV m_get_mech_info(p11o_layer *s, CK_SLOT_ID id, CK_MECHANISM_TYPE t,
			     CK_MECHANISM_INFO_PTR p)
{
	UNUSED(s);
	UNUSED(id);
	UNUSED(t);
	p->ulMinKeySize = 1024;
	p->ulMaxKeySize = 4096;
	p->flags = CKF_HW | CKF_SIGN | CKF_VERIFY | CKF_DECRYPT;
	return RV(C_GetMechanismInfo);
}

static CK_RV m_open_session(p11o_layer *s, CK_SLOT_ID id, CK_FLAGS f,
			    CK_VOID_PTR app, CK_NOTIFY n,
			    CK_SESSION_HANDLE_PTR h)
{
	UNUSED(s);
	UNUSED(id);
	UNUSED(f);
	UNUSED(app);
	UNUSED(n);
	*h = 0x1001;
	return RV(C_OpenSession);
}

static CK_RV m_get_session_info(p11o_layer *s, CK_SESSION_HANDLE h,
				CK_SESSION_INFO_PTR p)
{
	UNUSED(s);
	UNUSED(h);
	p->slotID = 1;
	p->state = CKS_RW_USER_FUNCTIONS;
	p->flags = CKF_RW_SESSION | CKF_SERIAL_SESSION;
	p->ulDeviceError = 0;
	return RV(C_GetSessionInfo);
}

static CK_RV m_find_objects(p11o_layer *s, CK_SESSION_HANDLE h,
			    CK_OBJECT_HANDLE_PTR o, CK_ULONG max,
			    CK_ULONG_PTR n)
{
	UNUSED(s);
	UNUSED(h);
	if (max >= 2) {
		o[0] = 0x10;
		o[1] = 0x11;
	}
	*n = max >= 2 ? 2 : 0;
	return RV(C_FindObjects);
}

/* Canned object: label, id, modulus (too big for small buffers), key type,
 * CKA_VALUE (secret), start date, allowed mechanisms, class. */
static CK_RV m_get_attribute_value(p11o_layer *s, CK_SESSION_HANDLE h,
				   CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t,
				   CK_ULONG n)
{
	static const CK_ULONG kt = CKK_RSA, cls = CKO_PRIVATE_KEY;
	static const CK_MECHANISM_TYPE mechs[] = {CKM_RSA_PKCS,
						  CKM_SHA256_RSA_PKCS};
	static _Thread_local unsigned char modulus[300];
	CK_RV rv = CKR_OK;
	UNUSED(s);
	UNUSED(h);
	UNUSED(o);
	for (size_t i = 0; i < sizeof(modulus); i++)
		modulus[i] = (unsigned char)i;
	for (CK_ULONG i = 0; i < n; i++) {
		const void *v = NULL;
		CK_ULONG len = 0;
		switch (t[i].type) {
		case CKA_LABEL:
			v = "key 1";
			len = 5;
			break;
		case CKA_ID:
			v = "\x01\x02\x03\x04";
			len = 4;
			break;
		case CKA_MODULUS:
			v = modulus;
			len = sizeof(modulus);
			break;
		case CKA_KEY_TYPE:
			v = &kt;
			len = sizeof(kt);
			break;
		case CKA_CLASS:
			v = &cls;
			len = sizeof(cls);
			break;
		case CKA_VALUE:
			v = "TOPSECRETKEYVALUE";
			len = 17;
			break;
		case CKA_PRIVATE_EXPONENT:
			t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			rv = CKR_ATTRIBUTE_SENSITIVE;
			continue;
		case CKA_START_DATE:
			v = "20240131";
			len = 8;
			break;
		case CKA_ALLOWED_MECHANISMS:
			v = mechs;
			len = sizeof(mechs);
			break;
		default:
			t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			rv = CKR_ATTRIBUTE_TYPE_INVALID;
			continue;
		}
		if (!t[i].pValue)
			t[i].ulValueLen = len;
		else if (t[i].ulValueLen < len) {
			t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			if (rv == CKR_OK)
				rv = CKR_BUFFER_TOO_SMALL;
		} else {
			memcpy(t[i].pValue, v, len);
			t[i].ulValueLen = len;
		}
	}
	return mock_fail_fn == P11O_FN_C_GetAttributeValue ? mock_rv : rv;
}

static CK_RV out_bytes(CK_BYTE_PTR out, CK_ULONG_PTR len, CK_ULONG want)
{
	if (!out) {
		*len = want;
		return CKR_OK;
	}
	if (*len < want) {
		*len = want;
		return CKR_BUFFER_TOO_SMALL;
	}
	for (CK_ULONG i = 0; i < want; i++)
		out[i] = (CK_BYTE)(0xa0 + i);
	*len = want;
	return CKR_OK;
}

static CK_RV m_sign(p11o_layer *s, CK_SESSION_HANDLE h, CK_BYTE_PTR d,
		    CK_ULONG dl, CK_BYTE_PTR sig, CK_ULONG_PTR sl)
{
	UNUSED(s);
	UNUSED(h);
	UNUSED(d);
	UNUSED(dl);
	if (RV(C_Sign) != CKR_OK)
		return RV(C_Sign);
	return out_bytes(sig, sl, 64);
}

static CK_RV m_encrypt(p11o_layer *s, CK_SESSION_HANDLE h, CK_BYTE_PTR d,
		       CK_ULONG dl, CK_BYTE_PTR o, CK_ULONG_PTR ol)
{
	UNUSED(s);
	UNUSED(h);
	UNUSED(d);
	UNUSED(dl);
	if (RV(C_Encrypt) != CKR_OK)
		return RV(C_Encrypt);
	return out_bytes(o, ol, 16);
}

static CK_RV m_generate_random(p11o_layer *s, CK_SESSION_HANDLE h,
			       CK_BYTE_PTR o, CK_ULONG n)
{
	UNUSED(s);
	UNUSED(h);
	for (CK_ULONG i = 0; i < n; i++)
		o[i] = (CK_BYTE)i;
	return RV(C_GenerateRandom);
}

static CK_RV m_object_out(CK_OBJECT_HANDLE_PTR p, CK_OBJECT_HANDLE v)
{
	if (p)
		*p = v;
	return CKR_OK;
}

static CK_RV m_create_object(p11o_layer *s, CK_SESSION_HANDLE h,
			     CK_ATTRIBUTE_PTR t, CK_ULONG n,
			     CK_OBJECT_HANDLE_PTR o)
{
	UNUSED(s);
	UNUSED(h);
	UNUSED(t);
	UNUSED(n);
	m_object_out(o, 0x30);
	return RV(C_CreateObject);
}

static CK_RV m_generate_key_pair(p11o_layer *s, CK_SESSION_HANDLE h,
				 CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR pt,
				 CK_ULONG pn, CK_ATTRIBUTE_PTR kt, CK_ULONG kn,
				 CK_OBJECT_HANDLE_PTR pub,
				 CK_OBJECT_HANDLE_PTR priv)
{
	UNUSED(s);
	UNUSED(h);
	UNUSED(m);
	UNUSED(pt);
	UNUSED(pn);
	UNUSED(kt);
	UNUSED(kn);
	m_object_out(pub, 0x40);
	m_object_out(priv, 0x41);
	return RV(C_GenerateKeyPair);
}

static CK_RV m_derive_key(p11o_layer *s, CK_SESSION_HANDLE h,
			  CK_MECHANISM_PTR m, CK_OBJECT_HANDLE base,
			  CK_ATTRIBUTE_PTR t, CK_ULONG n,
			  CK_OBJECT_HANDLE_PTR k)
{
	UNUSED(s);
	UNUSED(h);
	UNUSED(m);
	UNUSED(base);
	UNUSED(t);
	UNUSED(n);
	m_object_out(k, 0x50);
	return RV(C_DeriveKey);
}

static CK_RV m_get_variable(p11o_layer *s, const char *name, char *value,
			    CK_ULONG len)
{
	UNUSED(s);
	const char *v = strstr(name, "pin") ? "GETVARSECRET" : "linux x86_64";
	if (strlen(v) + 1 > len)
		return CKR_BUFFER_TOO_SMALL;
	strcpy(value, v);
	return RV(C_GetVariable);
}

static CK_RV m_has_new_event(p11o_layer *s, CK_ULONG_PTR last)
{
	UNUSED(s);
	*last += 1;
	return RV(C_HasNewEvent);
}

static CK_RV m_get_unlock_challenge(p11o_layer *s, CK_SESSION_HANDLE h,
				    CK_BYTE_PTR c, CK_ULONG_PTR cl)
{
	UNUSED(s);
	UNUSED(h);
	return out_bytes(c, cl, 8);
}

/* Every other function: just the rv. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#define MOCK_DEFAULT_(name, ...)                                               \
	static CK_RV d_##name(p11o_layer *self, P11O_PARAMS(__VA_ARGS__))      \
	{                                                                      \
		return RV(name);                                               \
	}
P11O_FUNCTIONS(MOCK_DEFAULT_)
#undef MOCK_DEFAULT_
#pragma GCC diagnostic pop

static void mock_ops_init(void)
{
#define MOCK_OP_(name, ...) mock_ops.name = default_ops.name = d_##name;
	P11O_FUNCTIONS(MOCK_OP_)
#undef MOCK_OP_
	mock_ops.C_GetInfo = m_get_info;
	mock_ops.C_GetSlotList = m_get_slot_list;
	mock_ops.C_GetSlotInfo = m_get_slot_info;
	mock_ops.C_GetTokenInfo = m_get_token_info;
	mock_ops.C_GetMechanismList = m_get_mech_list;
	mock_ops.C_GetMechanismInfo = m_get_mech_info;
	mock_ops.C_OpenSession = m_open_session;
	mock_ops.C_GetSessionInfo = m_get_session_info;
	mock_ops.C_FindObjects = m_find_objects;
	mock_ops.C_GetAttributeValue = m_get_attribute_value;
	mock_ops.C_Sign = m_sign;
	mock_ops.C_Encrypt = m_encrypt;
	mock_ops.C_GenerateRandom = m_generate_random;
	mock_ops.C_CreateObject = m_create_object;
	mock_ops.C_GenerateKeyPair = m_generate_key_pair;
	mock_ops.C_DeriveKey = m_derive_key;
	mock_ops.C_GetVariable = m_get_variable;
	mock_ops.C_HasNewEvent = m_has_new_event;
	mock_ops.C_GetUnlockChallenge = m_get_unlock_challenge;
}

void mock_rig_init(mock_rig *r, enum p11o_trace_level level,
		   bool include_events, unsigned long max_value, bool to_file)
{
	memset(r, 0, sizeof(*r));
	mock_ops_init();
	mock_rv = CKR_OK;
	mock_fail_fn = P11O_FN_COUNT;
	mock_all = false;
	r->stack = calloc(1, sizeof(*r->stack));
	p11o_config *c = &r->stack->config;
	c->trace_level = level;
	c->trace_include_events = include_events;
	c->trace_max_value = max_value;
	snprintf(c->module, sizeof(c->module), "/usr/lib/mock-pkcs11.so");
	snprintf(r->stack->providers[0].path,
		 sizeof(r->stack->providers[0].path),
		 "/usr/lib/mock-pkcs11.so");
	r->stack->providers[0].fl.C_GetInfo = provider_get_info;
	r->stack->provider_count = 1;
	snprintf(c->diags[0], sizeof(c->diags[0]),
		 "test.conf:3: unknown key 'colour' in [trace]");
	c->diag_count = 1;
	if (to_file) {
		snprintf(r->path, sizeof(r->path),
			 "/tmp/p11o-trace-test-%d-XXXXXX", (int)getpid());
		int fd = mkstemp(r->path);
		close(fd);
		unlink(r->path); /* the trace layer creates it (0600) */
		snprintf(c->trace_path, sizeof(c->trace_path), "%s", r->path);
	}
	r->trace = p11o_trace_layer_new(r->stack);
	r->mock.name = "mock";
	r->mock.ops = &mock_ops;
	r->mock.stack = r->stack;
	p11o_layer *layers[] = {r->trace, &r->mock};
	p11o_stack_resolve(layers, 2, &r->top);
}

void mock_rig_defaults(mock_rig *r)
{
	r->mock.ops = &default_ops;
	p11o_layer *layers[] = {r->trace, &r->mock};
	p11o_stack_resolve(layers, 2, &r->top);
}

void mock_rig_free(mock_rig *r)
{
	r->trace->destroy(r->trace);
	if (r->path[0])
		unlink(r->path);
	free(r->stack);
}

char *mock_read_trace(const mock_rig *r, size_t *len)
{
	FILE *f = fopen(r->path, "rb");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t n = 0, cap = 0;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
		}
		size_t got = fread(buf + n, 1, cap - n - 1, f);
		if (!got)
			break;
		n += got;
	}
	fclose(f);
	if (!buf)
		buf = calloc(1, 1);
	buf[n] = 0;
	if (len)
		*len = n;
	return buf;
}

/* Replace the n-th space-separated token of `line` (0-based). */
static void append(char **o, size_t *on, const char *s, size_t n)
{
	memcpy(*o + *on, s, n);
	*on += n;
}

char *mock_masked_records(const char *trace)
{
	size_t cap = strlen(trace) + 1;
	char *out = malloc(cap + 1), *o = out;
	size_t on = 0;
	const char *p = trace;
	while (*p) {
		const char *e = strchr(p, '\n');
		size_t n = e ? (size_t)(e - p) + 1 : strlen(p);
		if (*p == '#' || !strncmp(p, "PKCS11 - ", 9)) {
			p += n;
			continue;
		}
		size_t keep = n;
		/* duration: last token of "... = CKR_X 1.234us" lines */
		const char *us = n > 3 ? p + n - 3 : p;
		if (n > 3 && !strncmp(us, "us\n", 3)) {
			const char *sp = us;
			while (sp > p && sp[-1] != ' ')
				sp--;
			keep = (size_t)(sp - p);
		}
		if (*p >= '0' && *p <= '9') {
			/* "TIME PID:TID rest" */
			const char *a = strchr(p, ' ');
			const char *b = a ? strchr(a + 1, ' ') : NULL;
			append(&o, &on, "TIME PID:TID", 12);
			if (b) {
				size_t skip = (size_t)(b - p);
				append(&o, &on, b,
				       keep > skip ? keep - skip : 0);
			}
		} else
			append(&o, &on, p, keep);
		if (keep != n)
			append(&o, &on, "DUR\n", 4);
		p += n;
	}
	o[on] = 0;
	return o;
}

int mock_check_golden(const char *name, const char *got)
{
	char path[900];
	snprintf(path, sizeof(path), "%s/%s", P11O_TRACE_GOLDEN_DIR, name);
	const char *upd = getenv("P11O_UPDATE_GOLDEN");
	if (upd && *upd == '1') {
		FILE *f = fopen(path, "wb");
		if (!f)
			return -1;
		fputs(got, f);
		fclose(f);
		return 0;
	}
	mock_rig r = {0};
	snprintf(r.path, sizeof(r.path), "%s", path);
	char *want = mock_read_trace(&r, NULL);
	if (!want) {
		fprintf(stderr, "golden %s missing\n", path);
		return -1;
	}
	int diff = strcmp(want, got);
	if (diff) {
		char tmp[1100];
		snprintf(tmp, sizeof(tmp), "/tmp/p11o-golden-%s", name);
		FILE *f = fopen(tmp, "wb");
		if (f) {
			fputs(got, f);
			fclose(f);
		}
		fprintf(stderr, "golden mismatch: diff -u %s %s\n", path, tmp);
	}
	free(want);
	return diff ? -1 : 0;
}
