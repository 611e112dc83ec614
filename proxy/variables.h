/* Variables (design.md §6): C_GetVariable / C_SetVariable.  Read-only
 * module variables work before C_Initialize; set values are kept until
 * C_Finalize, and secret ones are wiped when replaced or dropped. */
#ifndef P11O_VARIABLES_H
#define P11O_VARIABLES_H

#include <stdbool.h>
#include <stddef.h>

#include "functions.h"

CK_RV p11o_variable_get(const char *name, char *value, CK_ULONG valueLen);
CK_RV p11o_variable_set(const char *name, const char *value);

/* Copy a set variable (not a module one) into out; false when unset. */
bool p11o_variable_lookup(const char *name, char *out, size_t outlen);

/* A name whose value must never be traced or kept longer than needed. */
bool p11o_variable_is_secret(const char *name);

/* Wipe and drop every set variable (C_Finalize). */
void p11o_variables_clear(void);

#endif
