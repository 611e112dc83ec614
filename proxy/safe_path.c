/* A path walked from / one component at a time (safe_path.h,
 * docs/architecture.md §9).  Each directory is opened O_PATH|O_NOFOLLOW
 * relative to the one before and judged by fstat on that descriptor; a
 * link is read (readlinkat) and its target walked the same way, so the
 * kernel never follows a link the walk has not judged. */
#include "safe_path.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* As the kernel (ELOOP after 40 links). */
#define MAX_LINKS 40

struct walk {
	int dfd;
	char at[PATH_MAX]; /* the path of dfd, as walked: for messages */
	uid_t me;
	char *why;
	size_t whylen;
};

static void __attribute__((format(printf, 2, 3)))
say(struct walk *w, const char *fmt, ...)
{
	va_list ap;

	if (!w->whylen)
		return;
	va_start(ap, fmt);
	vsnprintf(w->why, w->whylen, fmt, ap);
	va_end(ap);
}

static int fail(struct walk *w, int err)
{
	if (w->dfd >= 0)
		close(w->dfd);
	w->dfd = -1;
	errno = err;
	return -1;
}

static bool ours(uid_t uid, uid_t me)
{
	return uid == 0 || uid == me;
}

/* w->at + "/" + name into out; false when it does not fit. */
static bool join(char *out, size_t n, const char *at, const char *name)
{
	int k =
	    snprintf(out, n, "%s%s%s", at, strcmp(at, "/") ? "/" : "", name);
	return k >= 0 && (size_t)k < n;
}

/* The owner of a directory can replace anything in it; whoever else can
 * write it too, unless it is sticky (like /tmp): then only their own
 * entries, which the walk and the callers refuse. */
static int enter(struct walk *w, int fd, const char *path)
{
	struct stat st;

	if (fstat(fd, &st) != 0) {
		int err = errno;
		say(w, "directory %s: cannot stat: %s", path, strerror(err));
		close(fd);
		return fail(w, err);
	}
	if (!ours(st.st_uid, w->me)) {
		say(w,
		    "directory %s owned by uid %lu, neither root nor uid %lu",
		    path, (unsigned long)st.st_uid, (unsigned long)w->me);
		close(fd);
		return fail(w, EPERM);
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
		say(w,
		    "directory %s writable by group or others and not sticky "
		    "(mode %04o)",
		    path, (unsigned)(st.st_mode & 07777));
		close(fd);
		return fail(w, EPERM);
	}
	if (w->dfd >= 0)
		close(w->dfd);
	w->dfd = fd;
	snprintf(w->at, sizeof(w->at), "%s", path);
	return 0;
}

static int enter_root(struct walk *w)
{
	int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		say(w, "directory /: %s", strerror(err));
		return fail(w, err);
	}
	return enter(w, fd, "/");
}

static int enter_parent(struct walk *w)
{
	char up[PATH_MAX];
	int fd = openat(w->dfd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		say(w, "directory %s/..: %s", w->at, strerror(err));
		return fail(w, err);
	}
	snprintf(up, sizeof(up), "%s", w->at);
	char *slash = strrchr(up, '/');
	if (slash)
		slash[slash == up ? 1 : 0] = '\0';
	return enter(w, fd, up);
}

/* The link at fd (named path, in w->dfd): checked, read, and its target
 * put before the rest of the walk (todo, rest inside it). */
static int take_link(struct walk *w, int fd, const struct stat *st,
		     const char *path, char *todo, size_t todolen,
		     const char *rest)
{
	char target[PATH_MAX];

	if (!ours(st->st_uid, w->me)) {
		say(w, "link %s owned by uid %lu, neither root nor uid %lu",
		    path, (unsigned long)st->st_uid, (unsigned long)w->me);
		close(fd);
		return fail(w, EPERM);
	}
	ssize_t n = readlinkat(fd, "", target, sizeof(target) - 1);
	int err = errno;
	close(fd);
	if (n < 0 || (size_t)n >= sizeof(target) - 1) {
		say(w, "link %s: %s", path,
		    n < 0 ? strerror(err) : "target too long");
		return fail(w, n < 0 ? err : ENAMETOOLONG);
	}
	target[n] = '\0';
	int k =
	    snprintf(todo, todolen, "%s%s%s", target, *rest ? "/" : "", rest);
	if (k < 0 || (size_t)k >= todolen) {
		say(w, "link %s: path too long", path);
		return fail(w, ENAMETOOLONG);
	}
	return target[0] == '/' ? enter_root(w) : 0;
}

/* A refused directory on the way to a file that is not there: the file
 * is missing, which an optional config may be (safe_path.h). */
static int refused_or_missing(const char *path, int err)
{
	struct stat st;
	if (err == EPERM && stat(path, &st) != 0 &&
	    (errno == ENOENT || errno == ENOTDIR))
		return errno;
	return err;
}

static int walk(struct walk *w, const char *path, bool follow,
		char name[P11O_NAME_MAX])
{
	char todo[PATH_MAX], full[PATH_MAX];
	int links = 0;
	size_t plen = strlen(path);

	if (!plen || path[plen - 1] == '/') {
		say(w, "not a file name");
		return fail(w, EINVAL);
	}
	if (path[0] == '/') {
		if (plen >= sizeof(todo)) {
			say(w, "path too long");
			return fail(w, ENAMETOOLONG);
		}
		memcpy(todo, path, plen + 1);
	} else {
		/* The current directory's own chain is judged too. */
		if (!getcwd(todo, PATH_MAX)) {
			int err = errno;
			say(w, "current directory: %s", strerror(err));
			return fail(w, err);
		}
		size_t k = strlen(todo);
		if (k + 1 + plen >= sizeof(todo)) {
			say(w, "path too long");
			return fail(w, ENAMETOOLONG);
		}
		todo[k] = '/';
		memcpy(todo + k + 1, path, plen + 1);
	}
	if (enter_root(w) != 0)
		return -1;
	for (char *p = todo;;) {
		while (*p == '/')
			p++;
		size_t len = strcspn(p, "/");
		char *next = p + len;
		while (*next == '/')
			next++;
		bool last = !*next;
		if (len >= P11O_NAME_MAX) {
			say(w, "a name in the path is too long");
			return fail(w, ENAMETOOLONG);
		}
		memcpy(name, p, len);
		name[len] = '\0';
		p = next;
		bool dot = !strcmp(name, "."), dotdot = !strcmp(name, "..");
		if (last && (dot || dotdot || !len)) {
			say(w, "not a file name");
			return fail(w, EINVAL);
		}
		if (dot)
			continue;
		if (dotdot) {
			if (enter_parent(w) != 0)
				return -1;
			continue;
		}
		if (last && !follow)
			return 0;
		if (!join(full, sizeof(full), w->at, name)) {
			say(w, "path too long");
			return fail(w, ENAMETOOLONG);
		}
		struct stat st;
		int fd = openat(w->dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			int err = errno;
			if (last && err == ENOENT)
				return 0; /* the caller creates or reports it */
			say(w, "cannot open %s: %s", full, strerror(err));
			return fail(w, err);
		}
		if (fstat(fd, &st) != 0) {
			int err = errno;
			say(w, "%s: cannot stat: %s", full, strerror(err));
			close(fd);
			return fail(w, err);
		}
		if (S_ISLNK(st.st_mode)) {
			if (!follow) {
				say(w,
				    "%s is a symbolic link (links are never "
				    "followed here)",
				    full);
				close(fd);
				return fail(w, EPERM);
			}
			if (++links > MAX_LINKS) {
				say(w, "%s: %s", full, strerror(ELOOP));
				close(fd);
				return fail(w, ELOOP);
			}
			/* p points into todo: the rest moves behind the
			 * link's target. */
			char rest[PATH_MAX];
			snprintf(rest, sizeof(rest), "%s", p);
			if (take_link(w, fd, &st, full, todo, sizeof(todo),
				      rest) != 0)
				return -1;
			p = todo;
			continue;
		}
		if (last) {
			close(fd);
			return 0;
		}
		if (!S_ISDIR(st.st_mode)) {
			say(w, "%s: %s", full, strerror(ENOTDIR));
			close(fd);
			return fail(w, ENOTDIR);
		}
		if (enter(w, fd, full) != 0)
			return -1;
	}
}

int p11o_walk_path(const char *path, bool follow, int *dfd,
		   char name[P11O_NAME_MAX], char *why, size_t whylen)
{
	struct walk w = {
	    .dfd = -1, .me = geteuid(), .why = why, .whylen = whylen};

	if (whylen)
		why[0] = '\0';
	if (walk(&w, path, follow, name) != 0) {
		int err = follow ? refused_or_missing(path, errno) : errno;
		errno = err;
		return -1;
	}
	*dfd = w.dfd;
	return 0;
}
