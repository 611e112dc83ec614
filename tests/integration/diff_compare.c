/* Transcript comparison: lines are matched by their "<step>#<n>" key
 * (diff_record.h) and must be equal byte for byte. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Known differences between SoftHSM2 and p11overlay: the proxy's answer
 * is asserted exactly (its rv), the line is reported as KNOWN, and an
 * entry whose line no longer differs fails the run (keep this list
 * honest).  Each entry needs a decision by the lead: fix the proxy or
 * document the behaviour in docs/architecture.md. */
static const struct known {
	const char *key, *proxy_rv, *why;
} known[] = {
    /* Empty: every difference found so far was fixed in the proxy
     * (cross-token object handles: one handle table for all tokens;
     * C_WaitForSlotEvent with NULL pSlot: answered by the provider).  The
     * sentinel keeps the array non-empty. */
    {"", "", ""},
};

static const struct known *find_known(const char *line);

typedef struct lines {
	char **v;
	size_t n;
} lines;

static int read_lines(const char *path, lines *l)
{
	FILE *f = fopen(path, "r");
	l->v = NULL;
	l->n = 0;
	if (!f)
		return -1;
	char *buf = NULL;
	size_t cap = 0, alloc = 0;
	ssize_t len;
	while ((len = getline(&buf, &cap, f)) >= 0) {
		if (len > 0 && buf[len - 1] == '\n')
			buf[len - 1] = '\0';
		if (l->n == alloc) {
			alloc = alloc ? alloc * 2 : 256;
			l->v = realloc(l->v, alloc * sizeof(*l->v));
		}
		l->v[l->n++] = strdup(buf);
	}
	free(buf);
	fclose(f);
	return 0;
}

static void free_lines(lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

static size_t key_len(const char *s)
{
	const char *sp = strchr(s, ' ');
	return sp ? (size_t)(sp - s) : strlen(s);
}

static int same_key(const char *a, const char *b)
{
	size_t n = key_len(a);
	return n == key_len(b) && strncmp(a, b, n) == 0;
}

/* "<key> <fn> rv=<X> ..." -> fn and rv as printable pieces. */
static void split(const char *s, char *fn, char *rv, size_t len)
{
	fn[0] = rv[0] = '\0';
	sscanf(s, "%*s %127s", fn);
	const char *r = strstr(s, " rv=");
	if (r)
		snprintf(rv, len, "%.*s", (int)strcspn(r + 4, " "), r + 4);
}

static void report(const char *a, const char *b, const char *an, const char *bn)
{
	const char *l = a ? a : b;
	char fn[128], rva[128] = "-", rvb[128] = "-";
	split(l, fn, rva, sizeof(rva));
	if (a)
		split(a, fn, rva, sizeof(rva));
	if (b)
		split(b, fn, rvb, sizeof(rvb));
	printf("DIFF step %.*s  %s:  rv %s=%s %s=%s\n", (int)key_len(l), l, fn,
	       an, rva, bn, rvb);
	if (a && b) {
		size_t i = 0;
		while (a[i] && a[i] == b[i])
			i++;
		/* back to the start of the differing field */
		while (i > 0 && a[i - 1] != ' ')
			i--;
		printf("  first difference at: ...%.60s\n", a + i);
	}
	printf("  %-7s: %s\n", an, a ? a : "(call missing)");
	printf("  %-7s: %s\n", bn, b ? b : "(call missing)");
}

static size_t key_len(const char *s);

static const struct known *find_known(const char *line)
{
	size_t n = key_len(line);
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strlen(known[i].key) == n &&
		    strncmp(known[i].key, line, n) == 0)
			return &known[i];
	return NULL;
}

/* 1: an expected difference (reported); 0: not in the list; -1: listed
 * but the proxy's answer is not the expected one, or no difference. */
static int check_known(const char *a, const char *b, int differs)
{
	const struct known *k = find_known(a);
	if (!k)
		return 0;
	char fn[128], rv[128];
	split(b, fn, rv, sizeof(rv));
	if (differs && strcmp(rv, k->proxy_rv) == 0) {
		printf(
		    "KNOWN DIFF step %s (%s): %s\n  direct: %s\n  proxy : %s\n",
		    k->key, k->why, fn, a, b);
		return 1;
	}
	printf("KNOWN DIFF step %s (%s) %s: expected proxy %s\n", k->key,
	       k->why,
	       differs ? "changed" : "no longer differs: update the list",
	       k->proxy_rv);
	return -1;
}

int diff_compare(const char *a_path, const char *b_path, const char *an,
		 const char *bn)
{
	lines a, b;
	if (read_lines(a_path, &a) != 0 || read_lines(b_path, &b) != 0) {
		fprintf(stderr, "cannot read transcripts\n");
		return -1;
	}
	int diffs = 0;
	size_t j = 0, same = 0, nknown = 0;
	for (size_t i = 0; i < a.n; i++) {
		size_t k = j;
		while (k < b.n && !same_key(a.v[i], b.v[k]))
			k++;
		if (k == b.n) {
			report(a.v[i], NULL, an, bn);
			diffs++;
			continue;
		}
		for (; j < k; j++, diffs++)
			report(NULL, b.v[j], an, bn);
		int differs = strcmp(a.v[i], b.v[k]) != 0;
		int kn = strcmp(bn, "proxy") == 0
			     ? check_known(a.v[i], b.v[k], differs)
			     : 0;
		if (kn > 0) {
			nknown++;
		} else if (kn < 0) {
			report(a.v[i], b.v[k], an, bn);
			diffs++;
		} else if (differs) {
			report(a.v[i], b.v[k], an, bn);
			diffs++;
		} else {
			same++;
		}
		j = k + 1;
	}
	for (; j < b.n; j++, diffs++)
		report(NULL, b.v[j], an, bn);
	printf("compared %zu %s lines with %zu %s lines: %zu identical, %zu "
	       "known difference(s), %d difference(s)\n",
	       a.n, an, b.n, bn, same, nknown, diffs);
	free_lines(&a);
	free_lines(&b);
	return diffs;
}
