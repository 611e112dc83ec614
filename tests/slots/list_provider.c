/* A provider whose slot list the test sets (test_slot_list.c): built twice,
 * as list_provider_a.so and list_provider_b.so (LIST_NAME "A" / "B"), so
 * one module can load it as both providers.  The test picks one of two
 * lists it wrote (`state`, read once per call, so each call answers one
 * whole list while another thread switches), or makes C_GetSlotList fail
 * (`rv`).  A slot's description is "<name> slot <id>", which tells the
 * test whose slot an application's ID stands for.  The control is reached
 * through list_control() of each module's own handle, never through a
 * global symbol (two copies are loaded). */
#include <stdio.h>
#include <string.h>

#include "list_provider.h"
#include "mock_common.h"

#define EXPORT __attribute__((visibility("default")))

static struct list_control ctl;

EXPORT struct list_control *list_control(void)
{
	return &ctl;
}

static CK_RV m_Initialize(CK_VOID_PTR a)
{
	(void)a;
	return CKR_OK;
}

static CK_RV m_Finalize(CK_VOID_PTR r)
{
	(void)r;
	return CKR_OK;
}

static CK_RV m_GetInfo(CK_INFO_PTR p)
{
	mock_info(p, "list mock " LIST_NAME);
	return CKR_OK;
}

static CK_RV m_GetSlotList(CK_BBOOL present, CK_SLOT_ID_PTR list,
			   CK_ULONG_PTR n)
{
	(void)present;
	__atomic_add_fetch(&ctl.calls, 1, __ATOMIC_RELAXED);
	if (!n)
		return CKR_ARGUMENTS_BAD;
	CK_RV rv = __atomic_load_n(&ctl.rv, __ATOMIC_ACQUIRE);
	if (rv != CKR_OK)
		return rv;
	int s = __atomic_load_n(&ctl.state, __ATOMIC_ACQUIRE) & 1;
	if (list && *n < ctl.n[s]) {
		*n = ctl.n[s];
		return CKR_BUFFER_TOO_SMALL;
	}
	if (list)
		memcpy(list, ctl.ids[s], ctl.n[s] * sizeof(*list));
	*n = ctl.n[s];
	return CKR_OK;
}

static CK_RV m_GetSlotInfo(CK_SLOT_ID id, CK_SLOT_INFO_PTR p)
{
	if (!p)
		return CKR_ARGUMENTS_BAD;
	char d[65];
	snprintf(d, sizeof(d), "%s slot %lu", LIST_NAME, (unsigned long)id);
	memset(p, 0, sizeof(*p));
	mock_pad(p->slotDescription, 64, d);
	mock_pad(p->manufacturerID, 32, "mock");
	return CKR_OK; /* no token */
}

static CK_FUNCTION_LIST list = {
    .version = {2, 40},
    .C_Initialize = m_Initialize,
    .C_Finalize = m_Finalize,
    .C_GetInfo = m_GetInfo,
    .C_GetSlotList = m_GetSlotList,
    .C_GetSlotInfo = m_GetSlotInfo,
    /* nothing else: the proxy answers CKR_FUNCTION_NOT_SUPPORTED */
};

MOCK_EXPORT_FUNCTION_LIST(list)
