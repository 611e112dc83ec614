#include "provider.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safe_open.h"
#include "stack.h"
#include "variables.h"

/* Is the module loaded at `dl` this very library (named directly, through
 * a symlink or a hard link: the dynamic loader gives one handle per file)?
 * Its C_Initialize would wait for the lock ours holds (issue 16). */
static bool is_self(void *dl)
{
	Dl_info self;
	if (!dladdr((void *)&is_self, &self) || !self.dli_fname)
		return false;
	void *me = dlopen(self.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
	bool same = me && me == dl;
	if (me)
		dlclose(me);
	return same;
}

int p11o_provider_load(p11o_provider *p, const char *path, char *err,
		       size_t errlen)
{
	char why[160];

	memset(p, 0, sizeof(*p));
	snprintf(p->path, sizeof(p->path), "%s", path);
	/* Every application runs this code: the same care as for the config
	 * that names it (safe_open.h). */
	if (p11o_check_module_file(path, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "cannot load provider '%s': %s", path,
			 why);
		return -1;
	}
	p->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!p->dl) {
		snprintf(err, errlen, "cannot load provider '%s': %s", path,
			 dlerror());
		return -1;
	}
	if (is_self(p->dl)) {
		snprintf(err, errlen,
			 "provider '%s' is p11overlay itself: it needs a real "
			 "PKCS#11 module below it",
			 path);
		dlclose(p->dl);
		p->dl = NULL;
		return -1;
	}
	/* Prefer the 3.0 interface; copy only as much as the interface's
	 * own version promises, into our zeroed maximum-size struct. */
	CK_C_GetInterface get_interface =
	    (CK_C_GetInterface)dlsym(p->dl, "C_GetInterface");
	if (get_interface) {
		CK_INTERFACE_PTR iface = NULL;
		if (get_interface((CK_UTF8CHAR_PTR) "PKCS 11", NULL, &iface,
				  0) == CKR_OK &&
		    iface && iface->pFunctionList) {
			const CK_VERSION *v = iface->pFunctionList;
			p->is_v3 = v->major >= 3;
			memcpy(&p->fl, iface->pFunctionList,
			       p->is_v3 ? sizeof(p->fl)
					: sizeof(CK_FUNCTION_LIST));
			return 0;
		}
	}
	CK_C_GetFunctionList get_list =
	    (CK_C_GetFunctionList)dlsym(p->dl, "C_GetFunctionList");
	CK_FUNCTION_LIST_PTR list = NULL;
	if (!get_list || get_list(&list) != CKR_OK || !list) {
		snprintf(err, errlen,
			 "provider '%s' has no usable C_GetFunctionList", path);
		dlclose(p->dl);
		p->dl = NULL;
		return -1;
	}
	memcpy(&p->fl, list, sizeof(CK_FUNCTION_LIST));
	return 0;
}

void p11o_provider_unload(p11o_provider *p)
{
	if (p->dl)
		dlclose(p->dl);
	memset(&p->fl, 0, sizeof(p->fl));
	p->dl = NULL;
}

/* The layer keeps its own copy of the list: one load per forwarded call. */
typedef struct provider_layer {
	p11o_layer base;
	p11o_ops ops;
	p11o_function_list fl;
	/* Somebody else in this process initialised the provider (p11-kit
	 * loading OpenSC's own registration too): it is theirs to finalise. */
	bool shared;
} provider_layer;

#define FL(self) (&((provider_layer *)(self))->fl)
#define REG(self) (&(self)->stack->sessions)

/* Session handles arrive as the application's (sessions.h): the record
 * gives the provider's, and the provider's answer is followed (a session
 * it says is gone is ended).  A handle without a record reaches the
 * provider as CK_INVALID_HANDLE, so it answers with its own error in its
 * own order. */
#define PV_PRE_SESSION P11O_KIND_HOOK
#define PV_POST_SESSION P11O_KIND_HOOK
#define PV_DO_PRE_SESSION(n)                                                   \
	const CK_SESSION_HANDLE app_session = n;                               \
	const p11o_session *rec = p11o_session_get(REG(self), n);              \
	n = rec ? rec->provider_handle : CK_INVALID_HANDLE;
#define PV_DO_POST_SESSION(n)                                                  \
	if (rv != CKR_OK && rec)                                               \
		p11o_sessions_follow(REG(self), app_session, rec, rv, false);
#define PV_PRE_(kind, type, n)                                                 \
	P11O_IF_KIND(PV_PRE_, kind, P11O_CAT(PV_DO_PRE_, kind)(n))
#define PV_POST_(kind, type, n)                                                \
	P11O_IF_KIND(PV_POST_, kind, P11O_CAT(PV_DO_POST_, kind)(n))

#define P11O_FORWARD_(name, ...)                                               \
	static CK_RV forward_##name(p11o_layer *self,                          \
				    P11O_PARAMS(__VA_ARGS__))                  \
	{                                                                      \
		const p11o_function_list *fl = FL(self);                       \
		if (!fl->name)                                                 \
			return CKR_FUNCTION_NOT_SUPPORTED;                     \
		P11O_MAPS(PV_PRE_, __VA_ARGS__)                                \
		CK_RV rv = fl->name(P11O_ARGS(__VA_ARGS__));                   \
		P11O_MAPS(PV_POST_, __VA_ARGS__)                               \
		return rv;                                                     \
	}
P11O_FUNCTIONS_V2_TAIL(P11O_FORWARD_)
P11O_FUNCTIONS_V3(P11O_FORWARD_)
#undef P11O_FORWARD_

/* The record is made here, where the provider's handle is born.  An
 * application's Notify is wrapped (sessions.h: p11o_session_notify with
 * the record as pApplication), so a provider calling it hands the
 * application its own handle, never the provider's. */
static CK_RV pv_C_OpenSession(p11o_layer *self, CK_SLOT_ID slotID,
			      CK_FLAGS flags, CK_VOID_PTR pApplication,
			      CK_NOTIFY Notify, CK_SESSION_HANDLE_PTR phSession)
{
	const p11o_function_list *fl = FL(self);
	if (!fl->C_OpenSession)
		return CKR_FUNCTION_NOT_SUPPORTED;
	p11o_stack *st = self->stack;
	p11o_session *wrapped = NULL;
	if (Notify && phSession) {
		wrapped = p11o_sessions_take(&st->sessions);
		if (!wrapped)
			return CKR_HOST_MEMORY;
	}
	CK_SESSION_HANDLE ph = CK_INVALID_HANDLE;
	CK_RV rv = fl->C_OpenSession(
	    slotID, flags, wrapped ? (CK_VOID_PTR)wrapped : pApplication,
	    wrapped ? p11o_session_notify : Notify, phSession ? &ph : NULL);
	if (rv != CKR_OK || !phSession) {
		if (wrapped)
			p11o_sessions_give_back(&st->sessions, wrapped);
		return rv;
	}
	p11o_session init = {.provider_handle = ph,
			     .provider = 0,
			     .down_slot = slotID,
			     .slot = p11o_slot_find_down(&st->view, slotID),
			     .rw = (flags & CKF_RW_SESSION) != 0,
			     .notify = Notify,
			     .application = pApplication};
	init.insertion = p11o_slot_insertion(&st->view, init.slot);
	p11o_session *s =
	    wrapped ? (p11o_sessions_publish(&st->sessions, wrapped, &init)
			   ? wrapped
			   : NULL)
		    : p11o_sessions_add(&st->sessions, &init);
	if (!s) {
		fl->C_CloseSession(ph);
		return CKR_HOST_MEMORY;
	}
	*phSession = atomic_load_explicit(&s->handle, memory_order_relaxed);
	return CKR_OK;
}

/* The slot ID is the application's, from the record (sessions.h): the
 * slots layer need not look the session up again. */
static CK_RV pv_C_GetSessionInfo(p11o_layer *self, CK_SESSION_HANDLE hSession,
				 CK_SESSION_INFO_PTR pInfo)
{
	const p11o_function_list *fl = FL(self);
	if (!fl->C_GetSessionInfo)
		return CKR_FUNCTION_NOT_SUPPORTED;
	const p11o_session *rec = p11o_session_get(REG(self), hSession);
	CK_RV rv = fl->C_GetSessionInfo(
	    rec ? rec->provider_handle : CK_INVALID_HANDLE, pInfo);
	if (rv == CKR_OK && pInfo && rec && rec->slot != P11O_NO_SLOT)
		pInfo->slotID = self->stack->view.slots[rec->slot].id;
	else if (rv != CKR_OK && rec)
		p11o_sessions_follow(REG(self), hSession, rec, rv, false);
	return rv;
}

static CK_RV pv_C_CloseSession(p11o_layer *self, CK_SESSION_HANDLE hSession)
{
	const p11o_function_list *fl = FL(self);
	if (!fl->C_CloseSession)
		return CKR_FUNCTION_NOT_SUPPORTED;
	const p11o_session *rec = p11o_session_get(REG(self), hSession);
	CK_RV rv =
	    fl->C_CloseSession(rec ? rec->provider_handle : CK_INVALID_HANDLE);
	if (rec)
		p11o_sessions_follow(REG(self), hSession, rec, rv, true);
	return rv;
}

static CK_RV pv_C_CloseAllSessions(p11o_layer *self, CK_SLOT_ID slotID)
{
	const p11o_function_list *fl = FL(self);
	if (!fl->C_CloseAllSessions)
		return CKR_FUNCTION_NOT_SUPPORTED;
	CK_RV rv = fl->C_CloseAllSessions(slotID);
	if (p11o_session_verdict(rv, false, true) == P11O_SLOT_GONE)
		p11o_sessions_end_slot(REG(self), 0, slotID);
	return rv;
}

static CK_RV forward_C_Initialize(p11o_layer *self, CK_VOID_PTR pInitArgs)
{
	(void)pInitArgs; /* validated by the core; the provider gets ours */
	if (!FL(self)->C_Initialize)
		return CKR_GENERAL_ERROR;
	CK_RV rv = FL(self)->C_Initialize(&self->stack->provider_args);
	((provider_layer *)self)->shared =
	    rv == CKR_CRYPTOKI_ALREADY_INITIALIZED;
	return rv == CKR_CRYPTOKI_ALREADY_INITIALIZED ? CKR_OK : rv;
}

static CK_RV forward_C_Finalize(p11o_layer *self, CK_VOID_PTR pReserved)
{
	if (((provider_layer *)self)->shared)
		return CKR_OK;
	return FL(self)->C_Finalize ? FL(self)->C_Finalize(pReserved)
				    : CKR_GENERAL_ERROR;
}

static CK_RV forward_C_GetInfo(p11o_layer *self, CK_INFO_PTR pInfo)
{
	return FL(self)->C_GetInfo ? FL(self)->C_GetInfo(pInfo)
				   : CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV provider_get_variable(p11o_layer *self, const char *name,
				   char *value, CK_ULONG valueLen)
{
	(void)self;
	return p11o_variable_get(name, value, valueLen);
}

static CK_RV provider_set_variable(p11o_layer *self, const char *name,
				   const char *value)
{
	(void)self;
	return p11o_variable_set(name, value);
}

static const p11o_ops provider_ops = {
#define P11O_OPS_(name, ...) .name = forward_##name,
    P11O_FUNCTIONS_V2(P11O_OPS_) P11O_FUNCTIONS_V3(P11O_OPS_)
#undef P11O_OPS_
	.C_GetVariable = provider_get_variable,
    .C_SetVariable = provider_set_variable,
};

static void provider_layer_destroy(p11o_layer *self)
{
	free(self);
}

p11o_layer *p11o_provider_layer_new(struct p11o_stack *stack)
{
	provider_layer *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->base.name = "provider";
	l->ops = provider_ops;
	l->ops.C_OpenSession = pv_C_OpenSession;
	l->ops.C_CloseSession = pv_C_CloseSession;
	l->ops.C_GetSessionInfo = pv_C_GetSessionInfo;
	l->ops.C_CloseAllSessions = pv_C_CloseAllSessions;
	l->base.ops = &l->ops;
	l->base.stack = stack;
	l->base.destroy = provider_layer_destroy;
	l->fl = stack->provider.fl;
	return &l->base;
}
