/* Config value syntax (numbers, versions, hex, lists) and diagnostics. */
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

void __attribute__((format(printf, 3, 4)))
add_diag(p11o_config *cfg, bool error, const char *fmt, ...)
{
	char *slot = cfg->diags[P11O_CONF_MAX_DIAGS - 1];
	va_list ap;

	if (error)
		cfg->error_count++;
	if (cfg->diag_count < P11O_CONF_MAX_DIAGS) {
		char *d = cfg->diags[cfg->diag_count++];

		va_start(ap, fmt);
		vsnprintf(d, sizeof(cfg->diags[0]), fmt, ap);
		va_end(ap);
		/* Quoted input goes to a terminal: no control characters. */
		for (; *d; d++)
			if (iscntrl((unsigned char)*d))
				*d = '?';
		return;
	}
	/* Full: the last slot becomes the note (its own text is lost too). */
	cfg->diag_dropped += cfg->diag_dropped ? 1 : 2;
	snprintf(slot, sizeof(cfg->diags[0]),
		 "... %zu more diagnostics not shown", cfg->diag_dropped);
}

char *trim(char *s)
{
	char *end = s + strlen(s);

	while (isspace((unsigned char)*s))
		s++;
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

int p11o_config_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
			*out = strcasecmp(s, yes[i]) == 0;
			return 0;
		}
	}
	return -1;
}

const char *p11o_config_level_name(enum p11o_trace_level level)
{
	switch (level) {
	case P11O_TRACE_OFF:
		return "off";
	case P11O_TRACE_CALLS:
		return "calls";
	case P11O_TRACE_FULL:
		return "full";
	}
	return "?";
}

int parse_level(const char *s, enum p11o_trace_level *out)
{
	for (int l = P11O_TRACE_OFF; l <= P11O_TRACE_FULL; l++) {
		if (strcmp(s, p11o_config_level_name(l)) == 0) {
			*out = l;
			return 0;
		}
	}
	return -1;
}

/* Decimal, or hex with 0x; no sign, no spaces, no trailing junk. */
int parse_number(const char *s, unsigned long long max, unsigned long long *out)
{
	int base = 10;
	char *end;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	/* strtoull alone would take signs, spaces and a second "0x" */
	if (!*s ||
	    s[strspn(s, base == 16 ? "0123456789abcdefABCDEF" : "0123456789")])
		return -1;
	errno = 0;
	*out = strtoull(s, &end, base);
	return errno || *end || *out > max ? -1 : 0;
}

/* "major.minor", each 0..255 */
int parse_version(const char *s, CK_VERSION *out)
{
	unsigned long major, minor;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -1;
	major = strtoul(s, &end, 10);
	if (*end != '.' || !isdigit((unsigned char)end[1]))
		return -1;
	minor = strtoul(end + 1, &end, 10);
	if (*end || major > 255 || minor > 255)
		return -1;
	out->major = (CK_BYTE)major;
	out->minor = (CK_BYTE)minor;
	return 0;
}

/* Hex bytes; spaces and colons between digits are allowed (ATR notation). */
int parse_hex(const char *s, unsigned char *out, size_t max, size_t *len)
{
	size_t digits = 0;

	for (; *s; s++) {
		if (*s == ' ' || *s == '\t' || *s == ':')
			continue;
		if (!isxdigit((unsigned char)*s) || digits / 2 >= max)
			return -1;
		int v = isdigit((unsigned char)*s)
			    ? *s - '0'
			    : tolower((unsigned char)*s) - 'a' + 10;
		if (digits % 2 == 0)
			out[digits / 2] = (unsigned char)(v << 4);
		else
			out[digits / 2] |= (unsigned char)v;
		digits++;
	}
	*len = digits / 2;
	return digits % 2 ? -1 : 0;
}

int parse_refs(char *s, unsigned char *refs, size_t *count)
{
	unsigned char tmp[P11O_CONF_MAX_PINS];
	unsigned long long v;
	size_t n = 0;

	for (char *item = s, *next; item; item = next) {
		next = strchr(item, ',');
		if (next)
			*next++ = '\0';
		if (n == P11O_CONF_MAX_PINS ||
		    parse_number(trim(item), 255, &v))
			return -1;
		tmp[n++] = (unsigned char)v;
	}
	memcpy(refs, tmp, n);
	*count = n;
	return 0;
}

/* CKM_ names, from the trace's name table. */
#define P11O_FLAG(g, n)
#define P11O_ATTR(n, k)
#define P11O_NAME(t, n) P11O_NAME_##t(#n, n)
#define P11O_NAME_CKM(s, n) {s, n},
#define P11O_NAME_CKC(s, n)
#define P11O_NAME_CKD(s, n)
#define P11O_NAME_CKG(s, n)
#define P11O_NAME_CKH(s, n)
#define P11O_NAME_CKK(s, n)
#define P11O_NAME_CKO(s, n)
#define P11O_NAME_CKR(s, n)
#define P11O_NAME_CKS(s, n)
#define P11O_NAME_CKU(s, n)
#define P11O_NAME_CKZ(s, n)
static const struct {
	const char *name;
	CK_MECHANISM_TYPE type;
} mech_names[] = {
#include "trace/trace_names.def"
};

/* Empty, or a comma list of CKM_ names or numbers; all-or-nothing. */
int parse_mechs(char *s, p11o_mech_list *out)
{
	p11o_mech_list tmp = {.count = 0};
	unsigned long long v;
	size_t i;

	for (char *item = *trim(s) ? s : NULL, *next; item; item = next) {
		next = strchr(item, ',');
		if (next)
			*next++ = '\0';
		item = trim(item);
		for (i = 0; i < sizeof(mech_names) / sizeof(mech_names[0]); i++)
			if (strcmp(item, mech_names[i].name) == 0)
				break;
		if (i < sizeof(mech_names) / sizeof(mech_names[0]))
			v = mech_names[i].type;
		else if (parse_number(item, ULONG_MAX, &v))
			return -1;
		if (tmp.count == P11O_CONF_MAX_MECHS)
			return -1;
		tmp.v[tmp.count++] = (CK_MECHANISM_TYPE)v;
	}
	*out = tmp;
	return 0;
}

/* The n-th entry (counting from 0) of a comma list, trimmed; entries that
 * are empty do not count.  Returns its length, or 0 past the end. */
static size_t list_entry(const char *list, size_t n, const char **start)
{
	for (const char *p = list; *p;) {
		const char *end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		const char *a = p, *b = end;
		while (a < b && isspace((unsigned char)*a))
			a++;
		while (b > a && isspace((unsigned char)b[-1]))
			b--;
		if (b > a && n-- == 0) {
			*start = a;
			return (size_t)(b - a);
		}
		p = *end ? end + 1 : end;
	}
	return 0;
}

/* The k-th module of the list (module entries, then soft-token), repeats
 * included; 0 past the end. */
static size_t any_module(const p11o_config *cfg, size_t k, const char **start)
{
	size_t len = list_entry(cfg->module, k, start);
	if (len)
		return len;
	size_t in_module = 0;
	while (list_entry(cfg->module, in_module, start))
		in_module++;
	if (k != in_module)
		return 0;
	*start = cfg->soft_token_module;
	len = strlen(*start);
	while (len && isspace((unsigned char)(*start)[len - 1]))
		len--;
	while (len && isspace((unsigned char)**start)) {
		(*start)++;
		len--;
	}
	return len;
}

bool p11o_config_module(const p11o_config *cfg, size_t i, char *buf, size_t len)
{
	const char *s, *t;
	size_t n, m;

	if (len)
		buf[0] = '\0';
	for (size_t k = 0; (n = any_module(cfg, k, &s)) != 0; k++) {
		bool repeat = false;
		for (size_t j = 0; j < k && !repeat; j++) {
			m = any_module(cfg, j, &t);
			repeat = m == n && memcmp(s, t, n) == 0;
		}
		if (repeat || i-- != 0)
			continue;
		if (len)
			snprintf(buf, len, "%.*s", (int)n, s);
		return true;
	}
	return false;
}
