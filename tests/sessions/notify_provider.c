/* A minimal PKCS#11 provider for test_notify: one slot with a token; the
 * provider's session handles are 0x5150 + n.  C_SeedRandom calls the
 * session's Notify with CKN_SURRENDER (as a provider may during a long
 * operation) and returns CKR_FUNCTION_CANCELED when the callback answers
 * CKR_CANCEL.  What Notify and pApplication C_OpenSession got is exported
 * for the test (dlopen RTLD_NOLOAD). */
#include <string.h>

#include "mock_common.h"

#define EXPORT __attribute__((visibility("default")))

#define MAX 8
EXPORT CK_NOTIFY mock_last_notify;        /* as C_OpenSession got it */
EXPORT CK_VOID_PTR mock_last_application; /* idem */
static struct {
	CK_NOTIFY notify;
	CK_VOID_PTR app;
	int open;
} sessions[MAX];

#define BASE 0x5150

static CK_RV m_Initialize(CK_VOID_PTR a)
{
	(void)a;
	memset(sessions, 0, sizeof(sessions));
	return CKR_OK;
}

static CK_RV m_Finalize(CK_VOID_PTR r)
{
	(void)r;
	return CKR_OK;
}

static CK_RV m_GetInfo(CK_INFO_PTR p)
{
	mock_info(p, "notify mock");
	return CKR_OK;
}

static CK_RV m_GetSlotList(CK_BBOOL present, CK_SLOT_ID_PTR list,
			   CK_ULONG_PTR n)
{
	(void)present;
	if (list && *n < 1) {
		*n = 1;
		return CKR_BUFFER_TOO_SMALL;
	}
	if (list)
		list[0] = 3;
	*n = 1;
	return CKR_OK;
}

static CK_RV m_GetSlotInfo(CK_SLOT_ID id, CK_SLOT_INFO_PTR p)
{
	if (id != 3)
		return CKR_SLOT_ID_INVALID;
	memset(p, 0, sizeof(*p));
	mock_pad(p->slotDescription, 64, "notify mock slot");
	mock_pad(p->manufacturerID, 32, "mock");
	p->flags = CKF_TOKEN_PRESENT;
	return CKR_OK;
}

static CK_RV m_GetTokenInfo(CK_SLOT_ID id, CK_TOKEN_INFO_PTR p)
{
	if (id != 3)
		return CKR_SLOT_ID_INVALID;
	mock_token_info(p, "N1");
	p->flags = CKF_TOKEN_INITIALIZED;
	return CKR_OK;
}

static CK_RV m_OpenSession(CK_SLOT_ID id, CK_FLAGS f, CK_VOID_PTR app,
			   CK_NOTIFY notify, CK_SESSION_HANDLE_PTR ph)
{
	(void)f;
	if (id != 3)
		return CKR_SLOT_ID_INVALID;
	for (int i = 0; i < MAX; i++)
		if (!sessions[i].open) {
			sessions[i].open = 1;
			sessions[i].notify = notify;
			sessions[i].app = app;
			mock_last_notify = notify;
			mock_last_application = app;
			*ph = BASE + (CK_SESSION_HANDLE)i;
			return CKR_OK;
		}
	return CKR_SESSION_COUNT;
}

static int index_of(CK_SESSION_HANDLE h)
{
	if (h < BASE || h >= BASE + MAX || !sessions[h - BASE].open)
		return -1;
	return (int)(h - BASE);
}

static CK_RV m_CloseSession(CK_SESSION_HANDLE h)
{
	int i = index_of(h);
	if (i < 0)
		return CKR_SESSION_HANDLE_INVALID;
	sessions[i].open = 0;
	return CKR_OK;
}

static CK_RV m_CloseAllSessions(CK_SLOT_ID id)
{
	(void)id;
	memset(sessions, 0, sizeof(sessions));
	return CKR_OK;
}

static CK_RV m_GetSessionInfo(CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR p)
{
	if (index_of(h) < 0)
		return CKR_SESSION_HANDLE_INVALID;
	memset(p, 0, sizeof(*p));
	p->slotID = 3;
	p->state = CKS_RO_PUBLIC_SESSION;
	p->flags = CKF_SERIAL_SESSION;
	return CKR_OK;
}

static CK_RV m_SeedRandom(CK_SESSION_HANDLE h, CK_BYTE_PTR p, CK_ULONG n)
{
	(void)p;
	(void)n;
	int i = index_of(h);
	if (i < 0)
		return CKR_SESSION_HANDLE_INVALID;
	if (sessions[i].notify &&
	    sessions[i].notify(h, CKN_SURRENDER, sessions[i].app) == CKR_CANCEL)
		return CKR_FUNCTION_CANCELED;
	return CKR_OK;
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
    .C_SeedRandom = m_SeedRandom,
    .C_WaitForSlotEvent = m_WaitForSlotEvent,
};

MOCK_EXPORT_FUNCTION_LIST(list)
