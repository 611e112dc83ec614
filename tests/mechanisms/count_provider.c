/* A pass-through provider for tests that counts what reaches the real one:
 * C_GetFunctionList loads the module named by $COUNT_PROVIDER_TARGET
 * (e.g. SoftHSM2), hands out a copy of its function list with
 * C_GetMechanismInfo counted, and count_provider_mechanism_info() says how
 * many calls went through.  Every answer is the real module's. */
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdlib.h>

#include <p11-kit/pkcs11.h>

#define EXPORT __attribute__((visibility("default")))

static CK_FUNCTION_LIST list;
static CK_C_GetMechanismInfo real_info;
static atomic_ulong info_calls;
static CK_C_GetAttributeValue real_getattr;
static atomic_ulong close_on; /* attribute type + 1; 0 = not armed */

static CK_RV counted_info(CK_SLOT_ID slot, CK_MECHANISM_TYPE type,
			  CK_MECHANISM_INFO_PTR info)
{
	atomic_fetch_add(&info_calls, 1);
	return real_info(slot, type, info);
}

static CK_RV getattr(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
		     CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
	unsigned long armed = atomic_load(&close_on);
	for (CK_ULONG i = 0; armed && t && i < n; i++)
		if (t[i].type + 1 == armed &&
		    atomic_compare_exchange_strong(&close_on, &armed, 0)) {
			list.C_CloseSession(s);
			break;
		}
	return real_getattr(s, o, t, n);
}

EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR pp)
{
	if (!pp)
		return CKR_ARGUMENTS_BAD;
	if (!real_info) {
		const char *target = getenv("COUNT_PROVIDER_TARGET");
		void *dl =
		    target ? dlopen(target, RTLD_NOW | RTLD_LOCAL) : NULL;
		CK_C_GetFunctionList get =
		    dl ? (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList")
		       : NULL;
		CK_FUNCTION_LIST_PTR real = NULL;
		if (!get || get(&real) != CKR_OK || !real)
			return CKR_GENERAL_ERROR;
		list = *real;
		real_info = list.C_GetMechanismInfo;
		list.C_GetMechanismInfo = counted_info;
		real_getattr = list.C_GetAttributeValue;
		list.C_GetAttributeValue = getattr;
	}
	*pp = &list;
	return CKR_OK;
}

EXPORT unsigned long count_provider_mechanism_info(void)
{
	return atomic_load(&info_calls);
}

EXPORT void count_provider_close_session_on(CK_ATTRIBUTE_TYPE type)
{
	atomic_store(&close_on, (unsigned long)type + 1);
}
