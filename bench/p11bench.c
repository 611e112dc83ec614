/* p11bench: the cost of a PKCS#11 module against a reference module (the
 * provider called directly), measured in one invocation.
 *
 * The parent loads no module.  It starts two children, one for the
 * reference module (--direct) and one for the module under test
 * (--module), and drives them over pipes: for every operation it asks the
 * reference child, then the other, to run the same timed loop with the same
 * iteration count, so both measurements are taken back to back.  Each child
 * dlopen()s its module, finds the token by label, logs in, creates its data
 * objects and keys, and then serves "run" commands.
 *
 * --callgrind: the children run under
 *     valgrind --tool=callgrind --collect-atstart=no --instr-atstart=no
 * and collect only the timed loop (client requests: START_INSTRUMENTATION
 * once, then per loop ZERO_STATS, TOGGLE_COLLECT around it and
 * DUMP_STATS_AT(op)); the parent reads the dumps and prints instructions
 * per call and the instructions added per call (module - direct).
 *
 * When libp11bench_malloc.so is preloaded, each child also reports the heap
 * allocations per call made by the calling thread during the loop.
 *
 * Usage: p11bench --module PATH [--direct PATH] [options]; see usage(). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <p11-kit/pkcs11.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <valgrind/callgrind.h>

#define MAX_OPS 32
#define MAX_OBJECTS 4096

/* ---- options ------------------------------------------------------------ */

static struct {
	const char *module;
	const char *direct;
	const char *direct_also;
	const char *label;
	const char *module_label;
	const char *pin;
	const char *ops;
	const char *mt_ops;
	const char *threads;
	const char *tsv;
	const char *apdu_log;
	const char *valgrind;
	const char *cg_dir;
	double scale;
	long iters; /* 0: per-op default */
	int objects;
	bool login;
	bool callgrind;
	bool quiet;
} opt = {
    .direct = "/usr/lib/softhsm/libsofthsm2.so",
    .label = "p11bench",
    .pin = "123456",
    .ops = "slotlist,tokeninfo,sessioninfo,session,find,findall,getattr,"
	   "digest,sign-rsa,sign-ec,random",
    .mt_ops = "sessioninfo,getattr,digest,sign-ec,random",
    .threads = "1,2",
    .valgrind = "valgrind",
    .scale = 1.0,
    .objects = 100,
    .login = true,
};

static void usage(void)
{
	fprintf(stderr,
		"usage: p11bench --module PATH [--direct PATH] [options]\n"
		"  --module PATH     module under test\n"
		"  --direct PATH     reference module (default %s);\n"
		"                    'none' runs the module alone\n"
		"  --direct-also PATH a second provider the direct side loads\n"
		"                    and initialises too, and whose slots its\n"
		"                    slotlist asks as well: the reference for\n"
		"                    a module with two providers\n"
		"  --label L         token label, L* = prefix (default %s)\n"
		"  --module-label L  token label through --module (default: "
		"--label)\n"
		"  --pin P           user PIN (default %s)\n"
		"  --no-login        do not log in (no keys, no objects)\n"
		"  --objects N       data objects to create (default %d)\n"
		"  --ops LIST        single-thread operations, comma "
		"separated:\n"
		"                    slotlist tokeninfo sessioninfo session "
		"find findall\n"
		"                    getattr digest sign-rsa sign-ec random\n"
		"  --mt-ops LIST     operations run with --threads (default "
		"%s)\n"
		"  --threads LIST    thread counts for --mt-ops (default %s; "
		"'' = none)\n"
		"  --iters N         iterations per loop (default: per "
		"operation)\n"
		"  --scale F         multiply the default iterations by F\n"
		"  --tsv FILE        machine-readable results\n"
		"  --callgrind       count instructions under callgrind\n"
		"  --valgrind PATH   valgrind binary (default valgrind)\n"
		"  --cg-dir DIR      keep callgrind dumps in DIR\n"
		"  --apdu-log FILE   count APDU lines ('> ') in FILE per "
		"loop\n"
		"  --quiet           no table on stdout\n",
		opt.direct, opt.label, opt.pin, opt.objects, opt.mt_ops,
		opt.threads);
	exit(2);
}

/* ---- operations ------------------------------------------------------- */

typedef struct bench bench;
typedef struct worker {
	bench *b;
	CK_SESSION_HANDLE s;
	long iters;
	CK_RV rv;
	uint64_t allocs;
	unsigned long found;
	uint64_t ns;
	pthread_barrier_t *start;
	int op;
} worker;

typedef CK_RV (*op_fn)(worker *w);

struct bench {
	CK_FUNCTION_LIST_PTR fl;
	void *dl;
	/* --direct-also: loaded and initialised beside fl (the direct side
	 * of a two-provider run); slotlist lists its slots too. */
	CK_FUNCTION_LIST_PTR also_fl;
	void *also_dl;
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE objs[MAX_OBJECTS];
	int nobjs;
	CK_OBJECT_HANDLE attr_obj;
	CK_OBJECT_HANDLE rsa, ec;
	unsigned long (*thread_allocs)(void);
	bool under_callgrind;
};

static const CK_BYTE ec_p256_oid[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
				      0xce, 0x3d, 0x03, 0x01, 0x07};
static CK_BYTE kilobyte[1024];
/* DigestInfo of SHA-256 with a constant hash: what CKM_RSA_PKCS signs. */
static CK_BYTE digest_info[51] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60,
				  0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
				  0x01, 0x05, 0x00, 0x04, 0x20};

static CK_RV op_slotlist(worker *w)
{
	CK_FUNCTION_LIST_PTR f = w->b->fl;
	CK_SLOT_ID ids[64];
	for (long i = 0; i < w->iters; i++) {
		CK_ULONG n = 64;
		CK_RV rv = f->C_GetSlotList(CK_TRUE, ids, &n);
		if (rv != CKR_OK)
			return rv;
		if (w->b->also_fl) {
			CK_ULONG m = 64 - n;
			rv = w->b->also_fl->C_GetSlotList(CK_TRUE, ids + n, &m);
			if (rv != CKR_OK)
				return rv;
			n += m;
		}
		w->found = n;
	}
	return CKR_OK;
}

static CK_RV op_tokeninfo(worker *w)
{
	CK_FUNCTION_LIST_PTR f = w->b->fl;
	CK_TOKEN_INFO ti;
	for (long i = 0; i < w->iters; i++) {
		CK_RV rv = f->C_GetTokenInfo(w->b->slot, &ti);
		if (rv != CKR_OK)
			return rv;
	}
	return CKR_OK;
}

static CK_RV op_sessioninfo(worker *w)
{
	CK_FUNCTION_LIST_PTR f = w->b->fl;
	CK_SESSION_INFO si;
	for (long i = 0; i < w->iters; i++) {
		CK_RV rv = f->C_GetSessionInfo(w->s, &si);
		if (rv != CKR_OK)
			return rv;
	}
	return CKR_OK;
}

static CK_RV op_session(worker *w)
{
	CK_FUNCTION_LIST_PTR f = w->b->fl;
	for (long i = 0; i < w->iters; i++) {
		CK_SESSION_HANDLE s;
		CK_RV rv = f->C_OpenSession(w->b->slot, CKF_SERIAL_SESSION,
					    NULL, NULL, &s);
		if (rv != CKR_OK)
			return rv;
		rv = f->C_CloseSession(s);
		if (rv != CKR_OK)
			return rv;
	}
	return CKR_OK;
}

static CK_RV find(worker *w, CK_ATTRIBUTE *tmpl, CK_ULONG n)
{
	CK_FUNCTION_LIST_PTR f = w->b->fl;
	CK_OBJECT_HANDLE h[32];
	for (long i = 0; i < w->iters; i++) {
		CK_RV rv = f->C_FindObjectsInit(w->s, tmpl, n);
		if (rv != CKR_OK)
			return rv;
		unsigned long total = 0;
		for (;;) {
			CK_ULONG got = 0;
			rv = f->C_FindObjects(w->s, h, 32, &got);
			if (rv != CKR_OK)
				return rv;
			if (got == 0)
				break;
			total += got;
		}
		rv = f->C_FindObjectsFinal(w->s);
		if (rv != CKR_OK)
			return rv;
		w->found = total;
	}
	return CKR_OK;
}

static CK_RV op_find(worker *w)
{
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)}};
	return find(w, t, 1);
}

static CK_RV op_findall(worker *w)
{
	return find(w, NULL, 0);
}

static CK_RV op_getattr(worker *w)
{
	CK_FUNCTION_LIST_PTR f = w->b->fl;
	CK_OBJECT_CLASS cls;
	CK_BYTE label[64];
	for (long i = 0; i < w->iters; i++) {
		CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)},
				    {CKA_LABEL, label, sizeof(label)}};
		CK_RV rv = f->C_GetAttributeValue(w->s, w->b->attr_obj, t, 2);
		if (rv != CKR_OK)
			return rv;
	}
	return CKR_OK;
}

static CK_RV op_digest(worker *w)
{
	CK_FUNCTION_LIST_PTR f = w->b->fl;
	CK_MECHANISM m = {CKM_SHA256, NULL, 0};
	CK_BYTE out[32];
	for (long i = 0; i < w->iters; i++) {
		CK_ULONG n = sizeof(out);
		CK_RV rv = f->C_DigestInit(w->s, &m);
		if (rv == CKR_OK)
			rv = f->C_Digest(w->s, kilobyte, sizeof(kilobyte), out,
					 &n);
		if (rv != CKR_OK)
			return rv;
	}
	return CKR_OK;
}

static CK_RV sign(worker *w, CK_MECHANISM_TYPE mech, CK_OBJECT_HANDLE key,
		  CK_BYTE *data, CK_ULONG len)
{
	CK_FUNCTION_LIST_PTR f = w->b->fl;
	CK_MECHANISM m = {mech, NULL, 0};
	CK_BYTE sig[512];
	for (long i = 0; i < w->iters; i++) {
		CK_ULONG n = sizeof(sig);
		CK_RV rv = f->C_SignInit(w->s, &m, key);
		if (rv == CKR_OK)
			rv = f->C_Sign(w->s, data, len, sig, &n);
		if (rv != CKR_OK)
			return rv;
	}
	return CKR_OK;
}

static CK_RV op_sign_rsa(worker *w)
{
	return sign(w, CKM_RSA_PKCS, w->b->rsa, digest_info,
		    sizeof(digest_info));
}

static CK_RV op_sign_ec(worker *w)
{
	return sign(w, CKM_ECDSA, w->b->ec, digest_info + 19, 32);
}

static CK_RV op_random(worker *w)
{
	CK_FUNCTION_LIST_PTR f = w->b->fl;
	CK_BYTE r[32];
	for (long i = 0; i < w->iters; i++) {
		CK_RV rv = f->C_GenerateRandom(w->s, r, sizeof(r));
		if (rv != CKR_OK)
			return rv;
	}
	return CKR_OK;
}

static const struct opdef {
	const char *name;
	const char *what;
	op_fn fn;
	long iters;
	int needs; /* 1 object, 2 rsa key, 3 ec key */
} opdefs[] = {
    {"slotlist", "C_GetSlotList(TRUE, buf[64])", op_slotlist, 200000, 0},
    {"tokeninfo", "C_GetTokenInfo", op_tokeninfo, 20000, 0},
    {"sessioninfo", "C_GetSessionInfo", op_sessioninfo, 300000, 0},
    {"session", "C_OpenSession+C_CloseSession", op_session, 30000, 0},
    {"find", "C_FindObjects* CKA_CLASS=CKO_DATA", op_find, 1000, 0},
    {"findall", "C_FindObjects* empty template", op_findall, 1000, 0},
    {"getattr", "C_GetAttributeValue(CLASS,LABEL)", op_getattr, 100000, 1},
    {"digest", "C_DigestInit+C_Digest SHA-256 1 KiB", op_digest, 30000, 0},
    {"sign-rsa", "C_SignInit+C_Sign RSA-2048 PKCS#1", op_sign_rsa, 150, 2},
    {"sign-ec", "C_SignInit+C_Sign ECDSA P-256", op_sign_ec, 3000, 3},
    {"random", "C_GenerateRandom(32)", op_random, 100000, 0},
};
#define NOPDEFS (int)(sizeof(opdefs) / sizeof(opdefs[0]))

static int op_index(const char *name)
{
	for (int i = 0; i < NOPDEFS; i++)
		if (strcmp(opdefs[i].name, name) == 0)
			return i;
	return -1;
}

/* ---- child: load, set up, serve ---------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* dlopen `path`, its function list, C_Initialize with OS locking. */
static CK_RV open_module(const char *path, void **dl, CK_FUNCTION_LIST_PTR *fl,
			 char *err, size_t errlen)
{
	*dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!*dl) {
		snprintf(err, errlen, "dlopen: %s", dlerror());
		return CKR_GENERAL_ERROR;
	}
	CK_C_GetFunctionList gfl =
	    (CK_C_GetFunctionList)dlsym(*dl, "C_GetFunctionList");
	if (!gfl) {
		snprintf(err, errlen, "no C_GetFunctionList in %s", path);
		return CKR_GENERAL_ERROR;
	}
	CK_RV rv = gfl(fl);
	if (rv != CKR_OK) {
		snprintf(err, errlen, "%s: C_GetFunctionList: 0x%lx", path, rv);
		return rv;
	}
	CK_C_INITIALIZE_ARGS ia = {0};
	ia.flags = CKF_OS_LOCKING_OK;
	rv = (*fl)->C_Initialize(&ia);
	if (rv != CKR_OK)
		snprintf(err, errlen, "%s: C_Initialize: 0x%lx", path, rv);
	return rv;
}

/* The second provider of --direct-also: loaded and initialised as an
 * application using both modules would. */
static CK_RV load_also(bench *b, const char *path, char *err, size_t errlen)
{
	CK_RV rv = open_module(path, &b->also_dl, &b->also_fl, err, errlen);
	if (rv != CKR_OK)
		b->also_fl = NULL;
	return rv;
}

static CK_RV load(bench *b, const char *path, char *err, size_t errlen)
{
	CK_RV rv = open_module(path, &b->dl, &b->fl, err, errlen);
	if (rv != CKR_OK)
		return rv;
	CK_SLOT_ID ids[64];
	CK_ULONG n = 64;
	rv = b->fl->C_GetSlotList(CK_TRUE, ids, &n);
	if (rv != CKR_OK) {
		snprintf(err, errlen, "C_GetSlotList: 0x%lx", rv);
		return rv;
	}
	/* "prefix*" matches labels starting with prefix. */
	size_t ll = strlen(opt.label);
	bool prefix = ll > 0 && opt.label[ll - 1] == '*';
	if (prefix)
		ll--;
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		if (b->fl->C_GetTokenInfo(ids[i], &ti) != CKR_OK)
			continue;
		size_t k = sizeof(ti.label);
		while (k > 0 && ti.label[k - 1] == ' ')
			k--;
		if ((k == ll || (prefix && k > ll)) &&
		    memcmp(ti.label, opt.label, ll) == 0) {
			b->slot = ids[i];
			goto found;
		}
	}
	snprintf(err, errlen, "no token labelled '%s' among %lu slots",
		 opt.label, n);
	return CKR_TOKEN_NOT_PRESENT;
found:
	rv = b->fl->C_OpenSession(b->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
				  NULL, NULL, &b->s);
	if (rv != CKR_OK) {
		rv = b->fl->C_OpenSession(b->slot, CKF_SERIAL_SESSION, NULL,
					  NULL, &b->s);
		if (rv != CKR_OK) {
			snprintf(err, errlen, "C_OpenSession: 0x%lx", rv);
			return rv;
		}
	}
	if (opt.login) {
		rv = b->fl->C_Login(b->s, CKU_USER, (CK_UTF8CHAR_PTR)opt.pin,
				    strlen(opt.pin));
		if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
			snprintf(err, errlen, "C_Login: 0x%lx", rv);
			return rv;
		}
	}
	CK_BBOOL no = CK_FALSE;
	CK_OBJECT_CLASS data = CKO_DATA;
	for (int i = 0; i < opt.objects && i < MAX_OBJECTS; i++) {
		char label[32];
		CK_BYTE value[32];
		snprintf(label, sizeof(label), "p11bench-%04d", i);
		memset(value, i, sizeof(value));
		CK_ATTRIBUTE t[] = {
		    {CKA_CLASS, &data, sizeof(data)},
		    {CKA_TOKEN, &no, sizeof(no)},
		    {CKA_LABEL, label, strlen(label)},
		    {CKA_APPLICATION, "p11bench", 8},
		    {CKA_VALUE, value, sizeof(value)},
		};
		rv = b->fl->C_CreateObject(b->s, t, 5, &b->objs[b->nobjs]);
		if (rv != CKR_OK) {
			snprintf(err, errlen, "C_CreateObject: 0x%lx", rv);
			return rv;
		}
		b->nobjs++;
	}
	if (b->nobjs) {
		b->attr_obj = b->objs[0];
	} else {
		/* No objects of our own (e.g. a card): the first one found. */
		CK_ULONG got = 0;
		if (b->fl->C_FindObjectsInit(b->s, NULL, 0) == CKR_OK) {
			b->fl->C_FindObjects(b->s, &b->attr_obj, 1, &got);
			b->fl->C_FindObjectsFinal(b->s);
		}
	}
	return CKR_OK;
}

static CK_RV make_keys(bench *b, int which)
{
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_OBJECT_HANDLE pub;
	if (which == 2 && !b->rsa) {
		CK_ULONG bits = 2048;
		CK_BYTE e[] = {1, 0, 1};
		CK_MECHANISM m = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
		CK_ATTRIBUTE pt[] = {{CKA_TOKEN, &no, sizeof(no)},
				     {CKA_VERIFY, &yes, sizeof(yes)},
				     {CKA_MODULUS_BITS, &bits, sizeof(bits)},
				     {CKA_PUBLIC_EXPONENT, e, sizeof(e)}};
		CK_ATTRIBUTE kt[] = {{CKA_TOKEN, &no, sizeof(no)},
				     {CKA_PRIVATE, &yes, sizeof(yes)},
				     {CKA_SENSITIVE, &yes, sizeof(yes)},
				     {CKA_SIGN, &yes, sizeof(yes)}};
		return b->fl->C_GenerateKeyPair(b->s, &m, pt, 4, kt, 4, &pub,
						&b->rsa);
	}
	if (which == 3 && !b->ec) {
		CK_MECHANISM m = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
		CK_ATTRIBUTE pt[] = {
		    {CKA_TOKEN, &no, sizeof(no)},
		    {CKA_VERIFY, &yes, sizeof(yes)},
		    {CKA_EC_PARAMS, (void *)ec_p256_oid, sizeof(ec_p256_oid)}};
		CK_ATTRIBUTE kt[] = {{CKA_TOKEN, &no, sizeof(no)},
				     {CKA_PRIVATE, &yes, sizeof(yes)},
				     {CKA_SENSITIVE, &yes, sizeof(yes)},
				     {CKA_SIGN, &yes, sizeof(yes)}};
		return b->fl->C_GenerateKeyPair(b->s, &m, pt, 3, kt, 4, &pub,
						&b->ec);
	}
	return CKR_OK;
}

static unsigned long allocs_now(const bench *b)
{
	return b->thread_allocs ? b->thread_allocs() : 0;
}

/* One timed loop in the calling thread, with a short warm-up first (lazy
 * tables, caches).  Under callgrind only the loop is collected. */
static void run_loop(worker *w)
{
	bench *b = w->b;
	op_fn fn = opdefs[w->op].fn;
	long iters = w->iters;
	w->iters = iters / 20 + 1;
	w->rv = fn(w);
	w->iters = iters;
	if (w->rv != CKR_OK)
		return;
	if (w->start)
		pthread_barrier_wait(w->start);
	unsigned long a0 = allocs_now(b);
	uint64_t t0 = now_ns();
	if (b->under_callgrind) {
		CALLGRIND_ZERO_STATS;
		CALLGRIND_TOGGLE_COLLECT;
	}
	w->rv = fn(w);
	if (b->under_callgrind) {
		CALLGRIND_TOGGLE_COLLECT;
		CALLGRIND_DUMP_STATS_AT(opdefs[w->op].name);
	}
	w->ns = now_ns() - t0;
	w->allocs = allocs_now(b) - a0;
}

static void *thread_main(void *arg)
{
	worker *w = arg;
	CK_FUNCTION_LIST_PTR f = w->b->fl;
	w->rv =
	    f->C_OpenSession(w->b->slot, CKF_SERIAL_SESSION, NULL, NULL, &w->s);
	if (w->rv != CKR_OK) {
		pthread_barrier_wait(w->start);
		return NULL;
	}
	run_loop(w);
	f->C_CloseSession(w->s);
	return NULL;
}

/* threads == 0: the main thread with the main session; otherwise that many
 * threads, each with its own session, released together. */
static void run_op(bench *b, int op, long iters, int threads, FILE *out)
{
	const struct opdef *d = &opdefs[op];
	CK_RV rv = CKR_OK;
	if (d->needs >= 2)
		rv = make_keys(b, d->needs);
	if (rv != CKR_OK || (d->needs == 1 && !b->attr_obj) ||
	    (d->needs >= 2 && !(d->needs == 2 ? b->rsa : b->ec))) {
		fprintf(out, "0x%lx 0 0 0\n",
			rv != CKR_OK ? rv : CKR_GENERAL_ERROR);
		fflush(out);
		return;
	}
	uint64_t t0, t1;
	uint64_t allocs = 0;
	unsigned long found = 0;
	if (threads == 0) {
		worker w = {.b = b, .s = b->s, .iters = iters, .op = op};
		run_loop(&w);
		t0 = 0;
		t1 = w.ns;
		rv = w.rv;
		allocs = w.allocs;
		found = w.found;
	} else {
		pthread_barrier_t start;
		pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
		worker *ws = calloc((size_t)threads, sizeof(*ws));
		pthread_t *tids = calloc((size_t)threads, sizeof(*tids));
		for (int i = 0; i < threads; i++) {
			ws[i] = (worker){
			    .b = b, .iters = iters, .op = op, .start = &start};
			pthread_create(&tids[i], NULL, thread_main, &ws[i]);
		}
		pthread_barrier_wait(&start);
		t0 = now_ns();
		for (int i = 0; i < threads; i++)
			pthread_join(tids[i], NULL);
		t1 = now_ns();
		for (int i = 0; i < threads; i++) {
			if (ws[i].rv != CKR_OK)
				rv = ws[i].rv;
			allocs += ws[i].allocs;
			found = ws[i].found;
		}
		pthread_barrier_destroy(&start);
		free(ws);
		free(tids);
	}
	fprintf(out, "0x%lx %" PRIu64 " %" PRIu64 " %lu\n", rv, t1 - t0, allocs,
		found);
	fflush(out);
}

/* The direct child's --direct-also module (set in the child). */
static const char *serve_also;

static int serve(const char *path, int in_fd, int out_fd)
{
	FILE *in = fdopen(in_fd, "r");
	FILE *out = fdopen(out_fd, "w");
	if (!in || !out)
		return 1;
	static bench b;
	b.under_callgrind = RUNNING_ON_VALGRIND && opt.callgrind;
	b.thread_allocs =
	    (unsigned long (*)(void))dlsym(RTLD_DEFAULT, "p11bench_allocs");
	char err[512] = "";
	CK_RV rv =
	    serve_also ? load_also(&b, serve_also, err, sizeof(err)) : CKR_OK;
	if (rv == CKR_OK)
		rv = load(&b, path, err, sizeof(err));
	if (rv != CKR_OK) {
		fprintf(out, "error %s\n", err);
		fflush(out);
		return 1;
	}
	fprintf(out, "ready %d\n", b.nobjs);
	fflush(out);
	if (b.under_callgrind)
		CALLGRIND_START_INSTRUMENTATION;
	char line[256];
	while (fgets(line, sizeof(line), in)) {
		char name[64];
		long iters;
		int threads;
		if (sscanf(line, "run %63s %ld %d", name, &iters, &threads) ==
		    3) {
			int op = op_index(name);
			if (op < 0) {
				fprintf(out, "0x%lx 0 0 0\n",
					(CK_RV)CKR_ARGUMENTS_BAD);
				fflush(out);
				continue;
			}
			run_op(&b, op, iters, threads, out);
		} else {
			break;
		}
	}
	if (b.under_callgrind)
		CALLGRIND_STOP_INSTRUMENTATION;
	b.fl->C_CloseAllSessions(b.slot);
	b.fl->C_Finalize(NULL);
	if (b.also_fl)
		b.also_fl->C_Finalize(NULL);
	return 0;
}

/* ---- parent ------------------------------------------------------------ */

typedef struct child {
	const char *path;
	const char *tag;
	const char *label; /* NULL: opt.label */
	const char *also;  /* --direct-also, for the direct child */
	pid_t pid;
	FILE *to, *from;
	char cg_prefix[512];
	int nobjs;
	long setup_apdus;
} child;

static long count_apdus(void)
{
	if (!opt.apdu_log)
		return 0;
	FILE *f = fopen(opt.apdu_log, "r");
	if (!f)
		return -1;
	char line[8192];
	long n = 0;
	bool bol = true;
	while (fgets(line, sizeof(line), f)) {
		if (bol && line[0] == '>' && line[1] == ' ')
			n++;
		bol = strchr(line, '\n') != NULL;
	}
	fclose(f);
	return n;
}

static char self_path[4096];

static int start_child(child *c)
{
	int down[2], up[2];
	long a0 = count_apdus();
	if (pipe(down) || pipe(up))
		return -1;
	c->pid = fork();
	if (c->pid < 0)
		return -1;
	if (c->pid == 0) {
		close(down[1]);
		close(up[0]);
		if (c->label)
			opt.label = c->label;
		serve_also = c->also;
		if (!opt.callgrind)
			_exit(serve(c->path, down[0], up[1]));
		char fds[64], outf[600];
		snprintf(fds, sizeof(fds), "--serve-fds=%d,%d", down[0], up[1]);
		snprintf(outf, sizeof(outf), "--callgrind-out-file=%s",
			 c->cg_prefix);
		char *argv[32];
		int n = 0;
		argv[n++] = (char *)opt.valgrind;
		argv[n++] = "--tool=callgrind";
		argv[n++] = "--collect-atstart=no";
		argv[n++] = "--instr-atstart=no";
		argv[n++] = "--quiet";
		argv[n++] = outf;
		argv[n++] = self_path;
		argv[n++] = "--callgrind";
		argv[n++] = fds;
		argv[n++] = "--serve";
		argv[n++] = (char *)c->path;
		argv[n++] = "--label";
		argv[n++] = (char *)opt.label;
		argv[n++] = "--pin";
		argv[n++] = (char *)opt.pin;
		char objs[32];
		snprintf(objs, sizeof(objs), "--objects=%d", opt.objects);
		argv[n++] = objs;
		if (!opt.login)
			argv[n++] = "--no-login";
		if (c->also) {
			argv[n++] = "--serve-also";
			argv[n++] = (char *)c->also;
		}
		argv[n] = NULL;
		execvp(argv[0], argv);
		fprintf(stderr, "p11bench: exec %s: %s\n", argv[0],
			strerror(errno));
		_exit(127);
	}
	close(down[0]);
	close(up[1]);
	c->to = fdopen(down[1], "w");
	c->from = fdopen(up[0], "r");
	char line[600];
	if (!fgets(line, sizeof(line), c->from)) {
		fprintf(stderr, "p11bench: %s (%s): child died\n", c->tag,
			c->path);
		return -1;
	}
	if (sscanf(line, "ready %d", &c->nobjs) != 1) {
		fprintf(stderr, "p11bench: %s (%s): %s", c->tag, c->path, line);
		return -1;
	}
	c->setup_apdus = count_apdus() - a0;
	return 0;
}

static void stop_child(child *c)
{
	if (!c->to)
		return;
	fprintf(c->to, "quit\n");
	fclose(c->to);
	c->to = NULL;
	int st;
	waitpid(c->pid, &st, 0);
	fclose(c->from);
}

typedef struct result {
	CK_RV rv;
	uint64_t ns, allocs;
	unsigned long found;
	long apdus;
} result;

static int ask(child *c, int op, long iters, int threads, result *r)
{
	long a0 = count_apdus();
	fprintf(c->to, "run %s %ld %d\n", opdefs[op].name, iters, threads);
	fflush(c->to);
	char line[256];
	if (!fgets(line, sizeof(line), c->from))
		return -1;
	if (sscanf(line, "%lx %" SCNu64 " %" SCNu64 " %lu", &r->rv, &r->ns,
		   &r->allocs, &r->found) != 4)
		return -1;
	r->apdus = count_apdus() - a0;
	return 0;
}

/* Ir of the dump named `op` among PREFIX.1, PREFIX.2, ... */
static long long callgrind_ir(const char *prefix, const char *op)
{
	for (int i = 1; i < 1000; i++) {
		char path[600];
		snprintf(path, sizeof(path), "%s.%d", prefix, i);
		FILE *f = fopen(path, "r");
		if (!f)
			return -1;
		char line[1024];
		bool match = false;
		long long ir = -1;
		while (fgets(line, sizeof(line), f)) {
			const char *k = "desc: Trigger: Client Request: ";
			if (strncmp(line, k, strlen(k)) == 0) {
				line[strcspn(line, "\n")] = 0;
				match = strcmp(line + strlen(k), op) == 0;
			} else if (strncmp(line, "summary:", 8) == 0 ||
				   strncmp(line, "totals:", 7) == 0) {
				ir = atoll(strchr(line, ':') + 1);
			}
		}
		fclose(f);
		if (match)
			return ir;
	}
	return -1;
}

static int split(const char *list, int *ops, int max)
{
	int n = 0;
	char *copy = strdup(list), *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t && n < max;
	     t = strtok_r(NULL, ",", &save)) {
		int i = op_index(t);
		if (i < 0) {
			fprintf(stderr, "p11bench: unknown operation %s\n", t);
			exit(2);
		}
		ops[n++] = i;
	}
	free(copy);
	return n;
}

static int parent(void)
{
	int ops[MAX_OPS], mt[MAX_OPS], thr[8];
	int nops = split(opt.ops, ops, MAX_OPS);
	int nmt = split(opt.mt_ops, mt, MAX_OPS);
	int nthr = 0;
	char *copy = strdup(opt.threads), *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t && nthr < 8;
	     t = strtok_r(NULL, ",", &save))
		thr[nthr++] = atoi(t);
	free(copy);
	if (opt.callgrind)
		nthr = 0; /* callgrind serialises threads */

	bool with_direct = strcmp(opt.direct, "none") != 0;
	child cs[2] = {
	    {.path = opt.direct, .tag = "direct", .also = opt.direct_also},
	    {.path = opt.module, .tag = "module", .label = opt.module_label}};
	child *first = with_direct ? &cs[0] : &cs[1];
	char tmpdir[] = "/tmp/p11bench-cg.XXXXXX";
	const char *cgdir = opt.cg_dir;
	if (opt.callgrind && !cgdir) {
		if (!mkdtemp(tmpdir)) {
			perror("mkdtemp");
			return 1;
		}
		cgdir = tmpdir;
	}
	if (opt.cg_dir && mkdir(opt.cg_dir, 0700) != 0 && errno != EEXIST) {
		perror(opt.cg_dir);
		return 1;
	}
	for (child *c = first; c <= &cs[1]; c++) {
		if (opt.callgrind)
			snprintf(c->cg_prefix, sizeof(c->cg_prefix),
				 "%s/callgrind.%s.%d", cgdir, c->tag,
				 (int)getpid());
		if (start_child(c) != 0) {
			for (child *d = first; d < c; d++)
				stop_child(d);
			return 1;
		}
	}

	FILE *tsv = NULL;
	if (opt.tsv) {
		tsv = fopen(opt.tsv, "w");
		if (!tsv) {
			perror(opt.tsv);
			return 1;
		}
		fprintf(tsv, "op\tthreads\titers\tdirect_ns\tmodule_ns\tratio\t"
			     "direct_allocs\tmodule_allocs\tdirect_found\t"
			     "module_found\tdirect_apdus\tmodule_apdus\n");
	}
	if (!opt.quiet) {
		printf("# direct: %s\n# module: %s\n",
		       with_direct ? opt.direct : "-", opt.module);
		if (!opt.callgrind)
			printf("%-12s %3s %8s %12s %12s %7s  %-13s%s\n", "op",
			       "thr", "iters", "direct ns/op", "module ns/op",
			       "ratio", "allocs/op d/m",
			       opt.apdu_log ? "  APDUs/op d/m" : "");
	}
	if (opt.apdu_log) {
		if (!opt.quiet)
			printf("%-12s %3s %8s %41s  %6ld/%-6ld\n", "setup", "-",
			       "1", "(load, C_Initialize, find token, login)",
			       cs[0].setup_apdus, cs[1].setup_apdus);
		if (tsv)
			fprintf(tsv,
				"setup\t0\t1\t0\t0\t0\t0\t0\t0\t0\t%ld\t%ld\n",
				cs[0].setup_apdus, cs[1].setup_apdus);
	}
	/* Plan: single-thread ops (threads 0), then mt ops per count. */
	struct step {
		int op, threads;
	} plan[MAX_OPS * 9];
	int np = 0;
	for (int i = 0; i < nops; i++)
		plan[np++] = (struct step){ops[i], 0};
	for (int k = 0; k < nthr; k++)
		for (int i = 0; i < nmt; i++)
			plan[np++] = (struct step){mt[i], thr[k]};

	int status = 0;
	long iters_used[MAX_OPS * 9];
	for (int p = 0; p < np; p++) {
		int op = plan[p].op, threads = plan[p].threads;
		long iters = opt.iters ? opt.iters
				       : (long)(opdefs[op].iters * opt.scale);
		if (iters < 1)
			iters = 1;
		if (threads > 1)
			iters = iters / threads + 1;
		iters_used[p] = iters;
		result r[2] = {{0}, {0}};
		for (int c = with_direct ? 0 : 1; c < 2; c++) {
			if (ask(&cs[c], op, iters, threads, &r[c]) != 0) {
				fprintf(stderr, "p11bench: %s: lost child\n",
					cs[c].tag);
				status = 1;
				goto done;
			}
			if (r[c].rv != CKR_OK) {
				fprintf(stderr, "p11bench: %s %s: rv 0x%lx\n",
					cs[c].tag, opdefs[op].name, r[c].rv);
				status = 1;
			}
		}
		if (opt.callgrind)
			continue;
		long total = iters * (threads ? threads : 1);
		double dn = with_direct ? (double)r[0].ns / total : 0;
		double mn = (double)r[1].ns / total;
		double ratio = dn > 0 ? mn / dn : 0;
		double da = (double)r[0].allocs / total,
		       ma = (double)r[1].allocs / total;
		/* The APDU count spans the warm-up too (run_loop). */
		double calls = (double)(iters + iters / 20 + 1);
		double dap = r[0].apdus / calls, map = r[1].apdus / calls;
		if (!opt.quiet) {
			char tn[16] = "-";
			if (threads)
				snprintf(tn, sizeof(tn), "%d", threads);
			printf("%-12s %3s %8ld %12.1f %12.1f %7.3f",
			       opdefs[op].name, tn, iters, dn, mn, ratio);
			printf("  %6.2f/%-6.2f", da, ma);
			if (opt.apdu_log)
				printf("  %6.2f/%-6.2f", dap, map);
			if (opdefs[op].fn == op_find ||
			    opdefs[op].fn == op_findall)
				printf("  found %lu/%lu", r[0].found,
				       r[1].found);
			printf("\n");
		}
		if (tsv)
			fprintf(
			    tsv,
			    "%s\t%d\t%ld\t%.2f\t%.2f\t%.4f\t%.3f\t%.3f\t%lu\t%"
			    "lu\t%.2f\t%.2f\n",
			    opdefs[op].name, threads, iters, dn, mn, ratio, da,
			    ma, r[0].found, r[1].found, dap, map);
		fflush(stdout);
	}
done:
	for (child *c = first; c <= &cs[1]; c++)
		stop_child(c);
	if (opt.callgrind) {
		if (tsv)
			fprintf(tsv, "# callgrind\nop\titers\tdirect_ir\t"
				     "module_ir\tadded_ir\n");
		if (!opt.quiet)
			printf("%-12s %8s %14s %14s %12s\n", "op", "iters",
			       "direct Ir/call", "module Ir/call",
			       "added Ir/call");
		for (int p = 0; p < np; p++) {
			int op = plan[p].op;
			long long d =
			    with_direct
				? callgrind_ir(cs[0].cg_prefix, opdefs[op].name)
				: 0;
			long long m =
			    callgrind_ir(cs[1].cg_prefix, opdefs[op].name);
			double dn = (double)d / iters_used[p],
			       mn = (double)m / iters_used[p];
			if (!opt.quiet)
				printf("%-12s %8ld %14.1f %14.1f %12.1f\n",
				       opdefs[op].name, iters_used[p], dn, mn,
				       mn - dn);
			if (tsv)
				fprintf(tsv, "%s\t%ld\t%.1f\t%.1f\t%.1f\n",
					opdefs[op].name, iters_used[p], dn, mn,
					mn - dn);
			if (d < 0 || m < 0)
				status = 1;
		}
		if (!opt.cg_dir) {
			char cmd[128];
			snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", tmpdir);
			if (system(cmd) != 0)
				status = 1;
		}
	}
	if (tsv)
		fclose(tsv);
	return status;
}

int main(int argc, char **argv)
{
	const char *serve_path = NULL;
	int in_fd = -1, out_fd = -1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = strchr(a, '=');
		char key[64];
		size_t kl = v ? (size_t)(v - a) : strlen(a);
		if (kl >= sizeof(key))
			usage();
		memcpy(key, a, kl);
		key[kl] = 0;
		if (v)
			v++;
#define ARG() (v ? v : (i + 1 < argc ? argv[++i] : (usage(), "")))
		if (!strcmp(key, "--module"))
			opt.module = ARG();
		else if (!strcmp(key, "--direct"))
			opt.direct = ARG();
		else if (!strcmp(key, "--direct-also"))
			opt.direct_also = ARG();
		else if (!strcmp(key, "--serve-also"))
			serve_also = ARG();
		else if (!strcmp(key, "--label"))
			opt.label = ARG();
		else if (!strcmp(key, "--module-label"))
			opt.module_label = ARG();
		else if (!strcmp(key, "--pin"))
			opt.pin = ARG();
		else if (!strcmp(key, "--no-login"))
			opt.login = false;
		else if (!strcmp(key, "--objects"))
			opt.objects = atoi(ARG());
		else if (!strcmp(key, "--ops"))
			opt.ops = ARG();
		else if (!strcmp(key, "--mt-ops"))
			opt.mt_ops = ARG();
		else if (!strcmp(key, "--threads"))
			opt.threads = ARG();
		else if (!strcmp(key, "--iters"))
			opt.iters = atol(ARG());
		else if (!strcmp(key, "--scale"))
			opt.scale = atof(ARG());
		else if (!strcmp(key, "--tsv"))
			opt.tsv = ARG();
		else if (!strcmp(key, "--callgrind"))
			opt.callgrind = true;
		else if (!strcmp(key, "--valgrind"))
			opt.valgrind = ARG();
		else if (!strcmp(key, "--cg-dir"))
			opt.cg_dir = ARG();
		else if (!strcmp(key, "--apdu-log"))
			opt.apdu_log = ARG();
		else if (!strcmp(key, "--quiet"))
			opt.quiet = true;
		else if (!strcmp(key, "--serve"))
			serve_path = ARG();
		else if (!strcmp(key, "--serve-fds")) {
			if (sscanf(ARG(), "%d,%d", &in_fd, &out_fd) != 2)
				usage();
		} else
			usage();
#undef ARG
	}
	memset(kilobyte, 0x5a, sizeof(kilobyte));
	if (serve_path)
		return serve(serve_path, in_fd, out_fd);
	if (!opt.module)
		usage();
	ssize_t n =
	    readlink("/proc/self/exe", self_path, sizeof(self_path) - 1);
	if (n <= 0)
		return 1;
	self_path[n] = 0;
	signal(SIGPIPE, SIG_IGN);
	return parent();
}
