/* Pieces shared by the mock PKCS#11 providers of the tests
 * (tests/objects/mock_provider.c, tests/reliability/mock_provider.c):
 * blank padding, the CK_INFO / CK_TOKEN_INFO strings, one attribute value
 * copied out with the buffer rules of C_GetAttributeValue.  Header-only:
 * each mock is a shared module of its own. */
#ifndef MOCK_COMMON_H
#define MOCK_COMMON_H

#include <string.h>

#include "p11overlay.h"

/* `s` blank-padded into the n-byte field `d` (cut at n). */
static inline void mock_pad(CK_UTF8CHAR *d, size_t n, const char *s)
{
	memset(d, ' ', n);
	memcpy(d, s, strlen(s) < n ? strlen(s) : n);
}

/* Cryptoki 2.40, manufacturer "mock", the given description. */
static inline void mock_info(CK_INFO_PTR p, const char *description)
{
	memset(p, 0, sizeof(*p));
	p->cryptokiVersion.major = 2;
	p->cryptokiVersion.minor = 40;
	mock_pad(p->manufacturerID, 32, "mock");
	mock_pad(p->libraryDescription, 32, description);
}

/* Label "Mock Token", manufacturer and model "mock", the given serial;
 * everything else zero (the caller sets the flags). */
static inline void mock_token_info(CK_TOKEN_INFO_PTR p, const char *serial)
{
	memset(p, 0, sizeof(*p));
	mock_pad(p->label, 32, "Mock Token");
	mock_pad(p->manufacturerID, 32, "mock");
	mock_pad(p->model, 16, "mock");
	mock_pad(p->serialNumber, 16, serial);
}

/* One C_GetAttributeValue entry: the length only without a buffer,
 * CKR_BUFFER_TOO_SMALL (length unavailable) if the buffer is short, else
 * the value copied. */
static inline CK_RV mock_put_attr(CK_ATTRIBUTE_PTR a, const void *v,
				  CK_ULONG len)
{
	if (a->pValue && a->ulValueLen < len) {
		a->ulValueLen = CK_UNAVAILABLE_INFORMATION;
		return CKR_BUFFER_TOO_SMALL;
	}
	if (a->pValue)
		memcpy(a->pValue, v, len);
	a->ulValueLen = len;
	return CKR_OK;
}

/* The module's exported C_GetFunctionList, answering `list`. */
#define MOCK_EXPORT_FUNCTION_LIST(list)                                        \
	__attribute__((visibility("default"))) CK_RV C_GetFunctionList(        \
	    CK_FUNCTION_LIST_PTR_PTR pp)                                       \
	{                                                                      \
		if (!pp)                                                       \
			return CKR_ARGUMENTS_BAD;                              \
		*pp = &(list);                                                 \
		return CKR_OK;                                                 \
	}

#endif
