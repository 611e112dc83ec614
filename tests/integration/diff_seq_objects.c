/* Sequences: objects (create, find, attributes, copy, destroy, size). */
#include <string.h>

#include "diff_record.h"

static CK_OBJECT_CLASS cls_data = CKO_DATA;
static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

CK_OBJECT_HANDLE diff_create(CK_SESSION_HANDLE s, CK_ATTRIBUTE *t, CK_ULONG n)
{
	CK_OBJECT_HANDLE h = 0;
	if (CALL(C_CreateObject, s, t, n, &h) == CKR_OK)
		rec_obj("h", h);
	return h;
}

static CK_OBJECT_HANDLE data_object(CK_SESSION_HANDLE s, const char *label,
				    CK_BBOOL token)
{
	CK_ATTRIBUTE t[] = {
	    ATTR(CKA_CLASS, &cls_data),      ATTR(CKA_TOKEN, &token),
	    ATTR(CKA_PRIVATE, &no),          ATTR_S(CKA_LABEL, label),
	    ATTR_S(CKA_APPLICATION, "diff"), ATTR_S(CKA_VALUE, label)};
	return diff_create(s, t, 6);
}

/* Find with a template, reading one handle per C_FindObjects call. */
static void find(CK_SESSION_HANDLE s, CK_ATTRIBUTE *t, CK_ULONG n, CK_ULONG max)
{
	CK_OBJECT_HANDLE all[256], h[16];
	CK_ULONG total = 0, got = 0;
	if (CALL(C_FindObjectsInit, s, t, n) != CKR_OK)
		return;
	do {
		got = 0;
		if (CALL(C_FindObjects, s, h, max, &got) != CKR_OK)
			break;
		rec_ul("count", got);
		for (CK_ULONG i = 0; i < got && total < 256; i++)
			all[total++] = h[i];
	} while (got > 0 && total < 256);
	rec_end();
	rec_call("(found)", CKR_OK);
	rec_obj_set("set", all, total);
	CALL(C_FindObjectsFinal, s);
}

/* C_GetAttributeValue with the template as given, recording the result. */
static void get_attrs(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE *t,
		      CK_ULONG n)
{
	CALL(C_GetAttributeValue, s, o, t, n);
	rec_template(t, n);
}

void diff_get_attr(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
		   CK_ATTRIBUTE_TYPE type)
{
	unsigned char buf[1024];
	memset(buf, 0, sizeof(buf));
	CK_ATTRIBUTE t = {type, NULL, 0};
	get_attrs(s, o, &t, 1);
	t.pValue = buf;
	t.ulValueLen = sizeof(buf);
	get_attrs(s, o, &t, 1);
}

void diff_get_len(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
		  CK_ATTRIBUTE_TYPE type)
{
	CK_ATTRIBUTE t = {type, NULL, 0};
	get_attrs(s, o, &t, 1);
}

void seq_objects(void)
{
	CK_SESSION_HANDLE s = D.rw;
	CK_OBJECT_HANDLE d[5], h = 0;
	char label[8];

	rec_step("create");
	for (int i = 0; i < 5; i++) {
		snprintf(label, sizeof(label), "d%d", i);
		d[i] = data_object(s, label, CK_FALSE);
	}
	CK_OBJECT_HANDLE tok = data_object(s, "tok1", CK_TRUE);
	CK_ATTRIBUTE one = ATTR(CKA_CLASS, &cls_data);
	CALL(C_CreateObject, s, NULL, 3, &h);
	CALL(C_CreateObject, s, &one, 1, NULL);
	CK_OBJECT_CLASS cls_secret = CKO_SECRET_KEY;
	CK_KEY_TYPE kt_aes = CKK_AES;
	CK_ATTRIBUTE incomplete[] = {ATTR(CKA_CLASS, &cls_secret),
				     ATTR(CKA_KEY_TYPE, &kt_aes)};
	CALL(C_CreateObject, s, incomplete, 2, &h);
	CK_ATTRIBUTE badtype[] = {ATTR(CKA_CLASS, &cls_data),
				  {0x7fff1234UL, label, 2}};
	CALL(C_CreateObject, s, badtype, 2, &h);
	CALL(C_CreateObject, 0, &one, 1, &h);
	/* Token object from a RO session. */
	CK_SESSION_HANDLE ro = 0;
	if (CALL(C_OpenSession, D.slot_a, CKF_SERIAL_SESSION, NULL, NULL,
		 &ro) == CKR_OK)
		rec_sess("h", ro);
	data_object(ro, "ro-token", CK_TRUE);
	CK_OBJECT_HANDLE ro_sess_obj = data_object(ro, "ro-session", CK_FALSE);

	rec_step("find");
	CK_OBJECT_HANDLE hs[4];
	CK_ULONG got = 0;
	CALL(C_FindObjects, s, hs, 4, &got);
	CALL(C_FindObjectsFinal, s);
	find(s, NULL, 0, 1);
	find(s, NULL, 0, 4);
	CK_ATTRIBUTE by_class = ATTR(CKA_CLASS, &cls_data);
	find(s, &by_class, 1, 16);
	CK_ATTRIBUTE by_label = ATTR_S(CKA_LABEL, "d2");
	find(s, &by_label, 1, 16);
	CK_ATTRIBUTE by_none = ATTR_S(CKA_LABEL, "no such label");
	find(s, &by_none, 1, 16);
	CK_ATTRIBUTE by_token[] = {ATTR(CKA_CLASS, &cls_data),
				   ATTR(CKA_TOKEN, &yes)};
	find(s, by_token, 2, 16);
	find(ro, &by_class, 1, 16);
	CALL(C_FindObjectsInit, s, NULL, 0);
	CALL(C_FindObjectsInit, s, NULL, 0);
	CALL(C_FindObjects, s, NULL, 1, &got);
	CALL(C_FindObjects, s, hs, 1, NULL);
	got = 99;
	CALL(C_FindObjects, s, hs, 0, &got);
	rec_ul("count", got);
	CALL(C_FindObjectsFinal, s);
	CALL(C_FindObjectsFinal, s);
	CALL(C_FindObjectsInit, s, NULL, 2);
	CALL(C_FindObjectsInit, 12345, NULL, 0);
	CALL(C_FindObjects, 12345, hs, 1, &got);
	CALL(C_FindObjectsFinal, 0);
	/* Token B: a fresh token (no login) sees none of token A's. */
	CK_SESSION_HANDLE b = 0;
	if (CALL(C_OpenSession, D.slot_b, CKF_SERIAL_SESSION, NULL, NULL, &b) ==
	    CKR_OK)
		rec_sess("h", b);
	find(b, NULL, 0, 16);

	rec_step("get-attr");
	unsigned char b1[64], b2[64], b3[64];
	CK_OBJECT_CLASS cls = 0;
	CK_ATTRIBUTE t[] = {{CKA_CLASS, NULL, 0},
			    {CKA_LABEL, NULL, 0},
			    {CKA_VALUE, NULL, 0},
			    {CKA_APPLICATION, NULL, 0}};
	get_attrs(s, d[0], t, 4);
	memset(b1, 0, 64);
	memset(b2, 0, 64);
	memset(b3, 0, 64);
	t[0].pValue = &cls;
	t[1].pValue = b1;
	t[2].pValue = b2;
	t[3].pValue = b3;
	get_attrs(s, d[0], t, 4);
	t[1].pValue = rec_canary_buf(1);
	t[1].ulValueLen = 1; /* short */
	t[2].ulValueLen = 64;
	get_attrs(s, d[1], t, 4);
	rec_canary("canary", t[1].pValue);
	t[1].pValue = b1;
	CK_ATTRIBUTE mixed[] = {
	    {CKA_LABEL, b1, 64}, {0x7fff1234UL, b2, 64}, {CKA_VALUE, b3, 64}};
	get_attrs(s, d[1], mixed, 3);
	CK_ATTRIBUTE mixed2[] = {{CKA_LABEL, rec_canary_buf(1), 1},
				 {0x7fff1234UL, b2, 64},
				 {CKA_VALUE, NULL, 0}};
	get_attrs(s, d[1], mixed2, 3);
	rec_canary("canary", mixed2[0].pValue);
	CALL(C_GetAttributeValue, s, d[0], NULL, 2);
	CALL(C_GetAttributeValue, s, d[0], NULL, 0);
	CK_ATTRIBUTE lab = {CKA_LABEL, b1, 64};
	get_attrs(s, 0, &lab, 1);
	lab.ulValueLen = 64;
	get_attrs(s, 12345, &lab, 1);
	lab.ulValueLen = 64;
	get_attrs(0, d[0], &lab, 1);
	lab.ulValueLen = 64;
	get_attrs(ro, d[0], &lab, 1); /* other session, same token */
	lab.ulValueLen = 64;
	get_attrs(s, ro_sess_obj, &lab, 1);

	/* Token A's objects through a session of token B (diff_compare.c
	 * lists the known differences here). */
	rec_step("cross-token");
	lab.ulValueLen = 64;
	get_attrs(b, d[0], &lab, 1); /* A's session object */
	lab.ulValueLen = 64;
	get_attrs(b, tok, &lab, 1); /* A's token object */
	CK_ULONG size = 0;
	CALL(C_GetObjectSize, b, d[4], &size);
	/* (Nothing that changes the token: the sequences must stay in
	 * step even where the modules differ here.) */

	rec_step("set-attr");
	CK_ATTRIBUTE newlabel = ATTR_S(CKA_LABEL, "d0-renamed");
	CALL(C_SetAttributeValue, s, d[0], &newlabel, 1);
	diff_get_attr(s, d[0], CKA_LABEL);
	CK_OBJECT_CLASS other = CKO_CERTIFICATE;
	CK_ATTRIBUTE setcls = ATTR(CKA_CLASS, &other);
	CALL(C_SetAttributeValue, s, d[0], &setcls, 1);
	CALL(C_SetAttributeValue, s, d[0], NULL, 1);
	CALL(C_SetAttributeValue, s, 12345, &newlabel, 1);
	CALL(C_SetAttributeValue, ro, tok, &newlabel, 1);
	CK_ATTRIBUTE badset = {0x7fff1234UL, b1, 4};
	CALL(C_SetAttributeValue, s, d[0], &badset, 1);
	find(s, &newlabel, 1, 16);

	rec_step("copy");
	CK_ATTRIBUTE copylabel = ATTR_S(CKA_LABEL, "d1-copy");
	if (CALL(C_CopyObject, s, d[1], &copylabel, 1, &h) == CKR_OK)
		rec_obj("h", h);
	CK_OBJECT_HANDLE copy = h;
	diff_get_attr(s, copy, CKA_LABEL);
	diff_get_attr(s, copy, CKA_VALUE);
	if (CALL(C_CopyObject, s, d[2], NULL, 0, &h) == CKR_OK)
		rec_obj("h", h);
	CK_OBJECT_HANDLE copy2 = h;
	CALL(C_CopyObject, s, d[2], &copylabel, 1, NULL);
	CALL(C_CopyObject, s, 12345, &copylabel, 1, &h);
	CK_ATTRIBUTE totoken = ATTR(CKA_TOKEN, &yes);
	if (CALL(C_CopyObject, s, d[2], &totoken, 1, &h) == CKR_OK)
		rec_obj("h", h);
	CK_OBJECT_HANDLE copy_tok = h;
	CALL(C_CopyObject, ro, d[2], &totoken, 1, &h);
	find(s, &by_class, 1, 16);

	rec_step("size");
	CALL(C_GetObjectSize, s, d[0], &size);
	rec_len("size", size);
	CALL(C_GetObjectSize, s, tok, &size);
	rec_len("size", size);
	CALL(C_GetObjectSize, s, d[0], NULL);
	CALL(C_GetObjectSize, s, 0, &size);
	CALL(C_GetObjectSize, 0, d[0], &size);

	rec_step("destroy");
	CALL(C_DestroyObject, s, d[3]);
	CALL(C_DestroyObject, s, d[3]);
	lab.ulValueLen = 64;
	get_attrs(s, d[3], &lab, 1);
	rec_forget_obj(d[3]);
	CALL(C_DestroyObject, s, 0);
	CALL(C_DestroyObject, s, 12345);
	CALL(C_DestroyObject, ro, tok); /* token object, RO session */
	CALL(C_DestroyObject, s, tok);
	rec_forget_obj(tok);
	CALL(C_DestroyObject, s, copy_tok);
	rec_forget_obj(copy_tok);
	CALL(C_DestroyObject, s, copy2);
	rec_forget_obj(copy2);
	find(s, NULL, 0, 16);
	/* Session objects die with their session. */
	CALL(C_CloseSession, ro);
	rec_forget_sess(ro);
	lab.ulValueLen = 64;
	get_attrs(s, ro_sess_obj, &lab, 1);
	rec_forget_obj(ro_sess_obj);
	find(s, NULL, 0, 16);
	CALL(C_CloseSession, b);
	rec_forget_sess(b);
}
