/* libFuzzer target: templates matched against the synthetic objects of
 * the objects addon (addons/objects/attr.c), and C_GetAttributeValue /
 * C_SetAttributeValue semantics on them.  Input: count byte, then per
 * attribute a type selector, flags, a length and the value bytes.  Every
 * value lives in its own exactly sized allocation, so a read or write past
 * it is caught; results are checked against each other. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addons/objects/objects_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXA 8

static const CK_ATTRIBUTE_TYPE types[] = {
    CKA_CLASS,      CKA_TOKEN,       CKA_PRIVATE,
    CKA_MODIFIABLE, CKA_COPYABLE,    CKA_DESTROYABLE,
    CKA_LABEL,      CKA_APPLICATION, CKA_OBJECT_ID,
    CKA_VALUE,      CKA_ID,          CKA_KEY_TYPE,
    CKA_SUBJECT,    CKA_URL,         CKA_VENDOR_DEFINED};

static size_t take(const uint8_t **p, size_t *n, void *out, size_t len)
{
	size_t k = len < *n ? len : *n;
	memcpy(out, *p, k);
	*p += k;
	*n -= k;
	return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data;
	size_t n = size;
	uint8_t hdr[2] = {0, 0};
	take(&p, &n, hdr, 2);
	static const unsigned char atr[] = {0x3B, 0x8A, 0x80, 0x01};
	static const unsigned char serial[] = "2026000012345678abcd";
	unsigned char upd[OB_UPDATE_LEN];
	memset(upd, 0xA5, sizeof(upd));
	const unsigned char *vals[OB_KINDS] = {serial, serial + 4, upd, atr};
	const size_t lens[OB_KINDS] = {20, 12, OB_UPDATE_LEN, sizeof(atr)};
	ob_view v = {.kind = (enum ob_kind)(hdr[1] % OB_KINDS),
		     .app = (hdr[1] & 0x10) ? "Net iD" : "PKCS #15",
		     .value = vals[hdr[1] % OB_KINDS],
		     .value_len = lens[hdr[1] % OB_KINDS],
		     .value_known = (hdr[1] & 0x20) == 0};

	CK_ATTRIBUTE t[MAXA];
	CK_ULONG count = hdr[0] % (MAXA + 1);
	for (CK_ULONG i = 0; i < count; i++) {
		uint8_t a[3] = {0, 0, 0};
		take(&p, &n, a, 3);
		t[i].type =
		    (a[1] & 0x80)
			? (CK_ATTRIBUTE_TYPE)a[0] << 4
			: types[a[0] % (sizeof(types) / sizeof(types[0]))];
		size_t len = a[2];
		/* flags: 1 NULL pValue; 2 ulValueLen 0 over a buffer */
		t[i].pValue = (a[1] & 1) ? NULL : malloc(len ? len : 1);
		if (t[i].pValue)
			take(&p, &n, t[i].pValue, len);
		t[i].ulValueLen = (a[1] & 2) ? 0 : len;
	}

	int m = ob_match(&v, t, count);
	if (m < -1 || m > 1 || (m == -1 && v.value_known))
		__builtin_trap();
	if (m == -1 && !ob_template_has_value(t, count))
		__builtin_trap();
	/* A match means every template value is what a read returns. */
	if (m == 1) {
		for (CK_ULONG i = 0; i < count; i++) {
			const void *q;
			CK_ULONG len;
			if (!ob_attr(&v, t[i].type, &q, &len) ||
			    len != t[i].ulValueLen ||
			    (len && memcmp(q, t[i].pValue, len)))
				__builtin_trap();
		}
	}
	if (v.value_known) {
		CK_ATTRIBUTE out[MAXA];
		memcpy(out, t, count * sizeof(t[0]));
		CK_RV rv = ob_get_attributes(&v, out, count);
		bool invalid = false, small = false;
		for (CK_ULONG i = 0; i < count; i++) {
			const void *q;
			CK_ULONG len;
			bool has = ob_attr(&v, t[i].type, &q, &len);
			if (!has) {
				invalid = true;
				if (out[i].ulValueLen !=
				    CK_UNAVAILABLE_INFORMATION)
					__builtin_trap();
			} else if (!t[i].pValue || t[i].ulValueLen >= len) {
				if (out[i].ulValueLen != len ||
				    (t[i].pValue && len &&
				     memcmp(out[i].pValue, q, len)))
					__builtin_trap();
			} else {
				small = true;
				if (out[i].ulValueLen !=
				    CK_UNAVAILABLE_INFORMATION)
					__builtin_trap();
			}
		}
		CK_RV want = invalid ? CKR_ATTRIBUTE_TYPE_INVALID
			     : small ? CKR_BUFFER_TOO_SMALL
				     : CKR_OK;
		if (rv != want)
			__builtin_trap();
		(void)ob_object_size(&v);
	}
	CK_RV rv = ob_set_attributes(&v, t, count);
	if (rv != CKR_ATTRIBUTE_READ_ONLY && rv != CKR_ATTRIBUTE_TYPE_INVALID)
		__builtin_trap();
	unsigned idx;
	(void)ob_kind_of(count ? t[0].ulValueLen : 0, &idx);
	for (CK_ULONG i = 0; i < count; i++)
		free(t[i].pValue);
	return 0;
}
