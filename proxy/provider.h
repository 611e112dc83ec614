/* Provider: the real PKCS#11 module below the stack (docs/architecture.md §3).
 * Its function list is copied into a zeroed maximum-size (3.0) struct;
 * its `version` is never trusted and its memory never written. */
#ifndef P11O_PROVIDER_H
#define P11O_PROVIDER_H

#include <stddef.h>

#include "config.h"
#include "layer.h"

/* CK_FUNCTION_LIST_3_0 laid out flat, with prototypes from functions.h. */
typedef struct p11o_function_list {
	CK_VERSION version;
#define P11O_FIELD_(name, ...) CK_RV (*name)(P11O_PARAMS(__VA_ARGS__));
	P11O_FUNCTIONS_V2_HEAD(P11O_FIELD_)
	CK_RV (*C_GetFunctionList)(CK_FUNCTION_LIST_PTR_PTR ppFunctionList);
	P11O_FUNCTIONS_V2_TAIL(P11O_FIELD_)
	CK_C_GetInterfaceList C_GetInterfaceList;
	CK_C_GetInterface C_GetInterface;
	P11O_FUNCTIONS_V3(P11O_FIELD_)
#undef P11O_FIELD_
} p11o_function_list;

typedef struct p11o_provider {
	char path[4096];
	void *dl;
	int held_fd; /* the loader's name is /proc/self/fd/<held_fd>; -1 */
	p11o_function_list fl; /* zero where the provider has nothing */
	int is_v3; /* list came from C_GetInterface("PKCS 11") 3.x */
} p11o_provider;

/* Several providers (docs/architecture.md §3): below the provider layer
 * every slot ID names its provider in the top byte; provider 0's IDs are
 * its own, unchanged, so one provider costs nothing. */
#define P11O_PROVIDER_SHIFT 56
#define P11O_PROVIDER_SLOT_MASK (((CK_SLOT_ID)1 << P11O_PROVIDER_SHIFT) - 1)

static inline CK_SLOT_ID p11o_provider_slot_id(unsigned provider,
					       CK_SLOT_ID own)
{
	return provider ? (CK_SLOT_ID)provider << P11O_PROVIDER_SHIFT | own
			: own;
}

/* The providers' C_GetSlotList in provider order: the live ones that have
 * it, with their provider number.  Made by the provider layer's
 * C_Initialize (docs/architecture.md §3 "slot list"). */
typedef struct p11o_slot_lister {
	CK_C_GetSlotList fn;
	unsigned k; /* provider number */
} p11o_slot_lister;

typedef struct p11o_slot_listers {
	unsigned n;
	/* n when the slots layer calls them itself (stack.h), else 0 */
	unsigned direct;
	p11o_slot_lister at[P11O_CONF_MAX_MODULES];
} p11o_slot_listers;

/* dlopen `path` and copy its function list.  Returns 0, or -1 with a
 * message in err. */
int p11o_provider_load(p11o_provider *p, const char *path, char *err,
		       size_t errlen);
void p11o_provider_unload(p11o_provider *p);

/* The bottom layer: forwards every standard function to the provider,
 * CKR_FUNCTION_NOT_SUPPORTED where it has none. */
p11o_layer *p11o_provider_layer_new(struct p11o_stack *stack);

#endif
