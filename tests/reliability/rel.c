#include "rel.h"

#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

atomic_int rel_failures;

void rel_fail(const char *fmt, ...)
{
	va_list ap;
	char buf[512];
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "FAIL: %s\n", buf);
	atomic_fetch_add(&rel_failures, 1);
}

/* ---- allowed return values (PKCS#11 2.40 base spec, §5) ---------------- */

#define END ((CK_RV)~0ul)
#define DEV CKR_DEVICE_ERROR, CKR_DEVICE_MEMORY, CKR_DEVICE_REMOVED
#define SESS CKR_SESSION_CLOSED, CKR_SESSION_HANDLE_INVALID
#define TOKEN CKR_TOKEN_NOT_PRESENT, CKR_TOKEN_NOT_RECOGNIZED
#define CANCEL CKR_FUNCTION_CANCELED

static const struct allowed {
	const char *fn;
	CK_RV rv[40];
} table[] = {
    {"C_Initialize",
     {CKR_ARGUMENTS_BAD, CKR_CANT_LOCK, CKR_CRYPTOKI_ALREADY_INITIALIZED,
      CKR_NEED_TO_CREATE_THREADS, END}},
    {"C_Finalize", {CKR_ARGUMENTS_BAD, END}},
    {"C_GetInfo", {CKR_ARGUMENTS_BAD, END}},
    {"C_GetSlotList", {CKR_ARGUMENTS_BAD, CKR_BUFFER_TOO_SMALL, END}},
    {"C_GetSlotInfo", {CKR_ARGUMENTS_BAD, CKR_SLOT_ID_INVALID, DEV, END}},
    {"C_GetTokenInfo",
     {CKR_ARGUMENTS_BAD, CKR_SLOT_ID_INVALID, TOKEN, DEV, END}},
    {"C_GetMechanismList",
     {CKR_ARGUMENTS_BAD, CKR_BUFFER_TOO_SMALL, CKR_SLOT_ID_INVALID, TOKEN, DEV,
      END}},
    {"C_WaitForSlotEvent",
     {CKR_ARGUMENTS_BAD, CKR_NO_EVENT, CKR_FUNCTION_NOT_SUPPORTED, END}},
    {"C_OpenSession",
     {CKR_ARGUMENTS_BAD, CKR_SESSION_COUNT, CKR_SESSION_PARALLEL_NOT_SUPPORTED,
      CKR_SESSION_READ_WRITE_SO_EXISTS, CKR_SLOT_ID_INVALID, TOKEN,
      CKR_TOKEN_WRITE_PROTECTED, DEV, END}},
    {"C_CloseSession", {SESS, DEV, END}},
    {"C_CloseAllSessions",
     {CKR_SLOT_ID_INVALID, CKR_TOKEN_NOT_PRESENT, DEV, END}},
    {"C_GetSessionInfo", {CKR_ARGUMENTS_BAD, SESS, DEV, END}},
    {"C_Login",
     {CKR_ARGUMENTS_BAD, CKR_OPERATION_NOT_INITIALIZED, CKR_PIN_INCORRECT,
      CKR_PIN_LOCKED, CKR_SESSION_READ_ONLY_EXISTS, CKR_USER_ALREADY_LOGGED_IN,
      CKR_USER_ANOTHER_ALREADY_LOGGED_IN, CKR_USER_PIN_NOT_INITIALIZED,
      CKR_USER_TOO_MANY_TYPES, CKR_USER_TYPE_INVALID, SESS, DEV, CANCEL, END}},
    {"C_Logout", {CKR_USER_NOT_LOGGED_IN, SESS, DEV, END}},
    {"C_CreateObject",
     {CKR_ARGUMENTS_BAD, CKR_ATTRIBUTE_READ_ONLY, CKR_ATTRIBUTE_TYPE_INVALID,
      CKR_ATTRIBUTE_VALUE_INVALID, CKR_CURVE_NOT_SUPPORTED,
      CKR_DOMAIN_PARAMS_INVALID, CKR_PIN_EXPIRED, CKR_SESSION_READ_ONLY,
      CKR_TEMPLATE_INCOMPLETE, CKR_TEMPLATE_INCONSISTENT,
      CKR_TOKEN_WRITE_PROTECTED, CKR_USER_NOT_LOGGED_IN, SESS, DEV, END}},
    {"C_DestroyObject",
     {CKR_ACTION_PROHIBITED, CKR_OBJECT_HANDLE_INVALID, CKR_PIN_EXPIRED,
      CKR_SESSION_READ_ONLY, CKR_TOKEN_WRITE_PROTECTED, SESS, DEV, END}},
    {"C_GetAttributeValue",
     {CKR_ARGUMENTS_BAD, CKR_ATTRIBUTE_SENSITIVE, CKR_ATTRIBUTE_TYPE_INVALID,
      CKR_BUFFER_TOO_SMALL, CKR_OBJECT_HANDLE_INVALID, SESS, DEV, END}},
    {"C_FindObjectsInit",
     {CKR_ARGUMENTS_BAD, CKR_ATTRIBUTE_TYPE_INVALID,
      CKR_ATTRIBUTE_VALUE_INVALID, CKR_OPERATION_ACTIVE, CKR_PIN_EXPIRED, SESS,
      DEV, END}},
    {"C_FindObjects",
     {CKR_ARGUMENTS_BAD, CKR_OPERATION_NOT_INITIALIZED, SESS, DEV, END}},
    {"C_FindObjectsFinal", {CKR_OPERATION_NOT_INITIALIZED, SESS, DEV, END}},
    {"C_DigestInit",
     {CKR_ARGUMENTS_BAD, CKR_MECHANISM_INVALID, CKR_MECHANISM_PARAM_INVALID,
      CKR_OPERATION_ACTIVE, CKR_PIN_EXPIRED, CKR_USER_NOT_LOGGED_IN, SESS, DEV,
      CANCEL, END}},
    {"C_Digest",
     {CKR_ARGUMENTS_BAD, CKR_BUFFER_TOO_SMALL, CKR_DATA_LEN_RANGE,
      CKR_OPERATION_NOT_INITIALIZED, SESS, DEV, CANCEL, END}},
    {"C_SignInit",
     {CKR_ARGUMENTS_BAD, CKR_KEY_FUNCTION_NOT_PERMITTED, CKR_KEY_HANDLE_INVALID,
      CKR_KEY_SIZE_RANGE, CKR_KEY_TYPE_INCONSISTENT, CKR_MECHANISM_INVALID,
      CKR_MECHANISM_PARAM_INVALID, CKR_OPERATION_ACTIVE, CKR_PIN_EXPIRED,
      CKR_USER_NOT_LOGGED_IN, SESS, DEV, CANCEL, END}},
    {"C_Sign",
     {CKR_ARGUMENTS_BAD, CKR_BUFFER_TOO_SMALL, CKR_DATA_INVALID,
      CKR_DATA_LEN_RANGE, CKR_FUNCTION_REJECTED, CKR_OPERATION_NOT_INITIALIZED,
      CKR_USER_NOT_LOGGED_IN, SESS, DEV, CANCEL, END}},
    {"C_SignUpdate",
     {CKR_ARGUMENTS_BAD, CKR_DATA_LEN_RANGE, CKR_OPERATION_NOT_INITIALIZED,
      CKR_USER_NOT_LOGGED_IN, SESS, DEV, CANCEL, END}},
    {"C_SignFinal",
     {CKR_ARGUMENTS_BAD, CKR_BUFFER_TOO_SMALL, CKR_DATA_LEN_RANGE,
      CKR_FUNCTION_REJECTED, CKR_OPERATION_NOT_INITIALIZED,
      CKR_USER_NOT_LOGGED_IN, SESS, DEV, CANCEL, END}},
    {"C_GenerateRandom",
     {CKR_ARGUMENTS_BAD, CKR_OPERATION_ACTIVE, CKR_RANDOM_NO_RNG,
      CKR_USER_NOT_LOGGED_IN, SESS, DEV, CANCEL, END}},
    {"C_GenerateKeyPair",
     {CKR_ARGUMENTS_BAD, CKR_ATTRIBUTE_READ_ONLY, CKR_ATTRIBUTE_TYPE_INVALID,
      CKR_ATTRIBUTE_VALUE_INVALID, CKR_CURVE_NOT_SUPPORTED,
      CKR_DOMAIN_PARAMS_INVALID, CKR_MECHANISM_INVALID,
      CKR_MECHANISM_PARAM_INVALID, CKR_OPERATION_ACTIVE, CKR_PIN_EXPIRED,
      CKR_SESSION_READ_ONLY, CKR_TEMPLATE_INCOMPLETE, CKR_TEMPLATE_INCONSISTENT,
      CKR_TOKEN_WRITE_PROTECTED, CKR_USER_NOT_LOGGED_IN, SESS, DEV, CANCEL,
      END}},
};

bool rel_rv_allowed(const char *fn, CK_RV rv)
{
	if (rv == CKR_OK || rv == CKR_GENERAL_ERROR || rv == CKR_HOST_MEMORY ||
	    rv == CKR_FUNCTION_FAILED)
		return true;
	if (rv == CKR_CRYPTOKI_NOT_INITIALIZED && strcmp(fn, "C_Initialize"))
		return true;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (strcmp(table[i].fn, fn) != 0)
			continue;
		for (const CK_RV *r = table[i].rv; *r != END; r++)
			if (*r == rv)
				return true;
		/* Optional functions a provider may lack (§5.1). */
		return rv == CKR_FUNCTION_NOT_SUPPORTED &&
		       strcmp(fn, "C_Initialize") && strcmp(fn, "C_Finalize") &&
		       strcmp(fn, "C_GetInfo") && strcmp(fn, "C_GetSlotList");
	}
	rel_fail("no allowed-CKR table entry for %s", fn);
	return false;
}

CK_RV rel_rv(const char *fn, CK_RV rv)
{
	if (!rel_rv_allowed(fn, rv))
		rel_fail("%s returned 0x%lx, which the standard does not allow",
			 fn, (unsigned long)rv);
	return rv;
}

/* ---- watchdog ------------------------------------------------------------ */

static const char *watchdog_what;

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "FAIL: watchdog expired (deadlock?) in ";
	ssize_t r = write(2, msg, sizeof(msg) - 1);
	r = write(2, watchdog_what, strlen(watchdog_what));
	r = write(2, "\n", 1);
	(void)r;
	_exit(3);
}

void rel_watchdog(unsigned seconds, const char *what)
{
	watchdog_what = what;
	signal(SIGALRM, on_alarm);
	alarm(seconds);
}

/* ---- tokens -------------------------------------------------------------- */

CK_SLOT_ID rel_find_token(CK_FUNCTION_LIST_PTR fl, const char *label)
{
	CK_SLOT_ID slot = 0;
	if (!p11test_find_token(fl, label, false, &slot))
		rel_fail("token '%s' not found", label);
	return slot;
}

/* ---- resources ----------------------------------------------------------- */

static int count_dir(const char *path)
{
	DIR *d = opendir(path);
	int n = 0;
	if (!d)
		return -1;
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1 * (strcmp(path, "/proc/self/fd") == 0); /* opendir's */
}

int rel_count_fds(void)
{
	return count_dir("/proc/self/fd");
}

int rel_count_threads(void)
{
	return count_dir("/proc/self/task");
}

long rel_rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

int rel_done(const char *name)
{
	int n = atomic_load(&rel_failures);
	printf("%s: %s (%d failure%s)\n", name, n ? "FAILED" : "ok", n,
	       n == 1 ? "" : "s");
	return n ? 1 : 0;
}
