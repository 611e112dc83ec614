/* Config file search order, reading, environment overrides, reporting. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_int.h"
#include "p11o_build.h"
#include "safe_open.h"

/* The build's sysconfdir; /etc is tried too when the prefix is not /usr. */
static const char sysconf_path[] = P11O_SYSCONF_PATH;

static int load_file(p11o_config *cfg, const char *path, bool required)
{
	struct stat st;
	size_t got = 0;
	ssize_t r = 0;
	char why[160], *buf;
	int fd;

	if (strlen(path) >= sizeof(cfg->path)) {
		add_diag(cfg, true, "%.64s...: path too long", path);
		return -1;
	}
	/* The same rules for the module and `config check` (safe_open.h). */
	fd = p11o_open_config_file(path, P11O_CONF_MAX_SIZE, &st, why,
				   sizeof(why));
	if (fd < 0) {
		if (!required && (errno == ENOENT || errno == ENOTDIR))
			return 0;
		add_diag(cfg, true, "%s: %s; not used", path, why);
		return -1;
	}
	buf = malloc((size_t)st.st_size + 1);
	while (buf && got < (size_t)st.st_size) {
		r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break; /* r == 0: shrunk meanwhile, parse what is there
				*/
		got += (size_t)r;
	}
	if (!buf || r < 0) {
		add_diag(cfg, true, "%s: cannot read: %s", path,
			 buf ? strerror(errno) : "out of memory");
		free(buf);
		close(fd);
		return -1;
	}
	close(fd);
	strcpy(cfg->path, path);
	p11o_config_parse(cfg, buf, got, path);
	free(buf);
	return 1;
}

int p11o_config_load_file(p11o_config *cfg, const char *path)
{
	p11o_config_defaults(cfg);
	load_file(cfg, path, true);
	return cfg->error_count > 0 ? -1 : 0;
}

/* P11OVERLAY_TRACE=<path|stderr|syslog>[,off|calls|full] */
static void trace_override(p11o_config *cfg)
{
	const char *env = secure_getenv("P11OVERLAY_TRACE");
	enum p11o_trace_level level = P11O_TRACE_FULL;
	const char *comma;
	size_t path_len;

	if (!env || !*env)
		return;
	comma = strrchr(env, ',');
	path_len = comma ? (size_t)(comma - env) : strlen(env);
	if ((comma && parse_level(comma + 1, &level)) || path_len == 0 ||
	    path_len >= sizeof(cfg->trace_path)) {
		add_diag(cfg, true,
			 "P11OVERLAY_TRACE: expected "
			 "<path|stderr|syslog>[,calls|full], got '%.64s'",
			 env);
		return;
	}
	memcpy(cfg->trace_path, env, path_len);
	cfg->trace_path[path_len] = '\0';
	cfg->trace_level = level;
}

int p11o_config_load(p11o_config *cfg)
{
	const char *env = secure_getenv("P11OVERLAY_CONF");

	p11o_config_defaults(cfg);
	if (env && *env) {
		load_file(cfg, env, true);
	} else if (load_file(cfg, sysconf_path, false) == 0 &&
		   strcmp(sysconf_path, P11O_CONF_DEFAULT_PATH) != 0) {
		load_file(cfg, P11O_CONF_DEFAULT_PATH, false);
	}
	trace_override(cfg);
	return cfg->error_count > 0 ? -1 : 0;
}

void p11o_config_report(const p11o_config *cfg)
{
	for (size_t i = 0; i < cfg->diag_count && i < P11O_CONF_MAX_DIAGS; i++)
		fprintf(stderr, "p11overlay: %s\n", cfg->diags[i]);
}
