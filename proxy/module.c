/* Entry points: the exported CK_FUNCTION_LIST, the 3.0 interfaces and the
 * extension symbols.  Every function is one atomic load and one indirect
 * call into the active table (core.h); nothing here is per-function code. */
#include <string.h>

#include <stdbool.h>

#include "core.h"
#include "inflight.h"
#include "provider.h"

#define P11O_EXPORT __attribute__((visibility("default")))

/* Module-local (the build hides every symbol it does not export): said
 * here so that each entry point loads them directly, not through the
 * GOT. */
#pragma GCC visibility push(hidden)
extern _Atomic(const p11o_targets *) p11o_active;
extern p11o_inflight_counter p11o_inflight[2];
extern _Atomic(atomic_long *) p11o_inflight_now;
#pragma GCC visibility pop

/* Counted in flight (inflight.h), except the functions that take the
 * core's init_lock, which C_Finalize holds while it waits for the count. */
#define P11O_ENTRY_(name, ...)                                                 \
	static CK_RV entry_##name(P11O_PARAMS(__VA_ARGS__))                    \
	{                                                                      \
		const bool counted =                                           \
		    P11O_FN_##name != P11O_FN_C_Initialize &&                  \
		    P11O_FN_##name != P11O_FN_C_Finalize &&                    \
		    P11O_FN_##name != P11O_FN_C_SetTraceCallback;              \
		atomic_long *b = counted ? p11o_call_enter() : NULL;           \
		const p11o_targets *t =                                        \
		    atomic_load_explicit(&p11o_active, memory_order_seq_cst);  \
		CK_RV rv = t->name.fn(t->name.layer, P11O_ARGS(__VA_ARGS__));  \
		if (counted)                                                   \
			p11o_call_leave(b);                                    \
		return rv;                                                     \
	}
P11O_FUNCTIONS(P11O_ENTRY_)
#undef P11O_ENTRY_

/* Extension symbols (docs/architecture.md §6). */
#define P11O_EXPORT_(name, ...)                                                \
	P11O_EXPORT CK_RV name(P11O_PARAMS(__VA_ARGS__))                       \
	{                                                                      \
		return entry_##name(P11O_ARGS(__VA_ARGS__));                   \
	}
P11O_FUNCTIONS_EXT(P11O_EXPORT_)
#undef P11O_EXPORT_

P11O_EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList);
P11O_EXPORT CK_RV C_GetInterfaceList(CK_INTERFACE_PTR pInterfacesList,
				     CK_ULONG_PTR pulCount);
P11O_EXPORT CK_RV C_GetInterface(CK_UTF8CHAR_PTR pInterfaceName,
				 CK_VERSION_PTR pVersion,
				 CK_INTERFACE_PTR_PTR ppInterface,
				 CK_FLAGS flags);

#define P11O_FIELD_(name, ...) .name = entry_##name,

/* The version applications see is 2.11 (docs/architecture.md §1): later
 * versions dropped the multi-PIN appendix. */
static CK_FUNCTION_LIST list_2 = {
    .version = {2, 11},
    P11O_FUNCTIONS_V2(P11O_FIELD_).C_GetFunctionList = C_GetFunctionList,
};

static p11o_function_list list_3 = {
    .version = {3, 0},
    P11O_FUNCTIONS_V2(P11O_FIELD_) P11O_FUNCTIONS_V3(P11O_FIELD_)
	.C_GetFunctionList = C_GetFunctionList,
    .C_GetInterfaceList = C_GetInterfaceList,
    .C_GetInterface = C_GetInterface,
};

static CK_P11OVERLAY_FUNCTION_LIST list_vendor = {
    .version = {1, 0}, P11O_FUNCTIONS_EXT(P11O_FIELD_)};
#undef P11O_FIELD_

/* The 3.0 list must be laid out exactly like CK_FUNCTION_LIST where they
 * overlap. */
_Static_assert(offsetof(p11o_function_list, C_WaitForSlotEvent) ==
		   offsetof(CK_FUNCTION_LIST, C_WaitForSlotEvent),
	       "3.0 list layout");

static CK_INTERFACE interfaces[] = {
    {(CK_CHAR *)"PKCS 11", &list_2, 0},
    {(CK_CHAR *)"PKCS 11", &list_3, 0},
    {(CK_CHAR *)P11OVERLAY_INTERFACE_NAME, &list_vendor, 0},
};
#define INTERFACE_COUNT (sizeof(interfaces) / sizeof(interfaces[0]))

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
	if (!ppFunctionList)
		return CKR_ARGUMENTS_BAD;
	*ppFunctionList = &list_2;
	return CKR_OK;
}

CK_RV C_GetInterfaceList(CK_INTERFACE_PTR pInterfacesList,
			 CK_ULONG_PTR pulCount)
{
	if (!pulCount)
		return CKR_ARGUMENTS_BAD;
	if (!pInterfacesList) {
		*pulCount = INTERFACE_COUNT;
		return CKR_OK;
	}
	if (*pulCount < INTERFACE_COUNT) {
		*pulCount = INTERFACE_COUNT;
		return CKR_BUFFER_TOO_SMALL;
	}
	memcpy(pInterfacesList, interfaces, sizeof(interfaces));
	*pulCount = INTERFACE_COUNT;
	return CKR_OK;
}

static const CK_VERSION *interface_version(const CK_INTERFACE *i)
{
	return i->pFunctionList;
}

/* NULL name: the default ("PKCS 11" 2.11).  A version picks among
 * interfaces of the same name. */
CK_RV C_GetInterface(CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion,
		     CK_INTERFACE_PTR_PTR ppInterface, CK_FLAGS flags)
{
	if (!ppInterface)
		return CKR_ARGUMENTS_BAD;
	for (size_t i = 0; i < INTERFACE_COUNT; i++) {
		const CK_INTERFACE *it = &interfaces[i];
		if (pInterfaceName &&
		    strcmp((const char *)pInterfaceName,
			   (const char *)it->pInterfaceName) != 0)
			continue;
		const CK_VERSION *v = interface_version(it);
		if (pVersion && (pVersion->major != v->major ||
				 pVersion->minor != v->minor))
			continue;
		if ((it->flags & flags) != flags)
			continue;
		*ppInterface = &interfaces[i];
		return CKR_OK;
	}
	return CKR_ARGUMENTS_BAD;
}
