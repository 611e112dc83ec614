/* An adversarial PKCS#11 provider for the handle test: one slot, one
 * token, data objects whose handles sit where the objects addon reserves
 * its own (top bit set), next to 0 and at ~0.  Each object's label is
 * "obj-<handle in hex>", so the test can tell which provider handle an
 * application handle reached.  mock_last_key / mock_last_destroyed record
 * the handles C_SignInit and C_DestroyObject received. */
#include <stdio.h>
#include <string.h>

#include "mock_common.h"

#define TOP ((CK_ULONG)1 << (sizeof(CK_ULONG) * 8 - 1))
#define MAX_OBJ 160

__attribute__((visibility("default"))) CK_OBJECT_HANDLE mock_last_key;
__attribute__((visibility("default"))) CK_OBJECT_HANDLE mock_last_destroyed;

static CK_OBJECT_HANDLE objs[MAX_OBJ];
static size_t nobj;
static size_t find_pos;
static char find_label[64];
static long find_label_len = -1;
static int created;

static void reset(void)
{
	static const CK_OBJECT_HANDLE fixed[] = {1,
						 2,
						 3,
						 TOP | 9,
						 TOP | 10,
						 TOP | 0x10000,
						 TOP | 0x10001,
						 TOP,
						 ~(CK_ULONG)0,
						 ~(CK_ULONG)1,
						 TOP - 1,
						 TOP | 0x8000,
						 TOP | 0x1FFFF,
						 TOP | 0xFFFF,
						 TOP | 17};
	nobj = 0;
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		objs[nobj++] = fixed[i];
	for (CK_ULONG i = 0; i < 100; i++) /* grows the escape table */
		objs[nobj++] = TOP | (0x20000 + i * 7);
	created = 0;
}

static long index_of(CK_OBJECT_HANDLE h)
{
	for (size_t i = 0; i < nobj; i++)
		if (objs[i] == h)
			return (long)i;
	return -1;
}

static CK_RV m_Initialize(CK_VOID_PTR a)
{
	(void)a;
	reset();
	return CKR_OK;
}
static CK_RV m_Finalize(CK_VOID_PTR a)
{
	(void)a;
	return CKR_OK;
}
static CK_RV m_GetInfo(CK_INFO_PTR i)
{
	mock_info(i, "adversarial handles");
	return CKR_OK;
}
static CK_RV m_GetSlotList(CK_BBOOL p, CK_SLOT_ID_PTR l, CK_ULONG_PTR n)
{
	(void)p;
	if (l && *n < 1) {
		*n = 1;
		return CKR_BUFFER_TOO_SMALL;
	}
	if (l)
		l[0] = 7;
	*n = 1;
	return CKR_OK;
}
static CK_RV m_GetSlotInfo(CK_SLOT_ID s, CK_SLOT_INFO_PTR i)
{
	if (s != 7)
		return CKR_SLOT_ID_INVALID;
	memset(i, 0, sizeof(*i));
	mock_pad(i->slotDescription, 64, "Mock adversarial slot");
	mock_pad(i->manufacturerID, 32, "mock");
	i->flags = CKF_TOKEN_PRESENT;
	return CKR_OK;
}
static CK_RV m_GetTokenInfo(CK_SLOT_ID s, CK_TOKEN_INFO_PTR i)
{
	if (s != 7)
		return CKR_SLOT_ID_INVALID;
	mock_token_info(i, "MOCK0001");
	i->flags = CKF_TOKEN_INITIALIZED;
	return CKR_OK;
}
static CK_RV m_OpenSession(CK_SLOT_ID s, CK_FLAGS f, CK_VOID_PTR a, CK_NOTIFY n,
			   CK_SESSION_HANDLE_PTR h)
{
	(void)f;
	(void)a;
	(void)n;
	if (s != 7)
		return CKR_SLOT_ID_INVALID;
	*h = 0x55;
	return CKR_OK;
}
static CK_RV m_CloseSession(CK_SESSION_HANDLE h)
{
	return h == 0x55 ? CKR_OK : CKR_SESSION_HANDLE_INVALID;
}
static CK_RV m_CloseAllSessions(CK_SLOT_ID s)
{
	(void)s;
	return CKR_OK;
}
static CK_RV m_GetSessionInfo(CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR i)
{
	if (h != 0x55)
		return CKR_SESSION_HANDLE_INVALID;
	memset(i, 0, sizeof(*i));
	i->slotID = 7;
	i->state = CKS_RW_PUBLIC_SESSION;
	i->flags = CKF_SERIAL_SESSION | CKF_RW_SESSION;
	return CKR_OK;
}
static CK_RV m_CreateObject(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR t, CK_ULONG n,
			    CK_OBJECT_HANDLE_PTR o)
{
	(void)t;
	(void)n;
	if (h != 0x55)
		return CKR_SESSION_HANDLE_INVALID;
	if (nobj >= MAX_OBJ)
		return CKR_DEVICE_MEMORY;
	/* ~0 - 2, ~0 - 3, ...: new reserved-range values */
	objs[nobj] = ~(CK_ULONG)0 - 2 - (CK_ULONG)created++;
	*o = objs[nobj++];
	return CKR_OK;
}
static CK_RV m_DestroyObject(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o)
{
	long i = index_of(o);
	if (h != 0x55)
		return CKR_SESSION_HANDLE_INVALID;
	mock_last_destroyed = o;
	if (i < 0)
		return CKR_OBJECT_HANDLE_INVALID;
	objs[i] = objs[--nobj];
	return CKR_OK;
}
static CK_RV m_GetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o,
				 CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
	if (h != 0x55)
		return CKR_SESSION_HANDLE_INVALID;
	if (index_of(o) < 0)
		return CKR_OBJECT_HANDLE_INVALID;
	CK_RV rv = CKR_OK;
	char label[64];
	int ll = snprintf(label, sizeof(label), "obj-%lx", (unsigned long)o);
	CK_OBJECT_CLASS cls = CKO_DATA;
	for (CK_ULONG i = 0; i < n; i++) {
		const void *p = NULL;
		CK_ULONG len = 0;
		if (t[i].type == CKA_LABEL) {
			p = label;
			len = (CK_ULONG)ll;
		} else if (t[i].type == CKA_CLASS) {
			p = &cls;
			len = sizeof(cls);
		} else {
			t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			rv = CKR_ATTRIBUTE_TYPE_INVALID;
			continue;
		}
		if (mock_put_attr(&t[i], p, len) != CKR_OK)
			rv = CKR_BUFFER_TOO_SMALL;
	}
	return rv;
}
static CK_RV m_FindObjectsInit(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR t,
			       CK_ULONG n)
{
	if (h != 0x55)
		return CKR_SESSION_HANDLE_INVALID;
	find_pos = 0;
	find_label_len = -1;
	for (CK_ULONG i = 0; i < n; i++)
		if (t[i].type == CKA_LABEL && t[i].ulValueLen < 64) {
			memcpy(find_label, t[i].pValue, t[i].ulValueLen);
			find_label_len = (long)t[i].ulValueLen;
		}
	return CKR_OK;
}
static CK_RV m_FindObjects(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR o,
			   CK_ULONG max, CK_ULONG_PTR n)
{
	if (h != 0x55)
		return CKR_SESSION_HANDLE_INVALID;
	*n = 0;
	for (; find_pos < nobj && *n < max; find_pos++) {
		char label[64];
		int ll = snprintf(label, sizeof(label), "obj-%lx",
				  (unsigned long)objs[find_pos]);
		if (find_label_len >= 0 &&
		    (ll != find_label_len || memcmp(label, find_label, ll)))
			continue;
		o[(*n)++] = objs[find_pos];
	}
	return CKR_OK;
}
static CK_RV m_FindObjectsFinal(CK_SESSION_HANDLE h)
{
	return h == 0x55 ? CKR_OK : CKR_SESSION_HANDLE_INVALID;
}
static CK_RV m_SignInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m,
			CK_OBJECT_HANDLE k)
{
	(void)m;
	if (h != 0x55)
		return CKR_SESSION_HANDLE_INVALID;
	mock_last_key = k;
	return index_of(k) < 0 ? CKR_KEY_HANDLE_INVALID : CKR_OK;
}
static CK_RV m_WaitForSlotEvent(CK_FLAGS f, CK_SLOT_ID_PTR s, CK_VOID_PTR r)
{
	(void)f;
	(void)s;
	(void)r;
	return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_FUNCTION_LIST list = {
    .version = {2, 40},
    .C_Initialize = m_Initialize,
    .C_Finalize = m_Finalize,
    .C_GetInfo = m_GetInfo,
    .C_GetSlotList = m_GetSlotList,
    .C_GetSlotInfo = m_GetSlotInfo,
    .C_GetTokenInfo = m_GetTokenInfo,
    .C_OpenSession = m_OpenSession,
    .C_CloseSession = m_CloseSession,
    .C_CloseAllSessions = m_CloseAllSessions,
    .C_GetSessionInfo = m_GetSessionInfo,
    .C_CreateObject = m_CreateObject,
    .C_DestroyObject = m_DestroyObject,
    .C_GetAttributeValue = m_GetAttributeValue,
    .C_FindObjectsInit = m_FindObjectsInit,
    .C_FindObjects = m_FindObjects,
    .C_FindObjectsFinal = m_FindObjectsFinal,
    .C_SignInit = m_SignInit,
    .C_WaitForSlotEvent = m_WaitForSlotEvent,
};

__attribute__((visibility("default"))) CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR pp)
{
	list.C_GetFunctionList = C_GetFunctionList;
	*pp = &list;
	return CKR_OK;
}
