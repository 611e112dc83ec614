/* Token labels of virtual tokens (docs/architecture.md §4):
 *   "<token name> (<pin name>)" when the card has two or more PINs,
 *   "<token name>" with one.
 * The 32-byte field is cut in the token name, never in the PIN part, and
 * ':' (NSS splits token names on it) becomes '-'.  It is always valid
 * UTF-8 (invalid bytes of the inputs become '?', utf8.h), cut between
 * characters, and never starts with a blank. */
#ifndef P11O_LABELS_H
#define P11O_LABELS_H

#include <stdbool.h>
#include <stddef.h>

#include "functions.h"

/* Compose into the blank-padded 32-byte label field from `format`
 * ([slots] label-format: %t token name, %p PIN name, %% a percent sign;
 * default "%t (%p)").  pin_name NULL or "" gives the plain token name. */
void p11o_label_compose(CK_UTF8CHAR out[32], const char *format,
			const char *token_name, const char *pin_name);

/* Split a provider's label "<name> (<pin>)" (blank-padded, 32 bytes).
 * Without a suffix, pin is "" and false is returned.  A name the provider
 * cut with "..." keeps it. */
bool p11o_label_split(const CK_UTF8CHAR label[32], char *name, size_t namelen,
		      char *pin, size_t pinlen);

#endif
