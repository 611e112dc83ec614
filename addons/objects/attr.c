/* Attributes of the synthetic objects (docs/architecture.md §5): reads,
 * template matching and refused writes.  Pure functions, fuzzed by
 * tests/fuzz/fuzz_template.c. */
#include <string.h>

#include "objects_int.h"

static const CK_OBJECT_CLASS data_class = CKO_DATA;
static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

static const char *const labels[OB_KINDS] = {"TokenSerialNumber", "TokenLabel",
					     "UpdateCount", "ATR"};

bool ob_attr(const ob_view *v, CK_ATTRIBUTE_TYPE type, const void **p,
	     CK_ULONG *len)
{
	switch (type) {
	case CKA_CLASS:
		*p = &data_class;
		*len = sizeof(data_class);
		return true;
	case CKA_TOKEN:
		*p = &yes;
		*len = sizeof(yes);
		return true;
	case CKA_PRIVATE:
	case CKA_MODIFIABLE: /* no write path reaches the token */
	case CKA_COPYABLE:
	case CKA_DESTROYABLE:
		*p = &no;
		*len = sizeof(no);
		return true;
	case CKA_LABEL:
		*p = labels[v->kind];
		*len = strlen(labels[v->kind]);
		return true;
	case CKA_APPLICATION:
		*p = v->app;
		*len = strlen(v->app);
		return true;
	case CKA_OBJECT_ID: /* default: empty */
		*p = "";
		*len = 0;
		return true;
	case CKA_VALUE:
		if (!v->value_known)
			return false;
		*p = v->value;
		*len = v->value_len;
		return true;
	default:
		return false;
	}
}

bool ob_template_has_value(const CK_ATTRIBUTE *t, CK_ULONG n)
{
	for (CK_ULONG i = 0; t && i < n; i++)
		if (t[i].type == CKA_VALUE)
			return true;
	return false;
}

int ob_match(const ob_view *v, const CK_ATTRIBUTE *t, CK_ULONG n)
{
	int result = 1;
	if (!t && n)
		return 0;
	for (CK_ULONG i = 0; i < n; i++) {
		const void *p;
		CK_ULONG len;
		if (t[i].type == CKA_VALUE && !v->value_known) {
			result = -1;
			continue;
		}
		if (!ob_attr(v, t[i].type, &p, &len))
			return 0;
		if (t[i].ulValueLen != len)
			return 0;
		if (len && (!t[i].pValue || memcmp(t[i].pValue, p, len) != 0))
			return 0;
	}
	return result;
}

CK_RV ob_get_attributes(const ob_view *v, CK_ATTRIBUTE *t, CK_ULONG n)
{
	bool invalid = false, small = false;
	if (!t && n)
		return CKR_ARGUMENTS_BAD;
	for (CK_ULONG i = 0; i < n; i++) {
		const void *p;
		CK_ULONG len;
		if (!ob_attr(v, t[i].type, &p, &len)) {
			t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			invalid = true;
		} else if (!t[i].pValue) {
			t[i].ulValueLen = len;
		} else if (t[i].ulValueLen >= len) {
			if (len)
				memcpy(t[i].pValue, p, len);
			t[i].ulValueLen = len;
		} else {
			t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			small = true;
		}
	}
	/* Every entry is processed; of several errors 2.40 §5.7 lets any be
	 * returned: the one about the template's types first. */
	if (invalid)
		return CKR_ATTRIBUTE_TYPE_INVALID;
	if (small)
		return CKR_BUFFER_TOO_SMALL;
	return CKR_OK;
}

CK_RV ob_set_attributes(const ob_view *v, const CK_ATTRIBUTE *t, CK_ULONG n)
{
	if (!t && n)
		return CKR_ARGUMENTS_BAD;
	ob_view known = *v;
	known.value_known = true; /* existence, not the bytes */
	for (CK_ULONG i = 0; i < n; i++) {
		const void *p;
		CK_ULONG len;
		if (!ob_attr(&known, t[i].type, &p, &len))
			return CKR_ATTRIBUTE_TYPE_INVALID;
	}
	return CKR_ATTRIBUTE_READ_ONLY;
}

CK_ULONG ob_object_size(const ob_view *v)
{
	static const CK_ATTRIBUTE_TYPE all[] = {
	    CKA_CLASS,     CKA_TOKEN,       CKA_PRIVATE, CKA_MODIFIABLE,
	    CKA_COPYABLE,  CKA_DESTROYABLE, CKA_LABEL,   CKA_APPLICATION,
	    CKA_OBJECT_ID, CKA_VALUE};
	CK_ULONG size = 0;
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		const void *p;
		CK_ULONG len;
		if (ob_attr(v, all[i], &p, &len))
			size += len;
	}
	return size;
}
