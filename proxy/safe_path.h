/* Walking a path one component at a time from / (docs/architecture.md §9),
 * for safe_open.c: every directory on the way is opened without following
 * links and judged on its descriptor, so nothing can be swapped between
 * the check and the use. */
#ifndef P11O_SAFE_PATH_H
#define P11O_SAFE_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define P11O_NAME_MAX 256

/* Resolve path (a relative one from the current directory, whose own
 * directories are judged too) up to its last component.  Every directory
 * on the way must belong to root or the effective user and, when group or
 * others can write it, be sticky (like /tmp).  Symbolic links: with
 * `follow`, those owned by root or the effective user are followed (in
 * the directories and the last component; the directories they lead to
 * are judged the same way); without it, any link on the way is refused.
 * On success, *dfd is the directory that holds the last component
 * (O_PATH, O_CLOEXEC) and name its name (not "." or ".."); the caller
 * opens it with openat(..., O_NOFOLLOW).  On failure -1, errno set and
 * `why` saying what is wrong, naming the directory or link.  errno is
 * ENOENT or ENOTDIR only when the file does not exist (a refused
 * directory on the way to a missing file is not reported). */
int p11o_walk_path(const char *path, bool follow, int *dfd,
		   char name[P11O_NAME_MAX], char *why, size_t whylen);

#endif
