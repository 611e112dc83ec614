/* --addons (issue 18): the differential run with every addon on, so that
 * NULL and short-buffer cases reach the special-object and mechanism
 * paths of the proxy.
 *
 * The comparison stays exact: what the addons add on purpose is set
 * aside in the proxy child only.  Special objects (addons/objects: data
 * objects TokenSerialNumber, TokenLabel, UpdateCount, ATR) are left out
 * of C_FindObjects results by a wrapper around the proxy's function list,
 * and the mechanisms the proxy completes are named in [mechanisms]
 * disable (diff_harness.c), so the lists still pass through the addon.
 * The special objects themselves have no SoftHSM2 counterpart: the
 * proxy child checks them against the standard (seq_addon_paths), with
 * canary-tailed buffers, and fails the run on any mismatch. */
#include <stdio.h>
#include <string.h>

#include "diff_record.h"
#include "p11test_canary.h"

static CK_FUNCTION_LIST *real;
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

void addons_wrap(void)
{
	real = D.f;
	wrapped = *real;
	wrapped.C_FindObjects = find_without_special;
	D.f = &wrapped;
}

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "addon paths: %s\n", what);
		failures++;
	}
}

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

typedef struct mech_ctx {
	CK_SLOT_ID slot;
} mech_ctx;

static CK_RV fill_mechs(void *ctx, void *buf, CK_ULONG *len)
{
	return real->C_GetMechanismList(((mech_ctx *)ctx)->slot, buf, len);
}

typedef struct state_ctx {
	CK_SESSION_HANDLE s;
} state_ctx;

static CK_RV fill_state(void *ctx, void *buf, CK_ULONG *len)
{
	return real->C_GetOperationState(((state_ctx *)ctx)->s, buf, len);
}

/* One special object: NULL arguments, every short buffer, read-only. */
static void special_object(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h,
			   const char *label)
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
	snprintf(what, sizeof(what), "%s: C_DestroyObject", label);
	check(real->C_DestroyObject(s, h) != CKR_OK, what);
}

/* Proxy child, --addons only. */
void seq_addon_paths(void)
{
	CK_SESSION_HANDLE s;
	if (real->C_OpenSession(D.slot_a, CKF_SERIAL_SESSION, NULL, NULL, &s) !=
	    CKR_OK) {
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
			special_object(s, h[0], special_labels[i]);
		}
	}
	/* SoftHSM2 tokens: all but ATR (smart cards only). */
	check(found == 3, "special objects found");

	mech_ctx mc = {D.slot_a};
	check(p11test_canary_two_call("C_GetMechanismList", fill_mechs, &mc,
				      sizeof(CK_MECHANISM_TYPE),
				      P11TEST_SHORT_LEN_NEEDED, ~0UL, NULL,
				      0) > 0,
	      "C_GetMechanismList short buffers");
	check(real->C_GetMechanismList(D.slot_a, NULL, NULL) ==
		  CKR_ARGUMENTS_BAD,
	      "C_GetMechanismList(NULL, NULL)");

	/* An operation completed in software: its state is the proxy's. */
	CK_MECHANISM digest = {CKM_SHA256, NULL, 0};
	if (real->C_DigestInit(s, &digest) == CKR_OK &&
	    real->C_DigestUpdate(s, (CK_BYTE_PTR) "abc", 3) == CKR_OK) {
		state_ctx sc = {s};
		CK_ULONG len = 0;
		if (real->C_GetOperationState(s, NULL, &len) == CKR_OK)
			check(p11test_canary_two_call(
				  "C_GetOperationState", fill_state, &sc, 1,
				  P11TEST_SHORT_LEN_NEEDED, ~0UL, NULL, 0) > 0,
			      "C_GetOperationState short buffers");
	}
	real->C_CloseSession(s);
}

int addons_failures(void)
{
	return failures;
}
