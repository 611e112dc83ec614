/* Helpers of the mechanisms addon tests (see mtest.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtest.h"

p11test_module mt_m;
CK_FUNCTION_LIST_PTR mt;
CK_SESSION_HANDLE mt_s;
CK_SLOT_ID mt_slot;

static void check(CK_RV rv, CK_RV want, const char *what)
{
	if (rv != want) {
		fprintf(stderr, "mtest: %s: 0x%lx, expected 0x%lx\n", what, rv,
			want);
		exit(1);
	}
}

void mt_start(const char *provider, const char *extra, const char *label,
	      const char *pin)
{
	p11test_write_config(provider, extra);
	if (mt->C_Initialize(NULL) == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		mt->C_Finalize(NULL); /* a failed test left it open */
		check(mt->C_Initialize(NULL), CKR_OK, "C_Initialize");
	}
	if (!p11test_find_token(mt, label, true, &mt_slot)) {
		fprintf(stderr, "mtest: no token '%s'\n", label);
		exit(1);
	}
	check(mt->C_OpenSession(mt_slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
				NULL, NULL, &mt_s),
	      CKR_OK, "C_OpenSession");
	if (pin)
		check(mt->C_Login(mt_s, CKU_USER, (CK_UTF8CHAR *)pin,
				  strlen(pin)),
		      CKR_OK, "C_Login");
}

void mt_stop(void)
{
	check(mt->C_Finalize(NULL), CKR_OK, "C_Finalize");
}

int mt_soft_setup(int argc, char **argv, const char *label, const char *extra,
		  long *rounds)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s p11overlay.so libsofthsm2.so [n]\n",
			argv[0]);
		return 2;
	}
	if (argc > 3)
		*rounds = atol(argv[3]);
	p11test_softhsm_start(label, "1234", "5678");
	p11test_load(&mt_m, argv[1]);
	mt = mt_m.fl;
	mt_start(argv[2], extra, label, "1234");
	return 0;
}

CK_OBJECT_HANDLE mt_rsa_keypair(const char *id, const char *who)
{
	CK_BBOOL yes = CK_TRUE;
	CK_ULONG bits = 2048;
	CK_BYTE e[] = {1, 0, 1};
	CK_ATTRIBUTE pt[] = {{CKA_TOKEN, &yes, 1},
			     {CKA_ID, (void *)id, (CK_ULONG)strlen(id)},
			     {CKA_VERIFY, &yes, 1},
			     {CKA_MODULUS_BITS, &bits, sizeof(bits)},
			     {CKA_PUBLIC_EXPONENT, e, sizeof(e)}};
	CK_ATTRIBUTE kt[] = {{CKA_TOKEN, &yes, 1}, {CKA_SIGN, &yes, 1}};
	CK_MECHANISM m = {CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
	CK_OBJECT_HANDLE pub, priv;
	if (mt->C_GenerateKeyPair(mt_s, &m, pt, 5, kt, 2, &pub, &priv) !=
	    CKR_OK) {
		fprintf(stderr, "%s: key pair\n", who);
		exit(1);
	}
	return priv;
}

CK_OBJECT_HANDLE mt_find(CK_OBJECT_CLASS cls, const char *id)
{
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)},
			    {CKA_ID, (void *)id, strlen(id)}};
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	CK_ULONG n = 0;

	check(mt->C_FindObjectsInit(mt_s, t, 2), CKR_OK, "find init");
	check(mt->C_FindObjects(mt_s, &h, 1, &n), CKR_OK, "find");
	check(mt->C_FindObjectsFinal(mt_s), CKR_OK, "find final");
	if (n != 1) {
		fprintf(stderr, "mtest: no object %lu/%s\n", cls, id);
		exit(1);
	}
	return h;
}

CK_RV mt_info(CK_MECHANISM_TYPE m, CK_MECHANISM_INFO *info)
{
	memset(info, 0, sizeof(*info));
	return mt->C_GetMechanismInfo(mt_slot, m, info);
}

bool mt_listed(CK_MECHANISM_TYPE m)
{
	CK_MECHANISM_TYPE list[512];
	CK_ULONG n = 0;
	bool found = false;

	check(mt->C_GetMechanismList(mt_slot, NULL, &n), CKR_OK, "count");
	if (n > 512)
		exit(1);
	check(mt->C_GetMechanismList(mt_slot, list, &n), CKR_OK, "list");
	for (CK_ULONG i = 0; i < n; i++)
		found |= list[i] == m;
	return found;
}

static size_t part(size_t len, int parts, int i, size_t *off)
{
	size_t chunk = len / (size_t)parts;
	*off = chunk * (size_t)i;
	return i == parts - 1 ? len - *off : chunk;
}

CK_RV mt_sign(CK_MECHANISM *m, CK_OBJECT_HANDLE k, const void *data, size_t len,
	      int parts, unsigned char *out, CK_ULONG *outlen)
{
	const unsigned char *d = data;
	CK_ULONG need = 0;
	size_t off;
	CK_RV rv = mt->C_SignInit(mt_s, m, k);

	for (int i = 0; rv == CKR_OK && i < parts; i++) {
		size_t n = part(len, parts, i, &off);
		rv = mt->C_SignUpdate(mt_s, (CK_BYTE *)d + off, n);
	}
	if (rv != CKR_OK)
		return rv;
	rv = parts ? mt->C_SignFinal(mt_s, NULL, &need)
		   : mt->C_Sign(mt_s, (CK_BYTE *)d, len, NULL, &need);
	if (rv != CKR_OK)
		return rv;
	if (need > *outlen)
		return CKR_BUFFER_TOO_SMALL;
	return parts ? mt->C_SignFinal(mt_s, out, outlen)
		     : mt->C_Sign(mt_s, (CK_BYTE *)d, len, out, outlen);
}

CK_RV mt_verify(CK_MECHANISM *m, CK_OBJECT_HANDLE k, const void *data,
		size_t len, int parts, const unsigned char *sig,
		CK_ULONG siglen)
{
	const unsigned char *d = data;
	size_t off;
	CK_RV rv = mt->C_VerifyInit(mt_s, m, k);

	for (int i = 0; rv == CKR_OK && i < parts; i++) {
		size_t n = part(len, parts, i, &off);
		rv = mt->C_VerifyUpdate(mt_s, (CK_BYTE *)d + off, n);
	}
	if (rv != CKR_OK)
		return rv;
	return parts ? mt->C_VerifyFinal(mt_s, (CK_BYTE *)sig, siglen)
		     : mt->C_Verify(mt_s, (CK_BYTE *)d, len, (CK_BYTE *)sig,
				    siglen);
}

CK_RV mt_encrypt(CK_MECHANISM *m, CK_OBJECT_HANDLE k, const void *data,
		 size_t len, unsigned char *out, CK_ULONG *outlen)
{
	CK_RV rv = mt->C_EncryptInit(mt_s, m, k);
	if (rv != CKR_OK)
		return rv;
	return mt->C_Encrypt(mt_s, (CK_BYTE *)data, len, out, outlen);
}

CK_RV mt_decrypt(CK_MECHANISM *m, CK_OBJECT_HANDLE k, const void *data,
		 size_t len, unsigned char *out, CK_ULONG *outlen)
{
	CK_ULONG need = 0;
	CK_RV rv = mt->C_DecryptInit(mt_s, m, k);
	if (rv == CKR_OK)
		rv = mt->C_Decrypt(mt_s, (CK_BYTE *)data, len, NULL, &need);
	if (rv != CKR_OK)
		return rv;
	if (need > *outlen)
		return CKR_BUFFER_TOO_SMALL;
	return mt->C_Decrypt(mt_s, (CK_BYTE *)data, len, out, outlen);
}

CK_RV mt_digest(CK_MECHANISM_TYPE mech, const void *data, size_t len, int parts,
		unsigned char *out, CK_ULONG *outlen)
{
	CK_MECHANISM m = {mech, NULL, 0};
	const unsigned char *d = data;
	size_t off;
	CK_RV rv = mt->C_DigestInit(mt_s, &m);

	for (int i = 0; rv == CKR_OK && i < parts; i++) {
		size_t n = part(len, parts, i, &off);
		rv = mt->C_DigestUpdate(mt_s, (CK_BYTE *)d + off, n);
	}
	if (rv != CKR_OK)
		return rv;
	return parts ? mt->C_DigestFinal(mt_s, out, outlen)
		     : mt->C_Digest(mt_s, (CK_BYTE *)d, len, out, outlen);
}
