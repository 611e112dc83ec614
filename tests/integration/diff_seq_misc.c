/* Sequences: wrap/unwrap, derive, C_InitPIN/C_SetPIN, C_InitToken,
 * operation state, functions SoftHSM2 does not support. */
#include <string.h>

#include "diff_keys.h"
#include "diff_record.h"

extern const unsigned char aes2_value[16];
static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
static CK_OBJECT_CLASS c_secret = CKO_SECRET_KEY;
static CK_KEY_TYPE k_aes = CKK_AES, k_generic = CKK_GENERIC_SECRET;

#define PIN(p) (CK_UTF8CHAR *)(p), (CK_ULONG)strlen(p)

static void wrap_unwrap(CK_SESSION_HANDLE s, CK_MECHANISM *m,
			CK_OBJECT_HANDLE wk, CK_OBJECT_HANDLE uk, int det)
{
	CK_BYTE w[512];
	CK_ULONG len = 0;
	memset(w, 0, sizeof(w));
	CALL(C_WrapKey, s, m, wk, D.aes2, NULL, &len);
	rec_ul("len", len);
	CK_ULONG need = len;
	len = need ? need - 1 : 0;
	CK_BYTE *short_w = rec_canary_buf(len);
	CALL(C_WrapKey, s, m, wk, D.aes2, short_w, &len);
	rec_ul("len", len);
	rec_canary("canary", short_w);
	len = sizeof(w);
	if (CALL(C_WrapKey, s, m, wk, D.aes2, w, &len) == CKR_OK) {
		if (det)
			rec_hex("wrapped", w, len);
		else
			rec_ul("len", len);
	}
	CK_ATTRIBUTE t[] = {
	    ATTR(CKA_CLASS, &c_secret),  ATTR(CKA_KEY_TYPE, &k_aes),
	    ATTR(CKA_TOKEN, &no),        ATTR(CKA_SENSITIVE, &no),
	    ATTR(CKA_EXTRACTABLE, &yes), ATTR(CKA_ENCRYPT, &yes)};
	CK_OBJECT_HANDLE h = 0;
	if (CALL(C_UnwrapKey, s, m, uk, w, len, t, 6, &h) == CKR_OK)
		rec_obj("h", h);
	diff_get_attr(s, h, CKA_VALUE);
	CALL(C_UnwrapKey, s, m, uk, w, len, t, 6, NULL);
	CALL(C_UnwrapKey, s, m, uk, NULL, len, t, 6, &h);
	CALL(C_UnwrapKey, s, m, uk, w, len - 1, t, 6, &h);
	CALL(C_UnwrapKey, s, m, uk, w, len, NULL, 6, &h);
	CALL(C_UnwrapKey, s, m, 12345, w, len, t, 6, &h);
	CALL(C_WrapKey, s, m, wk, 12345, w, &len);
	CALL(C_WrapKey, s, m, 12345, D.aes2, w, &len);
	CALL(C_WrapKey, s, m, wk, D.aes2, w, NULL);
}

static void wrap_derive(CK_SESSION_HANDLE s)
{
	rec_step("wrap");
	CK_MECHANISM kw = {CKM_AES_KEY_WRAP, NULL, 0};
	CK_MECHANISM_INFO mi;
	if (CALL(C_GetMechanismInfo, D.slot_a, CKM_AES_KEY_WRAP, &mi) == CKR_OK)
		wrap_unwrap(s, &kw, D.aes, D.aes, 1);
	CK_MECHANISM kwp = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
	if (CALL(C_GetMechanismInfo, D.slot_a, CKM_AES_KEY_WRAP_PAD, &mi) ==
	    CKR_OK)
		wrap_unwrap(s, &kwp, D.aes, D.aes, 1);
	CK_MECHANISM pkcs = {CKM_RSA_PKCS, NULL, 0};
	wrap_unwrap(s, &pkcs, D.rsa_pub, D.rsa_priv, 0);
	CK_RSA_PKCS_OAEP_PARAMS o1 = {CKM_SHA_1, CKG_MGF1_SHA1, 0, NULL, 0};
	CK_MECHANISM oaep = {CKM_RSA_PKCS_OAEP, &o1, sizeof(o1)};
	wrap_unwrap(s, &oaep, D.rsa_pub, D.rsa_priv, 0);
	CK_ULONG len = 64;
	CK_BYTE w[64];
	/* Unextractable (generated with CKA_EXTRACTABLE false). */
	CALL(C_WrapKey, s, &kw, D.aes, D.gen_aes, w, &len);
	CALL(C_WrapKey, s, NULL, D.aes, D.aes2, w, &len);

	rec_step("derive");
	CK_ECDH1_DERIVE_PARAMS ep = {CKD_NULL, 0, NULL, sizeof(ec_point) - 2,
				     (CK_BYTE_PTR)ec_point + 2};
	CK_MECHANISM ecdh = {CKM_ECDH1_DERIVE, &ep, sizeof(ep)};
	CK_ULONG vlen = 32;
	CK_ATTRIBUTE t[] = {
	    ATTR(CKA_CLASS, &c_secret),  ATTR(CKA_KEY_TYPE, &k_generic),
	    ATTR(CKA_TOKEN, &no),        ATTR(CKA_SENSITIVE, &no),
	    ATTR(CKA_EXTRACTABLE, &yes), ATTR(CKA_VALUE_LEN, &vlen)};
	CK_OBJECT_HANDLE h = 0;
	if (CALL(C_DeriveKey, s, &ecdh, D.ec_priv, t, 6, &h) == CKR_OK)
		rec_obj("h", h);
	diff_get_attr(s, h, CKA_VALUE);
	CALL(C_DeriveKey, s, &ecdh, D.ec_priv, t, 6, NULL);
	CALL(C_DeriveKey, s, &ecdh, 12345, t, 6, &h);
	CALL(C_DeriveKey, s, NULL, D.ec_priv, t, 6, &h);
	CK_MECHANISM ecdh_np = {CKM_ECDH1_DERIVE, NULL, 0};
	CALL(C_DeriveKey, s, &ecdh_np, D.ec_priv, t, 6, &h);
}

static void token_flags(CK_SLOT_ID slot)
{
	CK_TOKEN_INFO t;
	memset(&t, 0, sizeof(t));
	if (CALL(C_GetTokenInfo, slot, &t) == CKR_OK) {
		rec_ul("flags", t.flags);
		rec_ul("sess", t.ulSessionCount);
		rec_ul("rw", t.ulRwSessionCount);
	}
}

static void pins(CK_SESSION_HANDLE s)
{
	rec_step("pin");
	CALL(C_SetPIN, s, PIN("0000"), PIN(NEW_PIN));
	CALL(C_SetPIN, s, PIN(USER_PIN), PIN("1"));
	CALL(C_SetPIN, s, NULL, 4, PIN(NEW_PIN));
	CALL(C_SetPIN, s, PIN(USER_PIN), PIN(NEW_PIN));
	token_flags(D.slot_a);
	CALL(C_InitPIN, s, PIN(USER_PIN)); /* user, not SO */
	CALL(C_Logout, s);
	CALL(C_Login, s, CKU_USER, PIN(USER_PIN));
	CALL(C_Login, s, CKU_USER, PIN(NEW_PIN));
	CALL(C_Logout, s);
	CALL(C_SetPIN, s, PIN(NEW_PIN), PIN(USER_PIN)); /* not logged in */
	CALL(C_Login, s, CKU_SO, PIN(SO_PIN));
	CALL(C_InitPIN, s, NULL, 4);
	CALL(C_InitPIN, s, PIN("12"));
	CALL(C_InitPIN, s, PIN(USER_PIN));
	CALL(C_SetPIN, s, PIN(SO_PIN), PIN(SO_PIN));
	CALL(C_InitPIN, 12345, PIN(USER_PIN));
	token_flags(D.slot_a);
	CALL(C_Logout, s);
	CALL(C_Login, s, CKU_USER, PIN(NEW_PIN));
	CALL(C_Login, s, CKU_USER, PIN(USER_PIN));
	token_flags(D.slot_a);
	/* A read-only session cannot change the PIN. */
	CK_SESSION_HANDLE ro = 0;
	if (CALL(C_OpenSession, D.slot_a, CKF_SERIAL_SESSION, NULL, NULL,
		 &ro) == CKR_OK)
		rec_sess("h", ro);
	CALL(C_SetPIN, ro, PIN(USER_PIN), PIN(USER_PIN));
	CALL(C_CloseSession, ro);
	rec_forget_sess(ro);

	rec_step("init-token");
	CK_UTF8CHAR label[32];
	memset(label, ' ', 32);
	memcpy(label, "diffB-again", 11);
	CK_SESSION_HANDLE b = 0;
	if (CALL(C_OpenSession, D.slot_b, CKF_SERIAL_SESSION, NULL, NULL, &b) ==
	    CKR_OK)
		rec_sess("h", b);
	CALL(C_InitToken, D.slot_b, PIN(SO_PIN), label); /* session open */
	CALL(C_CloseSession, b);
	rec_forget_sess(b);
	CALL(C_InitToken, D.slot_b, PIN("wrong-so"), label);
	CALL(C_InitToken, D.slot_b, PIN(SO_PIN), NULL);
	CALL(C_InitToken, D.slot_b, NULL, 8, label);
	CALL(C_InitToken, D.slot_b, PIN(SO_PIN), label);
	token_flags(D.slot_b);
	CK_TOKEN_INFO t;
	if (CALL(C_GetTokenInfo, D.slot_b, &t) == CKR_OK)
		rec_text("label", t.label, 32);
}

static void state_and_unsupported(CK_SESSION_HANDLE s)
{
	rec_step("op-state");
	CK_MECHANISM sha = {CKM_SHA256, NULL, 0};
	CK_BYTE st[4096];
	CK_ULONG len = 0;
	CALL(C_GetOperationState, s, NULL, &len);
	CALL(C_DigestInit, s, &sha);
	CALL(C_DigestUpdate, s, (CK_BYTE_PTR) "abc", 3);
	if (CALL(C_GetOperationState, s, NULL, &len) == CKR_OK)
		rec_ul("len", len);
	len = sizeof(st);
	if (CALL(C_GetOperationState, s, st, &len) == CKR_OK)
		rec_ul("len", len);
	CALL(C_SetOperationState, s, st, len, 0, 0);
	CALL(C_SetOperationState, s, st, len, 12345, 0);
	CALL(C_GetOperationState, s, st, NULL);
	CALL(C_GetOperationState, 12345, st, &len);
	len = sizeof(st);
	CALL(C_DigestFinal, s, st, &len);

	rec_step("unsupported");
	CK_BYTE out[64];
	len = sizeof(out);
	CALL(C_DigestEncryptUpdate, s, (CK_BYTE_PTR) "abc", 3, out, &len);
	CALL(C_DecryptDigestUpdate, s, (CK_BYTE_PTR) "abc", 3, out, &len);
	CALL(C_SignEncryptUpdate, s, (CK_BYTE_PTR) "abc", 3, out, &len);
	CALL(C_DecryptVerifyUpdate, s, (CK_BYTE_PTR) "abc", 3, out, &len);
	CALL(C_SignRecover, s, (CK_BYTE_PTR) "abc", 3, out, &len);
	CALL(C_VerifyRecover, s, (CK_BYTE_PTR) "abc", 3, out, &len);
	CALL(C_GetFunctionStatus, s);
	CALL(C_CancelFunction, s);
	CALL(C_GetFunctionStatus, 12345);
	CALL(C_CancelFunction, 0);
	CK_SLOT_ID ev = 0;
	CALL(C_WaitForSlotEvent, CKF_DONT_BLOCK, &ev, NULL);
	CALL(C_WaitForSlotEvent, CKF_DONT_BLOCK, NULL, NULL);
}

static void stale_handles(CK_SESSION_HANDLE s)
{
	rec_step("stale");
	/* A destroyed key, then a closed session's handle. */
	CALL(C_DestroyObject, s, D.aes2);
	CK_MECHANISM ecb = {CKM_AES_ECB, NULL, 0};
	CALL(C_EncryptInit, s, &ecb, D.aes2);
	rec_forget_obj(D.aes2);
	CK_SESSION_HANDLE t = 0;
	if (CALL(C_OpenSession, D.slot_a, CKF_SERIAL_SESSION, NULL, NULL, &t) ==
	    CKR_OK)
		rec_sess("h", t);
	CALL(C_CloseSession, t);
	CK_MECHANISM sha = {CKM_SHA256, NULL, 0};
	CALL(C_DigestInit, t, &sha);
	CALL(C_SignInit, t, &sha, D.rsa_priv);
	CALL(C_FindObjectsInit, t, NULL, 0);
	CALL(C_Logout, t);
	rec_forget_sess(t);
}

void seq_wrap_pin_misc(void)
{
	wrap_derive(D.rw);
	pins(D.rw);
	state_and_unsupported(D.rw);
	stale_handles(D.rw);
}
