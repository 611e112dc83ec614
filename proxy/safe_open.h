/* Opening the files the module reads, writes and loads (the config, the
 * trace, the provider module) so that another user cannot steer them
 * (docs/architecture.md §7, §9): no blocking on a FIFO or device, no
 * writing through a link, no file whose content someone else controls,
 * no directory on the way where someone else could swap it.  Used by the
 * module and by p11overlay-tool, so both apply the same rules.
 *
 * Every directory from / to the file (for a relative path, from / to the
 * current directory too) must belong to root or the effective user and,
 * when group or others can write it, be sticky (like /tmp); `why` names
 * the directory that breaks the rule. */
#ifndef P11O_SAFE_OPEN_H
#define P11O_SAFE_OPEN_H

#include <stddef.h>
#include <sys/stat.h>

/* The config file: a regular file of at most max_size bytes, owned by
 * root or by the effective user, not writable by group or others.
 * Symbolic links owned by root or the effective user are followed (links
 * in /etc are common); the rules apply to the directories they lead
 * through and to the file finally opened.  Never blocks.  Returns an fd
 * (O_CLOEXEC, blocking mode restored) with *st filled, or -1 with errno set and
 * `why` saying what is wrong ("not a regular file (a FIFO)", "owned by
 * uid 65534, not by root or uid 0", ...).  errno is ENOENT/ENOTDIR
 * only when the file does not exist. */
int p11o_open_config_file(const char *path, size_t max_size, struct stat *st,
			  char *why, size_t whylen);

/* A trace file, opened for appending: created 0600 when absent; an
 * existing one must be a regular file of the effective user with one
 * link, not writable by group or others.  No symbolic link is followed,
 * in the last component or in a directory before it.  Never blocks.
 * Returns an fd (O_CLOEXEC) or -1 with `why` set. */
int p11o_open_trace_file(const char *path, char *why, size_t whylen);

/* A provider module named by a path (one with a '/'): the file it leads
 * to must be a regular file owned by root or the effective user and not
 * writable by group or others, like the config that names it (links as
 * for the config).  Opened once (O_RDONLY, O_CLOEXEC, never blocking):
 * *fd is the descriptor to load it through.  A bare name is left to
 * dlopen's search of the system's directories: 0 with *fd = -1.
 * Returns 0, or -1 with `why` set. */
int p11o_open_module_file(const char *path, int *fd, char *why, size_t whylen);

/* The same verdict, the descriptor closed (p11overlay-tool). */
int p11o_check_module_file(const char *path, char *why, size_t whylen);

/* The module only (safe_dlopen.c): p11o_open_module_file, then dlopen
 * through /proc/self/fd/N, so the library loaded is the file judged (the
 * path when /proc is not mounted).  NULL with `why` set on refusal or a
 * loader error (whose text names the path, not the descriptor).  *held
 * is the descriptor the loader's name stands for (-1: none): close it
 * after dlclose. */
void *p11o_dlopen_module(const char *path, int flags, int *held, char *why,
			 size_t whylen);

#endif
