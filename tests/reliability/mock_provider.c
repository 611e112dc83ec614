/* A fault-injecting PKCS#11 provider for test_faults (issue 11).  Loaded
 * through the real p11overlay.so as `[provider] module`.  MOCK_FAULT
 * (read at C_GetFunctionList and C_Initialize) picks the misbehaviour:
 *
 *   none      a well-behaved token: 2 slots, 1 token, 3 objects, signing
 *   errors    every call after C_Initialize returns MOCK_RV (hex, default
 *             CKR_DEVICE_ERROR)
 *   short     counts that do not match the buffers: C_GetSlotList and
 *             C_FindObjects claim more entries than the caller has room
 *             for, C_GetAttributeValue reports lengths beyond the buffer
 *   handles   odd handles: slot IDs 0, ~0 and huge, sessions 0 / ~0,
 *             objects 0, ~0, huge and duplicates
 *   removed   the token disappears (CKR_DEVICE_REMOVED) on the 2nd call
 *             of a multi-part operation, and stays away
 *   initfail  C_Initialize returns CKR_DEVICE_ERROR
 *   nolist    C_GetFunctionList fails
 *   nullfns   a function list with most entries NULL
 *
 * `mock_faults` counts the faults injected (read by the test through
 * dlopen(RTLD_NOLOAD) while the proxy holds the module). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mock_common.h"

#define EXPORT __attribute__((visibility("default")))

EXPORT unsigned long mock_faults;

enum mode { NONE, ERRORS, SHORT, HANDLES, REMOVED, INITFAIL, NOLIST, NULLFNS };
static enum mode mode;
static CK_RV err_rv = CKR_DEVICE_ERROR;
static int initialized;
static int gone;     /* REMOVED: the token has left */
static int op_calls; /* REMOVED: calls into the current operation */
static unsigned find_pos;
static int finding, signing;

static const CK_ULONG HUGE_VALUE = (CK_ULONG)1 << (sizeof(CK_ULONG) * 8 - 2);

static void read_mode(void)
{
	const char *m = getenv("MOCK_FAULT");
	const char *r = getenv("MOCK_RV");
	static const char *const names[] = {"none",    "errors",  "short",
					    "handles", "removed", "initfail",
					    "nolist",  "nullfns"};
	mode = NONE;
	for (size_t i = 0; m && i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(m, names[i]) == 0)
			mode = (enum mode)i;
	err_rv = r ? strtoul(r, NULL, 16) : CKR_DEVICE_ERROR;
}

static CK_SLOT_ID slot_ids[2] = {1, 2};
static CK_SESSION_HANDLE session_value = 7;
static CK_OBJECT_HANDLE objects[6] = {11, 12, 13};
static size_t nobjects = 3;

static void setup_ids(void)
{
	if (mode == HANDLES) {
		slot_ids[0] = 0;
		slot_ids[1] = HUGE_VALUE;
		session_value = 0;
		objects[0] = 0;
		objects[1] = ~(CK_ULONG)0;
		objects[2] = HUGE_VALUE;
		objects[3] = 0; /* duplicates */
		objects[4] = ~(CK_ULONG)0;
		objects[5] = HUGE_VALUE + 1;
		nobjects = 6;
	} else {
		slot_ids[0] = 1;
		slot_ids[1] = 2;
		session_value = 7;
		objects[0] = 11;
		objects[1] = 12;
		objects[2] = 13;
		nobjects = 3;
	}
}

/* Common prologue: not initialised, injected errors, removed token. */
#define ENTER()                                                                \
	do {                                                                   \
		if (!initialized)                                              \
			return CKR_CRYPTOKI_NOT_INITIALIZED;                   \
		if (mode == ERRORS) {                                          \
			mock_faults++;                                         \
			return err_rv;                                         \
		}                                                              \
	} while (0)
#define SESSION(h)                                                             \
	do {                                                                   \
		ENTER();                                                       \
		if (gone) {                                                    \
			mock_faults++;                                         \
			return CKR_DEVICE_REMOVED;                             \
		}                                                              \
		if ((h) != session_value)                                      \
			return CKR_SESSION_HANDLE_INVALID;                     \
	} while (0)

static CK_RV m_Initialize(CK_VOID_PTR a)
{
	(void)a;
	read_mode();
	setup_ids();
	if (mode == INITFAIL) {
		mock_faults++;
		return CKR_DEVICE_ERROR;
	}
	if (initialized)
		return CKR_CRYPTOKI_ALREADY_INITIALIZED;
	initialized = 1;
	gone = op_calls = finding = signing = 0;
	return CKR_OK;
}

static CK_RV m_Finalize(CK_VOID_PTR r)
{
	if (r)
		return CKR_ARGUMENTS_BAD;
	if (!initialized)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	initialized = 0;
	return CKR_OK;
}

static CK_RV m_GetInfo(CK_INFO_PTR p)
{
	if (!initialized)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (!p)
		return CKR_ARGUMENTS_BAD;
	mock_info(p, "fault injecting mock");
	return CKR_OK;
}

static CK_RV m_GetSlotList(CK_BBOOL present, CK_SLOT_ID_PTR list,
			   CK_ULONG_PTR count)
{
	ENTER();
	if (!count)
		return CKR_ARGUMENTS_BAD;
	CK_ULONG n = present ? (gone ? 0 : 1) : 2;
	if (list && *count < n) {
		*count = n;
		return CKR_BUFFER_TOO_SMALL;
	}
	if (list)
		memcpy(list, slot_ids, n * sizeof(*list));
	if (mode == SHORT && list) {
		/* Fills the caller's buffer, then claims far more than it
		 * holds. */
		for (CK_ULONG i = n; i < *count; i++)
			list[i] = slot_ids[i % 2];
		mock_faults++;
		*count = *count + 1000;
		return CKR_OK;
	}
	*count = n;
	return CKR_OK;
}

static CK_RV m_GetSlotInfo(CK_SLOT_ID id, CK_SLOT_INFO_PTR p)
{
	ENTER();
	if (!p)
		return CKR_ARGUMENTS_BAD;
	if (id != slot_ids[0] && id != slot_ids[1])
		return CKR_SLOT_ID_INVALID;
	memset(p, 0, sizeof(*p));
	mock_pad(p->slotDescription, 64,
		 id == slot_ids[0] ? "Mock Reader 0" : "Mock Reader 1");
	mock_pad(p->manufacturerID, 32, "mock");
	p->flags = CKF_REMOVABLE_DEVICE | CKF_HW_SLOT;
	if (id == slot_ids[0] && !gone)
		p->flags |= CKF_TOKEN_PRESENT;
	return CKR_OK;
}

static CK_RV m_GetTokenInfo(CK_SLOT_ID id, CK_TOKEN_INFO_PTR p)
{
	ENTER();
	if (!p)
		return CKR_ARGUMENTS_BAD;
	if (id != slot_ids[0] && id != slot_ids[1])
		return CKR_SLOT_ID_INVALID;
	if (id != slot_ids[0] || gone)
		return CKR_TOKEN_NOT_PRESENT;
	mock_token_info(p, "0001");
	p->flags = CKF_TOKEN_INITIALIZED | CKF_LOGIN_REQUIRED |
		   CKF_USER_PIN_INITIALIZED;
	p->ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
	p->ulMaxPinLen = 8;
	p->ulMinPinLen = 4;
	return CKR_OK;
}

static CK_RV m_OpenSession(CK_SLOT_ID id, CK_FLAGS f, CK_VOID_PTR app,
			   CK_NOTIFY n, CK_SESSION_HANDLE_PTR ph)
{
	(void)app;
	(void)n;
	ENTER();
	if (id != slot_ids[0] && id != slot_ids[1])
		return CKR_SLOT_ID_INVALID;
	if (id != slot_ids[0] || gone)
		return CKR_TOKEN_NOT_PRESENT;
	if (!(f & CKF_SERIAL_SESSION))
		return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
	if (!ph)
		return CKR_ARGUMENTS_BAD;
	*ph = session_value;
	if (mode == HANDLES)
		mock_faults++;
	return CKR_OK;
}

static CK_RV m_CloseSession(CK_SESSION_HANDLE h)
{
	SESSION(h);
	return CKR_OK;
}

static CK_RV m_CloseAllSessions(CK_SLOT_ID id)
{
	ENTER();
	if (id != slot_ids[0] && id != slot_ids[1])
		return CKR_SLOT_ID_INVALID;
	return gone || id != slot_ids[0] ? CKR_TOKEN_NOT_PRESENT : CKR_OK;
}

static CK_RV m_GetSessionInfo(CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR p)
{
	SESSION(h);
	if (!p)
		return CKR_ARGUMENTS_BAD;
	memset(p, 0, sizeof(*p));
	p->slotID = slot_ids[0];
	p->state = CKS_RO_PUBLIC_SESSION;
	p->flags = CKF_SERIAL_SESSION;
	return CKR_OK;
}

static CK_RV m_Login(CK_SESSION_HANDLE h, CK_USER_TYPE u, CK_UTF8CHAR_PTR pin,
		     CK_ULONG len)
{
	SESSION(h);
	if (u != CKU_USER)
		return CKR_USER_TYPE_INVALID;
	return pin && len == 4 && memcmp(pin, "1234", 4) == 0
		   ? CKR_OK
		   : CKR_PIN_INCORRECT;
}

static CK_RV m_FindObjectsInit(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR t,
			       CK_ULONG n)
{
	(void)t;
	(void)n;
	SESSION(h);
	if (finding)
		return CKR_OPERATION_ACTIVE;
	finding = 1;
	find_pos = 0;
	op_calls = 0;
	return CKR_OK;
}

static CK_RV m_FindObjects(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR out,
			   CK_ULONG max, CK_ULONG_PTR count)
{
	SESSION(h);
	if (!finding)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (!out || !count)
		return CKR_ARGUMENTS_BAD;
	if (mode == REMOVED && ++op_calls >= 2) {
		gone = 1;
		mock_faults++;
		return CKR_DEVICE_REMOVED;
	}
	CK_ULONG k = 0;
	while (k < max && find_pos < nobjects)
		out[k++] = objects[find_pos++];
	*count = k;
	if (mode == SHORT) {
		mock_faults++;
		*count = max + 50;
	}
	if (mode == HANDLES)
		mock_faults++;
	return CKR_OK;
}

static CK_RV m_FindObjectsFinal(CK_SESSION_HANDLE h)
{
	SESSION(h);
	if (!finding)
		return CKR_OPERATION_NOT_INITIALIZED;
	finding = 0;
	return CKR_OK;
}

static int known_object(CK_OBJECT_HANDLE o)
{
	for (size_t i = 0; i < nobjects; i++)
		if (objects[i] == o)
			return 1;
	return 0;
}

static CK_RV m_GetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o,
				 CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
	SESSION(h);
	if (!known_object(o))
		return CKR_OBJECT_HANDLE_INVALID;
	if (!t && n)
		return CKR_ARGUMENTS_BAD;
	CK_RV rv = CKR_OK;
	for (CK_ULONG i = 0; i < n; i++) {
		static const char label[] = "mock object";
		CK_OBJECT_CLASS cls = CKO_DATA;
		CK_BBOOL no = CK_FALSE;
		const void *v;
		CK_ULONG len;
		switch (t[i].type) {
		case CKA_CLASS:
			v = &cls, len = sizeof(cls);
			break;
		case CKA_LABEL:
			v = label, len = sizeof(label) - 1;
			break;
		case CKA_TOKEN:
		case CKA_PRIVATE:
			v = &no, len = sizeof(no);
			break;
		default:
			t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			rv = CKR_ATTRIBUTE_TYPE_INVALID;
			continue;
		}
		if (mock_put_attr(&t[i], v, len) != CKR_OK) {
			rv = CKR_BUFFER_TOO_SMALL;
			continue;
		}
		if (mode == SHORT) {
			/* A length beyond what was copied (and the buffer). */
			mock_faults++;
			t[i].ulValueLen = len + 4096;
		}
	}
	return rv;
}

static CK_RV m_SignInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m,
			CK_OBJECT_HANDLE k)
{
	SESSION(h);
	if (!m)
		return CKR_ARGUMENTS_BAD;
	if (!known_object(k))
		return CKR_KEY_HANDLE_INVALID;
	if (signing)
		return CKR_OPERATION_ACTIVE;
	signing = 1;
	op_calls = 0;
	return CKR_OK;
}

static CK_RV sign_step(void)
{
	if (!signing)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (mode == REMOVED && ++op_calls >= 2) {
		gone = 1;
		signing = 0;
		mock_faults++;
		return CKR_DEVICE_REMOVED;
	}
	return CKR_OK;
}

static CK_RV m_SignUpdate(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG n)
{
	(void)d;
	(void)n;
	SESSION(h);
	return sign_step();
}

static CK_RV m_SignFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG_PTR len)
{
	SESSION(h);
	CK_RV rv = sign_step();
	if (rv != CKR_OK)
		return rv;
	if (!len)
		return CKR_ARGUMENTS_BAD;
	if (!sig) {
		*len = 8;
		return CKR_OK;
	}
	if (*len < 8) {
		*len = 8;
		return CKR_BUFFER_TOO_SMALL;
	}
	memset(sig, 0x5A, 8);
	*len = 8;
	signing = 0;
	return CKR_OK;
}

static CK_RV m_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR pp);

static CK_FUNCTION_LIST full = {
    .version = {2, 40},
    .C_Initialize = m_Initialize,
    .C_Finalize = m_Finalize,
    .C_GetInfo = m_GetInfo,
    .C_GetFunctionList = m_GetFunctionList,
    .C_GetSlotList = m_GetSlotList,
    .C_GetSlotInfo = m_GetSlotInfo,
    .C_GetTokenInfo = m_GetTokenInfo,
    .C_OpenSession = m_OpenSession,
    .C_CloseSession = m_CloseSession,
    .C_CloseAllSessions = m_CloseAllSessions,
    .C_GetSessionInfo = m_GetSessionInfo,
    .C_Login = m_Login,
    .C_FindObjectsInit = m_FindObjectsInit,
    .C_FindObjects = m_FindObjects,
    .C_FindObjectsFinal = m_FindObjectsFinal,
    .C_GetAttributeValue = m_GetAttributeValue,
    .C_SignInit = m_SignInit,
    .C_SignUpdate = m_SignUpdate,
    .C_SignFinal = m_SignFinal,
};

/* Only what a module cannot do without. */
static CK_FUNCTION_LIST sparse = {
    .version = {2, 40},
    .C_Initialize = m_Initialize,
    .C_Finalize = m_Finalize,
    .C_GetFunctionList = m_GetFunctionList,
    .C_GetSlotList = m_GetSlotList,
};

static CK_RV m_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR pp)
{
	read_mode();
	if (mode == NOLIST) {
		mock_faults++;
		return CKR_GENERAL_ERROR;
	}
	if (!pp)
		return CKR_ARGUMENTS_BAD;
	*pp = mode == NULLFNS ? &sparse : &full;
	return CKR_OK;
}

EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR pp)
{
	return m_GetFunctionList(pp);
}
