/* Module-level behaviour the differential suite cannot compare: identity,
 * interfaces, variables before C_Initialize, [info], broken configs and a
 * missing provider.  argv[1] = p11overlay.so. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "p11test.h"
#include "p11test_canary.h"

#define SOFTHSM "/usr/lib/softhsm/libsofthsm2.so"
/* Longer than any variable (values are at most 511 bytes). */
#define P11O_VARIABLE_MAX_TEST 600

static p11test_module m;
static CK_FUNCTION_LIST_PTR fl;
static const char *dir;

static void write_conf(const char *text)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/p11overlay.conf", dir);
	FILE *f = p11test_fopen_conf(path);
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	setenv("P11OVERLAY_CONF", path, 1);
}

static void test_identity_and_interfaces(void **state)
{
	(void)state;
	assert_int_equal(fl->version.major, 2);
	assert_int_equal(fl->version.minor, 11);
	CK_C_GetInterfaceList list = p11test_sym(&m, "C_GetInterfaceList");
	CK_C_GetInterface get = p11test_sym(&m, "C_GetInterface");
	CK_ULONG n = 0;
	assert_int_equal(list(NULL, &n), CKR_OK);
	assert_int_equal(n, 3);
	CK_INTERFACE ifs[3];
	n = 1;
	assert_int_equal(list(ifs, &n), CKR_BUFFER_TOO_SMALL);
	assert_int_equal(n, 3);
	assert_int_equal(list(ifs, &n), CKR_OK);
	CK_INTERFACE_PTR i = NULL;
	assert_int_equal(get(NULL, NULL, &i, 0), CKR_OK); /* the default */
	assert_string_equal((char *)i->pInterfaceName, "PKCS 11");
	assert_ptr_equal(i->pFunctionList, fl);
	CK_VERSION v3 = {3, 0};
	assert_int_equal(get((CK_UTF8CHAR_PTR) "PKCS 11", &v3, &i, 0), CKR_OK);
	assert_int_equal(((CK_VERSION *)i->pFunctionList)->major, 3);
	assert_int_equal(
	    get((CK_UTF8CHAR_PTR) "Vendor p11overlay", NULL, &i, 0), CKR_OK);
	const CK_P11OVERLAY_FUNCTION_LIST *ext = i->pFunctionList;
	char buf[128];
	assert_int_equal(ext->C_GetVariable("system-info", buf, sizeof(buf)),
			 CKR_OK);
	assert_non_null(ext->C_UnlockPIN);
	assert_non_null(ext->C_SetTraceCallback);
	assert_int_equal(get((CK_UTF8CHAR_PTR) "nope", NULL, &i, 0),
			 CKR_ARGUMENTS_BAD);
	assert_int_equal(get(NULL, NULL, NULL, 0), CKR_ARGUMENTS_BAD);
}

static void test_variables_before_initialize(void **state)
{
	(void)state;
	CK_RV(*getvar)
	(const char *, char *, CK_ULONG) = p11test_sym(&m, "C_GetVariable");
	char buf[256];
	assert_int_equal(getvar("system-info", buf, sizeof(buf)), CKR_OK);
	assert_non_null(strstr(buf, "PKCS11 - Little endian build (64-bits "
				    "CK_ULONG)"));
	char alias[256];
	assert_int_equal(getvar("netid-system-info", alias, sizeof(alias)),
			 CKR_OK);
	assert_string_equal(buf, alias);
	assert_int_equal(getvar("system-info", buf, 4), CKR_BUFFER_TOO_SMALL);
	assert_int_equal(getvar("soft-token-type", buf, sizeof(buf)), CKR_OK);
	assert_int_equal(getvar(NULL, buf, sizeof(buf)), CKR_ARGUMENTS_BAD);
	CK_ULONG n;
	assert_int_equal(fl->C_GetSlotList(CK_FALSE, NULL, &n),
			 CKR_CRYPTOKI_NOT_INITIALIZED);
	assert_int_equal(fl->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
}

typedef struct variable_ctx {
	CK_RV (*get)(const char *, char *, CK_ULONG);
	const char *name;
} variable_ctx;

/* C_GetVariable takes the buffer size and reports no length: on CKR_OK
 * the value's length with its NUL is what the two-call check counts. */
static CK_RV fill_variable(void *ctx, void *buf, CK_ULONG *len)
{
	variable_ctx *v = ctx;
	CK_RV rv = v->get(v->name, buf, *len);
	if (rv == CKR_OK)
		*len = strlen(buf) + 1;
	return rv;
}

/* Every readable variable, before and after C_Initialize: a buffer one
 * byte short (or any shorter) is CKR_BUFFER_TOO_SMALL and nothing is
 * written past it (issue 18: the whole value was copied into a short
 * buffer and no test saw it). */
static void check_variables_short(CK_RV (*get)(const char *, char *, CK_ULONG))
{
	static const char *names[] = {
	    "system-info",    "netid-system-info", "soft-token-type",
	    "version",        "config-path",       "provider",
	    "unlock-timeout", "unlock-method",     "init-pin-names",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char value[P11O_VARIABLE_MAX_TEST];
		assert_int_equal(get(names[i], value, sizeof(value)), CKR_OK);
		variable_ctx v = {get, names[i]};
		char got[P11O_VARIABLE_MAX_TEST];
		assert_int_equal(p11test_canary_two_call(
				     names[i], fill_variable, &v, 1,
				     P11TEST_SHORT_LEN_ANY, strlen(value) + 1,
				     got, sizeof(got)),
				 (long)strlen(value) + 1);
		assert_string_equal(got, value);
	}
}

static void test_variables_short_buffers(void **state)
{
	(void)state;
	CK_RV(*getvar)
	(const char *, char *, CK_ULONG) = p11test_sym(&m, "C_GetVariable");
	CK_RV(*setvar)
	(const char *, const char *) = p11test_sym(&m, "C_SetVariable");
	check_variables_short(getvar);
	write_conf("[provider]\nmodule = " SOFTHSM "\n");
	assert_int_equal(fl->C_Initialize(NULL), CKR_OK);
	assert_int_equal(setvar("init-pin-names", "Identification,Signing"),
			 CKR_OK);
	check_variables_short(getvar);
	assert_int_equal(fl->C_Finalize(NULL), CKR_OK);
}

static void test_info_versions(void **state)
{
	(void)state;
	write_conf("[provider]\nmodule = " SOFTHSM "\n");
	assert_int_equal(fl->C_Initialize(NULL), CKR_OK);
	CK_INFO info;
	assert_int_equal(fl->C_GetInfo(&info), CKR_OK);
	assert_int_equal(info.cryptokiVersion.major, 2);
	assert_int_equal(info.cryptokiVersion.minor, 11);
	assert_int_equal(info.libraryVersion.minor, 11);
	assert_memory_equal(info.manufacturerID, "p11overlay ", 11);
	assert_int_equal(fl->C_GetInfo(NULL), CKR_ARGUMENTS_BAD);
	assert_int_equal(fl->C_Initialize(NULL),
			 CKR_CRYPTOKI_ALREADY_INITIALIZED);
	assert_int_equal(fl->C_Finalize(NULL), CKR_OK);
	write_conf("[provider]\nmodule = " SOFTHSM "\n[info]\n"
		   "cryptoki-version = 2.40\nlibrary-version = 1.2\n");
	assert_int_equal(fl->C_Initialize(NULL), CKR_OK);
	assert_int_equal(fl->C_GetInfo(&info), CKR_OK);
	assert_int_equal(info.cryptokiVersion.minor, 40);
	assert_int_equal(info.libraryVersion.major, 1);
	assert_int_equal(info.libraryVersion.minor, 2);
	assert_int_equal(fl->C_Finalize(NULL), CKR_OK);
}

/* The start of the 3.0 list: the 2.40 list, then (PKCS#11 3.0 §5) the
 * interface functions and the first new ones. */
typedef CK_RV (*login_user_fn)(CK_SESSION_HANDLE, CK_USER_TYPE, CK_UTF8CHAR_PTR,
			       CK_ULONG, CK_UTF8CHAR_PTR, CK_ULONG);
typedef CK_RV (*session_cancel_fn)(CK_SESSION_HANDLE, CK_FLAGS);
typedef CK_RV (*message_init_fn)(CK_SESSION_HANDLE, CK_MECHANISM_PTR,
				 CK_OBJECT_HANDLE);
struct list_3_0_head {
	CK_FUNCTION_LIST v2;
	CK_C_GetInterfaceList C_GetInterfaceList;
	CK_C_GetInterface C_GetInterface;
	login_user_fn C_LoginUser;
	session_cancel_fn C_SessionCancel;
	message_init_fn C_MessageEncryptInit;
};

/* The 3.0 interface over a provider that has no 3.0 functions (SoftHSM2
 * 2.6): each answers CKR_FUNCTION_NOT_SUPPORTED, on a live session and on
 * an unknown handle, and the session lives on (the provider layer's stubs,
 * docs/architecture.md §3). */
static void test_v3_over_v2_provider(void **state)
{
	(void)state;
	write_conf("[provider]\nmodule = " SOFTHSM "\n");
	CK_C_GetInterface get = p11test_sym(&m, "C_GetInterface");
	CK_VERSION v3 = {3, 0};
	CK_INTERFACE_PTR i = NULL;
	assert_int_equal(get((CK_UTF8CHAR_PTR) "PKCS 11", &v3, &i, 0), CKR_OK);
	const struct list_3_0_head *f3 = i->pFunctionList;
	assert_int_equal(f3->v2.C_Initialize(NULL), CKR_OK);
	CK_SLOT_ID slots[8];
	CK_ULONG n = 8;
	assert_int_equal(f3->v2.C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
	assert_true(n >= 1);
	CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
	assert_int_equal(
	    f3->v2.C_OpenSession(slots[0], CKF_SERIAL_SESSION, NULL, NULL, &h),
	    CKR_OK);
	CK_MECHANISM aes_gcm = {0x1087 /* CKM_AES_GCM */, NULL, 0};
	CK_SESSION_HANDLE unknown = h ^ 0x40000000ul;
	for (int k = 0; k < 2; k++) {
		CK_SESSION_HANDLE s = k ? unknown : h;
		assert_int_equal(f3->C_SessionCancel(s, 0),
				 CKR_FUNCTION_NOT_SUPPORTED);
		assert_int_equal(f3->C_LoginUser(s, CKU_USER,
						 (CK_UTF8CHAR_PTR) "1234", 4,
						 (CK_UTF8CHAR_PTR) "u", 1),
				 CKR_FUNCTION_NOT_SUPPORTED);
		assert_int_equal(f3->C_MessageEncryptInit(s, &aes_gcm, 0),
				 CKR_FUNCTION_NOT_SUPPORTED);
	}
	CK_SESSION_INFO info;
	memset(&info, 0xA5, sizeof(info));
	assert_int_equal(f3->v2.C_GetSessionInfo(h, &info), CKR_OK);
	assert_int_equal(info.slotID, slots[0]);
	assert_int_equal(f3->v2.C_CloseSession(h), CKR_OK);
	assert_int_equal(f3->v2.C_GetSessionInfo(h, &info),
			 CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(f3->v2.C_Finalize(NULL), CKR_OK);
}

/* Runs C_Initialize in a child with stderr captured; returns the rv and
 * the first stderr line. */
static CK_RV init_in_child(char *err, size_t errlen)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 2);
		CK_RV rv = fl->C_Initialize(NULL);
		_exit(rv == CKR_OK ? 0 : rv == CKR_GENERAL_ERROR ? 1 : 2);
	}
	close(p[1]);
	ssize_t n = read(p[0], err, errlen - 1);
	err[n > 0 ? n : 0] = '\0';
	close(p[0]);
	int status;
	waitpid(pid, &status, 0);
	return WEXITSTATUS(status) == 0   ? CKR_OK
	       : WEXITSTATUS(status) == 1 ? CKR_GENERAL_ERROR
					  : CKR_FUNCTION_FAILED;
}

static void test_broken_setups(void **state)
{
	(void)state;
	char err[1024];
	write_conf("[provider]\nmodule = " SOFTHSM "\n[slots\n");
	assert_int_equal(init_in_child(err, sizeof(err)), CKR_GENERAL_ERROR);
	assert_non_null(strstr(err, "p11overlay: "));
	assert_non_null(strstr(err, "p11overlay.conf:3"));

	write_conf("[provider]\nmodule = /nonexistent/provider.so\n");
	assert_int_equal(init_in_child(err, sizeof(err)), CKR_GENERAL_ERROR);
	assert_non_null(strstr(err, "cannot load provider"));

	char bogus[128];
	snprintf(bogus, sizeof(bogus), "%s/bogus.so", dir);
	FILE *f = fopen(bogus, "w");
	fputs("not an ELF file\n", f);
	fclose(f);
	char text[256];
	snprintf(text, sizeof(text), "[provider]\nmodule = %s\n", bogus);
	write_conf(text);
	assert_int_equal(init_in_child(err, sizeof(err)), CKR_GENERAL_ERROR);
	assert_non_null(strstr(err, "cannot load provider"));

	setenv("P11OVERLAY_CONF", "/nonexistent/p11overlay.conf", 1);
	assert_int_equal(init_in_child(err, sizeof(err)), CKR_GENERAL_ERROR);
	assert_non_null(strstr(err, "/nonexistent/p11overlay.conf"));

	/* A typo in [provider] is an error (the module would quietly load
	 * the default provider otherwise, issue 17); elsewhere a warning. */
	write_conf("[provider]\nmodule = " SOFTHSM "\nfrobnicate = 1\n");
	assert_int_equal(init_in_child(err, sizeof(err)), CKR_GENERAL_ERROR);
	assert_non_null(strstr(err, "frobnicate"));
	write_conf("[provider]\nmodule = " SOFTHSM
		   "\n[slots]\nfrobnicate = 1\n");
	assert_int_equal(init_in_child(err, sizeof(err)), CKR_OK);
	assert_non_null(strstr(err, "frobnicate"));
}

int main(int argc, char **argv)
{
	/* SoftHSM2 needs a token directory even with no token. */
	dir = p11test_softhsm_start("module-test", "1234", "12345678");
	unsetenv("P11OVERLAY_TRACE");
	p11test_load(&m, argc > 1 ? argv[1] : "build/p11overlay.so");
	fl = m.fl;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_identity_and_interfaces),
	    cmocka_unit_test(test_variables_before_initialize),
	    cmocka_unit_test(test_variables_short_buffers),
	    cmocka_unit_test(test_info_versions),
	    cmocka_unit_test(test_broken_setups),
	    cmocka_unit_test(test_v3_over_v2_provider),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	p11test_unload(&m);
	if (p11test_softhsm_stop() != 0)
		rc = 1;
	return rc;
}
