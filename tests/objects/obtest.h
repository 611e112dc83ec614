/* Helpers of the objects addon tests (static inline: each test is one
 * program).  `fl` is the module under test. */
#ifndef OBTEST_H
#define OBTEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11test.h"

#define OB_MAX_FOUND 64

extern CK_FUNCTION_LIST_PTR fl;

/* Every object a find with this template returns, calling C_FindObjects
 * with ulMaxObjectCount `max` until it returns none; each call must return
 * at most `max`.  Returns the count. */
static inline size_t ob_find(CK_SESSION_HANDLE s, CK_ATTRIBUTE *t, CK_ULONG n,
			     CK_ULONG max, CK_OBJECT_HANDLE *out)
{
	size_t total = 0;
	if (fl->C_FindObjectsInit(s, t, n) != CKR_OK)
		abort();
	for (;;) {
		CK_OBJECT_HANDLE buf[OB_MAX_FOUND + 1];
		CK_ULONG got = ~(CK_ULONG)0;
		buf[max < OB_MAX_FOUND ? max : OB_MAX_FOUND] = 0xdeadbeef;
		if (fl->C_FindObjects(s, buf, max, &got) != CKR_OK ||
		    got > max || total + got > OB_MAX_FOUND)
			abort();
		if (max < OB_MAX_FOUND && buf[max] != 0xdeadbeef)
			abort(); /* wrote past ulMaxObjectCount */
		if (got == 0)
			break;
		memcpy(out + total, buf, got * sizeof(*buf));
		total += got;
	}
	if (fl->C_FindObjectsFinal(s) != CKR_OK)
		abort();
	return total;
}

/* CKA_LABEL as a string ("" when it has none). */
static inline void ob_label(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, char *out,
			    size_t size)
{
	CK_ATTRIBUTE a = {CKA_LABEL, out, size - 1};
	if (fl->C_GetAttributeValue(s, h, &a, 1) != CKR_OK)
		a.ulValueLen = 0;
	out[a.ulValueLen] = '\0';
}

/* Labels of found objects, sorted and joined with ',' (to compare). */
static inline void ob_labels(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE *h, size_t n,
			     char *out, size_t size)
{
	char labels[OB_MAX_FOUND][64];
	for (size_t i = 0; i < n; i++)
		ob_label(s, h[i], labels[i], sizeof(labels[i]));
	qsort(labels, n, sizeof(labels[0]),
	      (int (*)(const void *, const void *))strcmp);
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i)
			strncat(out, ",", size - strlen(out) - 1);
		strncat(out, labels[i], size - strlen(out) - 1);
	}
}

/* The handle of the data object labelled `label`, or 0. */
static inline CK_OBJECT_HANDLE ob_by_label(CK_SESSION_HANDLE s,
					   const char *label)
{
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)},
			    {CKA_LABEL, (void *)label, strlen(label)}};
	CK_OBJECT_HANDLE h[OB_MAX_FOUND];
	size_t n = ob_find(s, t, 2, OB_MAX_FOUND, h);
	return n == 1 ? h[0] : 0;
}

/* CKA_VALUE of the data object labelled `label`; returns its length or
 * -1. */
static inline long ob_value(CK_SESSION_HANDLE s, const char *label,
			    unsigned char *out, size_t size)
{
	CK_OBJECT_HANDLE h = ob_by_label(s, label);
	CK_ATTRIBUTE a = {CKA_VALUE, out, size};
	if (!h || fl->C_GetAttributeValue(s, h, &a, 1) != CKR_OK)
		return -1;
	return (long)a.ulValueLen;
}

#endif
