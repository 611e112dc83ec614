#include "variables.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "p11o_build.h"

#define NAME_MAX_LEN 64

enum { V_MODULE, V_SET, V_SECRET };

static void system_info(char *buf, size_t len);
static void soft_token_type(char *buf, size_t len);
static void version(char *buf, size_t len);
static void config_path(char *buf, size_t len);
static void provider(char *buf, size_t len);
static void unlock_timeout(char *buf, size_t len);
static void unlock_method(char *buf, size_t len);

static const struct var_def {
	const char *name;
	int kind;
	void (*get)(char *buf, size_t len); /* V_MODULE */
} defs[] = {
    {"system-info", V_MODULE, system_info},
    {"soft-token-type", V_MODULE, soft_token_type},
    {"version", V_MODULE, version},
    {"config-path", V_MODULE, config_path},
    {"provider", V_MODULE, provider},
    {"unlock-timeout", V_MODULE, unlock_timeout},
    {"unlock-method", V_MODULE, unlock_method},
    {"init-user-pin", V_SECRET, NULL},
    {"init-puk", V_SECRET, NULL},
    {"init-pin-names", V_SET, NULL},
};
#define NDEFS (sizeof(defs) / sizeof(defs[0]))

static pthread_mutex_t vars_lock = PTHREAD_MUTEX_INITIALIZER;
static char values[NDEFS][P11O_VARIABLE_MAX];
static bool set[NDEFS];

/* "netid-" names are aliases kept for applications of the original
 * middleware. */
static const char *canonical(const char *name)
{
	return strncmp(name, "netid-", 6) == 0 ? name + 6 : name;
}

static int find(const char *name)
{
	const char *key = canonical(name);
	for (size_t i = 0; i < NDEFS; i++)
		if (strcmp(defs[i].name, key) == 0)
			return (int)i;
	return -1;
}

bool p11o_variable_is_secret(const char *name)
{
	static const char *const words[] = {"pin",    "puk",      "response",
					    "secret", "password", "key"};
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcasestr(name, words[i]))
			return true;
	return false;
}

static CK_RV copy_out(const char *text, char *value, CK_ULONG valueLen)
{
	size_t n = strlen(text) + 1;
	if (!value || valueLen < n)
		return CKR_BUFFER_TOO_SMALL;
	memcpy(value, text, n);
	return CKR_OK;
}

/* The reported cryptoki version is the one C_GetInfo reports ([info]). */
static void get_system_info(const p11o_config *cfg, char *buf, size_t len)
{
	const unsigned one = 1;
	snprintf(buf, len,
		 "p11overlay %s; PKCS11 - %s endian build (%zu-bits CK_ULONG); "
		 "cryptoki %u.%u",
		 P11O_VERSION, *(const char *)&one ? "Little" : "Big",
		 sizeof(CK_ULONG) * 8, cfg->cryptoki_version.major,
		 cfg->cryptoki_version.minor);
}

static void version(char *buf, size_t len)
{
	snprintf(buf, len, "%s", P11O_VERSION);
}

/* The config as C_Initialize would read it (works before it). */
static void with_config(void (*fn)(const p11o_config *, char *, size_t),
			char *buf, size_t len)
{
	static p11o_config cfg; /* large: not on the stack */
	static pthread_mutex_t cfg_lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&cfg_lock);
	p11o_config_load(&cfg);
	fn(&cfg, buf, len);
	pthread_mutex_unlock(&cfg_lock);
}

static void get_soft_token_type(const p11o_config *cfg, char *buf, size_t len)
{
	const char *m = cfg->soft_token_module;
	const char *base = strrchr(m, '/');
	snprintf(buf, len, "%s", !*m ? "none" : base ? base + 1 : m);
}

static void get_config_path(const p11o_config *cfg, char *buf, size_t len)
{
	snprintf(buf, len, "%s", cfg->path);
}

static void get_provider(const p11o_config *cfg, char *buf, size_t len)
{
	snprintf(buf, len, "%s", cfg->module);
}

static void get_unlock_timeout(const p11o_config *cfg, char *buf, size_t len)
{
	snprintf(buf, len, "%lu", cfg->unlock_timeout);
}

static void get_unlock_method(const p11o_config *cfg, char *buf, size_t len)
{
	snprintf(buf, len, "%s", cfg->unlock_method);
}

static void system_info(char *buf, size_t len)
{
	with_config(get_system_info, buf, len);
}
static void soft_token_type(char *buf, size_t len)
{
	with_config(get_soft_token_type, buf, len);
}
static void config_path(char *buf, size_t len)
{
	with_config(get_config_path, buf, len);
}
static void provider(char *buf, size_t len)
{
	with_config(get_provider, buf, len);
}
static void unlock_timeout(char *buf, size_t len)
{
	with_config(get_unlock_timeout, buf, len);
}
static void unlock_method(char *buf, size_t len)
{
	with_config(get_unlock_method, buf, len);
}

CK_RV p11o_variable_get(const char *name, char *value, CK_ULONG valueLen)
{
	if (!name)
		return CKR_ARGUMENTS_BAD;
	int i = find(name);
	if (i < 0)
		return CKR_ARGUMENTS_BAD;
	if (defs[i].kind == V_SECRET)
		return CKR_ATTRIBUTE_SENSITIVE; /* write-only */
	char buf[P11O_VARIABLE_MAX] = "";
	if (defs[i].kind == V_MODULE)
		defs[i].get(buf, sizeof(buf));
	else
		p11o_variable_lookup(defs[i].name, buf, sizeof(buf));
	return copy_out(buf, value, valueLen);
}

CK_RV p11o_variable_set(const char *name, const char *value)
{
	if (!name)
		return CKR_ARGUMENTS_BAD;
	int i = find(name);
	if (i < 0)
		return CKR_ARGUMENTS_BAD;
	if (defs[i].kind == V_MODULE)
		return CKR_ATTRIBUTE_READ_ONLY;
	if (value && strnlen(value, P11O_VARIABLE_MAX) >= P11O_VARIABLE_MAX)
		return CKR_ARGUMENTS_BAD;
	pthread_mutex_lock(&vars_lock);
	explicit_bzero(values[i], sizeof(values[i]));
	set[i] = value != NULL;
	if (value)
		memcpy(values[i], value, strlen(value) + 1);
	pthread_mutex_unlock(&vars_lock);
	return CKR_OK;
}

static bool fetch(const char *name, char *out, size_t outlen, bool take)
{
	int i = find(name);
	bool found = false;
	if (i < 0 || defs[i].kind == V_MODULE)
		return false;
	pthread_mutex_lock(&vars_lock);
	if (set[i]) {
		found = strlen(values[i]) < outlen;
		if (found)
			memcpy(out, values[i], strlen(values[i]) + 1);
	}
	if (take) {
		explicit_bzero(values[i], sizeof(values[i]));
		set[i] = false;
	}
	pthread_mutex_unlock(&vars_lock);
	return found;
}

bool p11o_variable_lookup(const char *name, char *out, size_t outlen)
{
	return fetch(name, out, outlen, false);
}

bool p11o_variable_take(const char *name, char *out, size_t outlen)
{
	return fetch(name, out, outlen, true);
}

void p11o_variables_clear(void)
{
	pthread_mutex_lock(&vars_lock);
	explicit_bzero(values, sizeof(values));
	memset(set, 0, sizeof(set));
	pthread_mutex_unlock(&vars_lock);
}
