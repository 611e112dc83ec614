/* What the objects addon adds on purpose, set aside narrowly in the proxy
 * child (issues 15 and 18), so that the comparison with SoftHSM2 stays
 * exact for everything else (docs/architecture.md §3, Conformance).
 *
 * Special objects (docs/architecture.md §5: data objects
 * TokenSerialNumber, TokenLabel, UpdateCount, ATR) are left out of
 * C_FindObjects results by a wrapper around the proxy's function list.
 * They have no SoftHSM2 counterpart: the proxy child checks them against
 * the standard (NULL arguments, every short buffer with a canary tail,
 * read-only) and fails the run on any mismatch.  The mechanisms addon's
 * part is in diff_addons_mech.c. */
#include <stdio.h>
#include <string.h>

#include "diff_record.h"
#include "p11test_canary.h"

CK_FUNCTION_LIST *addons_real;
#define real addons_real
static CK_FUNCTION_LIST wrapped;
static int failures;

static const char *const special_labels[] = {"TokenSerialNumber", "TokenLabel",
					     "UpdateCount", "ATR"};

static bool is_special(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h)
{
	CK_OBJECT_CLASS cls = 0;
	char label[64];
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)},
			    {CKA_LABEL, label, sizeof(label) - 1}};
	if (real->C_GetAttributeValue(s, h, t, 2) != CKR_OK || cls != CKO_DATA)
		return false;
	label[t[1].ulValueLen] = '\0';
	for (size_t i = 0; i < 4; i++)
		if (strcmp(label, special_labels[i]) == 0)
			return true;
	return false;
}

/* C_FindObjects without the special objects: as many others as asked
 * for, or fewer when there are no more. */
static CK_RV find_without_special(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE_PTR h,
				  CK_ULONG max, CK_ULONG_PTR count)
{
	if (!h || !count || max == 0)
		return real->C_FindObjects(s, h, max, count);
	CK_ULONG have = 0;
	for (;;) {
		CK_ULONG got = 0;
		CK_RV rv = real->C_FindObjects(s, h + have, max - have, &got);
		if (rv != CKR_OK)
			return rv;
		if (got == 0)
			break;
		CK_ULONG base = have;
		for (CK_ULONG i = 0; i < got; i++) {
			CK_OBJECT_HANDLE x = h[base + i];
			if (!is_special(s, x))
				h[have++] = x;
		}
		if (have == max)
			break;
	}
	*count = have;
	return CKR_OK;
}

static unsigned on;

void addons_wrap(unsigned layers)
{
	on = layers;
	real = D.f;
	wrapped = *real;
	if (on & LAYER_OBJECTS)
		wrapped.C_FindObjects = find_without_special;
	if (on & LAYER_MECHANISMS)
		mech_wrap(&wrapped);
	D.f = &wrapped;
}

void addons_check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "addon paths: %s\n", what);
		failures++;
	}
}
#define check addons_check

typedef struct attr_ctx {
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE h;
	CK_ATTRIBUTE_TYPE type;
} attr_ctx;

static CK_RV fill_attr(void *ctx, void *buf, CK_ULONG *len)
{
	attr_ctx *c = ctx;
	CK_ATTRIBUTE a = {c->type, buf, *len};
	CK_RV rv = real->C_GetAttributeValue(c->s, c->h, &a, 1);
	*len = a.ulValueLen;
	return rv;
}

/* One special object: NULL arguments, every short buffer, read-only. */
static void special_object(CK_SESSION_HANDLE s, CK_SESSION_HANDLE rw,
			   CK_OBJECT_HANDLE h, const char *label)
{
	char what[128];
	CK_ULONG size = 0;
	snprintf(what, sizeof(what), "%s: C_GetObjectSize(NULL)", label);
	check(real->C_GetObjectSize(s, h, NULL) == CKR_ARGUMENTS_BAD, what);
	snprintf(what, sizeof(what), "%s: C_GetObjectSize", label);
	check(real->C_GetObjectSize(s, h, &size) == CKR_OK, what);
	snprintf(what, sizeof(what), "%s: C_GetAttributeValue(NULL, 1)", label);
	check(real->C_GetAttributeValue(s, h, NULL, 1) == CKR_ARGUMENTS_BAD,
	      what);
	static const CK_ATTRIBUTE_TYPE types[] = {CKA_VALUE, CKA_LABEL,
						  CKA_APPLICATION};
	for (size_t i = 0; i < 3; i++) {
		attr_ctx c = {s, h, types[i]};
		snprintf(what, sizeof(what), "%s: C_GetAttributeValue(0x%lx)",
			 label, types[i]);
		check(p11test_canary_two_call(what, fill_attr, &c, 1,
					      P11TEST_SHORT_LEN_UNAVAILABLE,
					      ~0UL, NULL, 0) >= 0,
		      what);
	}
	/* Two attributes, one too short: CKR_BUFFER_TOO_SMALL, that one
	 * unavailable, the other filled, no write past either. */
	unsigned char *small = p11test_canary_alloc(1);
	unsigned char *big = p11test_canary_alloc(256);
	CK_ATTRIBUTE t[] = {{CKA_LABEL, big, 256}, {CKA_VALUE, small, 1}};
	snprintf(what, sizeof(what), "%s: C_GetAttributeValue(label, short)",
		 label);
	CK_RV rv = real->C_GetAttributeValue(s, h, t, 2);
	check(rv == CKR_BUFFER_TOO_SMALL &&
		  t[1].ulValueLen == CK_UNAVAILABLE_INFORMATION &&
		  t[0].ulValueLen == strlen(label) &&
		  memcmp(big, label, strlen(label)) == 0,
	      what);
	check(p11test_canary_free(small, what) &&
		  p11test_canary_free(big, what),
	      what);
	/* Read-only objects: in a R/O session as token objects are. */
	CK_ATTRIBUTE set = {CKA_LABEL, (void *)"x", 1};
	snprintf(what, sizeof(what), "%s: C_SetAttributeValue", label);
	check(real->C_SetAttributeValue(s, h, &set, 1) ==
		      CKR_SESSION_READ_ONLY &&
		  real->C_SetAttributeValue(rw, h, &set, 1) ==
		      CKR_ATTRIBUTE_READ_ONLY,
	      what);
	snprintf(what, sizeof(what), "%s: C_DestroyObject", label);
	check(real->C_DestroyObject(s, h) != CKR_OK, what);
}

/* Proxy child: the special objects of token A. */
static void objects_paths(void)
{
	CK_SESSION_HANDLE s, rw;
	if (real->C_OpenSession(D.slot_a, CKF_SERIAL_SESSION, NULL, NULL, &s) !=
		CKR_OK ||
	    real->C_OpenSession(D.slot_a, CKF_SERIAL_SESSION | CKF_RW_SESSION,
				NULL, NULL, &rw) != CKR_OK) {
		check(false, "C_OpenSession");
		return;
	}
	size_t found = 0;
	CK_OBJECT_CLASS cls = CKO_DATA;
	for (size_t i = 0; i < 4; i++) {
		CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)},
				    {CKA_LABEL, (void *)special_labels[i],
				     strlen(special_labels[i])}};
		CK_OBJECT_HANDLE h[2];
		CK_ULONG n = 0;
		if (real->C_FindObjectsInit(s, t, 2) != CKR_OK ||
		    real->C_FindObjects(s, h, 2, &n) != CKR_OK ||
		    real->C_FindObjectsFinal(s) != CKR_OK)
			check(false, "find special objects");
		if (n == 1) {
			found++;
			special_object(s, rw, h[0], special_labels[i]);
		}
	}
	/* SoftHSM2 tokens: all but ATR (smart cards only). */
	check(found == 3, "special objects found");
	real->C_CloseSession(s);
	real->C_CloseSession(rw);
}

void seq_addon_paths(void)
{
	if (on & LAYER_OBJECTS)
		objects_paths();
	if (on & LAYER_MECHANISMS)
		mech_paths();
}

int addons_failures(void)
{
	return failures;
}
