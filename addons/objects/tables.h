/* The escape table of the objects addon: provider handles in the reserved
 * range (objects_int.h).  Per-session state is the addon's space in the
 * stack's session record (facts.h, sessions.h). */
#ifndef P11O_OBJECTS_TABLES_H
#define P11O_OBJECTS_TABLES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "functions.h"
#include "mutex.h"

/* Provider values with the top bit set <-> escape handles. */
typedef struct ob_escapes {
	p11o_mutex lock;
	CK_ULONG *vals; /* entry i: provider value */
	size_t count, cap;
	uint32_t *index; /* open addressing over vals: i + 1, 0 = empty */
	size_t index_cap;
} ob_escapes;

CK_RV ob_escapes_init(ob_escapes *e);
void ob_escapes_destroy(ob_escapes *e);
/* Escape handle for provider value v (same v, same handle); 0 when out of
 * memory or OB_ESC_MAX values were escaped. */
CK_ULONG ob_escape_up(ob_escapes *e, CK_ULONG v);
/* Provider value of escape handle h; CK_INVALID_HANDLE when h is none. */
CK_ULONG ob_escape_down(ob_escapes *e, CK_ULONG h);

#endif
