/* Card-side faults (issue 11) through p11overlay.so + OpenSC on the rig:
 *  - the card is removed between C_SignUpdate and C_SignFinal: an error
 *    CKR the standard allows, no crash or hang, the card works again
 *    after re-insertion;
 *  - pcscd is killed while 4 threads make calls: every call returns an
 *    allowed CKR, none hangs (watchdog), C_Finalize returns.
 * argv: p11overlay.so */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rel.h"

static CK_FUNCTION_LIST_PTR fl;
static const char *rig_dir;
static atomic_bool stop;
static atomic_ulong calls, errors;

static CK_SLOT_ID token_slot(const char *pin_name)
{
	CK_SLOT_ID ids[8];
	CK_ULONG n = 8;
	if (fl->C_GetSlotList(CK_TRUE, ids, &n) != CKR_OK)
		return ~0ul;
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		char l[33];
		if (fl->C_GetTokenInfo(ids[i], &ti) == CKR_OK) {
			p11test_trim(l, ti.label, 32);
			if (strstr(l, pin_name))
				return ids[i];
		}
	}
	return ~0ul;
}

static CK_RV sign_with_removal(bool remove)
{
	CK_SLOT_ID slot = token_slot("Identification");
	CK_SESSION_HANDLE s;
	if (slot == ~0ul || fl->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL,
					      NULL, &s) != CKR_OK) {
		rel_fail("no Identification token");
		return ~0ul;
	}
	REL_CHECK(fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "1234", 4) ==
		      CKR_OK,
		  "login");
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)}};
	CK_OBJECT_HANDLE key = 0;
	CK_ULONG n = 0;
	fl->C_FindObjectsInit(s, t, 1);
	fl->C_FindObjects(s, &key, 1, &n);
	fl->C_FindObjectsFinal(s);
	REL_CHECK(n == 1, "no private key");
	CK_MECHANISM m = {CKM_SHA256_RSA_PKCS, NULL, 0};
	REL_CHECK(REL_CALL(fl, C_SignInit, s, &m, key) == CKR_OK, "SignInit");
	REL_CALL(fl, C_SignUpdate, s, (CK_BYTE_PTR) "part one", 8);
	if (remove)
		p11test_rig_cmd("remove");
	REL_CALL(fl, C_SignUpdate, s, (CK_BYTE_PTR) "part two", 8);
	CK_BYTE sig[512];
	CK_ULONG len = sizeof(sig);
	CK_RV rv = REL_CALL(fl, C_SignFinal, s, sig, &len);
	REL_CALL(fl, C_CloseSession, s);
	return rv;
}

static void *caller(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		CK_SLOT_ID ids[8];
		CK_ULONG n = 8;
		CK_SESSION_HANDLE s;
		CK_TOKEN_INFO ti;
		atomic_fetch_add(&calls, 1);
		if (REL_CALL(fl, C_GetSlotList, CK_FALSE, ids, &n) != CKR_OK ||
		    !n) {
			atomic_fetch_add(&errors, 1);
			usleep(10000);
			continue;
		}
		atomic_fetch_add(&calls, 2);
		if (REL_CALL(fl, C_GetTokenInfo, ids[0], &ti) != CKR_OK ||
		    REL_CALL(fl, C_OpenSession, ids[0], CKF_SERIAL_SESSION,
			     NULL, NULL, &s) != CKR_OK) {
			atomic_fetch_add(&errors, 1);
			usleep(10000);
			continue;
		}
		CK_OBJECT_HANDLE h[4];
		CK_BYTE rnd[8];
		/* Reaches the card (GET CHALLENGE), not OpenSC's caches. */
		atomic_fetch_add(&calls, 5);
		if (REL_CALL(fl, C_GenerateRandom, s, rnd, sizeof(rnd)) !=
		    CKR_OK)
			atomic_fetch_add(&errors, 1);
		if (REL_CALL(fl, C_FindObjectsInit, s, NULL, 0) == CKR_OK) {
			REL_CALL(fl, C_FindObjects, s, h, 4, &n);
			REL_CALL(fl, C_FindObjectsFinal, s);
		}
		REL_CALL(fl, C_CloseSession, s);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	rel_watchdog(240, "test_card_faults");
	rig_dir = p11test_rig_start();
	p11test_write_config(getenv("RIG_OPENSC_MODULE"), NULL);
	p11test_module m;
	p11test_load(&m, argv[1]);
	fl = m.fl;
	REL_CHECK(fl->C_Initialize(NULL) == CKR_OK, "C_Initialize");

	REL_CHECK(sign_with_removal(false) == CKR_OK, "multi-part sign");
	CK_RV rv = sign_with_removal(true);
	REL_CHECK(rv != CKR_OK, "C_SignFinal after removal: CKR_OK");
	printf("C_SignFinal after card removal: 0x%lx\n", rv);
	p11test_rig_cmd("insert");
	/* Back: the card signs again (new token objects, new login). */
	REL_CHECK(sign_with_removal(false) == CKR_OK, "sign after insertion");

	/* pcscd killed under 4 calling threads. */
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, caller, NULL);
	usleep(500000);
	char path[512];
	snprintf(path, sizeof(path), "%s/pcscd.pid", rig_dir);
	FILE *f = fopen(path, "r");
	int pid = 0;
	if (!f || fscanf(f, "%d", &pid) != 1 || pid <= 0)
		rel_fail("no pcscd pid in %s", path);
	if (f)
		fclose(f);
	unsigned long before = atomic_load(&calls);
	REL_CHECK(pid > 0 && kill(pid, SIGKILL) == 0, "kill pcscd %d", pid);
	unsigned long errors_before = atomic_load(&errors);
	sleep(2);
	atomic_store(&stop, true);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	printf("pcscd killed: %lu calls before, %lu after (%lu failed "
	       "rounds)\n",
	       before, atomic_load(&calls) - before, atomic_load(&errors));
	REL_CHECK(atomic_load(&calls) > before, "no call returned after kill");
	REL_CHECK(atomic_load(&errors) > errors_before,
		  "no call failed after pcscd was killed");
	rv = fl->C_Finalize(NULL);
	REL_CHECK(rel_rv_allowed("C_Finalize", rv), "C_Finalize 0x%lx", rv);
	p11test_unload(&m);
	p11test_rig_cmd("stop");
	return rel_done("test_card_faults");
}
