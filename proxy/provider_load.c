/* Loading a provider module (provider.h): judged and opened like the
 * config that names it, never this library itself. */
#include "provider.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "safe_open.h"

/* Is the module loaded at `dl` this very library (named directly, through
 * a symlink or a hard link: the dynamic loader gives one handle per file)?
 * Its C_Initialize would wait for the lock ours holds (issue 16). */
static bool is_self(void *dl)
{
	Dl_info self;
	if (!dladdr((void *)&is_self, &self) || !self.dli_fname)
		return false;
	void *me = dlopen(self.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
	bool same = me && me == dl;
	if (me)
		dlclose(me);
	return same;
}

int p11o_provider_load(p11o_provider *p, const char *path, char *err,
		       size_t errlen)
{
	char why[512];

	memset(p, 0, sizeof(*p));
	snprintf(p->path, sizeof(p->path), "%s", path);
	/* Every application runs this code: the same care as for the config
	 * that names it, and loaded through the descriptor judged
	 * (safe_open.h). */
	p->dl = p11o_dlopen_module(path, RTLD_NOW | RTLD_LOCAL, &p->held_fd,
				   why, sizeof(why));
	if (!p->dl) {
		snprintf(err, errlen, "cannot load provider '%s': %s", path,
			 why);
		return -1;
	}
	if (is_self(p->dl)) {
		snprintf(err, errlen,
			 "provider '%s' is p11overlay itself: it needs a real "
			 "PKCS#11 module below it",
			 path);
		p11o_provider_unload(p);
		return -1;
	}
	/* Prefer the 3.0 interface; copy only as much as the interface's
	 * own version promises, into our zeroed maximum-size struct. */
	CK_C_GetInterface get_interface =
	    (CK_C_GetInterface)dlsym(p->dl, "C_GetInterface");
	if (get_interface) {
		CK_INTERFACE_PTR iface = NULL;
		if (get_interface((CK_UTF8CHAR_PTR) "PKCS 11", NULL, &iface,
				  0) == CKR_OK &&
		    iface && iface->pFunctionList) {
			const CK_VERSION *v = iface->pFunctionList;
			p->is_v3 = v->major >= 3;
			memcpy(&p->fl, iface->pFunctionList,
			       p->is_v3 ? sizeof(p->fl)
					: sizeof(CK_FUNCTION_LIST));
			return 0;
		}
	}
	CK_C_GetFunctionList get_list =
	    (CK_C_GetFunctionList)dlsym(p->dl, "C_GetFunctionList");
	CK_FUNCTION_LIST_PTR list = NULL;
	if (!get_list || get_list(&list) != CKR_OK || !list) {
		snprintf(err, errlen,
			 "provider '%s' has no usable C_GetFunctionList", path);
		p11o_provider_unload(p);
		return -1;
	}
	memcpy(&p->fl, list, sizeof(CK_FUNCTION_LIST));
	return 0;
}

void p11o_provider_unload(p11o_provider *p)
{
	if (p->dl)
		dlclose(p->dl);
	if (p->dl && p->held_fd >= 0)
		close(p->held_fd);
	memset(&p->fl, 0, sizeof(p->fl));
	p->dl = NULL;
	p->held_fd = -1;
}
