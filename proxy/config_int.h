/* Internals of the config parser shared by config.c (sections and keys),
 * config_values.c (value syntax, diagnostics) and config_load.c (file
 * search and environment). */
#ifndef P11O_CONFIG_INT_H
#define P11O_CONFIG_INT_H

#include <stdbool.h>

#include "config.h"

#define add_diag p11o_conf_add_diag
#define trim p11o_conf_trim
#define parse_level p11o_conf_parse_level
#define parse_number p11o_conf_parse_number
#define parse_version p11o_conf_parse_version
#define parse_hex p11o_conf_parse_hex
#define parse_refs p11o_conf_parse_refs
#define parse_mechs p11o_conf_parse_mechs

void __attribute__((format(printf, 3, 4)))
add_diag(p11o_config *cfg, bool error, const char *fmt, ...);
char *trim(char *s);
int parse_level(const char *s, enum p11o_trace_level *out);
int parse_number(const char *s, unsigned long long max,
		 unsigned long long *out);
int parse_version(const char *s, CK_VERSION *out);
int parse_hex(const char *s, unsigned char *out, size_t max, size_t *len);
int parse_refs(char *s, unsigned char *refs, size_t *count);
int parse_mechs(char *s, p11o_mech_list *out);

#endif
