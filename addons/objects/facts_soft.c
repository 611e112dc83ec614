/* Facts of tokens without card access: CK_TOKEN_INFO and a digest of the
 * public token objects (facts.h). */
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "facts.h"

static size_t trimmed(const CK_UTF8CHAR *s, size_t len)
{
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\0'))
		len--;
	return len;
}

CK_RV ob_soft_facts(ob_layer *l, CK_SLOT_ID pid, ob_facts *out)
{
	CK_TOKEN_INFO ti;
	CK_RV rv = P11O_DOWN(&l->base, C_GetTokenInfo, pid, &ti);
	if (rv != CKR_OK)
		return rv;
	memset(out, 0, sizeof(*out));
	out->serial_len = trimmed(ti.serialNumber, sizeof(ti.serialNumber));
	memcpy(out->serial, ti.serialNumber, out->serial_len);
	out->label_len = trimmed(ti.label, sizeof(ti.label));
	memcpy(out->label, ti.label, out->label_len);
	return CKR_OK;
}

/* ---- UpdateCount ------------------------------------------------------- */

static const CK_ATTRIBUTE_TYPE hashed[] = {
    CKA_CLASS,       CKA_ID,         CKA_LABEL,
    CKA_APPLICATION, CKA_OBJECT_ID,  CKA_VALUE,
    CKA_SUBJECT,     CKA_ISSUER,     CKA_SERIAL_NUMBER,
    CKA_KEY_TYPE,    CKA_MODULUS,    CKA_PUBLIC_EXPONENT,
    CKA_EC_POINT,    CKA_EC_PARAMS,  CKA_START_DATE,
    CKA_END_DATE,    CKA_MODIFIABLE, CKA_CERTIFICATE_TYPE,
    CKA_TRUSTED};
#define NHASHED (sizeof(hashed) / sizeof(hashed[0]))

static void put_ulong(EVP_MD_CTX *c, CK_ULONG v)
{
	unsigned char b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)((uint64_t)v >> (56 - 8 * i));
	EVP_DigestUpdate(c, b, sizeof(b));
}

static void hash_token_info(EVP_MD_CTX *c, const CK_TOKEN_INFO *ti)
{
	EVP_DigestUpdate(c, ti->label, sizeof(ti->label));
	EVP_DigestUpdate(c, ti->manufacturerID, sizeof(ti->manufacturerID));
	EVP_DigestUpdate(c, ti->model, sizeof(ti->model));
	EVP_DigestUpdate(c, ti->serialNumber, sizeof(ti->serialNumber));
	put_ulong(c, ti->flags);
	put_ulong(c, ti->ulMaxPinLen);
	put_ulong(c, ti->ulMinPinLen);
	const CK_VERSION *v[2] = {&ti->hardwareVersion, &ti->firmwareVersion};
	for (int i = 0; i < 2; i++) {
		EVP_DigestUpdate(c, &v[i]->major, 1);
		EVP_DigestUpdate(c, &v[i]->minor, 1);
	}
}

/* A value longer than this is hashed by its length only: it still
 * counts, and a lying length (CK_ULONG_MAX) sizes no buffer (issue 16). */
#define OB_MAX_HASHED_VALUE (1UL << 20)

static bool hashed_value(CK_ULONG len)
{
	return len != CK_UNAVAILABLE_INFORMATION && len <= OB_MAX_HASHED_VALUE;
}

static bool template_rv(CK_RV rv)
{
	return rv == CKR_OK || rv == CKR_ATTRIBUTE_TYPE_INVALID ||
	       rv == CKR_ATTRIBUTE_SENSITIVE;
}

static void hash_attributes(EVP_MD_CTX *c, const CK_ATTRIBUTE *t)
{
	for (size_t i = 0; i < NHASHED; i++) {
		put_ulong(c, t[i].type);
		put_ulong(c, t[i].ulValueLen);
		if (t[i].pValue && hashed_value(t[i].ulValueLen))
			EVP_DigestUpdate(c, t[i].pValue, t[i].ulValueLen);
	}
}

/* One read of the hashed attributes into a fresh buffer.  CKR_BUFFER_TOO_SMALL
 * when a value grew between the length query and the read. */
static CK_RV read_attributes(ob_layer *l, CK_SESSION_HANDLE s,
			     CK_OBJECT_HANDLE o,
			     unsigned char out[OB_UPDATE_LEN])
{
	CK_ATTRIBUTE t[NHASHED];
	CK_ULONG room[NHASHED];
	for (size_t i = 0; i < NHASHED; i++)
		t[i] = (CK_ATTRIBUTE){hashed[i], NULL, 0};
	CK_RV rv = P11O_DOWN(&l->base, C_GetAttributeValue, s, o, t, NHASHED);
	if (!template_rv(rv))
		return rv;
	size_t total = 0; /* at most NHASHED * OB_MAX_HASHED_VALUE */
	for (size_t i = 0; i < NHASHED; i++) {
		room[i] = t[i].ulValueLen;
		if (hashed_value(room[i]))
			total += room[i];
	}
	unsigned char *buf = malloc(total ? total : 1), *p = buf;
	if (!buf)
		return CKR_HOST_MEMORY;
	for (size_t i = 0; i < NHASHED; i++) {
		if (!hashed_value(room[i]))
			continue; /* its length was enough */
		t[i].pValue = p;
		p += room[i];
	}
	rv = P11O_DOWN(&l->base, C_GetAttributeValue, s, o, t, NHASHED);
	for (size_t i = 0; template_rv(rv) && i < NHASHED; i++)
		if (t[i].pValue &&
		    t[i].ulValueLen != CK_UNAVAILABLE_INFORMATION &&
		    t[i].ulValueLen > room[i])
			rv = CKR_BUFFER_TOO_SMALL; /* never read past it */
	if (template_rv(rv)) {
		EVP_MD_CTX *c = EVP_MD_CTX_new();
		rv = CKR_HOST_MEMORY;
		if (c && EVP_DigestInit_ex(c, EVP_sha256(), NULL)) {
			hash_attributes(c, t);
			EVP_DigestFinal_ex(c, out, NULL);
			rv = CKR_OK;
		}
		EVP_MD_CTX_free(c);
	}
	free(buf);
	return rv;
}

/* SHA-256 over (type, length, value) of the hashed attributes.  A value
 * that grows between the two reads (another process writing, or a
 * provider that lies) is read again, a few times. */
static CK_RV object_digest(ob_layer *l, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
			   unsigned char out[OB_UPDATE_LEN])
{
	CK_RV rv = CKR_OK;
	for (int tries = 0; tries < 3; tries++)
		if ((rv = read_attributes(l, s, o, out)) !=
		    CKR_BUFFER_TOO_SMALL)
			return rv;
	return CKR_DEVICE_ERROR;
}

/* More public token objects than a soft token holds in practice. */
#define OB_MAX_SOFT_OBJECTS (1UL << 20)

static int cmp_digest(const void *a, const void *b)
{
	return memcmp(a, b, OB_UPDATE_LEN);
}

/* Digests of the public token objects, sorted (the provider's order is not
 * part of the content).  *out is malloc'ed. */
static CK_RV object_digests(ob_layer *l, CK_SESSION_HANDLE s,
			    unsigned char **out, size_t *count)
{
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE tmpl[] = {{CKA_TOKEN, &yes, sizeof(yes)},
			       {CKA_PRIVATE, &no, sizeof(no)}};
	CK_OBJECT_HANDLE *h = NULL;
	size_t n = 0, cap = 0;
	CK_RV rv = P11O_DOWN(&l->base, C_FindObjectsInit, s, tmpl, 2);
	while (rv == CKR_OK) {
		if (n == cap) {
			/* a search that never ends must not take all memory */
			if (cap >= OB_MAX_SOFT_OBJECTS) {
				rv = CKR_DEVICE_ERROR;
				break;
			}
			cap = cap ? cap * 2 : 64;
			CK_OBJECT_HANDLE *nh = realloc(h, cap * sizeof(*h));
			if (!nh) {
				rv = CKR_HOST_MEMORY;
				break;
			}
			h = nh;
		}
		/* A provider that claims more handles than it wrote leaves
		 * CK_INVALID_HANDLE behind, not uninitialised memory. */
		memset(h + n, 0, (cap - n) * sizeof(*h));
		CK_ULONG got = 0;
		rv =
		    P11O_DOWN(&l->base, C_FindObjects, s, h + n, cap - n, &got);
		if (rv != CKR_OK || got == 0)
			break;
		n += got < cap - n ? got : cap - n;
	}
	P11O_DOWN(&l->base, C_FindObjectsFinal, s);
	unsigned char *d = rv == CKR_OK ? malloc(n * OB_UPDATE_LEN + 1) : NULL;
	if (rv == CKR_OK && !d)
		rv = CKR_HOST_MEMORY;
	for (size_t i = 0; rv == CKR_OK && i < n; i++)
		rv = object_digest(l, s, h[i], d + i * OB_UPDATE_LEN);
	free(h);
	if (rv != CKR_OK) {
		free(d);
		return rv;
	}
	qsort(d, n, OB_UPDATE_LEN, cmp_digest);
	*out = d;
	*count = n;
	return CKR_OK;
}

CK_RV ob_soft_update_count(ob_layer *l, CK_SLOT_ID pid,
			   unsigned char out[OB_UPDATE_LEN])
{
	CK_TOKEN_INFO ti;
	CK_RV rv = P11O_DOWN(&l->base, C_GetTokenInfo, pid, &ti);
	if (rv != CKR_OK)
		return rv;
	CK_SESSION_HANDLE s;
	rv = P11O_DOWN(&l->base, C_OpenSession, pid, CKF_SERIAL_SESSION, NULL,
		       NULL, &s);
	if (rv != CKR_OK)
		return rv;
	unsigned char *d = NULL;
	size_t n = 0;
	rv = object_digests(l, s, &d, &n);
	P11O_DOWN(&l->base, C_CloseSession, s);
	if (rv != CKR_OK)
		return rv;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	rv = CKR_HOST_MEMORY;
	if (c && EVP_DigestInit_ex(c, EVP_sha256(), NULL)) {
		EVP_DigestUpdate(c, "p11overlay soft", 15);
		hash_token_info(c, &ti);
		put_ulong(c, n);
		EVP_DigestUpdate(c, d, n * OB_UPDATE_LEN);
		EVP_DigestFinal_ex(c, out, NULL);
		rv = CKR_OK;
	}
	EVP_MD_CTX_free(c);
	free(d);
	return rv;
}
