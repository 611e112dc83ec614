#include "p11test.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char rig_dir[256];

static void die(const char *what)
{
	fprintf(stderr, "p11test: %s\n", what);
	exit(2);
}

void p11test_load(p11test_module *m, const char *path)
{
	m->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!m->dl) {
		fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
		exit(2);
	}
	CK_C_GetFunctionList get =
	    (CK_C_GetFunctionList)dlsym(m->dl, "C_GetFunctionList");
	if (!get || get(&m->fl) != CKR_OK)
		die("C_GetFunctionList");
}

void p11test_unload(p11test_module *m)
{
	dlclose(m->dl);
	m->dl = NULL;
	m->fl = NULL;
}

void *p11test_sym(p11test_module *m, const char *name)
{
	void *f = dlsym(m->dl, name);
	if (!f)
		die(name);
	return f;
}

static const char *rig_script(void)
{
	const char *r = getenv("RIG");
	return r ? r : "tests/card/rig";
}

static void load_env(const char *dir)
{
	char path[512], line[1024];
	snprintf(path, sizeof(path), "%s/env", dir);
	FILE *f = fopen(path, "r");
	if (!f)
		die("rig env missing");
	while (fgets(line, sizeof(line), f)) {
		char *k = line, *v;
		if (strncmp(k, "export ", 7) == 0)
			k += 7;
		if (!(v = strchr(k, '=')))
			continue;
		*v++ = '\0';
		v[strcspn(v, "\n")] = '\0';
		size_t n = strlen(v);
		if (n >= 2 && (v[0] == '\'' || v[0] == '"') &&
		    v[n - 1] == v[0]) {
			v[n - 1] = '\0';
			v++;
		}
		setenv(k, v, 1);
	}
	fclose(f);
}

/* ---- cleanup on every exit path ------------------------------------
 *
 * A test that ends by exit(), abort(), a crash or meson's timeout
 * (SIGTERM to its process group) must not leave its temp dirs or its rig
 * behind (issue 18).  The rig stops itself when this process ends (`rig
 * start --owner`).  Temp dirs are sent to a keeper: a child in its own
 * session (so a signal to the test's process group misses it) that reads
 * their paths from a pipe and removes them when the pipe closes, that is
 * when this process and the children it forked have ended.  The keeper
 * only reads, forks and execs (no malloc): it may be forked from a test
 * with threads. */
static int keeper_fd = -1;

static void keeper_remove(const char *paths, size_t len)
{
	const char *p = paths;
	while (p < paths + len) {
		const char *nl = memchr(p, '\n', (size_t)(paths + len - p));
		if (!nl)
			break;
		char path[512];
		size_t n = (size_t)(nl - p);
		if (n > 0 && n < sizeof(path)) {
			memcpy(path, p, n);
			path[n] = '\0';
			pid_t pid = fork();
			if (pid == 0) {
				execl("/bin/rm", "rm", "-rf", "--", path,
				      (char *)NULL);
				_exit(127);
			}
			if (pid > 0)
				waitpid(pid, NULL, 0);
		}
		p = nl + 1;
	}
}

static void keeper_run(int in)
{
	static char paths[16384];
	size_t len = 0;
	setsid();
	int null = open("/dev/null", O_RDWR);
	dup2(in, 0);
	dup2(null, 1);
	dup2(null, 2);
	for (int fd = 3; fd < 1024; fd++)
		close(fd);
	for (;;) {
		ssize_t r = read(0, paths + len, sizeof(paths) - len);
		if (r > 0 && len + (size_t)r < sizeof(paths))
			len += (size_t)r;
		else if (r == 0 || (r < 0 && errno != EINTR))
			break;
	}
	keeper_remove(paths, len);
	_exit(0);
}

/* Removes `dir` when this process ends, however it ends. */
static void keep_for_cleanup(const char *dir)
{
	if (keeper_fd < 0) {
		int p[2];
		if (pipe(p) != 0)
			die("pipe");
		fflush(NULL);
		pid_t pid = fork();
		if (pid < 0)
			die("fork");
		if (pid == 0) {
			close(p[1]);
			keeper_run(p[0]);
		}
		close(p[0]);
		/* Programs the test runs (system(), the rig) do not hold
		 * it open. */
		fcntl(p[1], F_SETFD, FD_CLOEXEC);
		keeper_fd = p[1];
	}
	char line[520];
	int n = snprintf(line, sizeof(line), "%s\n", dir);
	if (n > 0 && (size_t)n < sizeof(line) &&
	    write(keeper_fd, line, (size_t)n) != n)
		fprintf(stderr, "p11test: cleanup keeper: %s not sent\n", dir);
}

const char *p11test_tmpdir(const char *prefix)
{
	static char dirs[8][256];
	static int ndirs;
	if (ndirs == 8)
		die("too many temp dirs");
	char *d = dirs[ndirs++];
	snprintf(d, sizeof(dirs[0]), "/tmp/%s.XXXXXX", prefix);
	if (!mkdtemp(d))
		die("mkdtemp");
	keep_for_cleanup(d);
	return d;
}

const char *p11test_rig_start(void)
{
	snprintf(rig_dir, sizeof(rig_dir), "/tmp/p11test-rig.XXXXXX");
	if (!mkdtemp(rig_dir))
		die("mkdtemp");
	char cmd[1024];
	/* The rig's watcher stops it and removes the dir when this process
	 * ends, on every exit path. */
	snprintf(cmd, sizeof(cmd),
		 "%s start %s --owner %d --cleanup-dir >/dev/null",
		 rig_script(), rig_dir, (int)getpid());
	if (system(cmd) != 0)
		die("rig start failed");
	load_env(rig_dir);
	return rig_dir;
}

const char *p11test_rig_apdu_log(void)
{
	static char path[300];
	char env[300];
	snprintf(env, sizeof(env), "%s/env", rig_dir);
	FILE *f = fopen(env, "a");
	if (!f)
		die("rig env");
	fputs("export RIG_APDU_LOG=1\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/apdu0.log", rig_dir);
	return path;
}

unsigned p11test_rig_apdu_count(const char *hex_prefix)
{
	char path[300], line[8192];
	unsigned n = 0;
	snprintf(path, sizeof(path), "%s/apdu0.log", rig_dir);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n += strncmp(line, hex_prefix, strlen(hex_prefix)) == 0;
	fclose(f);
	return n;
}

void p11test_card_reset(void)
{
	p11test_rig_cmd("reset");
}

int p11test_rig_try(const char *verb)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "%s %s %s >/dev/null", rig_script(), verb,
		 rig_dir);
	return system(cmd);
}

void p11test_rig_cmd(const char *verb)
{
	char cmd[1024];
	if (p11test_rig_try(verb) != 0 && strcmp(verb, "stop") != 0)
		die(verb);
	if (strcmp(verb, "stop") == 0) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", rig_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "p11test: could not remove %s\n",
				rig_dir);
		rig_dir[0] = '\0';
	}
}

static char hsm_dir[128];

FILE *p11test_fopen_conf(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return NULL;
	/* open's mode is masked by the umask, and an existing file keeps
	 * its own: set it explicitly. */
	FILE *f = fchmod(fd, 0644) == 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		int e = errno;
		close(fd);
		errno = e;
	}
	return f;
}

void p11test_write_config(const char *module, const char *extra)
{
	char path[512];
	/* In the test's own dir, never loose in /tmp (issue 17). */
	static const char *run_dir;
	const char *dir = rig_dir[0]   ? rig_dir
			  : hsm_dir[0] ? hsm_dir
			  : run_dir    ? run_dir
				    : (run_dir = p11test_tmpdir("p11test-run"));
	snprintf(path, sizeof(path), "%s/p11overlay-%d.conf", dir,
		 (int)getpid());
	FILE *f = p11test_fopen_conf(path);
	if (!f)
		die("config");
	fprintf(f, "[provider]\nmodule = %s\n%s", module, extra ? extra : "");
	fclose(f);
	setenv("P11OVERLAY_CONF", path, 1);
}

size_t p11test_token_slots(p11test_module *m, CK_SLOT_ID *out, size_t max)
{
	CK_ULONG n = max;
	if (m->fl->C_GetSlotList(CK_TRUE, out, &n) != CKR_OK)
		return 0;
	return n;
}

bool p11test_find_token(CK_FUNCTION_LIST_PTR fl, const char *label,
			bool substring, CK_SLOT_ID *slot)
{
	CK_SLOT_ID ids[16];
	CK_ULONG n = 16;
	if (fl->C_GetSlotList(CK_TRUE, ids, &n) != CKR_OK)
		return false;
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		char l[33];
		if (fl->C_GetTokenInfo(ids[i], &ti) != CKR_OK)
			continue;
		p11test_trim(l, ti.label, 32);
		if (substring ? strstr(l, label) != NULL
			      : strcmp(l, label) == 0) {
			*slot = ids[i];
			return true;
		}
	}
	return false;
}

const char *p11test_softhsm_start(const char *label, const char *pin,
				  const char *so_pin)
{
	char path[256], cmd[512];
	snprintf(hsm_dir, sizeof(hsm_dir), "/tmp/p11test-hsm.XXXXXX");
	if (!mkdtemp(hsm_dir))
		die("mkdtemp");
	keep_for_cleanup(hsm_dir);
	snprintf(path, sizeof(path), "%s/tokens", hsm_dir);
	if (mkdir(path, 0700) != 0)
		die("softhsm token dir");
	snprintf(path, sizeof(path), "%s/softhsm2.conf", hsm_dir);
	FILE *f = fopen(path, "w");
	if (!f)
		die("softhsm2.conf");
	fprintf(f,
		"directories.tokendir = %s/tokens\nobjectstore.backend = file\n"
		"log.level = ERROR\n",
		hsm_dir);
	fclose(f);
	setenv("SOFTHSM2_CONF", path, 1);
	if (!label)
		return hsm_dir;
	snprintf(cmd, sizeof(cmd),
		 "softhsm2-util --init-token --free --label '%s' --pin '%s' "
		 "--so-pin '%s' >/dev/null",
		 label, pin, so_pin);
	if (system(cmd) != 0)
		die("softhsm2-util --init-token failed");
	return hsm_dir;
}

int p11test_softhsm_stop(void)
{
	char cmd[256];
	if (!hsm_dir[0])
		return 0;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", hsm_dir);
	int rc = system(cmd) == 0 ? 0 : -1;
	if (rc != 0)
		fprintf(stderr, "p11test: could not remove %s\n", hsm_dir);
	hsm_dir[0] = '\0';
	return rc;
}

void p11test_trim(char *dst, const CK_UTF8CHAR *src, size_t len)
{
	while (len > 0 && src[len - 1] == ' ')
		len--;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

unsigned p11test_rig_apdus(const char *hex_apdus)
{
	char cmd[2048];
	const char *rig = rig_script();
	const char *slash = strrchr(rig, '/');
	int dirlen = slash ? (int)(slash - rig) : 1;
	snprintf(cmd, sizeof(cmd),
		 "/usr/bin/python3 -c 'import sys; sys.path.insert(0, "
		 "\"%.*s\"); import rig\n"
		 "p = rig.Pcsc(\"%s\")\nsw = 0\n"
		 "for a in sys.argv[1:]: sw = p.transmit(a)[1]\n"
		 "p.close(); print(sw)' %s",
		 dirlen, slash ? rig : ".", rig_dir, hex_apdus);
	FILE *f = popen(cmd, "r");
	unsigned sw = 0;
	if (!f || fscanf(f, "%u", &sw) != 1)
		die("rig apdus");
	pclose(f);
	return sw;
}
