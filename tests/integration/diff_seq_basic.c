/* Sequences: before C_Initialize, C_Initialize/C_Finalize edge cases,
 * CK_INFO, slots, tokens, mechanisms, sessions and login. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "diff_record.h"

#define PIN(p) (CK_UTF8CHAR *)(p), (CK_ULONG)strlen(p)
#define BAD_SLOT ((CK_SLOT_ID)0xFFFFFFF0UL)
#define BAD_SLOT2 ((CK_SLOT_ID) ~(CK_SLOT_ID)1)

/* Every function before C_Initialize, with plausible arguments. */
void seq_before_init(void)
{
	CK_INFO info;
	CK_SLOT_ID slots[8], slot;
	CK_ULONG n = 8, len = 16;
	CK_SLOT_INFO si;
	CK_TOKEN_INFO ti;
	CK_MECHANISM_TYPE mechs[8];
	CK_MECHANISM_INFO mi;
	CK_SESSION_HANDLE s = 1;
	CK_SESSION_INFO sinfo;
	CK_OBJECT_HANDLE o = 1, o2;
	CK_BYTE buf[64] = {0}, out[64];
	CK_ATTRIBUTE attr = {CKA_LABEL, buf, sizeof(buf)};
	CK_MECHANISM m = {CKM_SHA256, NULL, 0};
	CK_UTF8CHAR label[32];
	memset(label, ' ', 32);

	rec_step("before-init");
	CALL(C_Finalize, NULL);
	CALL(C_Finalize, (void *)1);
	CALL(C_GetInfo, &info);
	CALL(C_GetInfo, NULL);
	CALL(C_GetSlotList, CK_FALSE, NULL, &n);
	CALL(C_GetSlotList, CK_TRUE, slots, &n);
	CALL(C_GetSlotList, CK_FALSE, NULL, NULL);
	CALL(C_GetSlotInfo, 0, &si);
	CALL(C_GetTokenInfo, 0, &ti);
	CALL(C_WaitForSlotEvent, CKF_DONT_BLOCK, &slot, NULL);
	n = 8;
	CALL(C_GetMechanismList, 0, mechs, &n);
	CALL(C_GetMechanismInfo, 0, CKM_SHA256, &mi);
	CALL(C_InitToken, 0, PIN(SO_PIN), label);
	CALL(C_InitPIN, s, PIN(USER_PIN));
	CALL(C_SetPIN, s, PIN(USER_PIN), PIN(NEW_PIN));
	CALL(C_OpenSession, 0, CKF_SERIAL_SESSION, NULL, NULL, &s);
	CALL(C_CloseSession, s);
	CALL(C_CloseAllSessions, 0);
	CALL(C_GetSessionInfo, s, &sinfo);
	CALL(C_GetOperationState, s, out, &len);
	CALL(C_SetOperationState, s, buf, 16, 0, 0);
	CALL(C_Login, s, CKU_USER, PIN(USER_PIN));
	CALL(C_Logout, s);
	CALL(C_CreateObject, s, &attr, 1, &o2);
	CALL(C_CopyObject, s, o, &attr, 1, &o2);
	CALL(C_DestroyObject, s, o);
	CALL(C_GetObjectSize, s, o, &len);
	CALL(C_GetAttributeValue, s, o, &attr, 1);
	CALL(C_SetAttributeValue, s, o, &attr, 1);
	CALL(C_FindObjectsInit, s, NULL, 0);
	CALL(C_FindObjects, s, &o2, 1, &n);
	CALL(C_FindObjectsFinal, s);
	CALL(C_EncryptInit, s, &m, o);
	len = sizeof(out);
	CALL(C_Encrypt, s, buf, 16, out, &len);
	CALL(C_EncryptUpdate, s, buf, 16, out, &len);
	CALL(C_EncryptFinal, s, out, &len);
	CALL(C_DecryptInit, s, &m, o);
	CALL(C_Decrypt, s, buf, 16, out, &len);
	CALL(C_DecryptUpdate, s, buf, 16, out, &len);
	CALL(C_DecryptFinal, s, out, &len);
	CALL(C_DigestInit, s, &m);
	CALL(C_Digest, s, buf, 16, out, &len);
	CALL(C_DigestUpdate, s, buf, 16);
	CALL(C_DigestKey, s, o);
	CALL(C_DigestFinal, s, out, &len);
	CALL(C_SignInit, s, &m, o);
	CALL(C_Sign, s, buf, 16, out, &len);
	CALL(C_SignUpdate, s, buf, 16);
	CALL(C_SignFinal, s, out, &len);
	CALL(C_SignRecoverInit, s, &m, o);
	CALL(C_SignRecover, s, buf, 16, out, &len);
	CALL(C_VerifyInit, s, &m, o);
	CALL(C_Verify, s, buf, 16, out, 16);
	CALL(C_VerifyUpdate, s, buf, 16);
	CALL(C_VerifyFinal, s, out, 16);
	CALL(C_VerifyRecoverInit, s, &m, o);
	CALL(C_VerifyRecover, s, buf, 16, out, &len);
	CALL(C_DigestEncryptUpdate, s, buf, 16, out, &len);
	CALL(C_DecryptDigestUpdate, s, buf, 16, out, &len);
	CALL(C_SignEncryptUpdate, s, buf, 16, out, &len);
	CALL(C_DecryptVerifyUpdate, s, buf, 16, out, &len);
	CALL(C_GenerateKey, s, &m, &attr, 1, &o2);
	CALL(C_GenerateKeyPair, s, &m, &attr, 1, &attr, 1, &o, &o2);
	CALL(C_WrapKey, s, &m, o, o, out, &len);
	CALL(C_UnwrapKey, s, &m, o, buf, 16, &attr, 1, &o2);
	CALL(C_DeriveKey, s, &m, o, &attr, 1, &o2);
	CALL(C_SeedRandom, s, buf, 16);
	CALL(C_GenerateRandom, s, out, 16);
	CALL(C_GetFunctionStatus, s);
	CALL(C_CancelFunction, s);
}

static CK_RV create_mutex(CK_VOID_PTR_PTR m)
{
	pthread_mutex_t *p = malloc(sizeof(*p));
	if (!p)
		return CKR_HOST_MEMORY;
	pthread_mutex_init(p, NULL);
	*m = p;
	return CKR_OK;
}
static CK_RV destroy_mutex(CK_VOID_PTR m)
{
	pthread_mutex_destroy(m);
	free(m);
	return CKR_OK;
}
static CK_RV lock_mutex(CK_VOID_PTR m)
{
	return pthread_mutex_lock(m) ? CKR_MUTEX_BAD : CKR_OK;
}
static CK_RV unlock_mutex(CK_VOID_PTR m)
{
	return pthread_mutex_unlock(m) ? CKR_MUTEX_NOT_LOCKED : CKR_OK;
}

void seq_init_edges(void)
{
	CK_C_INITIALIZE_ARGS a;
	rec_step("init");
	memset(&a, 0, sizeof(a));
	a.pReserved = &a;
	CALL(C_Initialize, &a);
	memset(&a, 0, sizeof(a));
	a.CreateMutex = create_mutex;
	CALL(C_Initialize, &a);
	a.DestroyMutex = destroy_mutex;
	a.LockMutex = lock_mutex;
	CALL(C_Initialize, &a); /* 3 of 4 */
	a.CreateMutex = NULL;
	a.UnlockMutex = unlock_mutex;
	a.flags = CKF_OS_LOCKING_OK;
	CALL(C_Initialize, &a); /* 3 of 4 with OS locking */
	a.CreateMutex = create_mutex;
	CALL(C_Initialize, &a); /* all four + OS locking */
	CALL(C_Initialize, &a);
	CALL(C_Initialize, NULL);
	CALL(C_Finalize, (void *)1);
	CALL(C_Finalize, NULL);
	CALL(C_Finalize, NULL);
	memset(&a, 0, sizeof(a));
	a.CreateMutex = create_mutex;
	a.DestroyMutex = destroy_mutex;
	a.LockMutex = lock_mutex;
	a.UnlockMutex = unlock_mutex;
	CALL(C_Initialize, &a); /* application's callbacks only */
	CALL(C_Finalize, NULL);
	memset(&a, 0, sizeof(a));
	a.flags = CKF_OS_LOCKING_OK;
	CALL(C_Initialize, &a);
	CALL(C_Finalize, NULL);
	memset(&a, 0, sizeof(a));
	a.flags = CKF_LIBRARY_CANT_CREATE_OS_THREADS;
	CALL(C_Initialize, &a);
	CALL(C_Finalize, NULL);
	CALL(C_Initialize, NULL);
	CALL(C_Initialize, NULL);
}

static void rec_token_info(const CK_TOKEN_INFO *t)
{
	rec_text("label", t->label, 32);
	rec_text("manuf", t->manufacturerID, 32);
	rec_text("model", t->model, 16);
	rec_text("serial", t->serialNumber, 16);
	rec_ul("flags", t->flags);
	rec_len("maxSess", t->ulMaxSessionCount);
	rec_len("sess", t->ulSessionCount);
	rec_len("maxRw", t->ulMaxRwSessionCount);
	rec_len("rw", t->ulRwSessionCount);
	rec_ul("maxPin", t->ulMaxPinLen);
	rec_ul("minPin", t->ulMinPinLen);
	rec_len("totPub", t->ulTotalPublicMemory);
	rec_len("freePub", t->ulFreePublicMemory);
	rec_len("totPriv", t->ulTotalPrivateMemory);
	rec_len("freePriv", t->ulFreePrivateMemory);
	rec_ul("hw",
	       t->hardwareVersion.major * 256u + t->hardwareVersion.minor);
	rec_ul("fw",
	       t->firmwareVersion.major * 256u + t->firmwareVersion.minor);
	/* The token's clock: only its format is compared. */
	int digits = 0;
	for (int i = 0; i < 16; i++)
		digits += t->utcTime[i] >= '0' && t->utcTime[i] <= '9';
	rec_ul("timeDigits", digits);
}

static void token_info(CK_SLOT_ID slot)
{
	CK_TOKEN_INFO *t = rec_canary_buf(sizeof(*t));
	memset(t, 0, sizeof(*t));
	if (CALL(C_GetTokenInfo, slot, t) == CKR_OK)
		rec_token_info(t);
	rec_canary("canary", t);
}

static void info(void)
{
	CK_INFO *ip = rec_canary_buf(sizeof(*ip)), i;
	rec_step("info");
	memset(ip, 0, sizeof(*ip));
	if (CALL(C_GetInfo, ip) == CKR_OK) {
		i = *ip;
		rec_ul("flags", i.flags);
		/* Proxy-owned fields (docs/architecture.md §1): checked, not
		 * compared. */
		char expect[32];
		memset(expect, ' ', 32);
		memcpy(expect, "p11overlay", 10);
		if (!D.is_proxy || (i.cryptokiVersion.major == 2 &&
				    i.cryptokiVersion.minor == 11 &&
				    memcmp(i.manufacturerID, expect, 32) == 0))
			rec_str("owned", "ok");
		else {
			rec_str("owned", "BAD");
			rec_ul("major", i.cryptokiVersion.major);
			rec_ul("minor", i.cryptokiVersion.minor);
			rec_text("manuf", i.manufacturerID, 32);
		}
	}
	rec_canary("canary", ip);
	CALL(C_GetInfo, NULL);
}

static void slot_list(void)
{
	CK_SLOT_ID list[MAX_REC_SLOTS];
	CK_ULONG n = 0;
	rec_step("slot-list");
	CALL(C_GetSlotList, CK_FALSE, NULL, &n);
	rec_ul("count", n);
	D.nslots = MAX_REC_SLOTS;
	CALL(C_GetSlotList, CK_FALSE, D.slots, &D.nslots);
	rec_ul("count", D.nslots);
	for (CK_ULONG i = 0; i < D.nslots; i++)
		rec_slot("id", D.slots[i]);
	for (CK_BBOOL present = 0; present < 2; present++) {
		n = 0;
		CALL(C_GetSlotList, present, NULL, &n);
		rec_ul("count", n);
		for (CK_ULONG room = 0; room < 2; room++) {
			CK_SLOT_ID *c = rec_canary_buf(room * sizeof(*c));
			n = room;
			CALL(C_GetSlotList, present, c, &n);
			rec_ul("count", n);
			rec_canary("canary", c);
		}
		n = MAX_REC_SLOTS;
		CALL(C_GetSlotList, present, list, &n);
		rec_ul("count", n);
		for (CK_ULONG i = 0; i < n; i++)
			rec_slot("id", list[i]);
	}
	CALL(C_GetSlotList, CK_TRUE, NULL, NULL);
	CALL(C_GetSlotList, CK_TRUE, list, NULL);
	/* Which slot is which test token (position recorded). */
	D.slot_a = D.slot_b = D.slot_empty = BAD_SLOT;
	for (CK_ULONG i = 0; i < D.nslots; i++) {
		CK_TOKEN_INFO t;
		if (D.f->C_GetTokenInfo(D.slots[i], &t) != CKR_OK)
			continue;
		if (!memcmp(t.label, LABEL_A, strlen(LABEL_A)))
			D.slot_a = D.slots[i];
		else if (!memcmp(t.label, LABEL_B, strlen(LABEL_B)))
			D.slot_b = D.slots[i];
		else if (!(t.flags & CKF_TOKEN_INITIALIZED))
			D.slot_empty = D.slots[i];
	}
	rec_call("(test tokens)", CKR_OK);
	rec_slot("a", D.slot_a);
	rec_slot("b", D.slot_b);
	rec_slot("empty", D.slot_empty);
}

static void slots_tokens_mechs(void)
{
	rec_step("slot-info");
	for (CK_ULONG i = 0; i < D.nslots; i++) {
		CK_SLOT_INFO *si = rec_canary_buf(sizeof(*si));
		memset(si, 0, sizeof(*si));
		if (CALL(C_GetSlotInfo, D.slots[i], si) == CKR_OK) {
			rec_text("desc", si->slotDescription, 64);
			rec_text("manuf", si->manufacturerID, 32);
			rec_ul("flags", si->flags);
			rec_ul("hw", si->hardwareVersion.major * 256u +
					 si->hardwareVersion.minor);
			rec_ul("fw", si->firmwareVersion.major * 256u +
					 si->firmwareVersion.minor);
		}
		rec_canary("canary", si);
		CALL(C_GetSlotInfo, D.slots[i], NULL);
		token_info(D.slots[i]);
		CALL(C_GetTokenInfo, D.slots[i], NULL);
	}
	rec_step("bad-slot");
	CK_SLOT_ID bad[] = {BAD_SLOT, BAD_SLOT2};
	for (size_t i = 0; i < 2; i++) {
		CK_SLOT_INFO si;
		CK_MECHANISM_INFO mi;
		CK_ULONG n = 0;
		CK_SESSION_HANDLE s = 0;
		CK_UTF8CHAR label[32];
		memset(label, ' ', 32);
		CALL(C_GetSlotInfo, bad[i], &si);
		token_info(bad[i]);
		CALL(C_GetMechanismList, bad[i], NULL, &n);
		CALL(C_GetMechanismInfo, bad[i], CKM_SHA256, &mi);
		CALL(C_OpenSession, bad[i], CKF_SERIAL_SESSION, NULL, NULL, &s);
		CALL(C_CloseAllSessions, bad[i]);
		CALL(C_InitToken, bad[i], PIN(SO_PIN), label);
	}
	CK_SLOT_ID ev = 0;
	CALL(C_WaitForSlotEvent, CKF_DONT_BLOCK, &ev, NULL);

	rec_step("mechanisms");
	CK_MECHANISM_TYPE mechs[256];
	CK_ULONG n = 0;
	CALL(C_GetMechanismList, D.slot_a, NULL, &n);
	rec_ul("count", n);
	CK_ULONG total = n;
	CK_MECHANISM_TYPE *short_list = rec_canary_buf(sizeof(*short_list));
	n = 1;
	CALL(C_GetMechanismList, D.slot_a, short_list, &n);
	rec_ul("count", n);
	rec_canary("canary", short_list);
	CALL(C_GetMechanismList, D.slot_a, NULL, NULL);
	n = 256;
	memset(mechs, 0, sizeof(mechs));
	if (CALL(C_GetMechanismList, D.slot_a, mechs, &n) == CKR_OK)
		rec_hex("list", mechs, n * sizeof(CK_MECHANISM_TYPE));
	else
		n = 0;
	(void)total;
	for (CK_ULONG i = 0; i < n && i < 256; i++) {
		CK_MECHANISM_INFO *mi = rec_canary_buf(sizeof(*mi));
		memset(mi, 0, sizeof(*mi));
		if (CALL(C_GetMechanismInfo, D.slot_a, mechs[i], mi) ==
		    CKR_OK) {
			rec_ul("mech", mechs[i]);
			rec_ul("min", mi->ulMinKeySize);
			rec_ul("max", mi->ulMaxKeySize);
			rec_ul("flags", mi->flags);
		}
		rec_canary("canary", mi);
	}
	CK_MECHANISM_INFO mi;
	CALL(C_GetMechanismInfo, D.slot_a, 0x8000abcdUL, &mi);
	CALL(C_GetMechanismInfo, D.slot_a, CKM_SHA256, NULL);
	n = 0;
	CALL(C_GetMechanismList, D.slot_empty, NULL, &n);
	rec_ul("count", n);
}

void seq_info_slots(void)
{
	info();
	slot_list();
	slots_tokens_mechs();
}

static void session_info(CK_SESSION_HANDLE s)
{
	CK_SESSION_INFO *i = rec_canary_buf(sizeof(*i));
	memset(i, 0, sizeof(*i));
	if (CALL(C_GetSessionInfo, s, i) == CKR_OK) {
		rec_slot("slot", i->slotID);
		rec_ul("state", i->state);
		rec_ul("flags", i->flags);
		rec_ul("devErr", i->ulDeviceError);
	}
	rec_canary("canary", i);
}

static CK_SESSION_HANDLE open_s(CK_SLOT_ID slot, CK_FLAGS flags)
{
	CK_SESSION_HANDLE s = 0;
	if (CALL(C_OpenSession, slot, flags, NULL, NULL, &s) == CKR_OK)
		rec_sess("h", s);
	return s;
}

static void close_session(CK_SESSION_HANDLE s)
{
	CALL(C_CloseSession, s);
	rec_forget_sess(s);
}

void seq_sessions_login(void)
{
	const CK_FLAGS RO = CKF_SERIAL_SESSION, RW = RO | CKF_RW_SESSION;
	rec_step("sessions");
	CK_SESSION_HANDLE s = 0;
	CALL(C_OpenSession, D.slot_a, 0, NULL, NULL, &s);
	CALL(C_OpenSession, D.slot_a, RO, NULL, NULL, NULL);
	CK_SESSION_HANDLE ro = open_s(D.slot_a, RO);
	CK_SESSION_HANDLE rw = open_s(D.slot_a, RW);
	session_info(ro);
	session_info(rw);
	CALL(C_GetSessionInfo, rw, NULL);
	token_info(D.slot_a);
	close_session(ro);
	session_info(ro); /* closed */
	CALL(C_CloseSession, ro);
	CALL(C_CloseSession, 0);
	CALL(C_CloseSession, 12345);
	session_info(0);
	session_info(12345);
	CK_SESSION_HANDLE b1 = open_s(D.slot_b, RO), b2 = open_s(D.slot_b, RW);
	CK_SESSION_HANDLE a1 = open_s(D.slot_a, RO);
	token_info(D.slot_b);
	CALL(C_CloseAllSessions, D.slot_b);
	session_info(b1);
	session_info(b2);
	session_info(a1);
	session_info(rw);
	rec_forget_sess(b1);
	rec_forget_sess(b2);
	CALL(C_CloseAllSessions, D.slot_b);
	open_s(D.slot_empty, RO);
	close_session(a1);
	close_session(rw);

	rec_step("login");
	rw = open_s(D.slot_a, RW);
	ro = open_s(D.slot_a, RO);
	CALL(C_Logout, rw);
	CALL(C_Login, rw, CKU_USER, PIN("0000"));
	token_info(D.slot_a);
	CALL(C_Login, rw, CKU_USER, NULL, 4);
	CALL(C_Login, rw, 7, PIN(USER_PIN));
	CALL(C_Login, 0, CKU_USER, PIN(USER_PIN));
	CALL(C_Login, rw, CKU_SO, PIN(SO_PIN)); /* RO session exists */
	CALL(C_Login, rw, CKU_CONTEXT_SPECIFIC, PIN(USER_PIN));
	CALL(C_Login, rw, CKU_USER, PIN(USER_PIN));
	token_info(D.slot_a);
	session_info(rw);
	session_info(ro);
	CALL(C_Login, ro, CKU_USER, PIN(USER_PIN));
	CALL(C_Login, rw, CKU_SO, PIN(SO_PIN));
	CALL(C_Logout, ro);
	session_info(rw);
	CALL(C_Logout, rw);
	close_session(ro);
	CALL(C_Login, rw, CKU_SO, PIN("bad-so-pin"));
	CALL(C_Login, rw, CKU_SO, PIN(SO_PIN));
	session_info(rw);
	CK_SESSION_HANDLE ro2 = 0;
	CALL(C_OpenSession, D.slot_a, RO, NULL, NULL, &ro2);
	CALL(C_Login, rw, CKU_USER, PIN(USER_PIN));
	CALL(C_Logout, rw);
	CALL(C_Login, rw, CKU_USER, PIN(USER_PIN));
	session_info(rw);
	/* A session opened while logged in shares the login state. */
	ro = open_s(D.slot_a, RO);
	session_info(ro);
	close_session(ro);
	D.rw = rw;
}

void seq_after_finalize(void)
{
	rec_step("finalize");
	CK_SESSION_HANDLE s = D.rw;
	CALL(C_CloseAllSessions, D.slot_a);
	session_info(s);
	CALL(C_Finalize, NULL);
	rec_step("after-finalize");
	CK_INFO i;
	CK_ULONG n = 0;
	CALL(C_GetInfo, &i);
	CALL(C_GetSlotList, CK_FALSE, NULL, &n);
	session_info(s);
	CALL(C_Finalize, NULL);
	CALL(C_Initialize, NULL);
	session_info(s); /* handles do not survive C_Finalize */
	CALL(C_Finalize, NULL);
}
