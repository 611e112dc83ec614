/* Configuration (docs/architecture.md §9): defaults and the bounded INI parser
 * (sections and keys).  Value syntax is in config_values.c, the file
 * search order and the environment in config_load.c.  Nothing allocates. */
#include "config.h"

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

/* The longest field (a path) plus key, quotes and indentation: a longer
 * line cannot hold a valid value, so it is rejected before copying. */
#define MAX_LINE (PATH_MAX + 256)

enum section {
	SEC_NONE, /* before the first header */
	SEC_PROVIDER,
	SEC_SLOTS,
	SEC_OBJECTS,
	SEC_UNLOCK,
	SEC_MECHANISMS,
	SEC_TRACE,
	SEC_INFO,
	SEC_READERS,
	SEC_CARD,
	SEC_SKIP, /* unknown or broken header: already reported once */
};

static const char *const section_names[] = {
    [SEC_PROVIDER] = "provider",
    [SEC_SLOTS] = "slots",
    [SEC_OBJECTS] = "objects",
    [SEC_UNLOCK] = "unlock",
    [SEC_MECHANISMS] = "mechanisms",
    [SEC_TRACE] = "trace",
    [SEC_INFO] = "info",
    [SEC_READERS] = "readers",
};

enum kind {
	K_STR,
	K_BOOL,
	K_ULONG,
	K_SIZE,
	K_VERSION,
	K_LEVEL,
	K_METHOD,
	K_EMPTY_SLOTS,
	K_PINS,
	K_ATR,
	K_ATR_MASK,
	K_NAMES,
	K_REFS,
	K_REF,
	K_MECHS,
};

/* Offsets are into p11o_config, or into p11o_card_profile for SEC_CARD. */
struct key {
	enum section sec;
	const char *name;
	enum kind kind;
	size_t off, size;
};

#define CF(f) offsetof(p11o_config, f), sizeof(((p11o_config *)0)->f)
#define PF(f)                                                                  \
	offsetof(p11o_card_profile, f), sizeof(((p11o_card_profile *)0)->f)

static const struct key keys[] = {
    {SEC_PROVIDER, "module", K_STR, CF(module)},
    {SEC_PROVIDER, "soft-token", K_STR, CF(soft_token_module)},
    {SEC_SLOTS, "pins", K_PINS, 0, 0},
    {SEC_SLOTS, "empty-slots", K_EMPTY_SLOTS, CF(empty_slots_show)},
    {SEC_SLOTS, "label-format", K_STR, CF(label_format)},
    {SEC_OBJECTS, "enabled", K_BOOL, CF(objects_enabled)},
    {SEC_OBJECTS, "application-serial", K_STR, CF(app_serial)},
    {SEC_OBJECTS, "application-label", K_STR, CF(app_label)},
    {SEC_OBJECTS, "application-update-count", K_STR, CF(app_update_count)},
    {SEC_UNLOCK, "enabled", K_BOOL, CF(unlock_enabled)},
    {SEC_UNLOCK, "timeout", K_ULONG, CF(unlock_timeout)},
    {SEC_UNLOCK, "method", K_METHOD, CF(unlock_method)},
    {SEC_UNLOCK, "logout-on-reinitialize", K_BOOL, CF(logout_on_reinitialize)},
    {SEC_MECHANISMS, "enabled", K_BOOL, CF(mechanisms_enabled)},
    {SEC_MECHANISMS, "prefer-engine", K_BOOL, CF(mechanisms_prefer_engine)},
    {SEC_MECHANISMS, "public-only", K_BOOL, CF(mechanisms_public_only)},
    {SEC_MECHANISMS, "disable", K_MECHS, CF(mechanisms_disable)},
    {SEC_MECHANISMS, "hide", K_MECHS, CF(mechanisms_hide)},
    {SEC_TRACE, "path", K_STR, CF(trace_path)},
    {SEC_TRACE, "level", K_LEVEL, CF(trace_level)},
    {SEC_TRACE, "include-events", K_BOOL, CF(trace_include_events)},
    {SEC_TRACE, "max-value", K_ULONG, CF(trace_max_value)},
    {SEC_INFO, "cryptoki-version", K_VERSION, CF(cryptoki_version)},
    {SEC_INFO, "library-version", K_VERSION, CF(library_version)},
    {SEC_READERS, "vpcd", K_STR, CF(readers_vpcd)},
    {SEC_READERS, "timeout", K_ULONG, CF(readers_timeout)},
    {SEC_CARD, "atr", K_ATR, PF(atr)},
    {SEC_CARD, "atr-mask", K_ATR_MASK, PF(atr_mask)},
    {SEC_CARD, "application", K_STR, PF(application)},
    {SEC_CARD, "pin-names", K_NAMES, PF(pin_names)},
    {SEC_CARD, "pin-refs", K_REFS, PF(pin_refs)},
    {SEC_CARD, "puk-ref", K_REF, PF(puk_ref)},
    {SEC_CARD, "unlock-key-ref", K_REF, PF(unlock_key_ref)},
    {SEC_CARD, "pin-min-length", K_SIZE, PF(pin_min_len)},
    {SEC_CARD, "pin-max-length", K_SIZE, PF(pin_max_len)},
};

struct parser {
	p11o_config *cfg;
	const char *origin;
	unsigned line;
	enum section sec;
	p11o_card_profile *card;
	bool trace_path_set, trace_level_set;
	/* pin-names and pin-refs may come in either order, so their counts
	 * are compared when the parse ends. */
	struct {
		unsigned line;
		bool has_names, has_refs;
		size_t refs;
	} cards[P11O_CONF_MAX_CARDS];
};

/* "origin:line: message" */
static void __attribute__((format(printf, 3, 4)))
line_diag(struct parser *p, bool error, const char *fmt, ...)
{
	char msg[192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	add_diag(p->cfg, error, "%s:%u: %s", p->origin, p->line, msg);
}

/* Comma list into names[]; all-or-nothing so an error changes nothing. */
static int parse_names(struct parser *p, const char *key, char *s,
		       char (*names)[P11O_CONF_STR], size_t *count)
{
	char tmp[P11O_CONF_MAX_PINS][P11O_CONF_STR];
	size_t n = 0;

	for (char *item = s, *next; item; item = next) {
		next = strchr(item, ',');
		if (next)
			*next++ = '\0';
		item = trim(item);
		if (!*item || n == P11O_CONF_MAX_PINS ||
		    strlen(item) >= P11O_CONF_STR) {
			line_diag(p, true,
				  "bad list for '%s' (need 1..%d non-empty "
				  "names of at most %d bytes)",
				  key, P11O_CONF_MAX_PINS, P11O_CONF_STR - 1);
			return -1;
		}
		strcpy(tmp[n++], item);
	}
	memcpy(names, tmp, sizeof(tmp));
	*count = n;
	return 0;
}

static void enter_card(struct parser *p, char *rest)
{
	p11o_config *cfg = p->cfg;
	size_t len = strlen(rest), i;
	char *name = rest + 1;

	p->sec = SEC_SKIP;
	if (len < 2 || rest[0] != '"' || rest[len - 1] != '"') {
		line_diag(p, true, "expected [card \"<name>\"]");
		return;
	}
	rest[len - 1] = '\0';
	if (!*name || strlen(name) >= P11O_CONF_STR) {
		line_diag(p, true, "card name empty or longer than %d bytes",
			  P11O_CONF_STR - 1);
		return;
	}
	/* A repeated name continues the same profile (e.g. a drop-in). */
	for (i = 0; i < cfg->card_count; i++)
		if (strcmp(cfg->cards[i].name, name) == 0)
			break;
	if (i == P11O_CONF_MAX_CARDS) {
		line_diag(p, true, "too many card profiles (max %d)",
			  P11O_CONF_MAX_CARDS);
		return;
	}
	if (i == cfg->card_count) {
		p11o_card_profile *c = &cfg->cards[cfg->card_count++];
		memset(c, 0, sizeof(*c));
		strcpy(c->name, name);
		memset(c->atr_mask, 0xff, sizeof(c->atr_mask));
		c->puk_ref = c->unlock_key_ref = -1;
	}
	p->card = &cfg->cards[i];
	p->cards[i].line = p->line;
	p->sec = SEC_CARD;
}

static void enter_section(struct parser *p, char *s)
{
	size_t len = strlen(s);

	p->sec = SEC_SKIP;
	if (s[len - 1] != ']') {
		line_diag(p, true, "unterminated section header");
		return;
	}
	s[len - 1] = '\0';
	s = trim(s + 1);
	if (strncmp(s, "card", 4) == 0 &&
	    (!s[4] || isspace((unsigned char)s[4]) || s[4] == '"')) {
		enter_card(p, trim(s + 4));
		return;
	}
	for (int i = 0; i < SEC_CARD; i++) {
		if (section_names[i] && strcmp(s, section_names[i]) == 0) {
			p->sec = i;
			return;
		}
	}
	line_diag(p, false, "unknown section [%.64s]", s);
}

static void set_value(struct parser *p, const struct key *k, char *v)
{
	char *base = k->sec == SEC_CARD ? (char *)p->card : (char *)p->cfg;
	void *field = base + k->off;
	p11o_card_profile *card = p->card;
	size_t idx = card ? (size_t)(card - p->cfg->cards) : 0, n;
	unsigned long long num;
	unsigned char hex[33];

	switch (k->kind) {
	case K_STR:
		if (strlen(v) >= k->size)
			goto too_long;
		strcpy(field, v);
		if (field == p->cfg->trace_path)
			p->trace_path_set = true;
		return;
	case K_BOOL:
		if (p11o_config_parse_bool(v, field))
			goto bad;
		return;
	case K_EMPTY_SLOTS:
		if (strcmp(v, "show") && strcmp(v, "hide"))
			goto bad;
		*(bool *)field = strcmp(v, "show") == 0;
		return;
	case K_ULONG:
	case K_SIZE:
		if (parse_number(v, k->kind == K_ULONG ? ULONG_MAX : SIZE_MAX,
				 &num))
			goto bad;
		if (k->kind == K_ULONG)
			*(unsigned long *)field = (unsigned long)num;
		else
			*(size_t *)field = (size_t)num;
		return;
	case K_VERSION:
		if (parse_version(v, field))
			goto bad;
		return;
	case K_LEVEL:
		if (parse_level(v, field))
			goto bad;
		p->trace_level_set = true;
		return;
	case K_METHOD:
		if (strcmp(v, "auto") && strcmp(v, "apdu") &&
		    strcmp(v, "provider"))
			goto bad;
		strcpy(field, v);
		return;
	case K_PINS:
		if (strcmp(v, "all") == 0 || strcmp(v, "first") == 0) {
			p->cfg->pins =
			    v[0] == 'a' ? P11O_PINS_ALL : P11O_PINS_FIRST;
			p->cfg->pin_name_count = 0;
		} else if (parse_names(p, k->name, v, p->cfg->pin_names,
				       &p->cfg->pin_name_count) == 0) {
			p->cfg->pins = P11O_PINS_LIST;
		}
		return;
	case K_ATR:
		if (parse_hex(v, hex, sizeof(card->atr), &n))
			goto bad;
		memcpy(card->atr, hex, n);
		card->atr_len = n;
		/* An old mask may not fit the new ATR: exact match again. */
		memset(card->atr_mask, 0xff, sizeof(card->atr_mask));
		return;
	case K_ATR_MASK:
		if (parse_hex(v, hex, sizeof(card->atr_mask), &n))
			goto bad;
		if (card->atr_len == 0 || n != card->atr_len) {
			line_diag(p, true,
				  "atr-mask must follow atr and have its "
				  "length (%zu bytes, not %zu)",
				  card->atr_len, n);
			return;
		}
		memcpy(card->atr_mask, hex, n);
		return;
	case K_NAMES:
		if (parse_names(p, k->name, v, card->pin_names,
				&card->pin_count) == 0)
			p->cards[idx].has_names = true;
		return;
	case K_REFS:
		if (parse_refs(v, card->pin_refs, &p->cards[idx].refs))
			goto bad;
		p->cards[idx].has_refs = true;
		return;
	case K_REF:
		if (strcmp(v, "none") == 0)
			num = (unsigned long long)-1;
		else if (parse_number(v, 255, &num))
			goto bad;
		*(int *)field = num > 255 ? -1 : (int)num;
		return;
	case K_MECHS:
		if (parse_mechs(v, field))
			goto bad;
		return;
	}
	return;
too_long:
	line_diag(p, true, "value for '%s' too long (max %zu bytes)", k->name,
		  k->size - 1);
	return;
bad:
	line_diag(p, true, "invalid value '%.64s' for '%s'", v, k->name);
}

static void parse_line(struct parser *p, char *s)
{
	char *eq, *key, *value;
	size_t len;

	s = trim(s);
	if (*s == '\0' || *s == '#' || *s == ';')
		return;
	if (*s == '[') {
		enter_section(p, s);
		return;
	}
	eq = strchr(s, '=');
	if (!eq) {
		line_diag(p, true, "expected 'key = value' or '[section]'");
		return;
	}
	*eq = '\0';
	key = trim(s);
	value = trim(eq + 1);
	len = strlen(value);
	if (value[0] == '"') {
		if (len < 2 || value[len - 1] != '"') {
			line_diag(p, true, "unterminated quoted value");
			return;
		}
		value[len - 1] = '\0';
		value++;
	}
	if (!*key) {
		line_diag(p, true, "missing key before '='");
		return;
	}
	if (p->sec == SEC_NONE) {
		line_diag(p, true, "key '%.64s' outside any section", key);
		return;
	}
	if (p->sec == SEC_SKIP)
		return;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (keys[i].sec == p->sec && strcmp(keys[i].name, key) == 0) {
			set_value(p, &keys[i], value);
			return;
		}
	}
	/* [provider] names the code every application runs: a typo there
	 * must not quietly fall back to the default provider. */
	if (p->sec == SEC_CARD)
		line_diag(p, false, "unknown key '%.64s' in [card \"%.64s\"]",
			  key, p->card->name);
	else if (p->sec == SEC_PROVIDER)
		line_diag(p, true, "unknown key '%.64s' in [provider]", key);
	else
		line_diag(p, false, "unknown key '%.64s' in [%s]", key,
			  section_names[p->sec]);
}

/* Checks that need the whole text: per-card consistency, trace default. */
static void finish(struct parser *p)
{
	for (size_t i = 0; i < p->cfg->card_count; i++) {
		p11o_card_profile *c = &p->cfg->cards[i];

		if (p->cards[i].line == 0)
			continue; /* not in this text */
		p->line = p->cards[i].line;
		if (p->cards[i].has_names != p->cards[i].has_refs ||
		    (p->cards[i].has_names && p->cards[i].refs != c->pin_count))
			line_diag(p, true,
				  "[card \"%.64s\"]: pin-names and pin-refs "
				  "must both be given, with as many entries",
				  c->name);
		if (c->pin_min_len && c->pin_max_len &&
		    c->pin_min_len > c->pin_max_len)
			line_diag(p, true,
				  "[card \"%.64s\"]: pin-min-length > "
				  "pin-max-length",
				  c->name);
	}
	char first[8];
	if (!p11o_config_module(p->cfg, 0, first, sizeof(first)))
		add_diag(p->cfg, true, "%s: [provider] names no module",
			 p->origin);
	else if (p11o_config_module(p->cfg, P11O_CONF_MAX_MODULES, first,
				    sizeof(first)))
		add_diag(p->cfg, true,
			 "%s: [provider]: more than %d modules (the module "
			 "list and soft-token together)",
			 p->origin, P11O_CONF_MAX_MODULES);
	/* Like P11OVERLAY_TRACE: a path alone means a full trace. */
	if (p->trace_path_set && !p->trace_level_set && p->cfg->trace_path[0] &&
	    p->cfg->trace_level == P11O_TRACE_OFF)
		p->cfg->trace_level = P11O_TRACE_FULL;
}

size_t p11o_config_parse(p11o_config *cfg, const char *text, size_t len,
			 const char *origin)
{
	struct parser p = {.cfg = cfg, .origin = origin ? origin : "config"};
	size_t errors_before = cfg->error_count, pos = 0;
	char line[MAX_LINE];

	if (!text)
		len = 0;
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		pos = 3; /* UTF-8 BOM from Windows editors */
	while (pos < len) {
		const char *start = text + pos;
		const char *nl = memchr(start, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - start) : len - pos;

		pos += n + (nl != NULL);
		p.line++;
		if (n >= sizeof(line)) {
			line_diag(&p, true, "line too long (max %zu bytes)",
				  sizeof(line) - 1);
		} else if (memchr(start, '\0', n)) {
			line_diag(&p, true, "NUL byte in line");
		} else {
			memcpy(line, start, n);
			line[n] = '\0';
			parse_line(&p, line);
		}
	}
	finish(&p);
	return cfg->error_count - errors_before;
}

void p11o_config_defaults(p11o_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->module, sizeof(cfg->module), "%s", P11O_DEFAULT_PROVIDER);
	cfg->pins = P11O_PINS_ALL;
	cfg->empty_slots_show = true;
	strcpy(cfg->label_format, "%t (%p)");
	cfg->objects_enabled = true;
	cfg->unlock_enabled = true;
	strcpy(cfg->app_serial, "PKCS #15");
	strcpy(cfg->app_label, "Net iD");
	strcpy(cfg->app_update_count, "Net iD");
	cfg->unlock_timeout = 60;
	strcpy(cfg->unlock_method, "auto");
	cfg->logout_on_reinitialize = true;
	cfg->mechanisms_enabled = true;
	cfg->trace_level = P11O_TRACE_OFF;
	cfg->trace_max_value = 256;
	cfg->cryptoki_version = (CK_VERSION){2, 11};
	cfg->library_version = (CK_VERSION){2, 11};
	cfg->readers_timeout = 10;
}

/* 1 = parsed, 0 = absent (only when optional), -1 = error. */