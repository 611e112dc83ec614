/* Opening the files the module reads and writes (the config, the trace)
 * so that another user cannot steer them (docs/architecture.md §7, §9):
 * no blocking on a FIFO or device, no writing through a link, no file
 * whose content someone else controls.  Used by the module and by
 * p11overlay-tool, so both apply the same rules. */
#ifndef P11O_SAFE_OPEN_H
#define P11O_SAFE_OPEN_H

#include <stddef.h>
#include <sys/stat.h>

/* The config file: a regular file of at most max_size bytes, owned by
 * root or by the effective user, not writable by group or others.
 * Symbolic links are followed (links in /etc are common); the rules apply
 * to the file finally opened.  Never blocks.  Returns an fd (O_CLOEXEC,
 * blocking mode restored) with *st filled, or -1 with errno set and
 * `why` saying what is wrong ("not a regular file (a FIFO)", "owned by
 * uid 65534, not by root or uid 0", ...).  errno is ENOENT/ENOTDIR
 * only when the file does not exist. */
int p11o_open_config_file(const char *path, size_t max_size, struct stat *st,
			  char *why, size_t whylen);

/* A trace file, opened for appending: created 0600 when absent; an
 * existing one must be a regular file of the effective user with one
 * link, not writable by group or others.  The final component is never
 * followed if it is a link.  The directory must belong to root or the
 * effective user and, when others can write it, be sticky (like /tmp).
 * Never blocks.  Returns an fd (O_CLOEXEC) or -1 with `why` set. */
int p11o_open_trace_file(const char *path, char *why, size_t whylen);

/* A provider module named by a path (one with a '/'): the file it leads
 * to must be a regular file owned by root or the effective user and not
 * writable by group or others, like the config that names it.  A bare
 * name is left to dlopen's search of the system's directories: 0.
 * Returns 0, or -1 with `why` set. */
int p11o_check_module_file(const char *path, char *why, size_t whylen);

#endif
