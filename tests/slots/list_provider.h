/* What test_slot_list.c sets in list_provider.c (list_control()). */
#ifndef LIST_PROVIDER_H
#define LIST_PROVIDER_H

#include "p11overlay.h"

#define LIST_MAX 48

struct list_control {
	CK_SLOT_ID ids[2][LIST_MAX];
	CK_ULONG n[2];
	int state; /* __atomic: which list C_GetSlotList answers */
	CK_RV rv;  /* __atomic: C_GetSlotList's answer when not CKR_OK */
	unsigned long calls;
};

#endif
