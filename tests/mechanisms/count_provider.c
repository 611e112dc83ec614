/* A pass-through provider for tests that counts what reaches the real one:
 * C_GetFunctionList loads the module named by $COUNT_PROVIDER_TARGET
 * (e.g. SoftHSM2), hands out a copy of its function list with
 * C_GetMechanismInfo counted, and count_provider_mechanism_info() says how
 * many calls went through.  Every answer is the real module's.
 * count_provider_close_session_on(type) closes the session inside the
 * next C_GetAttributeValue of that attribute type;
 * count_provider_surrender_on_sign(1) makes every C_Sign with a buffer
 * call the session's Notify with CKN_SURRENDER first, as a provider may
 * during a long operation (CKR_CANCEL from it cancels the C_Sign). */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include <p11-kit/pkcs11.h>

#define EXPORT __attribute__((visibility("default")))

static CK_FUNCTION_LIST list;
static CK_C_GetMechanismInfo real_info;
static atomic_ulong info_calls;
static CK_C_GetAttributeValue real_getattr;
static atomic_ulong close_on; /* attribute type + 1; 0 = not armed */
static CK_C_OpenSession real_open;
static CK_C_Sign real_sign;
static atomic_bool surrender_on_sign;
/* The Notify and pApplication each session was opened with. */
#define NOTIFIED 64
static struct {
	CK_SESSION_HANDLE h;
	CK_NOTIFY notify;
	CK_VOID_PTR app;
} notified[NOTIFIED];
static pthread_mutex_t notified_mu = PTHREAD_MUTEX_INITIALIZER;

static CK_RV open_session(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app,
			  CK_NOTIFY notify, CK_SESSION_HANDLE_PTR ph)
{
	CK_RV rv = real_open(slot, flags, app, notify, ph);
	if (rv != CKR_OK || !ph)
		return rv;
	pthread_mutex_lock(&notified_mu);
	unsigned k = (unsigned)(*ph % NOTIFIED);
	notified[k].h = *ph;
	notified[k].notify = notify;
	notified[k].app = app;
	pthread_mutex_unlock(&notified_mu);
	return rv;
}

static CK_RV sign(CK_SESSION_HANDLE s, CK_BYTE_PTR data, CK_ULONG len,
		  CK_BYTE_PTR sig, CK_ULONG_PTR siglen)
{
	if (sig && atomic_load(&surrender_on_sign)) {
		pthread_mutex_lock(&notified_mu);
		unsigned k = (unsigned)(s % NOTIFIED);
		CK_NOTIFY notify =
		    notified[k].h == s ? notified[k].notify : NULL;
		CK_VOID_PTR app = notified[k].app;
		pthread_mutex_unlock(&notified_mu);
		if (notify && notify(s, CKN_SURRENDER, app) == CKR_CANCEL)
			return CKR_FUNCTION_CANCELED;
	}
	return real_sign(s, data, len, sig, siglen);
}

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
		real_open = list.C_OpenSession;
		list.C_OpenSession = open_session;
		real_sign = list.C_Sign;
		list.C_Sign = sign;
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

EXPORT void count_provider_surrender_on_sign(int on)
{
	atomic_store(&surrender_on_sign, on != 0);
}
