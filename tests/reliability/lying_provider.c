/* A PKCS#11 provider that lies about counts and lengths, for test_lying
 * (issue 16).  Loaded through the real p11overlay.so as `[provider]
 * module`.  LYING_MODE (read at C_Initialize) picks the lie:
 *
 *   none  the truth: one soft token, three public data objects, a few
 *         mechanisms, an 8-byte signature
 *   grow  every list and value is one longer at each call: the fill call
 *         writes what fits and claims the new, larger count with CKR_OK
 *         (slot list, mechanism list, attribute values, signature);
 *         C_FindObjects claims more objects than asked for
 *   max   size queries answer CK_ULONG_MAX - 1 (mechanisms, slots,
 *         signature) and attribute lengths whose sum wraps around; fill
 *         calls claim those lengths with CKR_OK
 *   relay C_Initialize loads the module named by LYING_RELAY and calls its
 *         C_Initialize, returning what that returns (a provider that loads
 *         p11overlay again, as p11-kit's proxy does when p11overlay is
 *         registered with it)
 *
 * In every mode C_WaitForSlotEvent has no events: CKR_NO_EVENT without
 * blocking, and a blocking call waits until C_Finalize.
 *
 * Whatever it claims, the mock itself never writes past a buffer: the
 * overflows it provokes are the reader's.  `lying_lies` counts the lies
 * told (read by the test through dlopen(RTLD_NOLOAD)). */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mock_common.h"

#define EXPORT __attribute__((visibility("default")))

EXPORT unsigned long lying_lies;

enum mode { NONE, GROW, MAX, RELAY };
static enum mode mode;
static volatile int initialized;
static CK_ULONG generation; /* GROW: how much longer things are now */
static int finding, signing;
static unsigned find_pos;

static const CK_ULONG HUGE_LEN = ~(CK_ULONG)0 - 1;
#define SESSION_HANDLE 7
#define NOBJECTS 3
static const CK_OBJECT_HANDLE objects[NOBJECTS] = {21, 22, 23};
static const CK_MECHANISM_TYPE mechanisms[] = {CKM_SHA256, CKM_SHA_1,
					       CKM_RSA_PKCS, CKM_ECDSA};
#define NMECH (sizeof(mechanisms) / sizeof(mechanisms[0]))

static void read_mode(void)
{
	const char *m = getenv("LYING_MODE");
	mode = NONE;
	if (m && strcmp(m, "grow") == 0)
		mode = GROW;
	else if (m && strcmp(m, "max") == 0)
		mode = MAX;
	else if (m && strcmp(m, "relay") == 0)
		mode = RELAY;
}

#define ENTER()                                                                \
	do {                                                                   \
		if (!initialized)                                              \
			return CKR_CRYPTOKI_NOT_INITIALIZED;                   \
	} while (0)
#define SESSION(h)                                                             \
	do {                                                                   \
		ENTER();                                                       \
		if ((h) != SESSION_HANDLE)                                     \
			return CKR_SESSION_HANDLE_INVALID;                     \
	} while (0)

/* RELAY: the module loaded, and its C_Initialize. */
static CK_RV relay(void)
{
	const char *path = getenv("LYING_RELAY");
	void *dl = path ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : NULL;
	CK_C_GetFunctionList get =
	    dl ? (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList") : NULL;
	CK_FUNCTION_LIST_PTR fl = NULL;
	CK_RV rv = CKR_GENERAL_ERROR;
	if (get && get(&fl) == CKR_OK && fl)
		rv = fl->C_Initialize(NULL);
	if (rv == CKR_OK)
		fl->C_Finalize(NULL);
	if (dl)
		dlclose(dl);
	return rv;
}

static CK_RV m_Initialize(CK_VOID_PTR a)
{
	(void)a;
	if (initialized)
		return CKR_CRYPTOKI_ALREADY_INITIALIZED;
	read_mode();
	if (mode == RELAY)
		return relay();
	initialized = 1;
	generation = 0;
	finding = signing = 0;
	return CKR_OK;
}

static CK_RV m_Finalize(CK_VOID_PTR r)
{
	if (r)
		return CKR_ARGUMENTS_BAD;
	ENTER();
	initialized = 0;
	return CKR_OK;
}

static CK_RV m_GetInfo(CK_INFO_PTR p)
{
	ENTER();
	if (!p)
		return CKR_ARGUMENTS_BAD;
	mock_info(p, "lying mock");
	return CKR_OK;
}

/* A list of `n` entries into (list, *count): the size, or what fits
 * written and `n` claimed (a lie when it does not fit). */
static CK_RV put_list(CK_ULONG_PTR list, CK_ULONG_PTR count, CK_ULONG n,
		      CK_ULONG (*entry)(CK_ULONG i))
{
	if (!count)
		return CKR_ARGUMENTS_BAD;
	if (!list) {
		*count = n;
		return CKR_OK;
	}
	if (*count < n && mode == NONE) {
		*count = n;
		return CKR_BUFFER_TOO_SMALL;
	}
	for (CK_ULONG i = 0; i < *count && i < n; i++)
		list[i] = entry(i);
	if (*count < n)
		lying_lies++;
	*count = n;
	return CKR_OK;
}

/* GROW: each call sees one more; MAX: every call sees HUGE_LEN. */
static CK_ULONG lying_count(CK_ULONG truth)
{
	if (mode == GROW)
		return truth + generation++;
	return mode == MAX ? HUGE_LEN : truth;
}

static CK_ULONG slot_entry(CK_ULONG i)
{
	return i + 1;
}

static CK_RV m_GetSlotList(CK_BBOOL present, CK_SLOT_ID_PTR list,
			   CK_ULONG_PTR count)
{
	ENTER();
	CK_ULONG n = present ? 1 : lying_count(1);
	if (present && mode != NONE && list && count && *count >= 1) {
		/* a present-token list claiming more than it wrote */
		list[0] = 1;
		*count = 1 + (mode == MAX ? HUGE_LEN - 1 : generation++ + 1);
		lying_lies++;
		return CKR_OK;
	}
	return put_list(list, count, n, slot_entry);
}

static CK_RV m_GetSlotInfo(CK_SLOT_ID id, CK_SLOT_INFO_PTR p)
{
	ENTER();
	if (!p)
		return CKR_ARGUMENTS_BAD;
	if (id == 0 || id > 64)
		return CKR_SLOT_ID_INVALID;
	memset(p, 0, sizeof(*p));
	mock_pad(p->slotDescription, 64,
		 id == 1 ? "Lying Soft Slot" : "Lying Empty Slot");
	mock_pad(p->manufacturerID, 32, "mock");
	if (id == 1 && (mode == GROW || mode == MAX)) {
		/* the token's text lies below; the slot's too */
		memcpy(p->slotDescription, "Lying\x07Soft\xffSlot", 15);
		memcpy(p->manufacturerID, "lie\x1b[2J\xff\x01", 9);
		lying_lies++;
	}
	p->flags = id == 1 ? CKF_TOKEN_PRESENT : 0;
	return CKR_OK;
}

static CK_RV m_GetTokenInfo(CK_SLOT_ID id, CK_TOKEN_INFO_PTR p)
{
	ENTER();
	if (!p)
		return CKR_ARGUMENTS_BAD;
	if (id == 0 || id > 64)
		return CKR_SLOT_ID_INVALID;
	if (id != 1)
		return CKR_TOKEN_NOT_PRESENT;
	mock_token_info(p, "0042");
	if (mode == GROW || mode == MAX) {
		/* Text a terminal would act on, and bytes that are no UTF-8:
		 * what the application sees must be neither. */
		memcpy(p->manufacturerID, "lie\x1b[2J\xff\x01", 9);
		memcpy(p->model, "m\xc3(\x07", 4);
		memcpy(p->serialNumber, "00\n42", 5);
		lying_lies++;
	}
	p->flags = CKF_TOKEN_INITIALIZED;
	p->ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
	return CKR_OK;
}

static CK_ULONG mech_entry(CK_ULONG i)
{
	return mechanisms[i % NMECH];
}

static CK_RV m_GetMechanismList(CK_SLOT_ID id, CK_MECHANISM_TYPE_PTR list,
				CK_ULONG_PTR count)
{
	ENTER();
	if (id != 1)
		return id == 0 || id > 64 ? CKR_SLOT_ID_INVALID
					  : CKR_TOKEN_NOT_PRESENT;
	return put_list(list, count, lying_count(NMECH), mech_entry);
}

static CK_RV m_GetMechanismInfo(CK_SLOT_ID id, CK_MECHANISM_TYPE t,
				CK_MECHANISM_INFO_PTR p)
{
	ENTER();
	if (id != 1)
		return CKR_SLOT_ID_INVALID;
	if (!p)
		return CKR_ARGUMENTS_BAD;
	for (size_t i = 0; i < NMECH; i++)
		if (mechanisms[i] == t) {
			memset(p, 0, sizeof(*p));
			p->flags = t == CKM_SHA256 || t == CKM_SHA_1
				       ? CKF_DIGEST
				       : CKF_SIGN;
			p->ulMinKeySize = 1024;
			p->ulMaxKeySize = 4096;
			return CKR_OK;
		}
	return CKR_MECHANISM_INVALID;
}

static CK_RV m_OpenSession(CK_SLOT_ID id, CK_FLAGS f, CK_VOID_PTR app,
			   CK_NOTIFY n, CK_SESSION_HANDLE_PTR ph)
{
	(void)app;
	(void)n;
	ENTER();
	if (id != 1)
		return id == 0 || id > 64 ? CKR_SLOT_ID_INVALID
					  : CKR_TOKEN_NOT_PRESENT;
	if (!(f & CKF_SERIAL_SESSION))
		return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
	if (!ph)
		return CKR_ARGUMENTS_BAD;
	*ph = SESSION_HANDLE;
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
	return id == 1 ? CKR_OK : CKR_SLOT_ID_INVALID;
}

static CK_RV m_GetSessionInfo(CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR p)
{
	SESSION(h);
	if (!p)
		return CKR_ARGUMENTS_BAD;
	memset(p, 0, sizeof(*p));
	p->slotID = 1;
	p->state = CKS_RO_PUBLIC_SESSION;
	p->flags = CKF_SERIAL_SESSION;
	return CKR_OK;
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
	CK_ULONG k = 0;
	while (k < max && find_pos < NOBJECTS)
		out[k++] = objects[find_pos++];
	*count = k;
	if (mode != NONE && k) {
		lying_lies++;
		*count = mode == MAX ? HUGE_LEN : max + 7;
	}
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
	for (size_t i = 0; i < NOBJECTS; i++)
		if (objects[i] == o)
			return 1;
	return 0;
}

/* A byte-valued attribute of the given true length: its length for a size
 * query, else what fits written and `claim` said. */
static CK_RV put_bytes(CK_ATTRIBUTE_PTR a, CK_ULONG truth, CK_ULONG claim)
{
	if (!a->pValue) {
		a->ulValueLen = claim;
		return CKR_OK;
	}
	if (a->ulValueLen < claim && mode == NONE) {
		a->ulValueLen = CK_UNAVAILABLE_INFORMATION;
		return CKR_BUFFER_TOO_SMALL;
	}
	CK_ULONG n = a->ulValueLen < truth ? a->ulValueLen : truth;
	memset(a->pValue, 'L', n);
	if (a->ulValueLen < claim)
		lying_lies++;
	a->ulValueLen = claim;
	return CKR_OK;
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
	CK_ULONG grown = mode == GROW ? generation++ : 0;
	for (CK_ULONG i = 0; i < n; i++) {
		CK_OBJECT_CLASS cls = CKO_DATA;
		CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
		CK_RV r;
		switch (t[i].type) {
		case CKA_CLASS:
			r = mock_put_attr(&t[i], &cls, sizeof(cls));
			break;
		case CKA_TOKEN:
			r = mock_put_attr(&t[i], &yes, sizeof(yes));
			break;
		case CKA_PRIVATE:
		case CKA_MODIFIABLE:
			r = mock_put_attr(&t[i], &no, sizeof(no));
			break;
		case CKA_LABEL:
		case CKA_VALUE:
		case CKA_APPLICATION:
		case CKA_OBJECT_ID: {
			/* MAX: two lengths whose sum wraps around */
			CK_ULONG claim =
			    mode == MAX ? (i % 2 ? HUGE_LEN : HUGE_LEN / 2 + 2)
					: 8 + grown;
			r = put_bytes(&t[i], 8 + grown, claim);
			break;
		}
		default:
			t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			r = CKR_ATTRIBUTE_TYPE_INVALID;
		}
		if (r != CKR_OK)
			rv = r;
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
	return CKR_OK;
}

static CK_RV m_Sign(CK_SESSION_HANDLE h, CK_BYTE_PTR d, CK_ULONG dl,
		    CK_BYTE_PTR sig, CK_ULONG_PTR len)
{
	(void)d;
	(void)dl;
	SESSION(h);
	if (!signing)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (!len)
		return CKR_ARGUMENTS_BAD;
	CK_ULONG claim = mode == GROW  ? 8 + ++generation
			 : mode == MAX ? HUGE_LEN
				       : 8;
	if (!sig) {
		*len = claim;
		return CKR_OK;
	}
	if (*len < claim && mode == NONE) {
		*len = claim;
		return CKR_BUFFER_TOO_SMALL;
	}
	memset(sig, 0x5A, *len < 8 ? *len : 8);
	if (*len < claim)
		lying_lies++;
	*len = claim;
	signing = 0;
	return CKR_OK;
}

static CK_RV m_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR slot,
				CK_VOID_PTR res)
{
	(void)slot;
	(void)res;
	ENTER();
	while (!(flags & CKF_DONT_BLOCK) && initialized) {
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	return initialized ? CKR_NO_EVENT : CKR_CRYPTOKI_NOT_INITIALIZED;
}

static CK_RV m_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR pp);

static CK_FUNCTION_LIST list = {
    .version = {2, 40},
    .C_Initialize = m_Initialize,
    .C_Finalize = m_Finalize,
    .C_GetInfo = m_GetInfo,
    .C_GetFunctionList = m_GetFunctionList,
    .C_GetSlotList = m_GetSlotList,
    .C_GetSlotInfo = m_GetSlotInfo,
    .C_GetTokenInfo = m_GetTokenInfo,
    .C_GetMechanismList = m_GetMechanismList,
    .C_GetMechanismInfo = m_GetMechanismInfo,
    .C_OpenSession = m_OpenSession,
    .C_CloseSession = m_CloseSession,
    .C_CloseAllSessions = m_CloseAllSessions,
    .C_GetSessionInfo = m_GetSessionInfo,
    .C_FindObjectsInit = m_FindObjectsInit,
    .C_FindObjects = m_FindObjects,
    .C_FindObjectsFinal = m_FindObjectsFinal,
    .C_GetAttributeValue = m_GetAttributeValue,
    .C_SignInit = m_SignInit,
    .C_Sign = m_Sign,
    .C_WaitForSlotEvent = m_WaitForSlotEvent,
};

static CK_RV m_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR pp)
{
	if (!pp)
		return CKR_ARGUMENTS_BAD;
	*pp = &list;
	return CKR_OK;
}

EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR pp)
{
	return m_GetFunctionList(pp);
}
