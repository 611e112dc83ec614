/* p11overlay public header: PKCS#11 3.0 additions missing from the 2.40
 * header this project builds against, and the p11overlay extension API
 * (docs/architecture.md §6).  Include after (or instead of) a 2.40 pkcs11.h. */
#ifndef P11OVERLAY_H
#define P11OVERLAY_H

#ifndef CK_PTR
#include <p11-kit/pkcs11.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- PKCS#11 3.0 types not in the 2.40 header ------------------------- */
#ifndef CKF_END_OF_MESSAGE
#define CKF_END_OF_MESSAGE 0x00000001UL
#endif
#ifndef CKF_INTERFACE_FORK_SAFE
#define CKF_INTERFACE_FORK_SAFE 0x00000001UL
#endif
#ifndef CKR_OPERATION_CANCEL_FAILED
#define CKR_OPERATION_CANCEL_FAILED 0x00000202UL
#endif

typedef struct CK_INTERFACE {
	CK_CHAR *pInterfaceName;
	CK_VOID_PTR pFunctionList;
	CK_FLAGS flags;
} CK_INTERFACE;
typedef CK_INTERFACE *CK_INTERFACE_PTR;
typedef CK_INTERFACE_PTR *CK_INTERFACE_PTR_PTR;

typedef CK_RV (*CK_C_GetInterfaceList)(CK_INTERFACE_PTR pInterfacesList,
				       CK_ULONG_PTR pulCount);
typedef CK_RV (*CK_C_GetInterface)(CK_UTF8CHAR_PTR pInterfaceName,
				   CK_VERSION_PTR pVersion,
				   CK_INTERFACE_PTR_PTR ppInterface,
				   CK_FLAGS flags);

/* ---- p11overlay extension types --------------------------------------- */

/* C_HasNewEvent answers the standard CKR_NO_EVENT when nothing happened. */

/* External reader (C_AddSlot): the application moves the APDUs.  The
 * proxy bridges the reader to a vsmartcard vpcd reader of pcscd
 * (p11overlay.conf [readers] vpcd); the card's tokens then appear in
 * slots described by that vpcd reader's PC/SC name.
 *   Connect     power the card / connect to it: in C_AddSlot, and when
 *               pcscd powers the card on or resets it; GetAtr follows.
 *   Transmit    one APDU (short or extended); *pulResponseLen is the
 *               buffer size in (65535), the response length with the
 *               status word out.  An error makes the card answer 6F00.
 *   GetAtr      the ATR (at most 33 bytes; the buffer holds 64).
 *   Disconnect  when pcscd powers the card off or resets it, and at
 *               C_RemoveSlot, C_Finalize or a failed C_AddSlot.
 * Callbacks run in a proxy thread (Connect and GetAtr first in the
 * C_AddSlot caller's), one at a time per reader, possibly while an
 * application thread is inside a PKCS#11 call on that card: they must not
 * call p11overlay functions on its tokens. */
typedef struct CK_ADD_SLOT {
	CK_VOID_PTR pContext;        /* passed back to every callback */
	CK_UTF8CHAR_PTR pReaderName; /* NUL-terminated; named in the trace */
	CK_RV (*Connect)(CK_VOID_PTR pContext);
	CK_RV(*Transmit)
	(CK_VOID_PTR pContext, CK_BYTE_PTR pApdu, CK_ULONG ulApduLen,
	 CK_BYTE_PTR pResponse, CK_ULONG_PTR pulResponseLen);
	CK_RV(*GetAtr)
	(CK_VOID_PTR pContext, CK_BYTE_PTR pAtr, CK_ULONG_PTR pulAtrLen);
	CK_RV (*Disconnect)(CK_VOID_PTR pContext);
} CK_ADD_SLOT;
typedef CK_ADD_SLOT *CK_ADD_SLOT_PTR;

/* External crypto engine (C_RegisterEngine).
 *
 * C_RegisterEngine(type, name, pEngine) registers an implementation of the
 * mechanism `type` for every token; pEngine == NULL removes the one
 * registered for `type`.  The proxy copies *pEngine and name (up to 63
 * bytes), so neither needs to outlive the call; pContext and the callbacks
 * must stay valid until the engine is removed and the operations begun with
 * it have ended, or until C_Finalize (which drops every registration).
 * Registration needs C_Initialize first; with [mechanisms] enabled = no the
 * call answers CKR_FUNCTION_NOT_SUPPORTED.  At most 32 engines.
 *
 * `type` and the operations an engine may offer (flags):
 *   CKM_RSA_PKCS        CKF_SIGN and/or CKF_DECRYPT
 *   CKM_RSA_X_509       CKF_SIGN and/or CKF_DECRYPT (raw RSA)
 *   CKM_ECDSA           CKF_SIGN
 *   CKM_MD5, CKM_SHA_1, CKM_SHA224/256/384/512   CKF_DIGEST
 *   CKM_P11O_RANDOM     CKF_GENERATE (random bytes)
 * An engine is used where the token lacks its mechanism (or the function),
 * or before the token with [mechanisms] prefer-engine = yes.  An RSA or
 * ECDSA engine is also the base of the mechanisms built on it:
 * CKM_SHA*_RSA_PKCS over CKM_RSA_PKCS (or CKM_RSA_X_509), PSS and OAEP over
 * CKM_RSA_X_509, CKM_ECDSA_SHA* over CKM_ECDSA; the proxy hashes and pads.
 * With prefer-engine = yes that holds even where the token has the built
 * mechanism itself (CKM_SHA256_RSA_PKCS goes to a CKM_RSA_PKCS engine, not
 * to the token); the token keeps what the engine does not offer (verify,
 * encrypt).  C_GetMechanismList/Info show the engine's mechanisms with its
 * flags and key sizes (a mechanism done by an engine has the engine's key
 * sizes).
 *
 * Keys.  The key stays a token object: the application passes its handle
 * as usual; the proxy checks it as a token would (a private key of the
 * right CKA_KEY_TYPE, CKA_SIGN / CKA_DECRYPT not false) and passes the
 * engine pKeyRef = the key object's CKA_ID bytes (ulKeyRefLen 0 when it
 * has none).  No key material ever leaves the token through the proxy.
 *
 * Operate(pContext, operation, pMechanism, pKeyRef, ulKeyRefLen, pIn,
 *         ulInLen, pOut, pulOutLen) performs one whole operation; it is
 * called once per application operation (the proxy answers size queries
 * itself and keeps the result for a retry with a bigger buffer).
 * pMechanism is the registered mechanism without parameters.
 *   CKF_SIGN, RSA_PKCS: pIn = data to pad with PKCS#1 v1.5 type 1 (a
 *     DigestInfo for the hash-and-sign mechanisms), at most k - 11 bytes;
 *   CKF_SIGN, RSA_X_509: pIn = k bytes (already encoded, e.g. EMSA-PSS;
 *     shorter raw input gets leading zero bytes);
 *   CKF_SIGN, ECDSA: pIn = the hash; pOut = r || s, each of the field size;
 *   CKF_DECRYPT, RSA_PKCS: pIn = k-byte ciphertext, pOut = the plaintext
 *     with the padding removed; RSA_X_509: pOut = all k bytes;
 *   CKF_GENERATE: pIn NULL, fill pOut with exactly *pulOutLen bytes.
 * The proxy answers other input lengths itself (CKR_DATA_LEN_RANGE,
 * CKR_ENCRYPTED_DATA_LEN_RANGE) without calling the engine.
 * k is the modulus length in bytes.  On entry *pulOutLen is the size of
 * pOut, which is always at least k (RSA), 2 x field size (ECDSA) or the
 * requested length (random); the engine sets it to the bytes written.
 * Any return value other than CKR_OK goes to the application as it is.
 *
 * Digest engines implement DigestBegin (new state for one digest of
 * pMechanism, returned in *ppState), DigestUpdate, and DigestEnd, which
 * writes the digest (pDigest has room for 64 bytes, *pulDigestLen set to
 * its length) and frees the state; DigestEnd with pDigest NULL only frees
 * it (operation abandoned).  Operate is not used for digests.
 *
 * Threads: the proxy calls an engine from any application thread and from
 * several at once (different sessions); callbacks must be thread-safe.
 * One digest state is used by one thread at a time.  A callback may call
 * the module; a call that needs a session whose operation the proxy is
 * completing (this one's, or another thread's) fails at once with
 * CKR_FUNCTION_FAILED instead of waiting (the same holds inside a Notify
 * callback). */
#define CK_P11O_ENGINE_VERSION 1UL
/* The mechanism type a random-number engine is registered under. */
#define CKM_P11O_RANDOM (CKM_VENDOR_DEFINED | 0x50314F01UL)

typedef struct CK_ENGINE {
	CK_ULONG ulVersion;   /* CK_P11O_ENGINE_VERSION */
	CK_VOID_PTR pContext; /* passed back to every callback */
	CK_FLAGS flags; /* CKF_SIGN, CKF_DECRYPT, CKF_DIGEST, CKF_GENERATE */
	CK_ULONG ulMinKeySize, ulMaxKeySize; /* bits, for C_GetMechanismInfo */
	CK_RV(*Operate)
	(CK_VOID_PTR pContext, CK_FLAGS operation, CK_MECHANISM_PTR pMechanism,
	 CK_BYTE_PTR pKeyRef, CK_ULONG ulKeyRefLen, CK_BYTE_PTR pIn,
	 CK_ULONG ulInLen, CK_BYTE_PTR pOut, CK_ULONG_PTR pulOutLen);
	CK_RV(*DigestBegin)
	(CK_VOID_PTR pContext, CK_MECHANISM_PTR pMechanism,
	 CK_VOID_PTR_PTR ppState);
	CK_RV(*DigestUpdate)
	(CK_VOID_PTR pContext, CK_VOID_PTR pState, CK_BYTE_PTR pPart,
	 CK_ULONG ulPartLen);
	CK_RV(*DigestEnd)
	(CK_VOID_PTR pContext, CK_VOID_PTR pState, CK_BYTE_PTR pDigest,
	 CK_ULONG_PTR pulDigestLen);
} CK_ENGINE;
typedef CK_ENGINE *CK_ENGINE_PTR;

/* Trace records also go to the application: one complete record per call
 * (with its newline), in the calling thread, concurrently from several
 * threads; pRecord is valid during the call only.  The callback may call
 * p11overlay functions (e.g. C_GetInfo, C_HasNewEvent), from the record of
 * a successful C_Initialize on (the header record that C_Initialize
 * delivers first comes before the module is initialised): those calls are
 * not traced, neither to the callback nor to the trace file.  It must not
 * call C_Initialize, C_Finalize or C_SetTraceCallback (their records are
 * delivered while the module's initialisation lock is held). */
typedef void (*CK_TRACE_CALLBACK)(const char *pRecord, CK_ULONG ulRecordLen);

/* ---- extension functions (docs/architecture.md §6)
 * -------------------------------- */
CK_RV C_UnlockPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pPuk,
		  CK_ULONG ulPukLen, CK_UTF8CHAR_PTR pNewPin,
		  CK_ULONG ulNewPinLen);
CK_RV C_LockToken(CK_SLOT_ID slotID, CK_ULONG ulTimeoutSeconds);
CK_RV C_GetUnlockChallenge(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pChallenge,
			   CK_ULONG_PTR pulChallengeLen);
CK_RV C_UnlockPINWithResponse(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pResponse,
			      CK_ULONG ulResponseLen, CK_UTF8CHAR_PTR pNewPin,
			      CK_ULONG ulNewPinLen);
CK_RV C_ResetToken(CK_SLOT_ID slotID, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen);
CK_RV C_Reinitialize(CK_SLOT_ID slotID);
CK_RV C_SetVariable(const char *name, const char *value);
/* Works before C_Initialize.  valueLen is the size of value including the
 * terminating NUL; CKR_BUFFER_TOO_SMALL when it does not fit. */
CK_RV C_GetVariable(const char *name, char *value, CK_ULONG valueLen);
CK_RV C_HasNewEvent(CK_ULONG_PTR pLastEvent);
CK_RV C_AddSlot(CK_ADD_SLOT_PTR pAddSlot, CK_SLOT_ID_PTR pSlotList,
		CK_ULONG_PTR pulCount);
CK_RV C_RemoveSlot(CK_SLOT_ID slotID);
CK_RV C_RegisterEngine(CK_MECHANISM_TYPE type, const char *name,
		       CK_ENGINE_PTR pEngine);
CK_RV C_SetTraceCallback(CK_TRACE_CALLBACK callback);

/* Table returned by C_GetInterface("Vendor p11overlay"). */
typedef struct CK_P11OVERLAY_FUNCTION_LIST {
	CK_VERSION version;
	CK_RV(*C_UnlockPIN)
	(CK_SESSION_HANDLE, CK_UTF8CHAR_PTR, CK_ULONG, CK_UTF8CHAR_PTR,
	 CK_ULONG);
	CK_RV (*C_LockToken)(CK_SLOT_ID, CK_ULONG);
	CK_RV(*C_GetUnlockChallenge)
	(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG_PTR);
	CK_RV(*C_UnlockPINWithResponse)
	(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_UTF8CHAR_PTR, CK_ULONG);
	CK_RV (*C_ResetToken)(CK_SLOT_ID, CK_UTF8CHAR_PTR, CK_ULONG);
	CK_RV (*C_Reinitialize)(CK_SLOT_ID);
	CK_RV (*C_SetVariable)(const char *, const char *);
	CK_RV (*C_GetVariable)(const char *, char *, CK_ULONG);
	CK_RV (*C_HasNewEvent)(CK_ULONG_PTR);
	CK_RV (*C_AddSlot)(CK_ADD_SLOT_PTR, CK_SLOT_ID_PTR, CK_ULONG_PTR);
	CK_RV (*C_RemoveSlot)(CK_SLOT_ID);
	CK_RV(*C_RegisterEngine)
	(CK_MECHANISM_TYPE, const char *, CK_ENGINE_PTR);
	CK_RV (*C_SetTraceCallback)(CK_TRACE_CALLBACK);
} CK_P11OVERLAY_FUNCTION_LIST;

#define P11OVERLAY_INTERFACE_NAME "Vendor p11overlay"

#ifdef __cplusplus
}
#endif
#endif
