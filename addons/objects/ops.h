/* Overrides of the objects layer that involve synthetic objects. */
#ifndef P11O_OBJECTS_OPS_H
#define P11O_OBJECTS_OPS_H

#include "facts.h"

CK_OBJECT_HANDLE ob_obj_down(ob_layer *l, CK_OBJECT_HANDLE h);
/* Provider value -> value handed up; CKR_HOST_MEMORY when it cannot be
 * escaped. */
CK_RV ob_obj_up(ob_layer *l, CK_OBJECT_HANDLE *h);

void ob_ops_install(p11o_ops *ops);

#endif
