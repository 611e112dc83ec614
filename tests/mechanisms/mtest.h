/* Helpers of the mechanisms addon tests: one proxy instance at a time,
 * (re)initialised with a config, key lookup and one-call operations. */
#ifndef MTEST_H
#define MTEST_H

#include <stdbool.h>
#include <stddef.h>

#include "p11test.h"

extern p11test_module mt_m;
extern CK_FUNCTION_LIST_PTR mt;
extern CK_SESSION_HANDLE mt_s;
extern CK_SLOT_ID mt_slot;

/* Write the config (provider + extra), C_Initialize, open an R/W session
 * on the slot whose token label contains `label`, log in with pin. */
void mt_start(const char *provider, const char *extra, const char *label,
	      const char *pin);
void mt_stop(void);
/* The start of a threaded test on SoftHSM2 in a throw-away token:
 * argv = p11overlay.so libsofthsm2.so [rounds]; loads the module and
 * mt_start()s it with `extra` as the config.  0, or the exit status for a
 * usage error. */
int mt_soft_setup(int argc, char **argv, const char *label, const char *extra,
		  long *rounds);

CK_OBJECT_HANDLE mt_find(CK_OBJECT_CLASS cls, const char *id);
/* An RSA-2048 token key pair with CKA_ID `id` (4 bytes) in mt_s; exits
 * with a message naming `who` when the token refuses.  The private key. */
CK_OBJECT_HANDLE mt_rsa_keypair(const char *id, const char *who);
CK_RV mt_info(CK_MECHANISM_TYPE m, CK_MECHANISM_INFO *info);
bool mt_listed(CK_MECHANISM_TYPE m);

/* parts == 0: single-part call; else that many Update calls.  *outlen is
 * the buffer size on entry.  Sign and decrypt do a size query first. */
CK_RV mt_sign(CK_MECHANISM *m, CK_OBJECT_HANDLE k, const void *data, size_t len,
	      int parts, unsigned char *out, CK_ULONG *outlen);
CK_RV mt_verify(CK_MECHANISM *m, CK_OBJECT_HANDLE k, const void *data,
		size_t len, int parts, const unsigned char *sig,
		CK_ULONG siglen);
CK_RV mt_encrypt(CK_MECHANISM *m, CK_OBJECT_HANDLE k, const void *data,
		 size_t len, unsigned char *out, CK_ULONG *outlen);
CK_RV mt_decrypt(CK_MECHANISM *m, CK_OBJECT_HANDLE k, const void *data,
		 size_t len, unsigned char *out, CK_ULONG *outlen);
CK_RV mt_digest(CK_MECHANISM_TYPE mech, const void *data, size_t len, int parts,
		unsigned char *out, CK_ULONG *outlen);

#endif
