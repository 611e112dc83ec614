/* p11overlay-tool: variables, selfcheck, config check. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "safe_open.h"
#include "tool.h"

static const char *const readable[] = {
    "system-info", "soft-token-type", "version",       "config-path",
    "provider",    "unlock-timeout",  "unlock-method", "init-pin-names"};

static int get_one(tool *t, const char *name, bool bare)
{
	char v[1024];
	CK_RV rv = t->x->C_GetVariable(name, v, sizeof(v));
	if (rv != CKR_OK)
		return tool_fail(name, rv);
	if (bare)
		printf("%s\n", v);
	else
		printf("%s = %s\n", name, v);
	return EXIT_OK;
}

static int set_one(tool *t, const char *name, const char *value)
{
	CK_RV rv = t->x->C_SetVariable(name, value);
	return rv == CKR_OK ? EXIT_OK : tool_fail(name, rv);
}

/* C_GetVariable works before C_Initialize: reads need no token.  A set
 * lasts as long as this process (it is for scripts of one run). */
int cmd_variables(tool *t, int argc, char **argv)
{
	if (argc >= 1 && strcmp(argv[0], "set") == 0) {
		if (argc != 3) {
			fprintf(stderr, "p11overlay-tool: variables set NAME "
					"VALUE\n");
			return EXIT_USAGE;
		}
		return set_one(t, argv[1], argv[2]);
	}
	int rc = EXIT_OK;
	if (argc == 0) {
		for (size_t i = 0; i < sizeof(readable) / sizeof(*readable);
		     i++)
			if (get_one(t, readable[i], false) != EXIT_OK)
				rc = EXIT_FAILED;
		return rc;
	}
	if (strcmp(argv[0], "get") == 0)
		argc--, argv++;
	for (int i = 0; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		int r;
		if (eq) {
			*eq = '\0';
			r = set_one(t, argv[i], eq + 1);
		} else {
			r = get_one(t, argv[i], argc == 1);
		}
		if (r != EXIT_OK)
			rc = r;
	}
	return rc;
}

/* The first interop check with a new application: the same ABI. */
int cmd_selfcheck(tool *t)
{
	char v[512], mine[128];
	const unsigned one = 1;
	snprintf(mine, sizeof(mine),
		 "PKCS11 - %s endian build (%zu-bits CK_ULONG)",
		 *(const char *)&one ? "Little" : "Big", sizeof(CK_ULONG) * 8);
	CK_RV rv = t->x->C_GetVariable("system-info", v, sizeof(v));
	if (rv != CKR_OK)
		return tool_fail("C_GetVariable(system-info)", rv);
	const char *theirs = strstr(v, "PKCS11 - ");
	char module[128] = "?";
	if (theirs) {
		size_t k = strcspn(theirs, ";");
		snprintf(module, sizeof(module), "%.*s", (int)k, theirs);
	}
	printf("module: %s\n  %s\n", t->module_path, v);
	printf("tool:   %s\n", mine);
	if (strcmp(module, mine) != 0) {
		printf("MISMATCH: the module was built for another ABI\n");
		return EXIT_MISMATCH;
	}
	printf("OK: same byte order and CK_ULONG size\n");
	return EXIT_OK;
}

/* The module fails C_Initialize when its provider is refused
 * (p11o_check_module_file, the same code) or cannot be loaded: a path
 * that names no such file is an error here too.  A bare name is left to
 * dlopen's search and only noted. */
static size_t check_module(const char *file, const char *key, const char *path)
{
	char why[160];

	if (!path[0])
		return 0;
	if (!strchr(path, '/')) {
		printf("%s: [provider] %s = %s is looked up by dlopen's "
		       "search path\n",
		       file, key, path);
		return 0;
	}
	if (p11o_check_module_file(path, why, sizeof(why)) != 0) {
		printf("%s: [provider] %s = %s: %s\n", file, key, path, why);
		return 1;
	}
	if (access(path, R_OK) != 0) {
		printf("%s: [provider] %s = %s: %s\n", file, key, path,
		       strerror(errno));
		return 1;
	}
	return 0;
}

/* Diagnostics, and the settings only when the file is usable: after an
 * error the module would not start, so there are no settings to show. */
static int report_config(const p11o_config *cfg, const char *path)
{
	size_t errors = cfg->error_count;

	for (size_t i = 0; i < cfg->diag_count; i++)
		printf("%s\n", cfg->diags[i]);
	size_t module_errors = 0, modules = 0;
	char mod[PATH_MAX];
	/* As the module: with several modules, one that cannot be loaded is
	 * skipped with a message (a warning); with one, it is an error. */
	while (!errors && modules < P11O_CONF_MAX_MODULES &&
	       p11o_config_module(cfg, modules, mod, sizeof(mod))) {
		module_errors += check_module(path, "module", mod);
		modules++;
	}
	bool all_bad = module_errors == modules && modules > 0;
	if (all_bad)
		errors += module_errors;
	size_t warnings = cfg->diag_count + cfg->diag_dropped -
			  cfg->error_count + (all_bad ? 0 : module_errors);
	printf("%s: %zu error(s), %zu warning(s)\n", path, errors, warnings);
	if (errors) {
		printf("  not usable: C_Initialize would fail with "
		       "CKR_GENERAL_ERROR\n");
		return EXIT_FAILED;
	}
	for (size_t i = 0; i < modules; i++) {
		p11o_config_module(cfg, i, mod, sizeof(mod));
		printf("  provider module: %s%s\n", mod,
		       cfg->soft_token_module[0] &&
			       strcmp(mod, cfg->soft_token_module) == 0
			   ? " (soft-token)"
			   : "");
	}
	printf("  unlock: timeout %lu s, method %s\n", cfg->unlock_timeout,
	       cfg->unlock_method);
	printf("  trace: %s (%s)\n",
	       cfg->trace_path[0] ? cfg->trace_path : "off",
	       p11o_config_level_name(cfg->trace_level));
	printf("  card profiles: %zu\n", cfg->card_count);
	return EXIT_OK;
}

/* `config check [FILE]`: FILE alone, or exactly what the module would
 * load (same search order, secure_getenv, P11OVERLAY_TRACE).  Either way
 * the file is opened and judged by the module's own code (config_load.c,
 * safe_open.c): size, type, owner and mode rules included. */
int cmd_config_check(int argc, char **argv)
{
	p11o_config *cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return EXIT_FAILED;
	int rc;
	if (argc > 1) {
		fprintf(stderr, "p11overlay-tool: config check takes at most "
				"one FILE\n");
		free(cfg);
		return EXIT_USAGE;
	}
	if (argc == 1) {
		p11o_config_load_file(cfg, argv[0]);
		rc = report_config(cfg, argv[0]);
	} else {
		p11o_config_load(cfg);
		rc = report_config(cfg, cfg->path[0] ? cfg->path
						     : "(built-in defaults)");
	}
	free(cfg);
	return rc;
}
