/* p11overlay-tool internals: the loaded module, input of secrets and
 * responses, token selection, commands. */
#ifndef P11O_TOOL_H
#define P11O_TOOL_H

#include <stdbool.h>
#include <stddef.h>

#include "p11overlay.h"

/* Exit codes (p11overlay-tool.1). */
enum {
	EXIT_OK = 0,
	EXIT_FAILED = 1,   /* the operation failed (the module said no) */
	EXIT_USAGE = 2,    /* bad command line */
	EXIT_MODULE = 3,   /* the module cannot be loaded or initialised */
	EXIT_MISMATCH = 4, /* selfcheck: the builds do not match */
	EXIT_NO_TOKEN = 5, /* list: no slot, or no token in any slot */
};

typedef struct tool {
	const char *module_path;
	bool module_given;     /* --module; else the installed default */
	int pin_fd;            /* -1: prompt on the terminal */
	const char *slot;      /* --slot */
	const char *token;     /* --token */
	unsigned long timeout; /* --timeout, 0 = the module's default */
	const char *label, *pin_names, *response;
	bool puk, challenge, set_user_pin, set_puk;
	void *dl;
	CK_FUNCTION_LIST_PTR fl;
	CK_P11OVERLAY_FUNCTION_LIST *x;
	bool initialized;
} tool;

/* Loading; messages on stderr.  tool_init also calls C_Initialize. */
int tool_load(tool *t);
int tool_init(tool *t);
void tool_done(tool *t);

/* "CKR_PIN_INCORRECT" or "0x%lx". */
const char *tool_rv_name(CK_RV rv);
/* An error message for a failed call: "<what>: <CKR> (<meaning>)". */
int tool_fail(const char *what, CK_RV rv);

/* The slot chosen by --slot / --token (or the only token present). */
int tool_pick_slot(tool *t, CK_SLOT_ID *slot);

/* A secret: one line from --pin-fd, or prompted without echo on the
 * terminal (with confirmation when `confirm`).  0 or -1 (message
 * printed).  Wipe buf after use. */
int tool_read_secret(tool *t, const char *prompt, bool confirm, char *buf,
		     size_t len);
/* One line from fd (no echo handling), without the newline; -1 at EOF. */
int tool_read_line(int fd, char *buf, size_t len);

void tool_trim(char *dst, const CK_UTF8CHAR *src, size_t len);

int cmd_list(tool *t);
int cmd_unlock(tool *t);
int cmd_reset(tool *t);
int cmd_init(tool *t, int argc, char **argv);
int cmd_variables(tool *t, int argc, char **argv);
int cmd_selfcheck(tool *t);
int cmd_config_check(int argc, char **argv);

#endif
