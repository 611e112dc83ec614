/* Bounds layer (bounds.h): what the provider says about a caller's buffer
 * is never believed beyond that buffer's size. */
#include "bounds.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct bounds_layer {
	p11o_layer base;
	p11o_ops ops;
} bounds_layer;

/* ---- output byte buffers: one generated wrapper per function with an
 * OUT_BYTES + OUT_LEN pair (functions.h) ------------------------------- */

#define BD_HAS_OUT_LEN P11O_KIND_HOOK
#define BD_PRE_OUT_BYTES P11O_KIND_HOOK
#define BD_PRE_OUT_LEN P11O_KIND_HOOK
#define BD_POST_OUT_LEN P11O_KIND_HOOK

#define BD_DO_PRE_OUT_BYTES(n) buffer = n;
#define BD_DO_PRE_OUT_LEN(n) lenp = n;
/* More than the buffer holds: the provider wrote past it or lies; either
 * way nothing in it can be trusted. */
#define BD_DO_POST_OUT_LEN(n)                                                  \
	if (rv == CKR_OK && *n > room) {                                       \
		*n = room;                                                     \
		rv = CKR_DEVICE_ERROR;                                         \
	}

#define BD_HAS_(kind, type, n) P11O_IF_KIND(BD_HAS_, kind, | 1)
#define BD_PRE_(kind, type, n)                                                 \
	P11O_IF_KIND(BD_PRE_, kind, P11O_CAT(BD_DO_PRE_, kind)(n))
#define BD_POST_(kind, type, n)                                                \
	P11O_IF_KIND(BD_POST_, kind, P11O_CAT(BD_DO_POST_, kind)(n))

/* Without a buffer or a length there is nothing to check afterwards: the
 * call goes straight down. */
#define BD_WRAP_(name, ...)                                                    \
	static CK_RV bd_##name(p11o_layer *self, P11O_PARAMS(__VA_ARGS__))     \
	{                                                                      \
		const void *buffer = NULL;                                     \
		CK_ULONG_PTR lenp = NULL;                                      \
		P11O_MAPS(BD_PRE_, __VA_ARGS__)                                \
		if (!buffer || !lenp)                                          \
			return P11O_DOWN(self, name, P11O_ARGS(__VA_ARGS__));  \
		const CK_ULONG room = *lenp;                                   \
		(void)room;                                                    \
		CK_RV rv = P11O_DOWN(self, name, P11O_ARGS(__VA_ARGS__));      \
		P11O_MAPS(BD_POST_, __VA_ARGS__)                               \
		return rv;                                                     \
	}
P11O_FUNCTIONS_V2_TAIL(BD_WRAP_)
P11O_FUNCTIONS_V3(BD_WRAP_)
#undef BD_WRAP_

/* ---- lists: cut to the buffer ----------------------------------------- */

static CK_RV bd_list(CK_RV rv, const void *list, CK_ULONG_PTR count,
		     CK_ULONG room)
{
	if (rv == CKR_OK && list && count && *count > room)
		*count = room;
	return rv;
}

static CK_RV bounded_mechanism_list(p11o_layer *self, CK_SLOT_ID slotID,
				    CK_MECHANISM_TYPE_PTR pList,
				    CK_ULONG_PTR pulCount)
{
	CK_ULONG room = pList && pulCount ? *pulCount : 0;
	return bd_list(
	    P11O_DOWN(self, C_GetMechanismList, slotID, pList, pulCount), pList,
	    pulCount, room);
}

static CK_RV bounded_find(p11o_layer *self, CK_SESSION_HANDLE hSession,
			  CK_OBJECT_HANDLE_PTR phObject, CK_ULONG max,
			  CK_ULONG_PTR pulObjectCount)
{
	return bd_list(P11O_DOWN(self, C_FindObjects, hSession, phObject, max,
				 pulObjectCount),
		       phObject, pulObjectCount, max);
}

/* ---- attribute values -------------------------------------------------- */

/* Templates up to this size are remembered on the stack. */
#define BD_STACK_ATTRS 32

static CK_RV bounded_attributes(p11o_layer *self, CK_SESSION_HANDLE hSession,
				CK_OBJECT_HANDLE hObject,
				CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
	if (!pTemplate || ulCount == 0)
		return P11O_DOWN(self, C_GetAttributeValue, hSession, hObject,
				 pTemplate, ulCount);
	CK_ATTRIBUTE local[BD_STACK_ATTRS], *asked = local;
	/* The application's template is ulCount entries in its memory, so
	 * the product cannot overflow. */
	if (ulCount > BD_STACK_ATTRS &&
	    !(asked = malloc(ulCount * sizeof(*asked))))
		return CKR_HOST_MEMORY;
	memcpy(asked, pTemplate, ulCount * sizeof(*asked));
	CK_RV rv = P11O_DOWN(self, C_GetAttributeValue, hSession, hObject,
			     pTemplate, ulCount);
	bool cut = false;
	for (CK_ULONG i = 0; i < ulCount; i++) {
		CK_ATTRIBUTE *a = &pTemplate[i];
		a->type = asked[i].type;
		a->pValue = asked[i].pValue;
		if (a->pValue && a->ulValueLen != CK_UNAVAILABLE_INFORMATION &&
		    a->ulValueLen > asked[i].ulValueLen) {
			a->ulValueLen = CK_UNAVAILABLE_INFORMATION;
			cut = true;
		}
	}
	if (asked != local)
		free(asked);
	/* Any of the three template errors may be returned (PKCS#11 2.40
	 * C_GetAttributeValue); one the provider gave stays. */
	if (cut && rv == CKR_OK)
		rv = CKR_BUFFER_TOO_SMALL;
	return rv;
}

/* ---- the layer ---------------------------------------------------------- */

static void bounds_destroy(p11o_layer *self)
{
	free(self);
}

p11o_layer *p11o_bounds_layer_new(struct p11o_stack *stack)
{
	bounds_layer *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
		/* Only functions with something to check; the others skip us.
		 */
#define BD_OP_(name, ...)                                                      \
	l->ops.name = (0 P11O_MAPS(BD_HAS_, __VA_ARGS__)) ? bd_##name : NULL;
	P11O_FUNCTIONS_V2_TAIL(BD_OP_)
	P11O_FUNCTIONS_V3(BD_OP_)
#undef BD_OP_
	/* C_GetSlotList: the slots layer cuts the count (slots.c). */
	l->ops.C_GetMechanismList = bounded_mechanism_list;
	l->ops.C_FindObjects = bounded_find;
	l->ops.C_GetAttributeValue = bounded_attributes;
	l->base.name = "bounds";
	l->base.ops = &l->ops;
	l->base.stack = stack;
	l->base.destroy = bounds_destroy;
	return &l->base;
}
