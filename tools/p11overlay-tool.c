/* p11overlay-tool: administration of p11overlay tokens (docs/architecture.md
 * §2): list, PIN unlock (PUK or challenge-response), reset, init, variables,
 * selfcheck, config check.  See p11overlay-tool.1. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11o_build.h"
#include "tool.h"

#ifndef P11O_TOOL_MODULE
#define P11O_TOOL_MODULE "p11overlay.so"
#endif

static void usage(FILE *f)
{
	fprintf(f,
		"usage: p11overlay-tool [--module PATH] [--config FILE] "
		"[--pin-fd N] COMMAND\n"
		"  list                          slots, tokens, PIN states, "
		"special objects\n"
		"  unlock --puk|--challenge [--slot ID|--token LABEL] "
		"[--timeout S]\n"
		"         [--response HEX]\n"
		"  reset [--slot ID|--token LABEL]\n"
		"  init --label LABEL [--user-pin] [--new-puk] "
		"[--pin-names LIST]\n"
		"       [--slot ID|--token LABEL] [NAME=VALUE...]\n"
		"  variables [NAME[=VALUE]...|get NAME...|set NAME VALUE]\n"
		"  selfcheck                     byte order and CK_ULONG size "
		"of tool and module\n"
		"  config check [FILE]\n"
		"default module: %s\n",
		P11O_TOOL_MODULE);
}

enum {
	O_MODULE = 1,
	O_PIN_FD,
	O_SLOT,
	O_TOKEN,
	O_TIMEOUT,
	O_LABEL,
	O_PIN_NAMES,
	O_PUK,
	O_CHALLENGE,
	O_USER_PIN,
	O_NEW_PUK,
	O_CONFIG,
	O_RESPONSE,
	O_VERSION,
	O_HELP
};

static int parse(tool *t, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"module", required_argument, NULL, O_MODULE},
	    {"pin-fd", required_argument, NULL, O_PIN_FD},
	    {"slot", required_argument, NULL, O_SLOT},
	    {"token", required_argument, NULL, O_TOKEN},
	    {"timeout", required_argument, NULL, O_TIMEOUT},
	    {"label", required_argument, NULL, O_LABEL},
	    {"pin-names", required_argument, NULL, O_PIN_NAMES},
	    {"puk", no_argument, NULL, O_PUK},
	    {"challenge", no_argument, NULL, O_CHALLENGE},
	    {"user-pin", no_argument, NULL, O_USER_PIN},
	    {"new-puk", no_argument, NULL, O_NEW_PUK},
	    {"config", required_argument, NULL, O_CONFIG},
	    {"response", required_argument, NULL, O_RESPONSE},
	    {"version", no_argument, NULL, O_VERSION},
	    {"help", no_argument, NULL, O_HELP},
	    {NULL, 0, NULL, 0}};
	char *end;
	for (int c; (c = getopt_long(argc, argv, "+h", opts, NULL)) != -1;) {
		switch (c) {
		case O_MODULE:
			t->module_path = optarg;
			t->module_given = true;
			break;
		case O_PIN_FD:
			t->pin_fd = (int)strtol(optarg, &end, 10);
			if (*end || t->pin_fd < 0)
				return EXIT_USAGE;
			break;
		case O_SLOT:
			t->slot = optarg;
			break;
		case O_TOKEN:
			t->token = optarg;
			break;
		case O_TIMEOUT:
			t->timeout = strtoul(optarg, &end, 10);
			if (*end || !t->timeout)
				return EXIT_USAGE;
			break;
		case O_LABEL:
			t->label = optarg;
			break;
		case O_PIN_NAMES:
			t->pin_names = optarg;
			break;
		case O_PUK:
			t->puk = true;
			break;
		case O_CHALLENGE:
			t->challenge = true;
			break;
		case O_USER_PIN:
			t->set_user_pin = true;
			break;
		case O_NEW_PUK:
			t->set_puk = true;
			break;
		case O_CONFIG:
			setenv("P11OVERLAY_CONF", optarg, 1);
			break;
		case O_RESPONSE:
			t->response = optarg;
			break;
		case O_VERSION:
			printf("p11overlay-tool %s\n", P11O_VERSION);
			exit(EXIT_OK);
		case O_HELP:
		case 'h':
			usage(stdout);
			exit(EXIT_OK);
		default:
			return EXIT_USAGE;
		}
	}
	return EXIT_OK;
}

/* Commands and how many arguments they take, known before anything is
 * loaded: a typo is a usage error (exit 2), not a module error. */
static const struct command {
	const char *name;
	int min_args, max_args; /* -1: any number */
} commands[] = {
    {"list", 0, 0},   {"unlock", 0, 0},     {"reset", 0, 0},
    {"init", 0, -1},  {"variables", 0, -1}, {"selfcheck", 0, 0},
    {"config", 1, 2},
};

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "p11overlay-tool: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	usage(stderr);
	return EXIT_USAGE;
}

static int check_command(const char *cmd, int nrest, char **rest)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const struct command *c = &commands[i];
		if (strcmp(cmd, c->name) != 0)
			continue;
		if (nrest < c->min_args ||
		    (c->max_args >= 0 && nrest > c->max_args))
			return usage_error("wrong number of arguments for %s",
					   cmd);
		if (strcmp(cmd, "config") == 0 && strcmp(rest[0], "check"))
			return usage_error("unknown command config %s",
					   rest[0]);
		return EXIT_OK;
	}
	return usage_error("unknown command %s", cmd);
}

int main(int argc, char **argv)
{
	tool t = {.module_path = P11O_TOOL_MODULE, .pin_fd = -1};
	/* Options anywhere: before and after the command. */
	if (parse(&t, argc, argv) != EXIT_OK) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (optind >= argc)
		return usage_error("%s", "no command given");
	const char *cmd = argv[optind];
	int first = optind;
	optind = 0; /* glibc: start again, argv[first] is the "program" */
	if (parse(&t, argc - first, argv + first) != EXIT_OK) {
		usage(stderr);
		return EXIT_USAGE;
	}
	char **rest = argv + first + optind;
	int nrest = argc - first - optind;
	int rc = check_command(cmd, nrest, rest);
	if (rc != EXIT_OK)
		return rc;
	if (strcmp(cmd, "config") == 0)
		return cmd_config_check(nrest - 1, rest + 1);
	bool sets = nrest > 0 && strcmp(rest[0], "set") == 0;
	for (int i = 0; i < nrest; i++)
		sets |= strchr(rest[i], '=') != NULL;
	bool pre = strcmp(cmd, "selfcheck") == 0 ||
		   (strcmp(cmd, "variables") == 0 && !sets);
	rc = pre ? tool_load(&t) : tool_init(&t);
	if (rc != EXIT_OK)
		return rc;
	if (strcmp(cmd, "list") == 0)
		rc = cmd_list(&t);
	else if (strcmp(cmd, "unlock") == 0)
		rc = cmd_unlock(&t);
	else if (strcmp(cmd, "reset") == 0)
		rc = cmd_reset(&t);
	else if (strcmp(cmd, "init") == 0)
		rc = cmd_init(&t, nrest, rest);
	else if (strcmp(cmd, "variables") == 0)
		rc = cmd_variables(&t, nrest, rest);
	else
		rc = cmd_selfcheck(&t);
	tool_done(&t);
	return rc;
}
