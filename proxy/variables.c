#include "variables.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "p11o_build.h"

#define MAX_VARS 32
#define NAME_MAX_LEN 64
#define VALUE_MAX_LEN 512

static pthread_mutex_t vars_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char name[NAME_MAX_LEN];
	char value[VALUE_MAX_LEN];
} vars[MAX_VARS];

/* "netid-" names are aliases kept for applications of the original
 * middleware. */
static const char *canonical(const char *name)
{
	return strncmp(name, "netid-", 6) == 0 ? name + 6 : name;
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

static void system_info(char *buf, size_t len)
{
	const unsigned one = 1;
	snprintf(buf, len,
		 "p11overlay %s; PKCS11 - %s endian build (%zu-bits CK_ULONG); "
		 "cryptoki 2.11",
		 P11O_VERSION, *(const char *)&one ? "Little" : "Big",
		 sizeof(CK_ULONG) * 8);
}

static void soft_token_type(char *buf, size_t len)
{
	static p11o_config cfg; /* large: not on the stack */
	static pthread_mutex_t cfg_lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&cfg_lock);
	p11o_config_load(&cfg);
	const char *m = cfg.soft_token_module;
	const char *base = strrchr(m, '/');
	base = base ? base + 1 : m;
	size_t n = strnlen(base, len - 1);
	if (!*m)
		base = "none", n = 4;
	memcpy(buf, base, n);
	buf[n] = '\0';
	pthread_mutex_unlock(&cfg_lock);
}

CK_RV p11o_variable_get(const char *name, char *value, CK_ULONG valueLen)
{
	if (!name)
		return CKR_ARGUMENTS_BAD;
	const char *key = canonical(name);
	char buf[VALUE_MAX_LEN];
	if (strcmp(key, "system-info") == 0) {
		system_info(buf, sizeof(buf));
		return copy_out(buf, value, valueLen);
	}
	if (strcmp(key, "soft-token-type") == 0) {
		soft_token_type(buf, sizeof(buf));
		return copy_out(buf, value, valueLen);
	}
	if (p11o_variable_is_secret(key))
		return CKR_ATTRIBUTE_SENSITIVE; /* write-only */
	if (!p11o_variable_lookup(key, buf, sizeof(buf)))
		return CKR_ARGUMENTS_BAD;
	CK_RV rv = copy_out(buf, value, valueLen);
	explicit_bzero(buf, sizeof(buf));
	return rv;
}

CK_RV p11o_variable_set(const char *name, const char *value)
{
	if (!name || !*name)
		return CKR_ARGUMENTS_BAD;
	const char *key = canonical(name);
	if (strcmp(key, "system-info") == 0 ||
	    strcmp(key, "soft-token-type") == 0)
		return CKR_ATTRIBUTE_READ_ONLY;
	if (strlen(key) >= NAME_MAX_LEN ||
	    (value && strlen(value) >= VALUE_MAX_LEN))
		return CKR_ARGUMENTS_BAD;
	CK_RV rv = CKR_HOST_MEMORY;
	pthread_mutex_lock(&vars_lock);
	int slot = -1;
	for (int i = 0; i < MAX_VARS; i++) {
		if (strcmp(vars[i].name, key) == 0) {
			slot = i;
			break;
		}
		if (slot < 0 && !vars[i].name[0])
			slot = i;
	}
	if (slot >= 0) {
		explicit_bzero(vars[slot].value, sizeof(vars[slot].value));
		if (value) {
			snprintf(vars[slot].name, NAME_MAX_LEN, "%s", key);
			snprintf(vars[slot].value, VALUE_MAX_LEN, "%s", value);
		} else {
			vars[slot].name[0] = '\0'; /* NULL value unsets */
		}
		rv = CKR_OK;
	}
	pthread_mutex_unlock(&vars_lock);
	return rv;
}

bool p11o_variable_lookup(const char *name, char *out, size_t outlen)
{
	bool found = false;
	const char *key = canonical(name);
	pthread_mutex_lock(&vars_lock);
	for (int i = 0; i < MAX_VARS && !found; i++) {
		if (vars[i].name[0] && strcmp(vars[i].name, key) == 0) {
			snprintf(out, outlen, "%s", vars[i].value);
			found = true;
		}
	}
	pthread_mutex_unlock(&vars_lock);
	return found;
}

void p11o_variables_clear(void)
{
	pthread_mutex_lock(&vars_lock);
	explicit_bzero(vars, sizeof(vars));
	pthread_mutex_unlock(&vars_lock);
}
