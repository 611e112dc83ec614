/* Secret hygiene (docs/architecture.md §6, issue 11): PINs and secret variables
 * are wiped from the proxy's memory after use.  A child process logs in on the
 * card rig (OpenSC) with a distinctive wrong PIN, then the right one, sets the
 * secret variable init-user-pin, traces everything (full), then finalises and
 * scans its own writable memory (/proc/self/maps + /proc/self/mem) for those
 * byte strings.
 *  - the variable never reaches the provider: 0 copies allowed;
 *  - the PIN does reach OpenSC and pcsc-lite, which keep copies in freed
 *    memory of their own: the same run straight on OpenSC (no proxy) is
 *    the baseline, the proxy may add none.
 * The test's own copies are built at run time from a masked form and
 * wiped; the scan compares against the masked form, so the needle is
 * never in memory in clear.  Also: the trace has neither.
 * argv: p11overlay.so */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rel.h"

#define MASK 0x5A
/* "73915284" and "84615927", masked. */
static const unsigned char pin_masked[8] = {'7' ^ MASK, '3' ^ MASK, '9' ^ MASK,
					    '1' ^ MASK, '5' ^ MASK, '2' ^ MASK,
					    '8' ^ MASK, '4' ^ MASK};
static const unsigned char var_masked[8] = {'8' ^ MASK, '4' ^ MASK, '6' ^ MASK,
					    '1' ^ MASK, '5' ^ MASK, '9' ^ MASK,
					    '2' ^ MASK, '7' ^ MASK};

static void unmask(char *out, const unsigned char *m)
{
	for (int i = 0; i < 8; i++)
		out[i] = (char)(m[i] ^ MASK);
	out[8] = '\0';
}

static size_t count_in(const unsigned char *p, size_t n, const unsigned char *m)
{
	size_t hits = 0;
	unsigned char first = m[0] ^ MASK;
	for (const unsigned char *q = p; n >= 8;) {
		const unsigned char *c = memchr(q, first, n - 7);
		if (!c)
			break;
		int k = 1;
		while (k < 8 && (c[k] ^ MASK) == m[k])
			k++;
		hits += k == 8;
		n -= (size_t)(c + 1 - q);
		q = c + 1;
	}
	return hits;
}

/* Copies of the masked string in readable+writable mappings. */
static size_t scan(const unsigned char *m)
{
	FILE *maps = fopen("/proc/self/maps", "r");
	int mem = open("/proc/self/mem", O_RDONLY);
	char line[512];
	size_t hits = 0;
	static unsigned char buf[1 << 20];
	while (maps && mem >= 0 && fgets(line, sizeof(line), maps)) {
		unsigned long lo, hi;
		char perms[8];
		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3 ||
		    perms[0] != 'r' || perms[1] != 'w' || strstr(line, "[vvar"))
			continue;
		/* Sanitizer shadow memory (terabytes, reserved not used). */
		if (hi - lo > (1ul << 30))
			continue;
		for (unsigned long a = lo; a < hi; a += sizeof(buf) - 8) {
			size_t n = hi - a < sizeof(buf) ? hi - a : sizeof(buf);
			ssize_t r = pread(mem, buf, n, (off_t)a);
			if (r > 0)
				hits += count_in(buf, (size_t)r, m);
			if (n < sizeof(buf))
				break;
		}
	}
	explicit_bzero(buf, sizeof(buf));
	if (maps)
		fclose(maps);
	if (mem >= 0)
		close(mem);
	return hits;
}

/* Child: one login round; exits with pin hits * 16 + variable hits. */
static int child(const char *module, bool proxy, const char *trace)
{
	p11test_module m;
	if (proxy) {
		p11test_write_config(getenv("RIG_OPENSC_MODULE"), NULL);
		char t[300];
		snprintf(t, sizeof(t), "%s,full", trace);
		setenv("P11OVERLAY_TRACE", t, 1);
	}
	p11test_load(&m, module);
	CK_FUNCTION_LIST_PTR fl = m.fl;
	if (fl->C_Initialize(NULL) != CKR_OK)
		return 250;
	CK_SLOT_ID ids[8];
	CK_ULONG n = 8;
	CK_SESSION_HANDLE s;
	if (fl->C_GetSlotList(CK_TRUE, ids, &n) != CKR_OK || !n ||
	    fl->C_OpenSession(ids[0], CKF_SERIAL_SESSION, NULL, NULL, &s) !=
		CKR_OK)
		return 251;
	char *pin = malloc(9);
	unmask(pin, pin_masked);
	CK_RV rv = fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, 8);
	explicit_bzero(pin, 9);
	free(pin);
	if (rv != CKR_PIN_INCORRECT)
		return 252;
	/* The right PIN (whichever token ids[0] is) resets the counter. */
	CK_TOKEN_INFO ti;
	fl->C_GetTokenInfo(ids[0], &ti);
	const char *good =
	    memmem(ti.label, 32, "Signing", 7) ? "123456" : "1234";
	if (fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)good, strlen(good)) !=
	    CKR_OK)
		return 253;
	if (proxy) {
		CK_RV(*setvar)
		(const char *, const char *) =
		    (CK_RV(*)(const char *, const char *))p11test_sym(
			&m, "C_SetVariable");
		char *v = malloc(9);
		unmask(v, var_masked);
		rv = setvar("init-user-pin", v);
		explicit_bzero(v, 9);
		free(v);
		if (rv != CKR_OK)
			return 254;
	}
	fl->C_Logout(s);
	fl->C_CloseSession(s);
	fl->C_Finalize(NULL);
	p11test_unload(&m);
	size_t ph = scan(pin_masked), vh = scan(var_masked);
	printf("%s: PIN copies %zu, variable copies %zu\n",
	       proxy ? "through p11overlay" : "OpenSC directly", ph, vh);
	fflush(stdout);
	return (int)((ph > 14 ? 14 : ph) * 16 + (vh > 15 ? 15 : vh));
}

static int run(const char *module, bool proxy, const char *trace)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		rel_watchdog(90, "test_secrets child");
		_exit(child(module, proxy, trace));
	}
	int st;
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) >= 250) {
		rel_fail("%s child: status 0x%x", proxy ? "proxy" : "direct",
			 st);
		return -1;
	}
	return WEXITSTATUS(st);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	rel_watchdog(120, "test_secrets");
	const char *dir = p11test_rig_start();
	char trace[300];
	snprintf(trace, sizeof(trace), "%s/secrets-trace.log", dir);
	int direct = run(getenv("RIG_OPENSC_MODULE"), false, NULL);
	int proxied = run(argv[1], true, trace);
	if (direct >= 0 && proxied >= 0) {
		REL_CHECK(proxied % 16 == 0,
			  "secret variable left in memory (%d copies)",
			  proxied % 16);
		REL_CHECK(proxied / 16 <= direct / 16,
			  "PIN: %d copies through the proxy, %d without",
			  proxied / 16, direct / 16);
		printf("PIN copies the provider side keeps (baseline): %d\n",
		       direct / 16);
	}
	/* The trace shows neither (the file is read in this process: scan
	 * it in place). */
	FILE *f = fopen(trace, "r");
	static unsigned char t[1 << 20];
	size_t n = f ? fread(t, 1, sizeof(t), f) : 0;
	if (f)
		fclose(f);
	REL_CHECK(n > 0, "no trace written");
	REL_CHECK(count_in(t, n, pin_masked) == 0, "PIN in the trace");
	REL_CHECK(count_in(t, n, var_masked) == 0, "variable in the trace");
	explicit_bzero(t, sizeof(t));
	p11test_rig_cmd("stop");
	return rel_done("test_secrets");
}
