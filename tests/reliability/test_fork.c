/* Fork (docs/architecture.md §3, issue 11): with the parent initialised, a
 * forked child gets CKR_CRYPTOKI_NOT_INITIALIZED, then works after its own
 * C_Initialize; the parent keeps working during and after.  SoftHSM2 and
 * the card rig.  argv: p11overlay.so softhsm|card */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rel.h"

static CK_FUNCTION_LIST_PTR fl;

/* Some slot with a token, its info readable, a session opens. */
static int works(void)
{
	CK_SLOT_ID ids[8];
	CK_ULONG n = 8;
	CK_TOKEN_INFO ti;
	CK_SESSION_HANDLE s;
	if (fl->C_GetSlotList(CK_TRUE, ids, &n) != CKR_OK || n == 0)
		return 1;
	if (fl->C_GetTokenInfo(ids[0], &ti) != CKR_OK)
		return 2;
	if (fl->C_OpenSession(ids[0], CKF_SERIAL_SESSION, NULL, NULL, &s) !=
	    CKR_OK)
		return 3;
	CK_OBJECT_HANDLE h[4];
	CK_ULONG found;
	if (fl->C_FindObjectsInit(s, NULL, 0) != CKR_OK ||
	    fl->C_FindObjects(s, h, 4, &found) != CKR_OK ||
	    fl->C_FindObjectsFinal(s) != CKR_OK)
		return 4;
	return fl->C_CloseSession(s) == CKR_OK ? 0 : 5;
}

static int child(void)
{
	CK_ULONG n;
	CK_INFO info;
	if (fl->C_GetSlotList(CK_FALSE, NULL, &n) !=
	    CKR_CRYPTOKI_NOT_INITIALIZED)
		return 10;
	if (fl->C_GetInfo(&info) != CKR_CRYPTOKI_NOT_INITIALIZED)
		return 11;
	if (fl->C_Finalize(NULL) != CKR_CRYPTOKI_NOT_INITIALIZED)
		return 12;
	if (fl->C_Initialize(NULL) != CKR_OK)
		return 13;
	int r = works();
	if (r)
		return 20 + r;
	return fl->C_Finalize(NULL) == CKR_OK ? 0 : 14;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	bool card = strcmp(argv[2], "card") == 0;
	rel_watchdog(150, "test_fork");
	if (card) {
		p11test_rig_start();
		p11test_write_config(getenv("RIG_OPENSC_MODULE"), NULL);
	} else {
		p11test_softhsm_start("Fork", "1234", "5678");
		p11test_write_config("/usr/lib/softhsm/libsofthsm2.so", NULL);
	}
	p11test_module m;
	p11test_load(&m, argv[1]);
	fl = m.fl;
	REL_CHECK(fl->C_Initialize(NULL) == CKR_OK, "parent C_Initialize");
	REL_CHECK(works() == 0, "parent before fork: %d", works());
	for (int round = 0; round < 3; round++) {
		fflush(NULL);
		pid_t pid = fork();
		if (pid == 0)
			_exit(child());
		/* The parent works while the child does. */
		int r = works();
		REL_CHECK(r == 0, "parent during child %d: %d", round, r);
		int st;
		waitpid(pid, &st, 0);
		REL_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			  "child %d: status 0x%x", round, st);
		r = works();
		REL_CHECK(r == 0, "parent after child %d: %d", round, r);
	}
	REL_CHECK(fl->C_Finalize(NULL) == CKR_OK, "parent C_Finalize");
	p11test_unload(&m);
	if (card)
		p11test_rig_cmd("stop");
	else
		p11test_softhsm_stop();
	return rel_done(card ? "test_fork card" : "test_fork softhsm");
}
