/* Variables (docs/architecture.md §6): C_GetVariable / C_SetVariable.
 *
 * Every name also answers with the prefix "netid-" (applications of the
 * original middleware).  Names not listed here are CKR_ARGUMENTS_BAD.
 *
 *  read-only, work before C_Initialize (CKR_ATTRIBUTE_READ_ONLY on set):
 *   system-info      "p11overlay <ver>; PKCS11 - Little endian build
 *                    (64-bits CK_ULONG); cryptoki 2.11"
 *   soft-token-type  file name of [provider] soft-token, or "none"
 *   version          p11overlay version
 *   config-path      config file in use, "" for built-in defaults
 *   provider         [provider] module
 *   unlock-timeout   [unlock] timeout (seconds)
 *   unlock-method    [unlock] method
 *  set by the application, inputs of C_InitToken (addons/unlock):
 *   init-user-pin    secret: new user PIN set by C_InitToken
 *   init-puk         secret: new PUK set by C_InitToken on a card
 *   init-pin-names   which card PINs C_InitToken sets: comma-separated PIN
 *                    names, or "all"; unset = the token's own PIN
 *
 * A NULL value unsets.  Secret variables are write-only
 * (CKR_ATTRIBUTE_SENSITIVE on get) and wiped when replaced, taken
 * (p11o_variable_take) or dropped at C_Finalize; the trace never shows the
 * value of a name containing pin, puk, response, secret, password or key
 * (so init-pin-names is readable but not traced).  A known variable
 * that is unset reads as "".  Values are at most 511 bytes. */
#ifndef P11O_VARIABLES_H
#define P11O_VARIABLES_H

#include <stdbool.h>
#include <stddef.h>

#include "functions.h"

#define P11O_VARIABLE_MAX 512

CK_RV p11o_variable_get(const char *name, char *value, CK_ULONG valueLen);
CK_RV p11o_variable_set(const char *name, const char *value);

/* Copy a set variable (not a module one) into out; false when unset. */
bool p11o_variable_lookup(const char *name, char *out, size_t outlen);

/* Like lookup, and the variable is wiped and unset (secrets are used
 * once).  The caller wipes `out` after use. */
bool p11o_variable_take(const char *name, char *out, size_t outlen);

/* A name whose value must never be traced or kept longer than needed. */
bool p11o_variable_is_secret(const char *name);

/* Wipe and drop every set variable (C_Finalize). */
void p11o_variables_clear(void);

#endif
