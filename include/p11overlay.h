/* p11overlay public header: PKCS#11 3.0 additions missing from the 2.40
 * header this project builds against, and the p11overlay extension API
 * (design.md §6).  Include after (or instead of) a 2.40 pkcs11.h. */
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

/* External reader (C_AddSlot): the application moves the APDUs. */
typedef struct CK_ADD_SLOT {
	CK_VOID_PTR pContext;        /* passed back to every callback */
	CK_UTF8CHAR_PTR pReaderName; /* NUL-terminated */
	CK_RV (*Connect)(CK_VOID_PTR pContext);
	CK_RV(*Transmit)
	(CK_VOID_PTR pContext, CK_BYTE_PTR pApdu, CK_ULONG ulApduLen,
	 CK_BYTE_PTR pResponse, CK_ULONG_PTR pulResponseLen);
	CK_RV(*GetAtr)
	(CK_VOID_PTR pContext, CK_BYTE_PTR pAtr, CK_ULONG_PTR pulAtrLen);
	CK_RV (*Disconnect)(CK_VOID_PTR pContext);
} CK_ADD_SLOT;
typedef CK_ADD_SLOT *CK_ADD_SLOT_PTR;

/* External crypto engine (C_RegisterEngine). */
typedef struct CK_ENGINE {
	CK_VOID_PTR pContext;
	/* One operation: sign/decrypt/encrypt/verify/digest/random depending
	 * on the registered mechanism.  Two-call size convention on output. */
	CK_RV(*Operate)
	(CK_VOID_PTR pContext, CK_MECHANISM_PTR pMechanism, CK_BYTE_PTR pKeyRef,
	 CK_ULONG ulKeyRefLen, CK_BYTE_PTR pIn, CK_ULONG ulInLen,
	 CK_BYTE_PTR pOut, CK_ULONG_PTR pulOutLen);
} CK_ENGINE;
typedef CK_ENGINE *CK_ENGINE_PTR;

/* Trace records also go to the application: one complete record each. */
typedef void (*CK_TRACE_CALLBACK)(const char *pRecord, CK_ULONG ulRecordLen);

/* ---- extension functions (design.md §6) -------------------------------- */
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
