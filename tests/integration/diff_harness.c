/* Differential integration harness (issue 2) and layer conformance test
 * (issue 15).
 *
 *   diff_harness <p11overlay.so> <libsofthsm2.so> [--self | --layers L]
 *
 * L is "none" or a comma separated subset of objects, mechanisms, trace,
 * no-unlock: the proxy runs with those addons enabled ([objects]/
 * [mechanisms] enabled = yes, the rest no), the trace layer on ([trace]
 * path, level full) or off, and the unlock layer on unless no-unlock
 * ([unlock] enabled = no).
 *
 * Sets up one SoftHSM2 token directory (two initialised tokens), copies it
 * twice, then forks one child per module: "direct" loads SoftHSM2 itself,
 * "proxy" loads p11overlay.so configured (P11OVERLAY_CONF) to load
 * SoftHSM2.  Each child has its own SOFTHSM2_CONF, runs the same call
 * sequence (diff_seq_*.c) and writes a transcript (diff_record.h); the
 * parent compares the transcripts line by line and prints every
 * difference.  --self runs SoftHSM2 against itself (checks that the
 * harness is deterministic).  Exit 0 = identical, 1 = differences,
 * 77 = skipped (SoftHSM2 missing), 99 = harness error.
 *
 * P11O_DIFF_KEEP=1 keeps the temp dir (transcripts, configs, trace);
 * P11O_DIFF_EXTRA is appended to the proxy's config, for a look at other
 * settings by hand (the tests do not set it). */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "diff_record.h"
#include "p11test.h"

static char base[64] = "/tmp/p11o-diff-XXXXXX";

static int run(char *const argv[])
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	int st;
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int write_file(const char *path, const char *text)
{
	FILE *f = p11test_fopen_conf(path);
	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* --layers: which optional layers the proxy runs with (diff_addons.c). */
static unsigned layers;

static int parse_layers(const char *arg)
{
	if (strcmp(arg, "none") == 0)
		return 0;
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", arg);
	for (char *save, *w = strtok_r(buf, ",", &save); w;
	     w = strtok_r(NULL, ",", &save)) {
		if (strcmp(w, "objects") == 0)
			layers |= LAYER_OBJECTS;
		else if (strcmp(w, "mechanisms") == 0)
			layers |= LAYER_MECHANISMS;
		else if (strcmp(w, "trace") == 0)
			layers |= LAYER_TRACE;
		else if (strcmp(w, "no-unlock") == 0)
			layers |= LAYER_NO_UNLOCK;
		else
			return -1;
	}
	return 0;
}

/* <base>/<name>/{tokens/, softhsm2.conf, p11overlay.conf} */
static int make_env(const char *name, const char *softhsm, char *conf,
		    size_t len)
{
	char dir[512], path[600], text[1200];
	snprintf(dir, sizeof(dir), "%s/%s", base, name);
	if (mkdir(dir, 0700) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/tokens", dir);
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return -1;
	snprintf(text, sizeof(text),
		 "directories.tokendir = %s/tokens\nobjectstore.backend = "
		 "file\nlog.level = ERROR\nslots.removable = false\n",
		 dir);
	snprintf(conf, len, "%s/softhsm2.conf", dir);
	if (write_file(conf, text) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/p11overlay.conf", dir);
	/* Each optional layer on or off as --layers says, so that NULL and
	 * short-buffer cases reach its code (issue 18); what an addon adds
	 * on purpose is set aside narrowly (diff_addons.c). */
	char trace[600] = "";
	if (layers & LAYER_TRACE)
		snprintf(trace, sizeof(trace),
			 "[trace]\npath = %s/trace.log\nlevel = full\n", dir);
	snprintf(text, sizeof(text),
		 "[provider]\nmodule = %s\n[objects]\nenabled = %s\n"
		 "[mechanisms]\nenabled = %s\n[unlock]\nenabled = %s\n%s",
		 softhsm, layers & LAYER_OBJECTS ? "yes" : "no",
		 layers & LAYER_MECHANISMS ? "yes" : "no",
		 layers & LAYER_NO_UNLOCK ? "no" : "yes", trace);
	/* e.g. P11O_DIFF_EXTRA=$'hide = CKM_SHA256\n' (see the top). */
	const char *extra = getenv("P11O_DIFF_EXTRA");
	size_t used = strlen(text);
	if (extra)
		snprintf(text + used, sizeof(text) - used, "%s", extra);
	return write_file(path, text);
}

static CK_FUNCTION_LIST *load(const char *path)
{
	void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
		return NULL;
	}
	CK_C_GetFunctionList gfl =
	    (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList");
	CK_FUNCTION_LIST *f = NULL;
	if (!gfl || gfl(&f) != CKR_OK)
		return NULL;
	return f;
}

/* The provider's own mechanism list, for the proxy child with the
 * mechanisms addon on (diff_addons_mech.c). */
static int write_mechs(CK_FUNCTION_LIST *f, CK_SLOT_ID slot)
{
	CK_MECHANISM_TYPE m[512];
	CK_ULONG n = 512;
	char path[600];
	snprintf(path, sizeof(path), "%s/provider-mechs", base);
	FILE *out = fopen(path, "w");
	if (!out || f->C_GetMechanismList(slot, m, &n) != CKR_OK) {
		if (out)
			fclose(out);
		return -1;
	}
	for (CK_ULONG i = 0; i < n; i++)
		fprintf(out, "%lx\n", (unsigned long)m[i]);
	return fclose(out);
}

/* Child: two initialised tokens (diffA, diffB) with the user PIN set. */
static int setup_tokens(const char *softhsm)
{
	CK_FUNCTION_LIST *f = load(softhsm);
	if (!f || f->C_Initialize(NULL) != CKR_OK)
		return 1;
	const char *labels[] = {LABEL_A, LABEL_B};
	for (int t = 0; t < 2; t++) {
		CK_SLOT_ID slots[16];
		CK_ULONG n = 16;
		/* SoftHSM2 adds a fresh uninitialised slot only at
		 * C_Initialize. */
		if (t > 0 && (f->C_Finalize(NULL) != CKR_OK ||
			      f->C_Initialize(NULL) != CKR_OK))
			return 6;
		if (f->C_GetSlotList(CK_FALSE, slots, &n) != CKR_OK || !n)
			return 2;
		CK_SLOT_ID slot = slots[n - 1]; /* the uninitialised one */
		CK_UTF8CHAR label[32];
		memset(label, ' ', 32);
		memcpy(label, labels[t], strlen(labels[t]));
		CK_RV rv = f->C_InitToken(slot, (CK_UTF8CHAR *)SO_PIN,
					  strlen(SO_PIN), label);
		if (rv != CKR_OK) {
			fprintf(stderr, "C_InitToken: %s\n", rv_name(rv));
			return 3;
		}
		/* SoftHSM renumbers: find the token by label. */
		n = 16;
		f->C_GetSlotList(CK_FALSE, slots, &n);
		for (CK_ULONG i = 0; i < n; i++) {
			CK_TOKEN_INFO ti;
			if (f->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
			    memcmp(ti.label, label, 32) == 0)
				slot = slots[i];
		}
		CK_SESSION_HANDLE s;
		if (f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
				     NULL, NULL, &s) != CKR_OK ||
		    f->C_Login(s, CKU_SO, (CK_UTF8CHAR *)SO_PIN,
			       strlen(SO_PIN)) != CKR_OK ||
		    f->C_InitPIN(s, (CK_UTF8CHAR *)USER_PIN,
				 strlen(USER_PIN)) != CKR_OK)
			return 4;
		f->C_CloseSession(s);
		if (t == 0 && write_mechs(f, slot) != 0)
			return 7;
	}
	return f->C_Finalize(NULL) == CKR_OK ? 0 : 5;
}

static int child_run(const char *module, int is_proxy, const char *out_path)
{
	D.out = fopen(out_path, "w");
	if (!D.out)
		return 2;
	D.f = load(module);
	if (!D.f)
		return 3;
	D.is_proxy = is_proxy;
	if (is_proxy)
		addons_wrap(layers);
	seq_before_init();
	seq_init_edges();
	seq_info_slots();
	seq_sessions_login();
	seq_objects();
	seq_keys_sign();
	seq_encrypt_digest();
	seq_wrap_pin_misc();
	if (is_proxy)
		seq_addon_paths();
	seq_after_finalize();
	rec_end();
	fprintf(D.out, "END calls=%u\n", D.calls);
	fclose(D.out);
	return addons_failures() ? 4 : 0;
}

static pid_t spawn_child(const char *module, int is_proxy, const char *name,
			 const char *softhsm, char *out_path, size_t len)
{
	char conf[600];
	if (make_env(name, softhsm, conf, sizeof(conf)) != 0)
		return -1;
	char src[600], dst[600];
	snprintf(src, sizeof(src), "%s/template/tokens/.", base);
	snprintf(dst, sizeof(dst), "%s/%s/tokens", base, name);
	char *cp[] = {"cp", "-a", src, dst, NULL};
	if (run(cp) != 0)
		return -1;
	snprintf(out_path, len, "%s/%s.transcript", base, name);
	fflush(NULL);
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	setenv("SOFTHSM2_CONF", conf, 1);
	char pconf[600];
	snprintf(pconf, sizeof(pconf), "%s/%s/p11overlay.conf", base, name);
	setenv("P11OVERLAY_CONF", pconf, 1);
	unsetenv("P11OVERLAY_TRACE");
	char mechs[600];
	snprintf(mechs, sizeof(mechs), "%s/provider-mechs", base);
	setenv("P11O_DIFF_PROVIDER_MECHS", mechs, 1);
	_exit(child_run(module, is_proxy, out_path));
}

static int wait_child(pid_t pid, const char *name)
{
	int st;
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFSIGNALED(st))
		fprintf(stderr, "FAIL: %s child killed by signal %d\n", name,
			WTERMSIG(st));
	else
		fprintf(stderr, "FAIL: %s child exit %d\n", name,
			WEXITSTATUS(st));
	return -1;
}

/* The trace layer was in the chain: the proxy child's trace has a record
 * of calls from each part of the sequence. */
static int trace_check(void)
{
	char path[600], line[512];
	snprintf(path, sizeof(path), "%s/proxy/trace.log", base);
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "FAIL: no trace at %s\n", path);
		return -1;
	}
	static const char *const want[] = {"C_GetMechanismList", "C_Sign",
					   "C_FindObjects", "C_WrapKey"};
	unsigned seen = 0;
	while (fgets(line, sizeof(line), f))
		for (unsigned i = 0; i < 4; i++)
			if (strstr(line, want[i]))
				seen |= 1u << i;
	fclose(f);
	if (seen != 15) {
		fprintf(stderr, "FAIL: trace %s lacks calls (mask %x)\n", path,
			seen);
		return -1;
	}
	return 0;
}

int diff_compare(const char *a_path, const char *b_path, const char *a_name,
		 const char *b_name);

static void cleanup(void)
{
	if (getenv("P11O_DIFF_KEEP")) {
		fprintf(stderr, "kept %s\n", base);
		return;
	}
	char *rm[] = {"rm", "-rf", base, NULL};
	run(rm);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr,
			"usage: %s <p11overlay.so> <softhsm2.so> "
			"[--self | --layers none|objects,mechanisms,trace]\n",
			argv[0]);
		return 99;
	}
	const char *proxy = argv[1], *softhsm = argv[2];
	int self = argc > 3 && strcmp(argv[3], "--self") == 0;
	if (argc > 4 && strcmp(argv[3], "--layers") == 0 &&
	    parse_layers(argv[4]) != 0) {
		fprintf(stderr, "bad --layers %s\n", argv[4]);
		return 99;
	}
	if (access(softhsm, R_OK) != 0) {
		fprintf(stderr, "SKIP: %s not found\n", softhsm);
		return 77;
	}
	/* Removed on every exit path, a crash or a timeout too
	 * (p11test_tmpdir), unless kept for a look. */
	if (!getenv("P11O_DIFF_KEEP"))
		snprintf(base, sizeof(base), "%s", p11test_tmpdir("p11o-diff"));
	else if (!mkdtemp(base)) {
		perror("mkdtemp");
		return 99;
	}
	char conf[600];
	if (make_env("template", softhsm, conf, sizeof(conf)) != 0) {
		cleanup();
		return 99;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		setenv("SOFTHSM2_CONF", conf, 1);
		_exit(setup_tokens(softhsm));
	}
	if (pid < 0 || wait_child(pid, "setup") != 0) {
		cleanup();
		return 99;
	}
	char out_a[600], out_b[600];
	const char *b_name = self ? "direct2" : "proxy";
	pid_t a =
	    spawn_child(softhsm, 0, "direct", softhsm, out_a, sizeof(out_a));
	pid_t b = spawn_child(self ? softhsm : proxy, !self, b_name, softhsm,
			      out_b, sizeof(out_b));
	int bad = 0;
	if (a < 0 || wait_child(a, "direct") != 0)
		bad = 1;
	if (b < 0 || wait_child(b, b_name) != 0)
		bad = 1;
	int diffs = diff_compare(out_a, out_b, "direct", b_name);
	if (!self && (layers & LAYER_TRACE) && trace_check() != 0)
		bad = 1;
	cleanup();
	if (diffs < 0)
		return 99;
	if (bad || diffs > 0) {
		fprintf(stderr, "FAIL: %d difference(s)%s\n", diffs,
			bad ? ", a child failed" : "");
		return 1;
	}
	return 0;
}
