/* Soft-token labels through the proxy (issue 16; docs/architecture.md §4):
 * SoftHSM2 tokens initialised with labels holding invalid UTF-8 and
 * control characters.  SoftHSM2 itself returns the raw bytes; through the
 * proxy every such byte is '?', one for one, valid labels unchanged.
 * Tokens are matched by serial number.  argv[1] = p11overlay.so. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11test.h"

#define SOFTHSM "/usr/lib/softhsm/libsofthsm2.so"

static const struct {
	const char *label, *shown;
} cases[] = {
    {"a\xff"
     "b",
     "a?b"},
    {"c\x01"
     "d\x1b[0m",
     "c?d?[0m"},
    {"e\xc3\xa5"
     "f\xed\xa0\x80",
     "e\xc3\xa5"
     "f???"},
    {"plain \xc3\xa5 label", "plain \xc3\xa5 label"},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static int fails;

static void pad(CK_UTF8CHAR out[32], const char *s)
{
	memset(out, ' ', 32);
	memcpy(out, s, strlen(s));
}

/* The label of each case's token as `path` reports it, by serial. */
static void labels_of(const char *path, char serials[][17],
		      CK_UTF8CHAR got[][32])
{
	p11test_module m;
	CK_SLOT_ID ids[16];
	CK_ULONG n = 16;

	p11test_load(&m, path);
	if (m.fl->C_Initialize(NULL) != CKR_OK ||
	    m.fl->C_GetSlotList(CK_TRUE, ids, &n) != CKR_OK) {
		fprintf(stderr, "FAIL %s: C_Initialize/C_GetSlotList\n", path);
		exit(1);
	}
	for (size_t c = 0; c < NCASES; c++)
		memset(got[c], 0, 32);
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		if (m.fl->C_GetTokenInfo(ids[i], &ti) != CKR_OK)
			continue;
		for (size_t c = 0; c < NCASES; c++)
			if (!memcmp(ti.serialNumber, serials[c], 16))
				memcpy(got[c], ti.label, 32);
	}
	m.fl->C_Finalize(NULL);
	p11test_unload(&m);
}

static void expect(const char *who, size_t c, const CK_UTF8CHAR got[32],
		   const char *want)
{
	CK_UTF8CHAR w[32];
	pad(w, want);
	if (memcmp(got, w, 32) != 0) {
		fprintf(stderr, "FAIL %s, case %zu: label '%.32s', want '%s'\n",
			who, c, (const char *)got, want);
		fails++;
	} else {
		printf("ok - %s, case %zu\n", who, c);
	}
}

int main(int argc, char **argv)
{
	char serials[NCASES][17], cmd[512];
	CK_UTF8CHAR got[NCASES][32];

	if (argc != 2) {
		fprintf(stderr, "usage: %s p11overlay.so\n", argv[0]);
		return 2;
	}
	FILE *probe = fopen(SOFTHSM, "r");
	if (!probe) {
		printf("SKIP: SoftHSM2 not installed (" SOFTHSM ")\n");
		return 77;
	}
	fclose(probe);
	p11test_softhsm_start(NULL, NULL, NULL);
	for (size_t c = 0; c < NCASES; c++) {
		snprintf(cmd, sizeof(cmd),
			 "softhsm2-util --init-token --free --label '%s' "
			 "--pin 1234 --so-pin 123456 >/dev/null",
			 cases[c].label);
		if (system(cmd) != 0) {
			fprintf(stderr, "FAIL softhsm2-util, case %zu\n", c);
			return 1;
		}
	}
	/* The serials SoftHSM2 gave, found by the raw labels. */
	{
		p11test_module m;
		CK_SLOT_ID ids[16];
		CK_ULONG n = 16;
		size_t found = 0;
		p11test_load(&m, SOFTHSM);
		m.fl->C_Initialize(NULL);
		m.fl->C_GetSlotList(CK_TRUE, ids, &n);
		for (CK_ULONG i = 0; i < n; i++) {
			CK_TOKEN_INFO ti;
			CK_UTF8CHAR w[32];
			if (m.fl->C_GetTokenInfo(ids[i], &ti) != CKR_OK)
				continue;
			for (size_t c = 0; c < NCASES; c++) {
				pad(w, cases[c].label);
				if (!memcmp(ti.label, w, 32)) {
					memcpy(serials[c], ti.serialNumber, 16);
					serials[c][16] = '\0';
					found++;
				}
			}
		}
		m.fl->C_Finalize(NULL);
		p11test_unload(&m);
		if (found != NCASES) {
			fprintf(stderr,
				"FAIL SoftHSM2 directly: %zu of %zu raw labels "
				"found\n",
				found, NCASES);
			return 1;
		}
		printf("ok - SoftHSM2 directly: every label raw\n");
	}
	p11test_write_config(SOFTHSM, NULL);
	labels_of(argv[1], serials, got);
	for (size_t c = 0; c < NCASES; c++)
		expect("through the proxy", c, got[c], cases[c].shown);
	p11test_softhsm_stop();
	printf("%d failure(s)\n", fails);
	return fails ? 1 : 0;
}
