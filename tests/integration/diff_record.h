/* Transcript recording for the differential harness (diff_harness.c).
 *
 * One line per PKCS#11 call, whatever its CKR:
 *     <step>#<n> <function> rv=<CKR name> key=value ...
 * so that the two transcripts (SoftHSM2 direct, p11overlay over SoftHSM2)
 * align by "<step>#<n>".  Values the proxy legitimately owns are recorded
 * in a normalised form:
 *   - slot IDs as their position in the C_GetSlotList(FALSE) list: slot#<i>
 *     (an ID not in that list: slot?<value>),
 *   - session and object handles by identity: S<k>/O<k>, k counting first
 *     appearances; a handle is forgotten when closed/destroyed, so a module
 *     that reuses handle values and one that does not record the same.
 * Random outputs are recorded by length only (rec_len) and checked by the
 * sequences themselves (verify, decrypt). */
#ifndef DIFF_RECORD_H
#define DIFF_RECORD_H

#include <stdbool.h>
#include <stdio.h>

#include <p11-kit/pkcs11.h>

#define MAX_REC_SLOTS 64

typedef struct diff_ctx {
	CK_FUNCTION_LIST *f;
	int is_proxy;
	FILE *out;
	CK_SLOT_ID slots[MAX_REC_SLOTS];
	CK_ULONG nslots;
	/* Positions (in slots[]) of the test tokens. */
	CK_SLOT_ID slot_a, slot_b, slot_empty;
	unsigned calls;
	/* Shared between sequences: a RW session on token A with the user
	 * logged in, and the fixed keys imported into it. */
	CK_SESSION_HANDLE rw;
	CK_OBJECT_HANDLE rsa_priv, rsa_pub, ec_priv, ec_pub, aes, aes2, gen_aes;
} diff_ctx;

extern diff_ctx D;

/* PINs and labels of the test tokens (set up by the harness). */
#define SO_PIN "12345678"
#define USER_PIN "1234"
#define NEW_PIN "98765"
#define LABEL_A "diffA"
#define LABEL_B "diffB"

const char *rv_name(CK_RV rv);

void rec_step(const char *name);
/* Starts the record of one call (ends the previous one). */
CK_RV rec_call(const char *fn, CK_RV rv);
void rec_ul(const char *key, CK_ULONG v);
/* CK_ULONG lengths: CK_UNAVAILABLE_INFORMATION shown as UNAVAIL. */
void rec_len(const char *key, CK_ULONG v);
void rec_hex(const char *key, const void *p, CK_ULONG n);
/* Fixed-size blank-padded text fields (as hex-escaped text). */
void rec_text(const char *key, const void *p, size_t n);
void rec_str(const char *key, const char *s);
void rec_slot(const char *key, CK_SLOT_ID id);
void rec_sess(const char *key, CK_SESSION_HANDLE h);
void rec_obj(const char *key, CK_OBJECT_HANDLE h);
/* Sorted set of object identities (order of C_FindObjects results is
 * not specified by PKCS#11: SoftHSM iterates a set ordered by address). */
void rec_obj_set(const char *key, const CK_OBJECT_HANDLE *h, CK_ULONG n);
void rec_forget_sess(CK_SESSION_HANDLE h);
void rec_forget_obj(CK_OBJECT_HANDLE h);
/* A template after C_GetAttributeValue: type, ulValueLen, value. */
void rec_template(const CK_ATTRIBUTE *t, CK_ULONG n);
void rec_end(void);
/* An output buffer of n bytes with a canary tail (p11test_canary.h), and
 * its check: records key=intact or key=overwritten, then frees it.  A
 * write past a short buffer shows as a difference (issue 18). */
void *rec_canary_buf(size_t n);
void rec_canary(const char *key, void *buf);

/* Call through the function list and record the CKR. */
#define CALL(fn, ...) rec_call(#fn, D.f->fn(__VA_ARGS__))

/* Helpers shared by the sequences (diff_seq_objects.c). */
CK_OBJECT_HANDLE diff_create(CK_SESSION_HANDLE s, CK_ATTRIBUTE *t, CK_ULONG n);
/* Size query, then the value (recorded). */
void diff_get_attr(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
		   CK_ATTRIBUTE_TYPE type);
/* Size query only (for random values: generated keys). */
void diff_get_len(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
		  CK_ATTRIBUTE_TYPE type);

#define ATTR(t, v)                                                             \
	{                                                                      \
		t, (void *)(v), sizeof(*(v))                                   \
	}
#define ATTR_S(t, s)                                                           \
	{                                                                      \
		t, (void *)(s), (CK_ULONG)strlen(s)                            \
	}
#define ATTR_A(t, a)                                                           \
	{                                                                      \
		t, (void *)(a), sizeof(a)                                      \
	}

/* Sequences (diff_seq_*.c). */
void seq_before_init(void);
void seq_init_edges(void);
void seq_info_slots(void);
void seq_sessions_login(void);
void seq_objects(void);
void seq_keys_sign(void);
void seq_encrypt_digest(void);
void seq_wrap_pin_misc(void);
void seq_after_finalize(void);

/* Optional layers of the proxy (diff_harness.c --layers). */
#define LAYER_OBJECTS 1u
#define LAYER_MECHANISMS 2u
#define LAYER_TRACE 4u
#define LAYER_NO_UNLOCK 8u /* the unlock layer is on unless this */

/* The proxy child's function list with what the layers add on purpose set
 * aside (diff_addons.c); the special-object and mechanism paths checked
 * against the standard (proxy child only); the number of mismatches. */
void addons_wrap(unsigned layers);
void seq_addon_paths(void);
int addons_failures(void);
/* Shared by diff_addons*.c: the proxy's own function list, a failed
 * check, and the mechanisms addon's part (diff_addons_mech.c). */
extern CK_FUNCTION_LIST *addons_real;
void addons_check(bool ok, const char *what);
void mech_wrap(CK_FUNCTION_LIST *wrapped);
void mech_paths(void);

#endif
