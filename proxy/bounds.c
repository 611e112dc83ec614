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

/* Output byte buffers (C_Sign, C_Decrypt, ...) are checked by the
 * provider layer's forward itself (provider.c), so their calls have one
 * layer less; this layer checks the lists and attribute values. */

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
