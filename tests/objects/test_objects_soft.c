/* The objects addon in front of SoftHSM2 (no card access): fallback values
 * from CK_TOKEN_INFO, no ATR object, UpdateCount, the find template matrix
 * over synthetic and real objects, attribute semantics, refused writes.
 * argv[1] = p11overlay.so, argv[2] = libsofthsm2.so. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "obtest.h"

CK_FUNCTION_LIST_PTR fl;
static p11test_module m;
static const char *softhsm;
static CK_SLOT_ID slot;
static CK_SESSION_HANDLE rw;

#define SYN "TokenLabel,TokenSerialNumber,UpdateCount"
#define ALL SYN ",d1,d2"

static void create_data(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s,
			const char *label, const char *app, CK_BBOOL priv,
			const char *value, CK_OBJECT_HANDLE *out)
{
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)},
			    {CKA_TOKEN, &yes, sizeof(yes)},
			    {CKA_PRIVATE, &priv, sizeof(priv)},
			    {CKA_LABEL, (void *)label, strlen(label)},
			    {CKA_APPLICATION, (void *)app, strlen(app)},
			    {CKA_VALUE, (void *)value, strlen(value)}};
	CK_OBJECT_HANDLE h;
	assert_int_equal(f->C_CreateObject(s, t, 6, &h), CKR_OK);
	if (out)
		*out = h;
}

static int setup(void **state)
{
	(void)state;
	p11test_softhsm_start("Soft Token One", "1234", "5678");
	p11test_write_config(softhsm, NULL);
	assert_int_equal(fl->C_Initialize(NULL), CKR_OK);
	assert_true(p11test_find_token(fl, "Soft Token One", false, &slot));
	assert_true(slot != 0);
	assert_int_equal(fl->C_OpenSession(slot,
					   CKF_SERIAL_SESSION | CKF_RW_SESSION,
					   NULL, NULL, &rw),
			 CKR_OK);
	assert_int_equal(fl->C_Login(rw, CKU_USER, (CK_UTF8CHAR *)"1234", 4),
			 CKR_OK);
	create_data(fl, rw, "d1", "A", CK_FALSE, "one", NULL);
	create_data(fl, rw, "d2", "B", CK_FALSE, "two", NULL);
	create_data(fl, rw, "d3", "A", CK_TRUE, "three", NULL);
	assert_int_equal(fl->C_Logout(rw), CKR_OK);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fl->C_Finalize(NULL);
	return p11test_softhsm_stop();
}

static void test_fallback_values(void **state)
{
	(void)state;
	CK_TOKEN_INFO ti;
	char serial[17], label[33];
	unsigned char v[256];
	assert_int_equal(fl->C_GetTokenInfo(slot, &ti), CKR_OK);
	p11test_trim(serial, ti.serialNumber, 16);
	p11test_trim(label, ti.label, 32);
	long n = ob_value(rw, "TokenSerialNumber", v, sizeof(v));
	assert_int_equal(n, strlen(serial));
	assert_memory_equal(v, serial, n);
	n = ob_value(rw, "TokenLabel", v, sizeof(v));
	assert_int_equal(n, strlen("Soft Token One"));
	assert_memory_equal(v, "Soft Token One", n);
	assert_string_equal(label, "Soft Token One");
	assert_int_equal(ob_value(rw, "UpdateCount", v, sizeof(v)), 32);
	assert_int_equal(ob_by_label(rw, "ATR"), 0); /* no card */
}

#define EMPTY ((CK_ATTRIBUTE_TYPE)-1) /* an empty template */

struct row {
	CK_ATTRIBUTE_TYPE type;
	const void *value;
	CK_ULONG len;
	const char *expect;
};

static void test_find_matrix(void **state)
{
	(void)state;
	static const CK_OBJECT_CLASS data = CKO_DATA, cert = CKO_CERTIFICATE;
	static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	unsigned char serial[64];
	long sl = ob_value(rw, "TokenSerialNumber", serial, sizeof(serial));
	const struct row rows[] = {
	    {EMPTY, NULL, 0, ALL},
	    {CKA_CLASS, &data, sizeof(data), ALL},
	    {CKA_CLASS, &cert, sizeof(cert), ""},
	    {CKA_LABEL, "TokenLabel", 10, "TokenLabel"},
	    {CKA_LABEL, "TokenLabe", 9, ""},
	    {CKA_LABEL, "ATR", 3, ""},
	    {CKA_APPLICATION, "Net iD", 6, "TokenLabel,UpdateCount"},
	    {CKA_APPLICATION, "PKCS #15", 8, "TokenSerialNumber"},
	    {CKA_APPLICATION, "A", 1, "d1"},
	    {CKA_TOKEN, &yes, sizeof(yes), ALL},
	    {CKA_TOKEN, &no, sizeof(no), ""},
	    {CKA_PRIVATE, &no, sizeof(no), ALL},
	    {CKA_PRIVATE, &yes, sizeof(yes), ""}, /* not logged in */
	    {CKA_MODIFIABLE, &no, sizeof(no), SYN},
	    {CKA_DESTROYABLE, &no, sizeof(no), SYN},
	    {CKA_COPYABLE, &no, sizeof(no), SYN},
	    {CKA_VALUE, serial, (CK_ULONG)sl, "TokenSerialNumber"},
	    {CKA_VALUE, "one", 3, "d1"},
	    {CKA_ID, "", 0, ""}, /* no object has a CKA_ID */
	    {CKA_SUBJECT, "x", 1, ""},
	};
	const CK_ULONG maxes[] = {1, 2, 3, 50};
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		for (size_t k = 0; k < 4; k++) {
			CK_ATTRIBUTE a = {rows[r].type, (void *)rows[r].value,
					  rows[r].len};
			CK_OBJECT_HANDLE h[OB_MAX_FOUND];
			size_t n =
			    ob_find(rw, &a, rows[r].type != EMPTY, maxes[k], h);
			char got[512];
			ob_labels(rw, h, n, got, sizeof(got));
			if (strcmp(got, rows[r].expect) != 0)
				fail_msg("row %zu max %lu: got '%s' want '%s'",
					 r, maxes[k], got, rows[r].expect);
			for (size_t i = 0; i < n; i++) /* no duplicates */
				for (size_t j = i + 1; j < n; j++)
					assert_true(h[i] != h[j]);
		}
	}
	/* Two attributes; one the synthetic objects lack. */
	CK_ATTRIBUTE two[] = {{CKA_LABEL, "UpdateCount", 11},
			      {CKA_APPLICATION, "Net iD", 6}};
	CK_OBJECT_HANDLE h[OB_MAX_FOUND];
	assert_int_equal(ob_find(rw, two, 2, 1, h), 1);
	CK_ATTRIBUTE lack[] = {{CKA_LABEL, "UpdateCount", 11},
			       {CKA_KEY_TYPE, (void *)&data, sizeof(data)}};
	assert_int_equal(ob_find(rw, lack, 2, 10, h), 0);
	/* Logged in: the private object joins, the synthetic ones stay. */
	assert_int_equal(fl->C_Login(rw, CKU_USER, (CK_UTF8CHAR *)"1234", 4),
			 CKR_OK);
	char got[512];
	ob_labels(rw, h, ob_find(rw, NULL, 0, 2, h), got, sizeof(got));
	assert_string_equal(got, SYN ",d1,d2,d3");
	assert_int_equal(fl->C_Logout(rw), CKR_OK);
}

static void test_attribute_semantics(void **state)
{
	(void)state;
	CK_OBJECT_HANDLE h = ob_by_label(rw, "TokenSerialNumber");
	assert_true(h != 0);
	CK_OBJECT_CLASS cls = 0;
	CK_BBOOL b[5];
	char small[4], app[32];
	CK_ATTRIBUTE t[] = {
	    {CKA_CLASS, &cls, sizeof(cls)}, {CKA_LABEL, small, sizeof(small)},
	    {CKA_ID, app, sizeof(app)},     {CKA_APPLICATION, NULL, 0},
	    {CKA_TOKEN, &b[0], 1},          {CKA_PRIVATE, &b[1], 1},
	    {CKA_MODIFIABLE, &b[2], 1},     {CKA_DESTROYABLE, &b[3], 1},
	    {CKA_COPYABLE, &b[4], 1}};
	assert_int_equal(fl->C_GetAttributeValue(rw, h, t, 9),
			 CKR_ATTRIBUTE_TYPE_INVALID);
	assert_int_equal(cls, CKO_DATA);
	assert_int_equal(t[0].ulValueLen, sizeof(cls));
	assert_int_equal(t[1].ulValueLen, CK_UNAVAILABLE_INFORMATION);
	assert_int_equal(t[2].ulValueLen, CK_UNAVAILABLE_INFORMATION);
	assert_int_equal(t[3].ulValueLen, 8); /* "PKCS #15" */
	assert_true(b[0] && !b[1] && !b[2] && !b[3] && !b[4]);
	/* Only a short buffer: CKR_BUFFER_TOO_SMALL. */
	t[1].ulValueLen = sizeof(small);
	assert_int_equal(fl->C_GetAttributeValue(rw, h, &t[1], 1),
			 CKR_BUFFER_TOO_SMALL);
	assert_int_equal(t[1].ulValueLen, CK_UNAVAILABLE_INFORMATION);
	CK_ATTRIBUTE oid = {CKA_OBJECT_ID, NULL, 5};
	assert_int_equal(fl->C_GetAttributeValue(rw, h, &oid, 1), CKR_OK);
	assert_int_equal(oid.ulValueLen, 0);
	assert_int_equal(fl->C_GetAttributeValue(rw, h, NULL, 1),
			 CKR_ARGUMENTS_BAD);
	CK_ULONG size = 0;
	assert_int_equal(fl->C_GetObjectSize(rw, h, &size), CKR_OK);
	assert_true(size > 17);
	/* UpdateCount: size without computing, value of that size. */
	CK_OBJECT_HANDLE u = ob_by_label(rw, "UpdateCount");
	CK_ATTRIBUTE uv = {CKA_VALUE, NULL, 0};
	assert_int_equal(fl->C_GetAttributeValue(rw, u, &uv, 1), CKR_OK);
	assert_int_equal(uv.ulValueLen, 32);
	/* Writes are refused. */
	CK_ATTRIBUTE lbl = {CKA_LABEL, "x", 1}, id = {CKA_ID, "x", 1};
	assert_int_equal(fl->C_SetAttributeValue(rw, h, &lbl, 1),
			 CKR_ATTRIBUTE_READ_ONLY);
	assert_int_equal(fl->C_SetAttributeValue(rw, h, &id, 1),
			 CKR_ATTRIBUTE_TYPE_INVALID);
	assert_int_equal(fl->C_DestroyObject(rw, h), CKR_ACTION_PROHIBITED);
	CK_OBJECT_HANDLE copy;
	assert_int_equal(fl->C_CopyObject(rw, h, NULL, 0, &copy),
			 CKR_ACTION_PROHIBITED);
	CK_SESSION_HANDLE ro;
	assert_int_equal(
	    fl->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &ro),
	    CKR_OK);
	assert_int_equal(fl->C_DestroyObject(ro, h), CKR_SESSION_READ_ONLY);
	assert_int_equal(fl->C_SetAttributeValue(ro, h, &lbl, 1),
			 CKR_SESSION_READ_ONLY);
	assert_int_equal(fl->C_CloseSession(ro), CKR_OK);
	/* A closed session: the provider's answer. */
	assert_int_equal(fl->C_GetAttributeValue(ro, h, &oid, 1),
			 CKR_SESSION_HANDLE_INVALID);
	/* Still there, unchanged. */
	assert_int_equal(ob_by_label(rw, "TokenSerialNumber"), h);
}

static long update_count(unsigned char *v)
{
	return ob_value(rw, "UpdateCount", v, 32);
}

/* Another process (this program, exec'd afresh) writes to the token
 * through SoftHSM2 directly. */
static int other_main(const char *label)
{
	p11test_module direct;
	p11test_load(&direct, softhsm);
	CK_FUNCTION_LIST_PTR f = direct.fl;
	CK_SLOT_ID id;
	CK_SESSION_HANDLE s;
	if (f->C_Initialize(NULL) != CKR_OK)
		return 3;
	if (!p11test_find_token(f, "Soft Token One", false, &id))
		return 5;
	if (f->C_OpenSession(id, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL,
			     NULL, &s) != CKR_OK ||
	    f->C_Login(s, CKU_USER, (CK_UTF8CHAR *)"1234", 4) != CKR_OK)
		return 4;
	create_data(f, s, label, "other", CK_FALSE, "zz", NULL);
	f->C_Finalize(NULL);
	return 0;
}

static const char *self_path;

static void other_process_creates(const char *label)
{
	pid_t pid = fork();
	if (pid == 0) {
		execl(self_path, self_path, "--other", label, softhsm,
		      (char *)NULL);
		_exit(127);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_update_count(void **state)
{
	(void)state;
	unsigned char u0[32], u1[32], u2[32];
	assert_int_equal(update_count(u0), 32);
	/* Equal while nothing changes: sessions, login, finds, reads. */
	CK_SESSION_HANDLE s2;
	assert_int_equal(
	    fl->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s2),
	    CKR_OK);
	assert_int_equal(fl->C_Login(rw, CKU_USER, (CK_UTF8CHAR *)"1234", 4),
			 CKR_OK);
	CK_OBJECT_HANDLE h[OB_MAX_FOUND];
	ob_find(s2, NULL, 0, 3, h);
	assert_int_equal(update_count(u1), 32);
	assert_memory_equal(u0, u1, 32);
	/* Created, modified (label, twice the same length), destroyed
	 * through the proxy. */
	CK_OBJECT_HANDLE d;
	create_data(fl, rw, "d4", "C", CK_FALSE, "four", &d);
	assert_int_equal(update_count(u1), 32);
	assert_memory_not_equal(u0, u1, 32);
	CK_ATTRIBUTE lbl = {CKA_LABEL, "d5", 2};
	assert_int_equal(fl->C_SetAttributeValue(rw, d, &lbl, 1), CKR_OK);
	assert_int_equal(update_count(u2), 32);
	assert_memory_not_equal(u1, u2, 32);
	CK_ATTRIBUTE val = {CKA_LABEL, "d6", 2};
	assert_int_equal(fl->C_SetAttributeValue(rw, d, &val, 1), CKR_OK);
	assert_int_equal(update_count(u1), 32);
	assert_memory_not_equal(u1, u2, 32);
	assert_int_equal(fl->C_DestroyObject(rw, d), CKR_OK);
	assert_int_equal(update_count(u2), 32);
	assert_memory_not_equal(u1, u2, 32);
	assert_memory_equal(u0, u2, 32); /* the same content again */
	assert_int_equal(fl->C_Logout(rw), CKR_OK);
	/* Another process creates an object. */
	other_process_creates("other");
	assert_int_equal(update_count(u1), 32);
	assert_memory_not_equal(u0, u1, 32);
	assert_int_equal(update_count(u2), 32);
	assert_memory_equal(u1, u2, 32);
	/* C_Reinitialize drops caches; values stay. */
	CK_RV (*reinit)(CK_SLOT_ID) = p11test_sym(&m, "C_Reinitialize");
	assert_int_equal(reinit(slot), CKR_OK);
	assert_int_equal(fl->C_OpenSession(slot,
					   CKF_SERIAL_SESSION | CKF_RW_SESSION,
					   NULL, NULL, &rw),
			 CKR_OK);
	assert_int_equal(update_count(u0), 32);
	assert_memory_equal(u0, u2, 32);
	unsigned char v[64];
	assert_int_equal(ob_value(rw, "TokenLabel", v, sizeof(v)), 14);
}

int main(int argc, char **argv)
{
	self_path = argv[0];
	if (argc == 4 && strcmp(argv[1], "--other") == 0) {
		softhsm = argv[3];
		return other_main(argv[2]);
	}
	const char *module = argc > 1 ? argv[1] : "build/p11overlay.so";
	softhsm = argc > 2 ? argv[2] : "/usr/lib/softhsm/libsofthsm2.so";
	p11test_load(&m, module);
	fl = m.fl;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fallback_values),
	    cmocka_unit_test(test_find_matrix),
	    cmocka_unit_test(test_attribute_semantics),
	    cmocka_unit_test(test_update_count),
	};
	int rc = cmocka_run_group_tests(tests, setup, teardown);
	p11test_unload(&m);
	return rc;
}
