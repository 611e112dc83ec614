/* Faults below and around the proxy (issue 11): a fault-injecting
 * provider (mock_provider.c, MOCK_FAULT modes) loaded through the real
 * p11overlay.so, a provider that is missing or not a shared object, a
 * config that is broken, unreadable or writable by others.  Every call
 * must return a CKR the standard allows, never crash or overrun a
 * buffer (the ASan run), and a failed C_Initialize must say why once on
 * stderr and in the trace.  Also: trace files are created 0600.
 * argv: p11overlay.so mock_provider.so */
#include <dlfcn.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rel.h"

static const char *module_path, *mock_path;
static char dir[64];
static unsigned long faults_total, calls_total;

static unsigned long mock_counter(void)
{
	void *h = dlopen(mock_path, RTLD_NOW | RTLD_NOLOAD);
	if (!h)
		return 0;
	unsigned long *c = dlsym(h, "mock_faults");
	unsigned long n = c ? *c : 0;
	dlclose(h);
	return n;
}

static unsigned long not_supported;
static CK_RV mock_rv; /* what the mock's "errors" mode returns */

/* The proxy passes on what the provider says; the mock's own error code
 * is allowed when it injects it. */
static CK_RV check(const char *fn, CK_RV rv)
{
	calls_total++;
	not_supported += rv == CKR_FUNCTION_NOT_SUPPORTED;
	if (mock_rv && rv == mock_rv)
		return rv;
	return rel_rv(fn, rv);
}
#define CALL(fn, ...) check(#fn, fl->fn(__VA_ARGS__))

/* A fixed workload touching every function the mock implements. */
static void workload(CK_FUNCTION_LIST_PTR fl, const char *mode)
{
	CK_INFO info;
	CK_ULONG n = 0;
	CALL(C_GetInfo, &info);
	if (CALL(C_GetSlotList, CK_FALSE, NULL, &n) != CKR_OK)
		n = 0;
	CK_ULONG cap = n < 4 ? n : 4;
	/* Exactly the size asked for: ASan sees any overrun. */
	CK_SLOT_ID *ids = malloc((cap ? cap : 1) * sizeof(*ids));
	n = cap;
	CK_RV rv = CALL(C_GetSlotList, CK_FALSE, cap ? ids : NULL, &n);
	/* A count beyond the buffer is the provider's (passed on as it
	 * is); the proxy must not write past the buffer (ASan run). */
	CK_ULONG nslots = rv == CKR_OK && cap ? (n < cap ? n : cap) : 0;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	for (CK_ULONG i = 0; i < nslots; i++) {
		CK_SLOT_INFO si;
		CK_TOKEN_INFO ti;
		CALL(C_GetSlotInfo, ids[i], &si);
		if (CALL(C_GetTokenInfo, ids[i], &ti) == CKR_OK && !s &&
		    CALL(C_OpenSession, ids[i], CKF_SERIAL_SESSION, NULL, NULL,
			 &s) != CKR_OK)
			s = CK_INVALID_HANDLE;
	}
	/* Invalid IDs and handles whatever the provider did. */
	CK_SLOT_INFO si;
	CALL(C_GetSlotInfo, ~(CK_SLOT_ID)0, &si);
	CALL(C_GetSlotInfo, 0, &si);
	CALL(C_CloseSession, 0);
	CALL(C_CloseSession, ~(CK_SESSION_HANDLE)0);
	if (s) {
		CK_SESSION_INFO sinfo;
		CALL(C_GetSessionInfo, s, &sinfo);
		CALL(C_Login, s, CKU_USER, (CK_UTF8CHAR_PTR) "1234", 4);
		CK_OBJECT_HANDLE *objs = malloc(2 * sizeof(*objs));
		CK_ULONG found = 0;
		CK_OBJECT_HANDLE first = CK_INVALID_HANDLE;
		if (CALL(C_FindObjectsInit, s, NULL, 0) == CKR_OK) {
			for (int round = 0; round < 3; round++) {
				found = 0;
				if (CALL(C_FindObjects, s, objs, 2, &found) !=
				    CKR_OK)
					break;
				if (found && !first)
					first = objs[0];
			}
			CALL(C_FindObjectsFinal, s);
		}
		char label[16];
		CK_ATTRIBUTE a[] = {{CKA_LABEL, label, sizeof(label)}};
		if (CALL(C_GetAttributeValue, s, first, a, 1) == CKR_OK)
			REL_CHECK(a[0].ulValueLen <= sizeof(label) ||
				      a[0].ulValueLen ==
					  CK_UNAVAILABLE_INFORMATION,
				  "%s: passed on a length of %lu", mode,
				  a[0].ulValueLen);
		CALL(C_GetAttributeValue, s, ~(CK_OBJECT_HANDLE)0, a, 1);
		CK_MECHANISM m = {CKM_SHA256_RSA_PKCS, NULL, 0};
		if (CALL(C_SignInit, s, &m, first) == CKR_OK) {
			CK_BYTE sig[16];
			CK_ULONG slen = sizeof(sig);
			CALL(C_SignUpdate, s, (CK_BYTE_PTR) "abc", 3);
			CALL(C_SignUpdate, s, (CK_BYTE_PTR) "def", 3);
			CALL(C_SignFinal, s, sig, &slen);
		}
		CALL(C_CloseSession, s);
		free(objs);
	}
	for (CK_ULONG i = 0; i < nslots; i++)
		CALL(C_CloseAllSessions, ids[i]);
	CK_SLOT_ID ev;
	CALL(C_WaitForSlotEvent, CKF_DONT_BLOCK, &ev, NULL);
	free(ids);
}

static void mock_modes(void)
{
	static const char *const modes[] = {
	    "none", "errors", "short", "handles", "removed", "nullfns", NULL};
	p11test_module m;
	p11test_load(&m, module_path);
	p11test_write_config(mock_path, NULL);
	/* Walked to its NULL end, so GCC's -Wformat-overflow (at -O2 with
	 * the sanitizers) knows the name printed is never NULL. */
	for (const char *const *mp = modes; *mp; mp++) {
		const char *mode = *mp;
		setenv("MOCK_FAULT", mode, 1);
		mock_rv = strcmp(mode, "errors") ? 0 : CKR_DEVICE_ERROR;
		not_supported = 0;
		CK_RV rv = m.fl->C_Initialize(NULL);
		REL_CHECK(rv == CKR_OK, "%s: C_Initialize 0x%lx", mode, rv);
		if (rv != CKR_OK)
			continue;
		for (int k = 0; k < 3; k++)
			workload(m.fl, mode);
		unsigned long f = mock_counter();
		/* nullfns: every missing function is a fault the proxy met. */
		if (strcmp(mode, "nullfns") == 0)
			f = not_supported;
		printf("mode %-8s faults injected %lu\n", mode, f);
		faults_total += f;
		REL_CHECK(strcmp(mode, "none") == 0 || f > 0,
			  "%s: no fault injected", mode);
		REL_CHECK(m.fl->C_Finalize(NULL) == CKR_OK, "%s: C_Finalize",
			  mode);
	}
	/* The provider's C_Initialize fails: its CKR, then nothing works
	 * until a C_Initialize succeeds. */
	setenv("MOCK_FAULT", "initfail", 1);
	CK_RV rv = m.fl->C_Initialize(NULL);
	REL_CHECK(rv == CKR_DEVICE_ERROR, "initfail: 0x%lx", rv);
	CK_ULONG n;
	REL_CHECK(m.fl->C_GetSlotList(CK_FALSE, NULL, &n) ==
		      CKR_CRYPTOKI_NOT_INITIALIZED,
		  "initfail: still initialised");
	faults_total++;
	setenv("MOCK_FAULT", "none", 1);
	REL_CHECK(m.fl->C_Initialize(NULL) == CKR_OK, "init after initfail");
	REL_CHECK(m.fl->C_Finalize(NULL) == CKR_OK, "finalize");
	unsetenv("MOCK_FAULT");
	p11test_unload(&m);
}

/* ---- C_Initialize failures in a child: rv, stderr, trace --------------- */

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		perror(path);
		exit(2);
	}
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static char *slurp(const char *path)
{
	static char buf[16384];
	buf[0] = '\0';
	FILE *f = fopen(path, "r");
	if (f) {
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = '\0';
		fclose(f);
	}
	return buf;
}

static int count_lines_with(const char *text, const char *needle)
{
	int n = 0;
	for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* Runs C_Initialize (+ C_Finalize) of p11overlay.so with config `conf`
 * in a child (as `uid` when not -1); returns its CKR, stderr and trace in
 * the static buffers. */
static char child_err[16384], child_trace[16384];
static CK_RV init_in_child(const char *conf, uid_t uid)
{
	char errpath[128], tracepath[128];
	snprintf(errpath, sizeof(errpath), "%s/stderr", dir);
	snprintf(tracepath, sizeof(tracepath), "%s/trace.log", dir);
	unlink(errpath);
	unlink(tracepath);
	int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		rel_fail("%s: %m", errpath);
		return ~0ul;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		if (uid != (uid_t)-1 && (setgid(uid) || setuid(uid)))
			_exit(200);
		if (dup2(fd, 2) < 0)
			_exit(201);
		setenv("P11OVERLAY_CONF", conf, 1);
		setenv("P11OVERLAY_TRACE", tracepath, 1);
		p11test_module m;
		p11test_load(&m, module_path);
		CK_RV rv = m.fl->C_Initialize(NULL);
		if (rv == CKR_OK)
			m.fl->C_Finalize(NULL);
		_exit(rv > 199 ? 199 : (int)rv);
	}
	int st;
	close(fd);
	waitpid(pid, &st, 0);
	snprintf(child_err, sizeof(child_err), "%s", slurp(errpath));
	snprintf(child_trace, sizeof(child_trace), "%s", slurp(tracepath));
	if (!WIFEXITED(st) || WEXITSTATUS(st) >= 200) {
		rel_fail("child for %s died (status 0x%x): %s", conf, st,
			 child_err);
		return ~0ul;
	}
	return WEXITSTATUS(st);
}

static void expect_clean_failure(const char *what, const char *conf,
				 const char *needle, uid_t uid)
{
	CK_RV rv = init_in_child(conf, uid);
	REL_CHECK(rv == CKR_GENERAL_ERROR, "%s: C_Initialize 0x%lx", what, rv);
	int lines = count_lines_with(child_err, "p11overlay: ");
	REL_CHECK(lines >= 1 && strstr(child_err, needle),
		  "%s: no message with '%s' on stderr: [%s]", what, needle,
		  child_err);
	REL_CHECK(lines == 1,
		  "%s: %d messages on stderr instead of one clear one: [%s]",
		  what, lines, child_err);
	REL_CHECK(strstr(child_trace, needle) != NULL,
		  "%s: no message with '%s' in the trace: [%s]", what, needle,
		  child_trace);
	printf("%s: CKR 0x%lx, stderr: %s", what, rv, child_err);
}

static void load_failures(void)
{
	char conf[128], path[128], text[512];
	snprintf(conf, sizeof(conf), "%s/p.conf", dir);

	write_file(conf, "[provider]\nmodule = /nonexistent/provider.so\n",
		   0644);
	expect_clean_failure("missing provider", conf,
			     "/nonexistent/provider.so", (uid_t)-1);

	snprintf(path, sizeof(path), "%s/not-elf.so", dir);
	write_file(path, "this is not a shared object\n", 0755);
	snprintf(text, sizeof(text), "[provider]\nmodule = %s\n", path);
	write_file(conf, text, 0644);
	expect_clean_failure("non-ELF provider", conf, "not-elf.so", (uid_t)-1);

	setenv("MOCK_FAULT", "nolist", 1);
	snprintf(text, sizeof(text), "[provider]\nmodule = %s\n", mock_path);
	write_file(conf, text, 0644);
	expect_clean_failure("provider without function list", conf,
			     "C_GetFunctionList", (uid_t)-1);
	unsetenv("MOCK_FAULT");

	snprintf(text, sizeof(text), "[provider\nmodule = %s\n", mock_path);
	write_file(conf, text, 0644);
	expect_clean_failure("broken config", conf, "p.conf", (uid_t)-1);

	/* A directory where the file should be: cannot be read. */
	expect_clean_failure("config is a directory", dir, dir, (uid_t)-1);

	snprintf(text, sizeof(text), "[provider]\nmodule = %s\n", mock_path);
	write_file(conf, text, 0000);
	if (geteuid() != 0) {
		expect_clean_failure("unreadable config", conf, "p.conf",
				     (uid_t)-1);
	} else {
		struct passwd *pw = getpwnam("nobody");
		if (!pw) {
			printf("unreadable config: SKIPPED (root and no user "
			       "'nobody' to drop to)\n");
		} else {
			/* nobody writes the trace next to the config. */
			chmod(dir, 01777);
			expect_clean_failure("unreadable config (as nobody)",
					     conf, "p.conf", pw->pw_uid);
		}
	}

	/* Writable by others: refused (tests/tools/test_files.sh has the
	 * other hostile files). */
	write_file(conf, text, 0666);
	expect_clean_failure("world-writable config", conf,
			     "writable by group or others", (uid_t)-1);
	CK_RV rv;

	/* Trace files are created 0600 whatever the umask. */
	write_file(conf, text, 0644);
	mode_t old = umask(0);
	rv = init_in_child(conf, (uid_t)-1);
	umask(old);
	struct stat st;
	snprintf(path, sizeof(path), "%s/trace.log", dir);
	REL_CHECK(rv == CKR_OK && stat(path, &st) == 0 &&
		      (st.st_mode & 0777) == 0600,
		  "trace file mode %o", (unsigned)(st.st_mode & 0777));
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s p11overlay.so mock.so\n", argv[0]);
		return 2;
	}
	module_path = argv[1];
	mock_path = argv[2];
	rel_watchdog(120, "test_faults");
	snprintf(dir, sizeof(dir), "/tmp/p11rel-faults.XXXXXX");
	if (!mkdtemp(dir))
		return 2;
	mock_modes();
	load_failures();
	printf("faults injected: %lu, calls checked: %lu\n", faults_total,
	       calls_total);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return rel_done("test_faults");
}
