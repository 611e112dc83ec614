/* Internals of the objects addon.
 *
 * Handles.  Below the slots layer, object handles are provider values and
 * whatever this layer hands up.  Values with the top bit clear are the
 * provider's own and pass both ways unchanged.  The reserved range (top bit
 * set) holds the synthetic objects (OB_TOP | 1..4) and escape handles
 * (OB_TOP | OB_ESC_BASE + i) standing for provider values that themselves
 * have the top bit set (escape table, entry i).  Any other reserved value
 * going down becomes CK_INVALID_HANDLE, so the provider answers for it and
 * no provider handle is ever guessed. */
#ifndef P11O_OBJECTS_INT_H
#define P11O_OBJECTS_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "functions.h"

enum ob_kind { OB_SERIAL, OB_LABEL, OB_UPDATE, OB_ATR, OB_KINDS };

#define OB_TOP ((CK_ULONG)1 << (sizeof(CK_ULONG) * 8 - 1))
/* Synthetic: OB_TOP | (token index + 1) << 3 | (kind + 1); the token index
 * keeps handles of different tokens apart (the slots layer passes a handle
 * down whatever session it is used in). */
#define OB_HANDLE(idx, kind)                                                   \
	(OB_TOP | (CK_ULONG)((idx) + 1) << 3 | (CK_ULONG)((kind) + 1))
#define OB_MAX_TOKEN_INDEX 1023u
#define OB_ESC_BASE ((CK_ULONG)0x10000)
#define OB_ESC_MAX 65536u

/* UpdateCount values are SHA-256 digests. */
#define OB_UPDATE_LEN 32
#define OB_MAX_VALUE 256

/* One synthetic object as attribute reads and template matching see it. */
typedef struct ob_view {
	enum ob_kind kind;
	const char *app; /* CKA_APPLICATION, NUL-terminated */
	const unsigned char *value;
	size_t value_len;
	bool value_known; /* value/value_len valid */
} ob_view;

/* Kind of a synthetic handle (*idx: its token index), or -1. */
static inline int ob_kind_of(CK_OBJECT_HANDLE h, unsigned *idx)
{
	CK_ULONG v = h & ~OB_TOP;
	if ((h & OB_TOP) == 0 || v >= OB_ESC_BASE || (v >> 3) == 0 ||
	    (v >> 3) > OB_MAX_TOKEN_INDEX + 1 || (v & 7) == 0 ||
	    (v & 7) > OB_KINDS)
		return -1;
	*idx = (unsigned)(v >> 3) - 1;
	return (int)(v & 7) - 1;
}

/* The attribute `type` of the object: true with *p and *len (for CKA_VALUE only
 * when the value is known), false when the object has no such attribute. */
bool ob_attr(const ob_view *v, CK_ATTRIBUTE_TYPE type, const void **p,
	     CK_ULONG *len);

/* Does the template (provider-accepted, n entries) match?  1 yes, 0 no,
 * -1 when it names CKA_VALUE and the value is not known yet (load it and
 * ask again). */
int ob_match(const ob_view *v, const CK_ATTRIBUTE *t, CK_ULONG n);

/* Does the template name CKA_VALUE? */
bool ob_template_has_value(const CK_ATTRIBUTE *t, CK_ULONG n);

/* C_GetAttributeValue semantics (PKCS#11 2.40 §5.7) on one object; the
 * value must be known when the template names CKA_VALUE. */
CK_RV ob_get_attributes(const ob_view *v, CK_ATTRIBUTE *t, CK_ULONG n);

/* C_SetAttributeValue on a synthetic object (no write path): per entry
 * CKR_ATTRIBUTE_TYPE_INVALID for attributes the object lacks, else
 * CKR_ATTRIBUTE_READ_ONLY. */
CK_RV ob_set_attributes(const ob_view *v, const CK_ATTRIBUTE *t, CK_ULONG n);

/* C_GetObjectSize: sum of the attribute value lengths. */
CK_ULONG ob_object_size(const ob_view *v);

#endif
