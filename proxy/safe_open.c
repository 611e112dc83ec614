/* Opening the config, the trace and the provider module without letting
 * another user steer them (docs/architecture.md §7, §9).  Every path is
 * walked from / with each directory judged on its descriptor
 * (safe_path.c); every open is O_NONBLOCK, so a FIFO or a device planted
 * at the path cannot hang C_Initialize; the checks run on the opened
 * descriptor (fstat), so nothing can be swapped between the check and the
 * use. */
#include "safe_open.h"
#include "safe_path.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void __attribute__((format(printf, 3, 4)))
say(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (!whylen)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

static const char *kind(mode_t m)
{
	return S_ISDIR(m)    ? "a directory"
	       : S_ISFIFO(m) ? "a FIFO"
	       : S_ISCHR(m)  ? "a character device"
	       : S_ISBLK(m)  ? "a block device"
	       : S_ISSOCK(m) ? "a socket"
	       : S_ISLNK(m)  ? "a symbolic link"
			     : "not a plain file";
}

/* Back to blocking writes/reads: O_NONBLOCK was only for the open. */
static int clear_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
}

static int refuse(int fd, int err)
{
	if (fd >= 0)
		close(fd);
	errno = err;
	return -1;
}

/* Open the last component the walk found (safe_path.h): links were
 * resolved by the walk, so one appearing now is a change under our feet. */
static int open_walked(const char *path, int flags, char *why, size_t whylen)
{
	char name[P11O_NAME_MAX];
	int dfd, fd;

	if (p11o_walk_path(path, true, &dfd, name, why, whylen) != 0)
		return -1;
	fd = openat(dfd, name, flags | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	int err = errno;
	close(dfd);
	if (fd < 0) {
		if (err == ELOOP)
			say(why, whylen, "replaced by a link while opened");
		else
			say(why, whylen, "cannot open: %s", strerror(err));
		errno = err;
	}
	return fd;
}

int p11o_open_config_file(const char *path, size_t max_size, struct stat *st,
			  char *why, size_t whylen)
{
	int fd = open_walked(path, O_RDONLY | O_NONBLOCK, why, whylen);
	uid_t me = geteuid();

	if (fd < 0)
		return -1;
	if (fstat(fd, st) != 0) {
		int err = errno;
		say(why, whylen, "cannot stat: %s", strerror(err));
		return refuse(fd, err);
	}
	if (!S_ISREG(st->st_mode)) {
		say(why, whylen, "not a regular file (%s)", kind(st->st_mode));
		return refuse(fd, EINVAL);
	}
	if ((unsigned long long)st->st_size > max_size) {
		say(why, whylen, "larger than %zu bytes (%lld)", max_size,
		    (long long)st->st_size);
		return refuse(fd, EFBIG);
	}
	/* Whoever can write this file chooses the shared object that every
	 * application loading the module runs. */
	if (st->st_uid != 0 && st->st_uid != me) {
		say(why, whylen, "owned by uid %lu, neither root nor uid %lu",
		    (unsigned long)st->st_uid, (unsigned long)me);
		return refuse(fd, EPERM);
	}
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		say(why, whylen, "writable by group or others (mode %04o)",
		    (unsigned)(st->st_mode & 07777));
		return refuse(fd, EPERM);
	}
	if (clear_nonblock(fd) != 0) {
		int err = errno;
		say(why, whylen, "fcntl: %s", strerror(err));
		return refuse(fd, err);
	}
	return fd;
}

int p11o_open_trace_file(const char *path, char *why, size_t whylen)
{
	const int flags = O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY |
			  O_NOFOLLOW | O_NONBLOCK;
	char base[P11O_NAME_MAX];
	uid_t me = geteuid();
	bool created = true;
	struct stat st;
	int dfd, fd;

	/* No link anywhere on the way: each directory is opened from / without
	 * following one, and judged (safe_path.h). */
	if (p11o_walk_path(path, false, &dfd, base, why, whylen) != 0)
		return -1;
	/* O_EXCL: a file we create is ours; anything already there is
	 * checked below. */
	fd = openat(dfd, base, flags | O_CREAT | O_EXCL, 0600);
	if (fd < 0 && errno == EEXIST) {
		created = false;
		fd = openat(dfd, base, flags);
	}
	close(dfd);
	if (fd < 0) {
		int err = errno;
		if (err == ELOOP)
			say(why, whylen, "a symbolic link (never followed)");
		else if (err == ENXIO)
			say(why, whylen,
			    "a FIFO or socket (not a regular "
			    "file)");
		else
			say(why, whylen, "%s", strerror(err));
		return refuse(-1, err);
	}
	if (fstat(fd, &st) != 0) {
		say(why, whylen, "cannot stat: %s", strerror(errno));
		return refuse(fd, EIO);
	}
	if (!S_ISREG(st.st_mode)) {
		say(why, whylen, "not a regular file (%s)", kind(st.st_mode));
		return refuse(fd, EINVAL);
	}
	if (!created && st.st_uid != me) {
		say(why, whylen, "owned by uid %lu, not by uid %lu",
		    (unsigned long)st.st_uid, (unsigned long)me);
		return refuse(fd, EPERM);
	}
	if (!created && (st.st_mode & (S_IWGRP | S_IWOTH))) {
		say(why, whylen, "writable by group or others (mode %04o)",
		    (unsigned)(st.st_mode & 07777));
		return refuse(fd, EPERM);
	}
	/* A hard link to another file of ours (e.g. root's /etc/passwd
	 * linked into /tmp) would get the trace appended. */
	if (st.st_nlink != 1) {
		say(why, whylen, "has %lu hard links",
		    (unsigned long)st.st_nlink);
		return refuse(fd, EPERM);
	}
	if (clear_nonblock(fd) != 0) {
		say(why, whylen, "fcntl: %s", strerror(errno));
		return refuse(fd, EIO);
	}
	return fd;
}

int p11o_open_module_file(const char *path, int *fdp, char *why, size_t whylen)
{
	struct stat st;
	uid_t me = geteuid();
	int fd;

	*fdp = -1;
	say(why, whylen, "%s", "");
	if (!strchr(path, '/'))
		return 0;
	/* Opened once, judged on the descriptor, loaded through it
	 * (provider.c): nothing to swap in between. */
	fd = open_walked(path, O_RDONLY | O_NONBLOCK, why, whylen);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0) {
		say(why, whylen, "cannot stat: %s", strerror(errno));
		return refuse(fd, EIO);
	}
	if (!S_ISREG(st.st_mode)) {
		say(why, whylen, "not a regular file (%s)", kind(st.st_mode));
		return refuse(fd, EINVAL);
	}
	if (st.st_uid != 0 && st.st_uid != me) {
		say(why, whylen, "owned by uid %lu, neither root nor uid %lu",
		    (unsigned long)st.st_uid, (unsigned long)me);
		return refuse(fd, EPERM);
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		say(why, whylen, "writable by group or others (mode %04o)",
		    (unsigned)(st.st_mode & 07777));
		return refuse(fd, EPERM);
	}
	*fdp = fd;
	return 0;
}

int p11o_check_module_file(const char *path, char *why, size_t whylen)
{
	int fd;

	if (p11o_open_module_file(path, &fd, why, whylen) != 0)
		return -1;
	if (fd >= 0)
		close(fd);
	return 0;
}
