/* A provider that lies about counts and lengths (lying_provider.c,
 * LYING_MODE none / grow / max) under the real p11overlay.so with a full
 * trace (issue 16).  Every buffer the test hands over is exactly as large
 * as it says and ends in a canary; whatever the provider claims, no count
 * or length the application gets may exceed its buffer, no canary may
 * change, and every CKR must be one the standard allows.  The ASan+UBSan
 * run adds: no read or write past any buffer, in the proxy or the trace.
 * argv: p11overlay.so lying_provider.so */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rel.h"

static const char *module_path, *mock_path;
static const char *mode;
static CK_FUNCTION_LIST_PTR fl;

#define CANARY 0xC5

static unsigned long mock_lies(void)
{
	void *h = dlopen(mock_path, RTLD_NOW | RTLD_NOLOAD);
	if (!h)
		return 0;
	unsigned long *c = dlsym(h, "lying_lies");
	unsigned long n = c ? *c : 0;
	dlclose(h);
	return n;
}

/* `size` bytes followed by a canary byte. */
static void *guarded(size_t size)
{
	unsigned char *p = malloc(size + 1);
	if (!p)
		abort();
	memset(p, 0, size);
	p[size] = CANARY;
	return p;
}

static void release(void *p, size_t size, const char *what)
{
	REL_CHECK(((unsigned char *)p)[size] == CANARY,
		  "%s: %s: written past its buffer", mode, what);
	free(p);
}

/* A list function (slots or mechanisms) through the proxy: size query,
 * then a buffer of at most `cap` entries. */
static CK_ULONG list_of(const char *fn,
			CK_RV (*call)(CK_ULONG_PTR, CK_ULONG_PTR), CK_ULONG cap,
			CK_ULONG *out)
{
	CK_ULONG n = 0;
	CK_RV rv = rel_rv(fn, call(NULL, &n));
	if (rv != CKR_OK)
		return 0;
	CK_ULONG room = n < cap ? n : cap;
	CK_ULONG *buf = guarded((room ? room : 1) * sizeof(CK_ULONG));
	n = room;
	rv = rel_rv(fn, call(room ? buf : NULL, &n));
	CK_ULONG got = 0;
	if (rv == CKR_OK && room) {
		REL_CHECK(n <= room, "%s: %s: count %lu for a buffer of %lu",
			  mode, fn, n, room);
		got = n <= room ? n : 0;
		if (out)
			memcpy(out, buf, got * sizeof(*buf));
	}
	release(buf, (room ? room : 1) * sizeof(CK_ULONG), fn);
	return got;
}

static CK_BBOOL present_flag;
static CK_SLOT_ID the_slot;

static CK_RV slot_list(CK_ULONG_PTR list, CK_ULONG_PTR count)
{
	return fl->C_GetSlotList(present_flag, list, count);
}

static CK_RV mech_list(CK_ULONG_PTR list, CK_ULONG_PTR count)
{
	return fl->C_GetMechanismList(the_slot, list, count);
}

/* One attribute read into an exact buffer of `size` bytes. */
static CK_RV read_attr(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
		       CK_ATTRIBUTE_TYPE type, size_t size, unsigned char *copy)
{
	unsigned char *buf = guarded(size);
	CK_ATTRIBUTE a = {type, buf, size};
	CK_RV rv =
	    rel_rv("C_GetAttributeValue", fl->C_GetAttributeValue(s, o, &a, 1));
	if (rv == CKR_OK) {
		REL_CHECK(a.ulValueLen <= size,
			  "%s: attribute 0x%lx: length %lu for a buffer of %zu",
			  mode, type, a.ulValueLen, size);
		if (copy && a.ulValueLen <= size)
			memcpy(copy, buf, a.ulValueLen);
	} else if (rv == CKR_BUFFER_TOO_SMALL) {
		REL_CHECK(a.ulValueLen == CK_UNAVAILABLE_INFORMATION,
			  "%s: attribute 0x%lx: too small, yet length %lu",
			  mode, type, a.ulValueLen);
	}
	REL_CHECK(a.pValue == buf && a.type == type,
		  "%s: the template's pointer or type changed", mode);
	release(buf, size, "attribute");
	return rv;
}

/* The synthetic UpdateCount object (objects addon), or 0. */
static CK_OBJECT_HANDLE update_count(CK_SESSION_HANDLE s)
{
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)},
			    {CKA_LABEL, "UpdateCount", 11}};
	CK_OBJECT_HANDLE h[2] = {0, 0};
	CK_ULONG n = 0;
	if (rel_rv("C_FindObjectsInit", fl->C_FindObjectsInit(s, t, 2)) !=
	    CKR_OK)
		return 0;
	rel_rv("C_FindObjects", fl->C_FindObjects(s, h, 2, &n));
	REL_CHECK(n <= 2, "%s: UpdateCount search: %lu found for 2", mode, n);
	rel_rv("C_FindObjectsFinal", fl->C_FindObjectsFinal(s));
	return n >= 1 && n <= 2 ? h[0] : 0;
}

static bool sign_once(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key,
		      CK_MECHANISM_TYPE type);

static void objects(CK_SESSION_HANDLE s)
{
	/* The provider's objects, in batches of 2 with a canary after. */
	CK_OBJECT_HANDLE first = 0, all[8];
	size_t nall = 0;
	if (rel_rv("C_FindObjectsInit", fl->C_FindObjectsInit(s, NULL, 0)) ==
	    CKR_OK) {
		for (int round = 0; round < 4; round++) {
			CK_OBJECT_HANDLE *h = guarded(2 * sizeof(*h));
			CK_ULONG n = 0;
			CK_RV rv = rel_rv("C_FindObjects",
					  fl->C_FindObjects(s, h, 2, &n));
			REL_CHECK(rv != CKR_OK || n <= 2,
				  "%s: C_FindObjects: %lu found for 2", mode,
				  n);
			if (rv == CKR_OK && n && n <= 2 && !first)
				first = h[n - 1];
			for (CK_ULONG i = 0;
			     rv == CKR_OK && i < n && i < 2 && nall < 8; i++)
				all[nall++] = h[i];
			release(h, 2 * sizeof(*h), "object list");
			if (rv != CKR_OK || n == 0)
				break;
		}
		rel_rv("C_FindObjectsFinal", fl->C_FindObjectsFinal(s));
	}
	REL_CHECK(first != 0, "%s: no object found", mode);
	if (!first)
		return;
	/* Size query, then exactly that much (or 16 bytes when it is
	 * absurd). */
	CK_ATTRIBUTE q = {CKA_LABEL, NULL, 0};
	CK_RV rv = rel_rv("C_GetAttributeValue",
			  fl->C_GetAttributeValue(s, first, &q, 1));
	size_t size = rv == CKR_OK && q.ulValueLen <= 64 ? q.ulValueLen : 16;
	rv = read_attr(s, first, CKA_LABEL, size, NULL);
	if (strcmp(mode, "none") == 0)
		REL_CHECK(rv == CKR_OK, "none: label: 0x%lx", rv);
	read_attr(s, first, CKA_VALUE, 4, NULL);

	/* UpdateCount digests every public object's attributes. */
	CK_OBJECT_HANDLE u = update_count(s);
	REL_CHECK(u != 0, "%s: no UpdateCount object", mode);
	unsigned char v1[32], v2[32];
	if (u && read_attr(s, u, CKA_VALUE, 32, v1) == CKR_OK &&
	    strcmp(mode, "none") == 0) {
		REL_CHECK(read_attr(s, u, CKA_VALUE, 32, v2) == CKR_OK &&
			      memcmp(v1, v2, 32) == 0,
			  "none: UpdateCount not steady");
	}

	/* An output byte buffer: size query, then exactly that (or 8).
	 * With the first of the objects found that the provider takes as a
	 * key (the objects addon's own come first).  CKM_RSA_PKCS is
	 * completed by the mechanisms addon here (the provider lies about
	 * its list); a vendor mechanism it does not know reaches the
	 * provider's C_Sign from the application's call, whose length the
	 * provider layer checks (docs/architecture.md §3). */
	static const CK_MECHANISM_TYPE mechs[] = {CKM_RSA_PKCS,
						  CKM_VENDOR_DEFINED | 0x5149};
	for (size_t i = 0; i < 2; i++) {
		bool signed_ = false;
		for (size_t k = 0; k < nall && !signed_; k++)
			signed_ = sign_once(s, all[k], mechs[i]);
		if (strcmp(mode, "none") == 0)
			REL_CHECK(signed_, "none: no key signs 0x%lx",
				  mechs[i]);
	}
}

/* False when the provider does not take key as one. */
static bool sign_once(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key,
		      CK_MECHANISM_TYPE type)
{
	CK_RV rv;
	CK_MECHANISM m = {type, NULL, 0};
	if (rel_rv("C_SignInit", fl->C_SignInit(s, &m, key)) == CKR_OK) {
		CK_ULONG len = 0;
		rv = rel_rv("C_Sign",
			    fl->C_Sign(s, (CK_BYTE_PTR) "abc", 3, NULL, &len));
		size_t room = rv == CKR_OK && len <= 64 ? len : 8;
		unsigned char *sig = guarded(room);
		len = room;
		rv = rel_rv("C_Sign",
			    fl->C_Sign(s, (CK_BYTE_PTR) "abc", 3, sig, &len));
		REL_CHECK(rv != CKR_OK || len <= room,
			  "%s: C_Sign: %lu bytes in a buffer of %zu", mode, len,
			  room);
		if (strcmp(mode, "none") == 0)
			REL_CHECK(rv == CKR_OK && len == 8,
				  "none: C_Sign 0x%lx", rv);
		release(sig, room, "signature");
		return true;
	}
	return false;
}

/* A text field of CK_TOKEN_INFO or CK_SLOT_INFO as the application
 * gets it. */
static void text_is(const char *field, const CK_UTF8CHAR *got, size_t n,
		    const char *want)
{
	char w[64];
	memset(w, ' ', n);
	memcpy(w, want, strlen(want));
	REL_CHECK(memcmp(got, w, n) == 0, "%s: %s: '%.*s'", mode, field, (int)n,
		  (const char *)got);
}

/* The provider's token and slot text: as it is when printable, every byte a
 * terminal would act on or that is no UTF-8 a '?' when it lies (one for
 * one: docs/architecture.md §4). */
static void shown_text(void)
{
	CK_TOKEN_INFO ti;
	if (rel_rv("C_GetTokenInfo", fl->C_GetTokenInfo(the_slot, &ti)) !=
	    CKR_OK)
		return;
	bool lies = strcmp(mode, "none") != 0;
	text_is("token manufacturerID", ti.manufacturerID, 32,
		lies ? "lie?[2J??" : "mock");
	text_is("token model", ti.model, 16, lies ? "m?(?" : "mock");
	text_is("token serialNumber", ti.serialNumber, 16,
		lies ? "00?42" : "0042");
	/* The slot's text the same way (the slot keeps its ID: the view
	 * learns it from the provider's own description). */
	CK_SLOT_INFO si;
	if (rel_rv("C_GetSlotInfo", fl->C_GetSlotInfo(the_slot, &si)) != CKR_OK)
		return;
	text_is("slot slotDescription", si.slotDescription, 64,
		lies ? "Lying?Soft?Slot" : "Lying Soft Slot");
	text_is("slot manufacturerID", si.manufacturerID, 32,
		lies ? "lie?[2J??" : "mock");
}

static void workload(void)
{
	CK_SLOT_ID ids[8];
	present_flag = CK_FALSE;
	list_of("C_GetSlotList", slot_list, 8, NULL);
	present_flag = CK_TRUE;
	CK_ULONG n = list_of("C_GetSlotList", slot_list, 8, ids);
	REL_CHECK(n >= 1, "%s: no slot with a token", mode);
	if (n < 1)
		return;
	the_slot = ids[0];
	shown_text();
	CK_ULONG mechs[64];
	CK_ULONG nm = list_of("C_GetMechanismList", mech_list, 64, mechs);
	if (strcmp(mode, "none") == 0) {
		int sha256 = 0;
		for (CK_ULONG i = 0; i < nm; i++)
			sha256 |= mechs[i] == CKM_SHA256;
		REL_CHECK(sha256, "none: CKM_SHA256 not listed (%lu)", nm);
	}
	CK_SESSION_HANDLE s;
	if (rel_rv("C_OpenSession",
		   fl->C_OpenSession(the_slot, CKF_SERIAL_SESSION, NULL, NULL,
				     &s)) != CKR_OK) {
		rel_fail("%s: no session", mode);
		return;
	}
	objects(s);
	rel_rv("C_CloseSession", fl->C_CloseSession(s));
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s p11overlay.so lying.so\n", argv[0]);
		return 2;
	}
	module_path = argv[1];
	mock_path = argv[2];
	rel_watchdog(120, "test_lying");
	char dir[] = "/tmp/p11rel-lying.XXXXXX", trace[64];
	if (!mkdtemp(dir))
		return 2;
	snprintf(trace, sizeof(trace), "%s/trace.log", dir);
	/* A full trace: it decodes every output the provider lied about. */
	setenv("P11OVERLAY_TRACE", trace, 1);
	p11test_module m;
	p11test_load(&m, module_path);
	fl = m.fl;
	p11test_write_config(mock_path, NULL);
	static const char *const modes[] = {"none", "grow", "max", NULL};
	for (const char *const *mp = modes; *mp; mp++) {
		mode = *mp;
		setenv("LYING_MODE", mode, 1);
		unsigned long before = mock_lies();
		CK_RV rv = fl->C_Initialize(NULL);
		REL_CHECK(rv == CKR_OK, "%s: C_Initialize 0x%lx", mode, rv);
		if (rv != CKR_OK)
			continue;
		for (int k = 0; k < 3; k++)
			workload();
		unsigned long lies = mock_lies() - before;
		printf("mode %-5s lies told %lu\n", mode, lies);
		REL_CHECK(strcmp(mode, "none") == 0 ? lies == 0 : lies > 0,
			  "%s: %lu lies told", mode, lies);
		REL_CHECK(fl->C_Finalize(NULL) == CKR_OK, "%s: C_Finalize",
			  mode);
	}
	struct stat st;
	REL_CHECK(stat(trace, &st) == 0 && st.st_size > 0,
		  "no trace written to %s", trace);
	p11test_unload(&m);
	unlink(getenv("P11OVERLAY_CONF"));
	unlink(trace);
	rmdir(dir);
	return rel_done("test_lying");
}
