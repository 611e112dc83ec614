/* Configuration (docs/architecture.md §9): INI file, built-in defaults,
 * diagnostics.
 *
 * Search order: P11OVERLAY_CONF (secure_getenv), then
 * /etc/p11overlay/p11overlay.conf, then built-in defaults.  Unknown
 * sections/keys and bad values are collected as diagnostics: unknown keys
 * are warnings (in [provider] errors), malformed lines and bad values are
 * errors that make C_Initialize fail with a clear message, and so is a
 * file that another user could have written (safe_open.h).
 * P11OVERLAY_TRACE overrides [trace] path/level. */
#ifndef P11O_CONFIG_H
#define P11O_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "functions.h"

#define P11O_CONF_DEFAULT_PATH "/etc/p11overlay/p11overlay.conf"
#define P11O_CONF_MAX_DIAGS 16
#define P11O_CONF_MAX_CARDS 8
#define P11O_CONF_MAX_PINS 8
#define P11O_CONF_STR 128
#define P11O_CONF_MAX_MECHS 32
#define P11O_CONF_MAX_SIZE (1024 * 1024) /* bytes of a config file */

enum p11o_pins_mode { P11O_PINS_ALL, P11O_PINS_FIRST, P11O_PINS_LIST };
enum p11o_trace_level { P11O_TRACE_OFF, P11O_TRACE_CALLS, P11O_TRACE_FULL };

/* A list of mechanisms: CKM_ names or numbers, comma separated. */
typedef struct p11o_mech_list {
	CK_MECHANISM_TYPE v[P11O_CONF_MAX_MECHS];
	size_t count;
} p11o_mech_list;

/* [card "<name>"]: a card profile, matched by ATR (hex, with optional mask)
 * and/or application; it says how to find the PINs, PUK and unlock key. */
typedef struct p11o_card_profile {
	char name[P11O_CONF_STR];
	unsigned char atr[33], atr_mask[33];
	size_t atr_len;                  /* 0 = match any ATR */
	char application[P11O_CONF_STR]; /* ATR object's CKA_APPLICATION */
	size_t pin_count;                /* pin-names / pin-refs */
	char pin_names[P11O_CONF_MAX_PINS][P11O_CONF_STR];
	unsigned char pin_refs[P11O_CONF_MAX_PINS];
	int puk_ref;                     /* -1 = none */
	int unlock_key_ref;              /* -1 = none (challenge-response) */
	size_t pin_min_len, pin_max_len; /* 0 = unknown */
} p11o_card_profile;

typedef struct p11o_config {
	char path[PATH_MAX]; /* file used; "" = built-in defaults */

	/* [provider] */
	/* One path or a comma-separated list (p11o_config_module); default:
	 * OpenSC's opensc-pkcs11.so. */
	char module[PATH_MAX];
	char soft_token_module[PATH_MAX]; /* loaded after them; "" = none */

	/* [slots] */
	enum p11o_pins_mode pins;
	char pin_names[P11O_CONF_MAX_PINS][P11O_CONF_STR]; /* pins = <list> */
	size_t pin_name_count;
	bool empty_slots_show;            /* empty-slots = show|hide */
	char label_format[P11O_CONF_STR]; /* default "%t (%p)" */

	/* [objects] */
	bool objects_enabled;                 /* enabled = yes|no */
	char app_serial[P11O_CONF_STR];       /* default "PKCS #15" */
	char app_label[P11O_CONF_STR];        /* default "Net iD" */
	char app_update_count[P11O_CONF_STR]; /* default "Net iD" */

	/* [unlock] */
	bool unlock_enabled;               /* enabled = yes|no, default yes */
	unsigned long unlock_timeout;      /* seconds, default 60 */
	char unlock_method[P11O_CONF_STR]; /* "auto" | "apdu" | "provider" */
	bool logout_on_reinitialize;       /* default yes */

	/* [mechanisms] */
	bool mechanisms_enabled;       /* software completion, default yes */
	bool mechanisms_prefer_engine; /* engines before the token, no */
	/* offer software verify/encrypt of mechanisms no key of the token
	 * can sign or decrypt with, default no */
	bool mechanisms_public_only;
	p11o_mech_list mechanisms_disable; /* never completed */
	p11o_mech_list mechanisms_hide; /* testing: provider's treated absent */

	/* [trace] */
	char trace_path[PATH_MAX];         /* "" = off; "stderr"; "syslog" */
	enum p11o_trace_level trace_level; /* default off */
	bool trace_include_events;
	unsigned long trace_max_value; /* bytes shown per value, 256 */

	/* [info] */
	CK_VERSION cryptoki_version; /* default 2.11 */
	CK_VERSION library_version;  /* default 2.11 */

	/* [readers]: external readers (C_AddSlot) through vsmartcard vpcd;
	 * the list is checked by C_AddSlot (extreader.c). */
	char readers_vpcd[512];        /* "host:port [reader name]", ... */
	unsigned long readers_timeout; /* seconds C_AddSlot waits, 10 */

	/* [card "<name>"] */
	p11o_card_profile cards[P11O_CONF_MAX_CARDS];
	size_t card_count;

	/* Diagnostics: "file:line: message".  errors make the config unusable.
	 */
	char diags[P11O_CONF_MAX_DIAGS][256];
	size_t diag_count;
	size_t error_count;
	/* Diagnostics that did not fit; diag_count stays <= the array size and
	 * the last slot then reads "... N more diagnostics not shown". */
	size_t diag_dropped;
} p11o_config;

/* Built-in defaults. */
void p11o_config_defaults(p11o_config *cfg);

/* Parse `text` (not NUL-terminated, `len` bytes) over the current values;
 * `origin` names it in diagnostics.  Returns the number of errors. */
size_t p11o_config_parse(p11o_config *cfg, const char *text, size_t len,
			 const char *origin);

/* Defaults, then the file found by the search order, then the
 * P11OVERLAY_TRACE override.  Returns 0, or -1 when the file named by
 * P11OVERLAY_CONF cannot be read or has errors (diagnostics say why). */
int p11o_config_load(p11o_config *cfg);

/* Defaults, then exactly `path` (no search, no environment), read with
 * the module's rules (safe_open.h): `p11overlay-tool config check FILE`.
 * Returns 0, or -1 when the file is refused or has errors. */
int p11o_config_load_file(p11o_config *cfg, const char *path);

/* Write every diagnostic to stderr, prefixed "p11overlay: ". */
void p11o_config_report(const p11o_config *cfg);

/* "off", "calls", "full" (for trace headers and `config check`). */
const char *p11o_config_level_name(enum p11o_trace_level level);

/* yes/no, true/false, on/off, 1/0 (any case): 0 and *out set, or -1. */
int p11o_config_parse_bool(const char *s, bool *out);

/* Most provider modules one module loads ([provider] module's list and
 * soft-token together; docs/architecture.md §3). */
#define P11O_CONF_MAX_MODULES 4

/* The i-th provider module to load: the entries of [provider] module,
 * then soft-token, blanks around each trimmed, empty entries and repeats
 * skipped.  Returns false past the end (buf is then ""). */
bool p11o_config_module(const p11o_config *cfg, size_t i, char *buf,
			size_t len);

#endif
