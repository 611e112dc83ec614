/* Name tables for the trace, expanded from trace_names.def: sorted once by
 * value, looked up by binary search. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "trace_int.h"

typedef struct p11o_nent {
	unsigned char tab;  /* enum p11o_ntab */
	unsigned char kind; /* enum p11o_attr_kind, CKA_ only */
	unsigned char len;  /* strlen(n) */
	unsigned long v;
	const char *n;
} p11o_nent;

typedef struct p11o_fent {
	unsigned char group;
	unsigned char len; /* strlen(n) */
	unsigned long v;
	const char *n;
} p11o_fent;

/* Every name of every table in one array, sorted by (table, value). */
#define P11O_FLAG(g, n)
#define P11O_ATTR(n, k) {P11O_NT_CKA, P11O_AT_##k, sizeof(#n) - 1, n, #n},
#define P11O_NAME(t, n) {P11O_NT_##t, 0, sizeof(#n) - 1, n, #n},
static p11o_nent names[] = {
#include "trace_names.def"
};
#undef P11O_FLAG
#undef P11O_ATTR
#undef P11O_NAME

#define P11O_FLAG(g, n) {P11O_FG_##g, sizeof(#n) - 1, n, #n},
#define P11O_ATTR(n, k)
#define P11O_NAME(t, n)
static p11o_fent flags[] = {
#include "trace_names.def"
};
#undef P11O_FLAG
#undef P11O_ATTR
#undef P11O_NAME

#define P11O_N(a) (sizeof(a) / sizeof((a)[0]))

/* Range of each table in `names` after sorting; direct index (+1) of the
 * small values every record uses (CKR_OK, CKS_*, CKO_*, ...); range of
 * each flag group in `flags`. */
#define P11O_SMALL 64
static struct {
	size_t lo, hi;
} ranges[P11O_NT_COUNT], franges[P11O_FG_COUNT];
static unsigned short small[P11O_NT_COUNT][P11O_SMALL];

/* Tables with a vendor range, and its name. */
static const char *const vendor[P11O_NT_COUNT] = {
    [P11O_NT_CKA] = "CKA_VENDOR_DEFINED", [P11O_NT_CKO] = "CKO_VENDOR_DEFINED",
    [P11O_NT_CKK] = "CKK_VENDOR_DEFINED", [P11O_NT_CKC] = "CKC_VENDOR_DEFINED",
    [P11O_NT_CKH] = "CKH_VENDOR_DEFINED", [P11O_NT_CKM] = "CKM_VENDOR_DEFINED",
    [P11O_NT_CKR] = "CKR_VENDOR_DEFINED",
};

static int cmp_nent(const void *a, const void *b)
{
	const p11o_nent *x = a, *y = b;
	if (x->tab != y->tab)
		return x->tab < y->tab ? -1 : 1;
	return x->v < y->v ? -1 : x->v > y->v;
}

static int cmp_fent(const void *a, const void *b)
{
	const p11o_fent *x = a, *y = b;
	if (x->group != y->group)
		return x->group < y->group ? -1 : 1;
	return x->v < y->v ? -1 : x->v > y->v;
}

static pthread_once_t sorted = PTHREAD_ONCE_INIT;
/* Checked on every lookup: one load instead of a pthread_once call. */
static atomic_bool ready;

static void sort_all(void)
{
	qsort(names, P11O_N(names), sizeof(names[0]), cmp_nent);
	for (size_t i = 0; i < P11O_N(names); i++) {
		if (i == 0 || names[i].tab != names[i - 1].tab)
			ranges[names[i].tab].lo = i;
		ranges[names[i].tab].hi = i + 1;
		if (names[i].v < P11O_SMALL)
			small[names[i].tab][names[i].v] =
			    (unsigned short)(i + 1);
	}
	qsort(flags, P11O_N(flags), sizeof(flags[0]), cmp_fent);
	for (size_t i = 0; i < P11O_N(flags); i++) {
		if (i == 0 || flags[i].group != flags[i - 1].group)
			franges[flags[i].group].lo = i;
		franges[flags[i].group].hi = i + 1;
	}
}

void p11o_trace_names_init(void)
{
	pthread_once(&sorted, sort_all);
	atomic_store_explicit(&ready, true, memory_order_release);
}

static const p11o_nent *find(enum p11o_ntab t, unsigned long v)
{
	if (!atomic_load_explicit(&ready, memory_order_acquire))
		p11o_trace_names_init();
	if (v < P11O_SMALL)
		return small[t][v] ? &names[small[t][v] - 1] : NULL;
	const p11o_nent *e = names;
	size_t lo = ranges[t].lo, hi = ranges[t].hi;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (e[mid].v < v)
			lo = mid + 1;
		else if (e[mid].v > v)
			hi = mid;
		else
			return &e[mid];
	}
	return NULL;
}

const char *p11o_trace_name(enum p11o_ntab t, unsigned long v)
{
	const p11o_nent *e = find(t, v);
	return e ? e->n : NULL;
}

enum p11o_attr_kind p11o_trace_attr_kind(unsigned long type)
{
	const p11o_nent *e = find(P11O_NT_CKA, type);
	return e ? (enum p11o_attr_kind)e->kind : P11O_AT_BYTES;
}

void p11o_tb_name(p11o_tbuf *b, enum p11o_ntab t, unsigned long v)
{
	const p11o_nent *e = find(t, v);
	if (e) {
		p11o_tb_mem(b, e->n, e->len);
		return;
	}
	if (vendor[t] && (v & CKA_VENDOR_DEFINED)) {
		p11o_tb_str(b, vendor[t]);
		P11O_TB_LIT(b, "|");
		p11o_tb_hex(b, v & ~CKA_VENDOR_DEFINED);
		return;
	}
	p11o_tb_hex(b, v);
}

void p11o_tb_flags(p11o_tbuf *b, enum p11o_fgroup g, unsigned long f)
{
	bool any = false;
	if (f == 0) {
		p11o_tb_c(b, '0');
		return;
	}
	p11o_trace_names_init();
	for (size_t i = franges[g].lo; i < franges[g].hi && f; i++) {
		if (!(f & flags[i].v))
			continue;
		if (any)
			p11o_tb_c(b, '|');
		p11o_tb_mem(b, flags[i].n, flags[i].len);
		f &= ~flags[i].v;
		any = true;
	}
	if (f) {
		if (any)
			p11o_tb_c(b, '|');
		p11o_tb_hex(b, f);
	}
}
