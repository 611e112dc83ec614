/* The provider is p11overlay itself (issue 16): named directly, through a
 * symlink, as a copy of the file, or reached through a provider that loads
 * p11overlay again (lying_provider.c's relay mode, as p11-kit's proxy does
 * when p11overlay is registered with it).  C_Initialize must refuse with
 * CKR_GENERAL_ERROR and one clear message on stderr, never wait on its
 * own lock, and a later C_Initialize with a real provider must work.  Each
 * case runs in a child with an alarm: a deadlock fails the case.
 * argv: p11overlay.so lying_provider.so */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rel.h"

static const char *module_path, *mock_path;
static char dir[64];

static void write_config(const char *path, const char *provider)
{
	FILE *f = p11test_fopen_conf(path);
	if (!f) {
		perror(path);
		exit(2);
	}
	fprintf(f, "[provider]\nmodule = %s\n", provider);
	fclose(f);
}

static char *slurp(const char *path)
{
	static char buf[8192];
	buf[0] = '\0';
	FILE *f = fopen(path, "r");
	if (f) {
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = '\0';
		fclose(f);
	}
	return buf;
}

/* Child exit codes above the CKR range. */
enum { CHILD_SETUP = 200, CHILD_AFTER = 201 };

/* In a child: C_Initialize with `provider` configured; then, after a
 * failure, with the truthful mock (must work).  Returns the first CKR. */
static void run_case(const char *what, const char *provider,
		     const char *lying_mode, const char *needle)
{
	char conf[128], errpath[128];
	snprintf(conf, sizeof(conf), "%s/p.conf", dir);
	snprintf(errpath, sizeof(errpath), "%s/stderr", dir);
	write_config(conf, provider);
	int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		exit(2);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		signal(SIGALRM, SIG_DFL); /* not the watchdog's _exit */
		alarm(20);                /* a deadlock ends here */
		if (dup2(fd, 2) < 0)
			_exit(CHILD_SETUP);
		setenv("P11OVERLAY_CONF", conf, 1);
		setenv("LYING_MODE", lying_mode, 1);
		setenv("LYING_RELAY", module_path, 1);
		p11test_module m;
		p11test_load(&m, module_path);
		CK_RV rv = m.fl->C_Initialize(NULL);
		if (rv == CKR_OK) {
			m.fl->C_Finalize(NULL);
			_exit(0);
		}
		write_config(conf, mock_path);
		setenv("LYING_MODE", "none", 1);
		if (m.fl->C_Initialize(NULL) != CKR_OK ||
		    m.fl->C_Finalize(NULL) != CKR_OK)
			_exit(CHILD_AFTER);
		_exit(rv > 199 ? 199 : (int)rv);
	}
	close(fd);
	int st;
	waitpid(pid, &st, 0);
	const char *err = slurp(errpath);
	if (WIFSIGNALED(st)) {
		rel_fail(
		    "%s: child died of signal %d (SIGALRM %d: a deadlock); "
		    "stderr: %s",
		    what, WTERMSIG(st), SIGALRM, err);
		return;
	}
	int code = WEXITSTATUS(st);
	REL_CHECK(code != CHILD_AFTER,
		  "%s: C_Initialize with a real provider failed afterwards",
		  what);
	REL_CHECK(code == (int)CKR_GENERAL_ERROR,
		  "%s: C_Initialize returned 0x%x, not CKR_GENERAL_ERROR", what,
		  code);
	REL_CHECK(strstr(err, needle) != NULL,
		  "%s: no message with '%s' on stderr: [%s]", what, needle,
		  err);
	printf("%s: CKR 0x%x, stderr: %s", what, code, err);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s p11overlay.so lying.so\n", argv[0]);
		return 2;
	}
	module_path = argv[1];
	mock_path = argv[2];
	rel_watchdog(120, "test_selfref");
	snprintf(dir, sizeof(dir), "/tmp/p11rel-selfref.XXXXXX");
	if (!mkdtemp(dir))
		return 2;
	unsetenv("P11OVERLAY_TRACE");

	run_case("provider is p11overlay", module_path, "none",
		 "is p11overlay itself");

	char link[128], copy[160], cmd[512];
	snprintf(link, sizeof(link), "%s/link.so", dir);
	REL_CHECK(symlink(module_path, link) == 0, "symlink %s", link);
	run_case("provider is a symlink to p11overlay", link, "none",
		 "is p11overlay itself");

	/* A copy is another file: the copy refuses itself in turn. */
	snprintf(copy, sizeof(copy), "%s/copy.so", dir);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", module_path, copy);
	REL_CHECK(system(cmd) == 0, "%s", cmd);
	run_case("provider is a copy of p11overlay", copy, "none",
		 "is p11overlay itself");

	run_case("provider loads p11overlay again", mock_path, "relay",
		 "loads p11overlay again");

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return rel_done("test_selfref");
}
