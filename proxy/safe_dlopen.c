/* Loading the provider module through the descriptor that was judged
 * (safe_open.h, docs/architecture.md §9): the loader opens
 * /proc/self/fd/N, which is the file already open, whatever happened to
 * the path since. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safe_open.h"

/* Other names to try when the loader knows one already. */
#define TRIES 4

/* /proc/self/fd/<fd> leads to fd's file (/proc is mounted). */
static bool by_fd_name(int fd, char *name, size_t len)
{
	struct stat a, b;
	int k = snprintf(name, len, "/proc/self/fd/%d", fd);
	return k > 0 && (size_t)k < len && fstat(fd, &a) == 0 &&
	       stat(name, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

/* dlerror's text with the descriptor's name replaced by the path. */
static void loader_error(char *why, size_t whylen, const char *name,
			 const char *path)
{
	const char *e = dlerror();
	size_t n = strlen(name);
	const char *at = e ? strstr(e, name) : NULL;

	if (!e)
		e = "unknown loader error";
	while (at && at[n] >= '0' && at[n] <= '9') /* fd/5 in fd/57 */
		at = strstr(at + 1, name);
	if (at)
		snprintf(why, whylen, "%.*s%s%s", (int)(at - e), e, path,
			 at + n);
	else
		snprintf(why, whylen, "%s", e);
}

void *p11o_dlopen_module(const char *path, int flags, int *held, char *why,
			 size_t whylen)
{
	int fd, fds[TRIES], used = 0;
	char name[64] = "";
	void *dl = NULL;

	*held = -1;
	if (p11o_open_module_file(path, &fd, why, whylen) != 0)
		return NULL;
	if (fd < 0) { /* a bare name: dlopen's search */
		dl = dlopen(path, flags);
		if (!dl)
			loader_error(why, whylen, path, path);
		return dl;
	}
	/* The loader matches names before files: a /proc/self/fd/N it has
	 * seen (an earlier provider loaded through the same number) would
	 * give that library.  Then another number for the same file, while
	 * the earlier ones stay open.  A name it still knows after that, or
	 * no /proc: the path, judged just before (the file may be loaded
	 * already, e.g. by p11-kit, and is then not mapped again). */
	fds[used++] = fd;
	for (;;) {
		if (!by_fd_name(fd, name, sizeof(name))) {
			name[0] = '\0';
			break;
		}
		void *known = dlopen(name, RTLD_LAZY | RTLD_NOLOAD);
		if (!known)
			break;
		dlclose(known);
		name[0] = '\0';
		if (used == TRIES ||
		    (fd = fcntl(fds[0], F_DUPFD_CLOEXEC, 0)) < 0)
			break;
		fds[used++] = fd;
	}
	dl = dlopen(name[0] ? name : path, flags);
	if (!dl)
		loader_error(why, whylen, name[0] ? name : path, path);
	/* The name the loader keeps stays valid while the library is loaded
	 * (ASan's symbolizer opens it to name the provider's frames). */
	*held = -1;
	if (dl && name[0])
		*held = fds[--used];
	while (used > 0)
		close(fds[--used]);
	return dl;
}
