/* Transcript recording: see diff_record.h. */
#include "diff_record.h"
#include "p11test_canary.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

diff_ctx D;

#define MAX_HANDLES 4096

typedef struct idmap {
	CK_ULONG value[MAX_HANDLES];
	unsigned id[MAX_HANDLES];
	size_t n;
	unsigned next;
	char prefix;
} idmap;

static idmap sessions = {.prefix = 'S'}, objects = {.prefix = 'O'};
static const char *cur_step = "none";
static unsigned step_seq;
static char line[65536];
static size_t line_len;
static int line_open;
static CK_RV last_rv;

/* clang-format off */
#define CKR_LIST(X) \
	X(CKR_OK) X(CKR_CANCEL) X(CKR_HOST_MEMORY) X(CKR_SLOT_ID_INVALID) \
	X(CKR_GENERAL_ERROR) X(CKR_FUNCTION_FAILED) X(CKR_ARGUMENTS_BAD) \
	X(CKR_NO_EVENT) X(CKR_NEED_TO_CREATE_THREADS) X(CKR_CANT_LOCK) \
	X(CKR_ATTRIBUTE_READ_ONLY) X(CKR_ATTRIBUTE_SENSITIVE) X(CKR_ATTRIBUTE_TYPE_INVALID) \
	X(CKR_ATTRIBUTE_VALUE_INVALID) X(CKR_DATA_INVALID) X(CKR_DATA_LEN_RANGE) \
	X(CKR_DEVICE_ERROR) X(CKR_DEVICE_MEMORY) X(CKR_DEVICE_REMOVED) \
	X(CKR_ENCRYPTED_DATA_INVALID) X(CKR_ENCRYPTED_DATA_LEN_RANGE) \
	X(CKR_FUNCTION_CANCELED) X(CKR_FUNCTION_NOT_PARALLEL) X(CKR_FUNCTION_NOT_SUPPORTED) \
	X(CKR_KEY_HANDLE_INVALID) X(CKR_KEY_SIZE_RANGE) X(CKR_KEY_TYPE_INCONSISTENT) \
	X(CKR_KEY_NOT_NEEDED) X(CKR_KEY_CHANGED) X(CKR_KEY_NEEDED) \
	X(CKR_KEY_INDIGESTIBLE) X(CKR_KEY_FUNCTION_NOT_PERMITTED) \
	X(CKR_KEY_NOT_WRAPPABLE) X(CKR_KEY_UNEXTRACTABLE) X(CKR_MECHANISM_INVALID) \
	X(CKR_MECHANISM_PARAM_INVALID) X(CKR_OBJECT_HANDLE_INVALID) \
	X(CKR_OPERATION_ACTIVE) X(CKR_OPERATION_NOT_INITIALIZED) \
	X(CKR_PIN_INCORRECT) X(CKR_PIN_INVALID) X(CKR_PIN_LEN_RANGE) \
	X(CKR_PIN_EXPIRED) X(CKR_PIN_LOCKED) X(CKR_SESSION_CLOSED) \
	X(CKR_SESSION_COUNT) X(CKR_SESSION_HANDLE_INVALID) X(CKR_SESSION_PARALLEL_NOT_SUPPORTED) \
	X(CKR_SESSION_READ_ONLY) X(CKR_SESSION_EXISTS) X(CKR_SESSION_READ_ONLY_EXISTS) \
	X(CKR_SESSION_READ_WRITE_SO_EXISTS) X(CKR_SIGNATURE_INVALID) \
	X(CKR_SIGNATURE_LEN_RANGE) X(CKR_TEMPLATE_INCOMPLETE) X(CKR_TEMPLATE_INCONSISTENT) \
	X(CKR_TOKEN_NOT_PRESENT) X(CKR_TOKEN_NOT_RECOGNIZED) X(CKR_TOKEN_WRITE_PROTECTED) \
	X(CKR_UNWRAPPING_KEY_HANDLE_INVALID) X(CKR_UNWRAPPING_KEY_SIZE_RANGE) \
	X(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT) X(CKR_USER_ALREADY_LOGGED_IN) \
	X(CKR_USER_NOT_LOGGED_IN) X(CKR_USER_PIN_NOT_INITIALIZED) \
	X(CKR_USER_TYPE_INVALID) X(CKR_USER_ANOTHER_ALREADY_LOGGED_IN) \
	X(CKR_USER_TOO_MANY_TYPES) X(CKR_WRAPPED_KEY_INVALID) X(CKR_WRAPPED_KEY_LEN_RANGE) \
	X(CKR_WRAPPING_KEY_HANDLE_INVALID) X(CKR_WRAPPING_KEY_SIZE_RANGE) \
	X(CKR_WRAPPING_KEY_TYPE_INCONSISTENT) X(CKR_RANDOM_SEED_NOT_SUPPORTED) \
	X(CKR_RANDOM_NO_RNG) X(CKR_DOMAIN_PARAMS_INVALID) X(CKR_BUFFER_TOO_SMALL) \
	X(CKR_SAVED_STATE_INVALID) X(CKR_INFORMATION_SENSITIVE) X(CKR_STATE_UNSAVEABLE) \
	X(CKR_CRYPTOKI_NOT_INITIALIZED) X(CKR_CRYPTOKI_ALREADY_INITIALIZED) \
	X(CKR_MUTEX_BAD) X(CKR_MUTEX_NOT_LOCKED) X(CKR_FUNCTION_REJECTED)
/* clang-format on */

const char *rv_name(CK_RV rv)
{
	static char buf[32];
	switch (rv) {
#define RV_CASE_(n)                                                            \
	case n:                                                                \
		return #n;
		CKR_LIST(RV_CASE_)
#undef RV_CASE_
	default:
		snprintf(buf, sizeof(buf), "0x%lx", (unsigned long)rv);
		return buf;
	}
}

static void put(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void put(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line + line_len, sizeof(line) - line_len, fmt, ap);
	va_end(ap);
	if (n > 0)
		line_len += (size_t)n;
	if (line_len >= sizeof(line))
		line_len = sizeof(line) - 1;
}

void rec_end(void)
{
	if (!line_open)
		return;
	fprintf(D.out, "%s\n", line);
	fflush(D.out);
	line_open = 0;
	line_len = 0;
}

void rec_step(const char *name)
{
	rec_end();
	cur_step = name;
	step_seq = 0;
}

CK_RV rec_call(const char *fn, CK_RV rv)
{
	rec_end();
	line_open = 1;
	last_rv = rv;
	D.calls++;
	put("%s#%u %s rv=%s", cur_step, ++step_seq, fn, rv_name(rv));
	return rv;
}

void rec_ul(const char *key, CK_ULONG v)
{
	put(" %s=%lu", key, (unsigned long)v);
}

void rec_len(const char *key, CK_ULONG v)
{
	if (v == CK_UNAVAILABLE_INFORMATION)
		put(" %s=UNAVAIL", key);
	else
		rec_ul(key, v);
}

void rec_hex(const char *key, const void *p, CK_ULONG n)
{
	const unsigned char *b = p;
	put(" %s=", key);
	if (!p) {
		put("(null)");
		return;
	}
	for (CK_ULONG i = 0; i < n; i++)
		put("%02x", b[i]);
}

void rec_text(const char *key, const void *p, size_t n)
{
	const unsigned char *b = p;
	put(" %s='", key);
	for (size_t i = 0; i < n; i++) {
		if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '\'' && b[i] != '\\')
			put("%c", b[i]);
		else
			put("\\x%02x", b[i]);
	}
	put("'");
}

void rec_str(const char *key, const char *s)
{
	put(" %s=%s", key, s);
}

void rec_slot(const char *key, CK_SLOT_ID id)
{
	for (CK_ULONG i = 0; i < D.nslots; i++)
		if (D.slots[i] == id) {
			put(" %s=slot#%lu", key, (unsigned long)i);
			return;
		}
	put(" %s=slot?%lu", key, (unsigned long)id);
}

static const char *ident(idmap *m, CK_ULONG h, char *buf, size_t len)
{
	if (h == CK_INVALID_HANDLE)
		return "INVALID(0)";
	for (size_t i = 0; i < m->n; i++)
		if (m->value[i] == h) {
			snprintf(buf, len, "%c%u", m->prefix, m->id[i]);
			return buf;
		}
	unsigned id = ++m->next;
	if (m->n < MAX_HANDLES) {
		m->value[m->n] = h;
		m->id[m->n++] = id;
	}
	snprintf(buf, len, "%c%u", m->prefix, id);
	return buf;
}

static void forget(idmap *m, CK_ULONG h)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->value[i] == h) {
			m->value[i] = m->value[--m->n];
			m->id[i] = m->id[m->n];
			return;
		}
}

void rec_sess(const char *key, CK_SESSION_HANDLE h)
{
	char buf[32];
	put(" %s=%s", key, ident(&sessions, h, buf, sizeof(buf)));
}

void rec_obj(const char *key, CK_OBJECT_HANDLE h)
{
	char buf[32];
	put(" %s=%s", key, ident(&objects, h, buf, sizeof(buf)));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void rec_obj_set(const char *key, const CK_OBJECT_HANDLE *h, CK_ULONG n)
{
	char **ids = calloc(n ? n : 1, sizeof(*ids));
	char buf[32];
	for (CK_ULONG i = 0; i < n; i++)
		ids[i] = strdup(ident(&objects, h[i], buf, sizeof(buf)));
	qsort(ids, n, sizeof(*ids), cmp_str);
	put(" %s={", key);
	for (CK_ULONG i = 0; i < n; i++) {
		put("%s%s", i ? "," : "", ids[i]);
		free(ids[i]);
	}
	put("}");
	free(ids);
}

void rec_forget_sess(CK_SESSION_HANDLE h)
{
	forget(&sessions, h);
}

void rec_forget_obj(CK_OBJECT_HANDLE h)
{
	forget(&objects, h);
}

void rec_template(const CK_ATTRIBUTE *t, CK_ULONG n)
{
	for (CK_ULONG i = 0; i < n; i++) {
		put(" [0x%lx len=", (unsigned long)t[i].type);
		if (t[i].ulValueLen == CK_UNAVAILABLE_INFORMATION)
			put("UNAVAIL");
		else
			put("%lu", (unsigned long)t[i].ulValueLen);
		/* Only where the module filled it: the buffer we gave was
		 * at least that long, and the call got that far. */
		if (t[i].pValue &&
		    t[i].ulValueLen != CK_UNAVAILABLE_INFORMATION &&
		    (last_rv == CKR_OK || last_rv == CKR_ATTRIBUTE_SENSITIVE ||
		     last_rv == CKR_ATTRIBUTE_TYPE_INVALID ||
		     last_rv == CKR_BUFFER_TOO_SMALL))
			rec_hex("v", t[i].pValue, t[i].ulValueLen);
		put("]");
	}
}

void *rec_canary_buf(size_t n)
{
	return p11test_canary_alloc(n);
}

void rec_canary(const char *key, void *buf)
{
	rec_str(key, p11test_canary_free(buf, key) ? "intact" : "overwritten");
}
