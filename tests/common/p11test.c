#include "p11test.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char rig_dir[256];

static void die(const char *what)
{
	fprintf(stderr, "p11test: %s\n", what);
	exit(2);
}

void p11test_load(p11test_module *m, const char *path)
{
	m->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!m->dl) {
		fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
		exit(2);
	}
	CK_C_GetFunctionList get =
	    (CK_C_GetFunctionList)dlsym(m->dl, "C_GetFunctionList");
	if (!get || get(&m->fl) != CKR_OK)
		die("C_GetFunctionList");
}

void p11test_unload(p11test_module *m)
{
	dlclose(m->dl);
	m->dl = NULL;
	m->fl = NULL;
}

void *p11test_sym(p11test_module *m, const char *name)
{
	void *f = dlsym(m->dl, name);
	if (!f)
		die(name);
	return f;
}

static const char *rig_script(void)
{
	const char *r = getenv("RIG");
	return r ? r : "tests/card/rig";
}

static void load_env(const char *dir)
{
	char path[512], line[1024];
	snprintf(path, sizeof(path), "%s/env", dir);
	FILE *f = fopen(path, "r");
	if (!f)
		die("rig env missing");
	while (fgets(line, sizeof(line), f)) {
		char *k = line, *v;
		if (strncmp(k, "export ", 7) == 0)
			k += 7;
		if (!(v = strchr(k, '=')))
			continue;
		*v++ = '\0';
		v[strcspn(v, "\n")] = '\0';
		size_t n = strlen(v);
		if (n >= 2 && (v[0] == '\'' || v[0] == '"') &&
		    v[n - 1] == v[0]) {
			v[n - 1] = '\0';
			v++;
		}
		setenv(k, v, 1);
	}
	fclose(f);
}

const char *p11test_rig_start(void)
{
	snprintf(rig_dir, sizeof(rig_dir), "/tmp/p11test-rig.XXXXXX");
	if (!mkdtemp(rig_dir))
		die("mkdtemp");
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "%s start %s >/dev/null", rig_script(),
		 rig_dir);
	if (system(cmd) != 0)
		die("rig start failed");
	load_env(rig_dir);
	return rig_dir;
}

void p11test_rig_cmd(const char *verb)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "%s %s %s >/dev/null", rig_script(), verb,
		 rig_dir);
	if (system(cmd) != 0 && strcmp(verb, "stop") != 0)
		die(verb);
	if (strcmp(verb, "stop") == 0) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", rig_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "p11test: could not remove %s\n",
				rig_dir);
	}
}

void p11test_write_config(const char *module, const char *extra)
{
	char path[512];
	const char *dir = rig_dir[0] ? rig_dir : "/tmp";
	snprintf(path, sizeof(path), "%s/p11overlay-%d.conf", dir,
		 (int)getpid());
	FILE *f = fopen(path, "w");
	if (!f)
		die("config");
	fprintf(f, "[provider]\nmodule = %s\n%s", module, extra ? extra : "");
	fclose(f);
	setenv("P11OVERLAY_CONF", path, 1);
}

size_t p11test_token_slots(p11test_module *m, CK_SLOT_ID *out, size_t max)
{
	CK_ULONG n = max;
	if (m->fl->C_GetSlotList(CK_TRUE, out, &n) != CKR_OK)
		return 0;
	return n;
}

bool p11test_find_token(CK_FUNCTION_LIST_PTR fl, const char *label,
			bool substring, CK_SLOT_ID *slot)
{
	CK_SLOT_ID ids[16];
	CK_ULONG n = 16;
	if (fl->C_GetSlotList(CK_TRUE, ids, &n) != CKR_OK)
		return false;
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		char l[33];
		if (fl->C_GetTokenInfo(ids[i], &ti) != CKR_OK)
			continue;
		p11test_trim(l, ti.label, 32);
		if (substring ? strstr(l, label) != NULL
			      : strcmp(l, label) == 0) {
			*slot = ids[i];
			return true;
		}
	}
	return false;
}

static char hsm_dir[128];

const char *p11test_softhsm_start(const char *label, const char *pin,
				  const char *so_pin)
{
	char path[256], cmd[512];
	snprintf(hsm_dir, sizeof(hsm_dir), "/tmp/p11test-hsm.XXXXXX");
	if (!mkdtemp(hsm_dir))
		die("mkdtemp");
	snprintf(path, sizeof(path), "%s/tokens", hsm_dir);
	if (mkdir(path, 0700) != 0)
		die("softhsm token dir");
	snprintf(path, sizeof(path), "%s/softhsm2.conf", hsm_dir);
	FILE *f = fopen(path, "w");
	if (!f)
		die("softhsm2.conf");
	fprintf(f,
		"directories.tokendir = %s/tokens\nobjectstore.backend = file\n"
		"log.level = ERROR\n",
		hsm_dir);
	fclose(f);
	setenv("SOFTHSM2_CONF", path, 1);
	if (!label)
		return hsm_dir;
	snprintf(cmd, sizeof(cmd),
		 "softhsm2-util --init-token --free --label '%s' --pin '%s' "
		 "--so-pin '%s' >/dev/null",
		 label, pin, so_pin);
	if (system(cmd) != 0)
		die("softhsm2-util --init-token failed");
	return hsm_dir;
}

int p11test_softhsm_stop(void)
{
	char cmd[256];
	if (!hsm_dir[0])
		return 0;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", hsm_dir);
	int rc = system(cmd) == 0 ? 0 : -1;
	if (rc != 0)
		fprintf(stderr, "p11test: could not remove %s\n", hsm_dir);
	hsm_dir[0] = '\0';
	return rc;
}

void p11test_trim(char *dst, const CK_UTF8CHAR *src, size_t len)
{
	while (len > 0 && src[len - 1] == ' ')
		len--;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

unsigned p11test_rig_apdus(const char *hex_apdus)
{
	char cmd[2048];
	const char *rig = rig_script();
	const char *slash = strrchr(rig, '/');
	int dirlen = slash ? (int)(slash - rig) : 1;
	snprintf(cmd, sizeof(cmd),
		 "/usr/bin/python3 -c 'import sys; sys.path.insert(0, "
		 "\"%.*s\"); import rig\n"
		 "p = rig.Pcsc(\"%s\")\nsw = 0\n"
		 "for a in sys.argv[1:]: sw = p.transmit(a)[1]\n"
		 "p.close(); print(sw)' %s",
		 dirlen, slash ? rig : ".", rig_dir, hex_apdus);
	FILE *f = popen(cmd, "r");
	unsigned sw = 0;
	if (!f || fscanf(f, "%u", &sw) != 1)
		die("rig apdus");
	pclose(f);
	return sw;
}
