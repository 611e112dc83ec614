/* The one list of functions (docs/architecture.md §3).
 *
 * Every layered PKCS#11 function (2.40, 3.0 additions, p11overlay
 * extensions) is described once here as
 *     X(name, (kind, type, param), (kind, type, param), ...)
 * Layers, the pass-through table, the exported entry points, the trace
 * decoder's argument table and the coverage test are expanded from it.
 *
 * `kind` tells the trace decoder what an argument is.  A pointer kind that
 * is followed by its length (IN_BYTES + LEN, OUT_BYTES + OUT_LEN,
 * TEMPLATE + COUNT, ...) is decoded together with that next argument.
 *
 * C_GetFunctionList, C_GetInterfaceList and C_GetInterface are
 * module-level (they never reach a layer) and are not in this list. */
#ifndef P11O_FUNCTIONS_H
#define P11O_FUNCTIONS_H

#include "p11overlay.h"

/* clang-format off */
/* 2.40 functions before C_GetFunctionList in CK_FUNCTION_LIST ... */
#define P11O_FUNCTIONS_V2_HEAD(X) \
X(C_Initialize, (INIT_ARGS, CK_VOID_PTR, pInitArgs)) \
X(C_Finalize, (RESERVED, CK_VOID_PTR, pReserved)) \
X(C_GetInfo, (OUT_INFO, CK_INFO_PTR, pInfo))

/* ... and after it. */
#define P11O_FUNCTIONS_V2_TAIL(X) \
X(C_GetSlotList, (BOOL, CK_BBOOL, tokenPresent), (OUT_SLOT_LIST, CK_SLOT_ID_PTR, pSlotList), (OUT_COUNT, CK_ULONG_PTR, pulCount)) \
X(C_GetSlotInfo, (SLOT, CK_SLOT_ID, slotID), (OUT_SLOT_INFO, CK_SLOT_INFO_PTR, pInfo)) \
X(C_GetTokenInfo, (SLOT, CK_SLOT_ID, slotID), (OUT_TOKEN_INFO, CK_TOKEN_INFO_PTR, pInfo)) \
X(C_GetMechanismList, (SLOT, CK_SLOT_ID, slotID), (OUT_MECH_LIST, CK_MECHANISM_TYPE_PTR, pMechanismList), (OUT_COUNT, CK_ULONG_PTR, pulCount)) \
X(C_GetMechanismInfo, (SLOT, CK_SLOT_ID, slotID), (MECH_TYPE, CK_MECHANISM_TYPE, type), (OUT_MECH_INFO, CK_MECHANISM_INFO_PTR, pInfo)) \
X(C_InitToken, (SLOT, CK_SLOT_ID, slotID), (PIN, CK_UTF8CHAR_PTR, pPin), (LEN, CK_ULONG, ulPinLen), (LABEL32, CK_UTF8CHAR_PTR, pLabel)) \
X(C_InitPIN, (SESSION, CK_SESSION_HANDLE, hSession), (PIN, CK_UTF8CHAR_PTR, pPin), (LEN, CK_ULONG, ulPinLen)) \
X(C_SetPIN, (SESSION, CK_SESSION_HANDLE, hSession), (PIN, CK_UTF8CHAR_PTR, pOldPin), (LEN, CK_ULONG, ulOldLen), (PIN, CK_UTF8CHAR_PTR, pNewPin), (LEN, CK_ULONG, ulNewLen)) \
X(C_OpenSession, (SLOT, CK_SLOT_ID, slotID), (SESSION_FLAGS, CK_FLAGS, flags), (POINTER, CK_VOID_PTR, pApplication), (POINTER, CK_NOTIFY, Notify), (OUT_SESSION, CK_SESSION_HANDLE_PTR, phSession)) \
X(C_CloseSession, (SESSION, CK_SESSION_HANDLE, hSession)) \
X(C_CloseAllSessions, (SLOT, CK_SLOT_ID, slotID)) \
X(C_GetSessionInfo, (SESSION, CK_SESSION_HANDLE, hSession), (OUT_SESSION_INFO, CK_SESSION_INFO_PTR, pInfo)) \
X(C_GetOperationState, (SESSION, CK_SESSION_HANDLE, hSession), (OUT_BYTES, CK_BYTE_PTR, pOperationState), (OUT_LEN, CK_ULONG_PTR, pulOperationStateLen)) \
X(C_SetOperationState, (SESSION, CK_SESSION_HANDLE, hSession), (IN_BYTES, CK_BYTE_PTR, pOperationState), (LEN, CK_ULONG, ulOperationStateLen), (OBJECT, CK_OBJECT_HANDLE, hEncryptionKey), (OBJECT, CK_OBJECT_HANDLE, hAuthenticationKey)) \
X(C_Login, (SESSION, CK_SESSION_HANDLE, hSession), (USER, CK_USER_TYPE, userType), (PIN, CK_UTF8CHAR_PTR, pPin), (LEN, CK_ULONG, ulPinLen)) \
X(C_Logout, (SESSION, CK_SESSION_HANDLE, hSession)) \
X(C_CreateObject, (SESSION, CK_SESSION_HANDLE, hSession), (TEMPLATE, CK_ATTRIBUTE_PTR, pTemplate), (COUNT, CK_ULONG, ulCount), (OUT_OBJECT, CK_OBJECT_HANDLE_PTR, phObject)) \
X(C_CopyObject, (SESSION, CK_SESSION_HANDLE, hSession), (OBJECT, CK_OBJECT_HANDLE, hObject), (TEMPLATE, CK_ATTRIBUTE_PTR, pTemplate), (COUNT, CK_ULONG, ulCount), (OUT_OBJECT, CK_OBJECT_HANDLE_PTR, phNewObject)) \
X(C_DestroyObject, (SESSION, CK_SESSION_HANDLE, hSession), (OBJECT, CK_OBJECT_HANDLE, hObject)) \
X(C_GetObjectSize, (SESSION, CK_SESSION_HANDLE, hSession), (OBJECT, CK_OBJECT_HANDLE, hObject), (OUT_ULONG, CK_ULONG_PTR, pulSize)) \
X(C_GetAttributeValue, (SESSION, CK_SESSION_HANDLE, hSession), (OBJECT, CK_OBJECT_HANDLE, hObject), (OUT_TEMPLATE, CK_ATTRIBUTE_PTR, pTemplate), (COUNT, CK_ULONG, ulCount)) \
X(C_SetAttributeValue, (SESSION, CK_SESSION_HANDLE, hSession), (OBJECT, CK_OBJECT_HANDLE, hObject), (TEMPLATE, CK_ATTRIBUTE_PTR, pTemplate), (COUNT, CK_ULONG, ulCount)) \
X(C_FindObjectsInit, (SESSION, CK_SESSION_HANDLE, hSession), (TEMPLATE, CK_ATTRIBUTE_PTR, pTemplate), (COUNT, CK_ULONG, ulCount)) \
X(C_FindObjects, (SESSION, CK_SESSION_HANDLE, hSession), (OUT_OBJECTS, CK_OBJECT_HANDLE_PTR, phObject), (ULONG, CK_ULONG, ulMaxObjectCount), (OUT_COUNT, CK_ULONG_PTR, pulObjectCount)) \
X(C_FindObjectsFinal, (SESSION, CK_SESSION_HANDLE, hSession)) \
X(C_EncryptInit, (SESSION, CK_SESSION_HANDLE, hSession), (MECHANISM, CK_MECHANISM_PTR, pMechanism), (OBJECT, CK_OBJECT_HANDLE, hKey)) \
X(C_Encrypt, (SESSION, CK_SESSION_HANDLE, hSession), (IN_BYTES, CK_BYTE_PTR, pData), (LEN, CK_ULONG, ulDataLen), (OUT_BYTES, CK_BYTE_PTR, pEncryptedData), (OUT_LEN, CK_ULONG_PTR, pulEncryptedDataLen)) \
X(C_EncryptUpdate, (SESSION, CK_SESSION_HANDLE, hSession), (IN_BYTES, CK_BYTE_PTR, pPart), (LEN, CK_ULONG, ulPartLen), (OUT_BYTES, CK_BYTE_PTR, pEncryptedPart), (OUT_LEN, CK_ULONG_PTR, pulEncryptedPartLen)) \
X(C_EncryptFinal, (SESSION, CK_SESSION_HANDLE, hSession), (OUT_BYTES, CK_BYTE_PTR, pLastEncryptedPart), (OUT_LEN, CK_ULONG_PTR, pulLastEncryptedPartLen)) \
X(C_DecryptInit, (SESSION, CK_SESSION_HANDLE, hSession), (MECHANISM, CK_MECHANISM_PTR, pMechanism), (OBJECT, CK_OBJECT_HANDLE, hKey)) \
X(C_Decrypt, (SESSION, CK_SESSION_HANDLE, hSession), (IN_BYTES, CK_BYTE_PTR, pEncryptedData), (LEN, CK_ULONG, ulEncryptedDataLen), (OUT_BYTES, CK_BYTE_PTR, pData), (OUT_LEN, CK_ULONG_PTR, pulDataLen)) \
X(C_DecryptUpdate, (SESSION, CK_SESSION_HANDLE, hSession), (IN_BYTES, CK_BYTE_PTR, pEncryptedPart), (LEN, CK_ULONG, ulEncryptedPartLen), (OUT_BYTES, CK_BYTE_PTR, pPart), (OUT_LEN, CK_ULONG_PTR, pulPartLen)) \
X(C_DecryptFinal, (SESSION, CK_SESSION_HANDLE, hSession), (OUT_BYTES, CK_BYTE_PTR, pLastPart), (OUT_LEN, CK_ULONG_PTR, pulLastPartLen)) \
X(C_DigestInit, (SESSION, CK_SESSION_HANDLE, hSession), (MECHANISM, CK_MECHANISM_PTR, pMechanism)) \
X(C_Digest, (SESSION, CK_SESSION_HANDLE, hSession), (IN_BYTES, CK_BYTE_PTR, pData), (LEN, CK_ULONG, ulDataLen), (OUT_BYTES, CK_BYTE_PTR, pDigest), (OUT_LEN, CK_ULONG_PTR, pulDigestLen)) \
X(C_DigestUpdate, (SESSION, CK_SESSION_HANDLE, hSession), (IN_BYTES, CK_BYTE_PTR, pPart), (LEN, CK_ULONG, ulPartLen)) \
X(C_DigestKey, (SESSION, CK_SESSION_HANDLE, hSession), (OBJECT, CK_OBJECT_HANDLE, hKey)) \
X(C_DigestFinal, (SESSION, CK_SESSION_HANDLE, hSession), (OUT_BYTES, CK_BYTE_PTR, pDigest), (OUT_LEN, CK_ULONG_PTR, pulDigestLen)) \
X(C_SignInit, (SESSION, CK_SESSION_HANDLE, hSession), (MECHANISM, CK_MECHANISM_PTR, pMechanism), (OBJECT, CK_OBJECT_HANDLE, hKey)) \
X(C_Sign, (SESSION, CK_SESSION_HANDLE, hSession), (IN_BYTES, CK_BYTE_PTR, pData), (LEN, CK_ULONG, ulDataLen), (OUT_BYTES, CK_BYTE_PTR, pSignature), (OUT_LEN, CK_ULONG_PTR, pulSignatureLen)) \
X(C_SignUpdate, (SESSION, CK_SESSION_HANDLE, hSession), (IN_BYTES, CK_BYTE_PTR, pPart), (LEN, CK_ULONG, ulPartLen)) \
X(C_SignFinal, (SESSION, CK_SESSION_HANDLE, hSession), (OUT_BYTES, CK_BYTE_PTR, pSignature), (OUT_LEN, CK_ULONG_PTR, pulSignatureLen)) \
X(C_SignRecoverInit, (SESSION, CK_SESSION_HANDLE, hSession), (MECHANISM, CK_MECHANISM_PTR, pMechanism), (OBJECT, CK_OBJECT_HANDLE, hKey)) \
X(C_SignRecover, (SESSION, CK_SESSION_HANDLE, hSession), (IN_BYTES, CK_BYTE_PTR, pData), (LEN, CK_ULONG, ulDataLen), (OUT_BYTES, CK_BYTE_PTR, pSignature), (OUT_LEN, CK_ULONG_PTR, pulSignatureLen)) \
X(C_VerifyInit, (SESSION, CK_SESSION_HANDLE, hSession), (MECHANISM, CK_MECHANISM_PTR, pMechanism), (OBJECT, CK_OBJECT_HANDLE, hKey)) \
X(C_Verify, (SESSION, CK_SESSION_HANDLE, hSession), (IN_BYTES, CK_BYTE_PTR, pData), (LEN, CK_ULONG, ulDataLen), (IN_BYTES, CK_BYTE_PTR, pSignature), (LEN, CK_ULONG, ulSignatureLen)) \
X(C_VerifyUpdate, (SESSION, CK_SESSION_HANDLE, hSession), (IN_BYTES, CK_BYTE_PTR, pPart), (LEN, CK_ULONG, ulPartLen)) \
X(C_VerifyFinal, (SESSION, CK_SESSION_HANDLE, hSession), (IN_BYTES, CK_BYTE_PTR, pSignature), (LEN, CK_ULONG, ulSignatureLen)) \
X(C_VerifyRecoverInit, (SESSION, CK_SESSION_HANDLE, hSession), (MECHANISM, CK_MECHANISM_PTR, pMechanism), (OBJECT, CK_OBJECT_HANDLE, hKey)) \
X(C_VerifyRecover, (SESSION, CK_SESSION_HANDLE, hSession), (IN_BYTES, CK_BYTE_PTR, pSignature), (LEN, CK_ULONG, ulSignatureLen), (OUT_BYTES, CK_BYTE_PTR, pData), (OUT_LEN, CK_ULONG_PTR, pulDataLen)) \
X(C_DigestEncryptUpdate, (SESSION, CK_SESSION_HANDLE, hSession), (IN_BYTES, CK_BYTE_PTR, pPart), (LEN, CK_ULONG, ulPartLen), (OUT_BYTES, CK_BYTE_PTR, pEncryptedPart), (OUT_LEN, CK_ULONG_PTR, pulEncryptedPartLen)) \
X(C_DecryptDigestUpdate, (SESSION, CK_SESSION_HANDLE, hSession), (IN_BYTES, CK_BYTE_PTR, pEncryptedPart), (LEN, CK_ULONG, ulEncryptedPartLen), (OUT_BYTES, CK_BYTE_PTR, pPart), (OUT_LEN, CK_ULONG_PTR, pulPartLen)) \
X(C_SignEncryptUpdate, (SESSION, CK_SESSION_HANDLE, hSession), (IN_BYTES, CK_BYTE_PTR, pPart), (LEN, CK_ULONG, ulPartLen), (OUT_BYTES, CK_BYTE_PTR, pEncryptedPart), (OUT_LEN, CK_ULONG_PTR, pulEncryptedPartLen)) \
X(C_DecryptVerifyUpdate, (SESSION, CK_SESSION_HANDLE, hSession), (IN_BYTES, CK_BYTE_PTR, pEncryptedPart), (LEN, CK_ULONG, ulEncryptedPartLen), (OUT_BYTES, CK_BYTE_PTR, pPart), (OUT_LEN, CK_ULONG_PTR, pulPartLen)) \
X(C_GenerateKey, (SESSION, CK_SESSION_HANDLE, hSession), (MECHANISM, CK_MECHANISM_PTR, pMechanism), (TEMPLATE, CK_ATTRIBUTE_PTR, pTemplate), (COUNT, CK_ULONG, ulCount), (OUT_OBJECT, CK_OBJECT_HANDLE_PTR, phKey)) \
X(C_GenerateKeyPair, (SESSION, CK_SESSION_HANDLE, hSession), (MECHANISM, CK_MECHANISM_PTR, pMechanism), (TEMPLATE, CK_ATTRIBUTE_PTR, pPublicKeyTemplate), (COUNT, CK_ULONG, ulPublicKeyAttributeCount), (TEMPLATE, CK_ATTRIBUTE_PTR, pPrivateKeyTemplate), (COUNT, CK_ULONG, ulPrivateKeyAttributeCount), (OUT_OBJECT, CK_OBJECT_HANDLE_PTR, phPublicKey), (OUT_OBJECT, CK_OBJECT_HANDLE_PTR, phPrivateKey)) \
X(C_WrapKey, (SESSION, CK_SESSION_HANDLE, hSession), (MECHANISM, CK_MECHANISM_PTR, pMechanism), (OBJECT, CK_OBJECT_HANDLE, hWrappingKey), (OBJECT, CK_OBJECT_HANDLE, hKey), (OUT_BYTES, CK_BYTE_PTR, pWrappedKey), (OUT_LEN, CK_ULONG_PTR, pulWrappedKeyLen)) \
X(C_UnwrapKey, (SESSION, CK_SESSION_HANDLE, hSession), (MECHANISM, CK_MECHANISM_PTR, pMechanism), (OBJECT, CK_OBJECT_HANDLE, hUnwrappingKey), (IN_BYTES, CK_BYTE_PTR, pWrappedKey), (LEN, CK_ULONG, ulWrappedKeyLen), (TEMPLATE, CK_ATTRIBUTE_PTR, pTemplate), (COUNT, CK_ULONG, ulAttributeCount), (OUT_OBJECT, CK_OBJECT_HANDLE_PTR, phKey)) \
X(C_DeriveKey, (SESSION, CK_SESSION_HANDLE, hSession), (MECHANISM, CK_MECHANISM_PTR, pMechanism), (OBJECT, CK_OBJECT_HANDLE, hBaseKey), (TEMPLATE, CK_ATTRIBUTE_PTR, pTemplate), (COUNT, CK_ULONG, ulAttributeCount), (OUT_OBJECT, CK_OBJECT_HANDLE_PTR, phKey)) \
X(C_SeedRandom, (SESSION, CK_SESSION_HANDLE, hSession), (IN_BYTES, CK_BYTE_PTR, pSeed), (LEN, CK_ULONG, ulSeedLen)) \
X(C_GenerateRandom, (SESSION, CK_SESSION_HANDLE, hSession), (OUT_BYTES, CK_BYTE_PTR, RandomData), (LEN, CK_ULONG, ulRandomLen)) \
X(C_GetFunctionStatus, (SESSION, CK_SESSION_HANDLE, hSession)) \
X(C_CancelFunction, (SESSION, CK_SESSION_HANDLE, hSession)) \
X(C_WaitForSlotEvent, (WAIT_FLAGS, CK_FLAGS, flags), (OUT_SLOT, CK_SLOT_ID_PTR, pSlot), (RESERVED, CK_VOID_PTR, pReserved))

/* PKCS#11 3.0 additions (after C_GetInterfaceList/C_GetInterface, which are
 * module-level), in CK_FUNCTION_LIST_3_0 order. */
#define P11O_FUNCTIONS_V3(X) \
X(C_LoginUser, (SESSION, CK_SESSION_HANDLE, hSession), (USER, CK_USER_TYPE, userType), (PIN, CK_UTF8CHAR_PTR, pPin), (LEN, CK_ULONG, ulPinLen), (IN_TEXT, CK_UTF8CHAR_PTR, pUsername), (LEN, CK_ULONG, ulUsernameLen)) \
X(C_SessionCancel, (SESSION, CK_SESSION_HANDLE, hSession), (FLAGS, CK_FLAGS, flags)) \
X(C_MessageEncryptInit, (SESSION, CK_SESSION_HANDLE, hSession), (MECHANISM, CK_MECHANISM_PTR, pMechanism), (OBJECT, CK_OBJECT_HANDLE, hKey)) \
X(C_EncryptMessage, (SESSION, CK_SESSION_HANDLE, hSession), (IN_BYTES, CK_VOID_PTR, pParameter), (LEN, CK_ULONG, ulParameterLen), (IN_BYTES, CK_BYTE_PTR, pAssociatedData), (LEN, CK_ULONG, ulAssociatedDataLen), (IN_BYTES, CK_BYTE_PTR, pPlaintext), (LEN, CK_ULONG, ulPlaintextLen), (OUT_BYTES, CK_BYTE_PTR, pCiphertext), (OUT_LEN, CK_ULONG_PTR, pulCiphertextLen)) \
X(C_EncryptMessageBegin, (SESSION, CK_SESSION_HANDLE, hSession), (IN_BYTES, CK_VOID_PTR, pParameter), (LEN, CK_ULONG, ulParameterLen), (IN_BYTES, CK_BYTE_PTR, pAssociatedData), (LEN, CK_ULONG, ulAssociatedDataLen)) \
X(C_EncryptMessageNext, (SESSION, CK_SESSION_HANDLE, hSession), (IN_BYTES, CK_VOID_PTR, pParameter), (LEN, CK_ULONG, ulParameterLen), (IN_BYTES, CK_BYTE_PTR, pPlaintextPart), (LEN, CK_ULONG, ulPlaintextPartLen), (OUT_BYTES, CK_BYTE_PTR, pCiphertextPart), (OUT_LEN, CK_ULONG_PTR, pulCiphertextPartLen), (FLAGS, CK_FLAGS, flags)) \
X(C_MessageEncryptFinal, (SESSION, CK_SESSION_HANDLE, hSession)) \
X(C_MessageDecryptInit, (SESSION, CK_SESSION_HANDLE, hSession), (MECHANISM, CK_MECHANISM_PTR, pMechanism), (OBJECT, CK_OBJECT_HANDLE, hKey)) \
X(C_DecryptMessage, (SESSION, CK_SESSION_HANDLE, hSession), (IN_BYTES, CK_VOID_PTR, pParameter), (LEN, CK_ULONG, ulParameterLen), (IN_BYTES, CK_BYTE_PTR, pAssociatedData), (LEN, CK_ULONG, ulAssociatedDataLen), (IN_BYTES, CK_BYTE_PTR, pCiphertext), (LEN, CK_ULONG, ulCiphertextLen), (OUT_BYTES, CK_BYTE_PTR, pPlaintext), (OUT_LEN, CK_ULONG_PTR, pulPlaintextLen)) \
X(C_DecryptMessageBegin, (SESSION, CK_SESSION_HANDLE, hSession), (IN_BYTES, CK_VOID_PTR, pParameter), (LEN, CK_ULONG, ulParameterLen), (IN_BYTES, CK_BYTE_PTR, pAssociatedData), (LEN, CK_ULONG, ulAssociatedDataLen)) \
X(C_DecryptMessageNext, (SESSION, CK_SESSION_HANDLE, hSession), (IN_BYTES, CK_VOID_PTR, pParameter), (LEN, CK_ULONG, ulParameterLen), (IN_BYTES, CK_BYTE_PTR, pCiphertextPart), (LEN, CK_ULONG, ulCiphertextPartLen), (OUT_BYTES, CK_BYTE_PTR, pPlaintextPart), (OUT_LEN, CK_ULONG_PTR, pulPlaintextPartLen), (FLAGS, CK_FLAGS, flags)) \
X(C_MessageDecryptFinal, (SESSION, CK_SESSION_HANDLE, hSession)) \
X(C_MessageSignInit, (SESSION, CK_SESSION_HANDLE, hSession), (MECHANISM, CK_MECHANISM_PTR, pMechanism), (OBJECT, CK_OBJECT_HANDLE, hKey)) \
X(C_SignMessage, (SESSION, CK_SESSION_HANDLE, hSession), (IN_BYTES, CK_VOID_PTR, pParameter), (LEN, CK_ULONG, ulParameterLen), (IN_BYTES, CK_BYTE_PTR, pData), (LEN, CK_ULONG, ulDataLen), (OUT_BYTES, CK_BYTE_PTR, pSignature), (OUT_LEN, CK_ULONG_PTR, pulSignatureLen)) \
X(C_SignMessageBegin, (SESSION, CK_SESSION_HANDLE, hSession), (IN_BYTES, CK_VOID_PTR, pParameter), (LEN, CK_ULONG, ulParameterLen)) \
X(C_SignMessageNext, (SESSION, CK_SESSION_HANDLE, hSession), (IN_BYTES, CK_VOID_PTR, pParameter), (LEN, CK_ULONG, ulParameterLen), (IN_BYTES, CK_BYTE_PTR, pData), (LEN, CK_ULONG, ulDataLen), (OUT_BYTES, CK_BYTE_PTR, pSignature), (OUT_LEN, CK_ULONG_PTR, pulSignatureLen)) \
X(C_MessageSignFinal, (SESSION, CK_SESSION_HANDLE, hSession)) \
X(C_MessageVerifyInit, (SESSION, CK_SESSION_HANDLE, hSession), (MECHANISM, CK_MECHANISM_PTR, pMechanism), (OBJECT, CK_OBJECT_HANDLE, hKey)) \
X(C_VerifyMessage, (SESSION, CK_SESSION_HANDLE, hSession), (IN_BYTES, CK_VOID_PTR, pParameter), (LEN, CK_ULONG, ulParameterLen), (IN_BYTES, CK_BYTE_PTR, pData), (LEN, CK_ULONG, ulDataLen), (IN_BYTES, CK_BYTE_PTR, pSignature), (LEN, CK_ULONG, ulSignatureLen)) \
X(C_VerifyMessageBegin, (SESSION, CK_SESSION_HANDLE, hSession), (IN_BYTES, CK_VOID_PTR, pParameter), (LEN, CK_ULONG, ulParameterLen)) \
X(C_VerifyMessageNext, (SESSION, CK_SESSION_HANDLE, hSession), (IN_BYTES, CK_VOID_PTR, pParameter), (LEN, CK_ULONG, ulParameterLen), (IN_BYTES, CK_BYTE_PTR, pData), (LEN, CK_ULONG, ulDataLen), (IN_BYTES, CK_BYTE_PTR, pSignature), (LEN, CK_ULONG, ulSignatureLen)) \
X(C_MessageVerifyFinal, (SESSION, CK_SESSION_HANDLE, hSession))

/* p11overlay extensions (docs/architecture.md §6), in CK_P11OVERLAY_FUNCTION_LIST
 * order. */
#define P11O_FUNCTIONS_EXT(X) \
X(C_UnlockPIN, (SESSION, CK_SESSION_HANDLE, hSession), (PIN, CK_UTF8CHAR_PTR, pPuk), (LEN, CK_ULONG, ulPukLen), (PIN, CK_UTF8CHAR_PTR, pNewPin), (LEN, CK_ULONG, ulNewPinLen)) \
X(C_LockToken, (SLOT, CK_SLOT_ID, slotID), (ULONG, CK_ULONG, ulTimeoutSeconds)) \
X(C_GetUnlockChallenge, (SESSION, CK_SESSION_HANDLE, hSession), (OUT_BYTES, CK_BYTE_PTR, pChallenge), (OUT_LEN, CK_ULONG_PTR, pulChallengeLen)) \
X(C_UnlockPINWithResponse, (SESSION, CK_SESSION_HANDLE, hSession), (PIN, CK_BYTE_PTR, pResponse), (LEN, CK_ULONG, ulResponseLen), (PIN, CK_UTF8CHAR_PTR, pNewPin), (LEN, CK_ULONG, ulNewPinLen)) \
X(C_ResetToken, (SLOT, CK_SLOT_ID, slotID), (PIN, CK_UTF8CHAR_PTR, pPin), (LEN, CK_ULONG, ulPinLen)) \
X(C_Reinitialize, (SLOT, CK_SLOT_ID, slotID)) \
X(C_SetVariable, (VAR_NAME, const char *, name), (VAR_VALUE, const char *, value)) \
X(C_GetVariable, (STRING, const char *, name), (OUT_STRING, char *, value), (ULONG, CK_ULONG, valueLen)) \
X(C_HasNewEvent, (INOUT_ULONG, CK_ULONG_PTR, pLastEvent)) \
X(C_AddSlot, (POINTER, CK_ADD_SLOT_PTR, pAddSlot), (OUT_SLOT_LIST, CK_SLOT_ID_PTR, pSlotList), (OUT_COUNT, CK_ULONG_PTR, pulCount)) \
X(C_RemoveSlot, (SLOT, CK_SLOT_ID, slotID)) \
X(C_RegisterEngine, (MECH_TYPE, CK_MECHANISM_TYPE, type), (STRING, const char *, name), (POINTER, CK_ENGINE_PTR, pEngine)) \
X(C_SetTraceCallback, (POINTER, CK_TRACE_CALLBACK, callback))

#define P11O_FUNCTIONS_V2(X) P11O_FUNCTIONS_V2_HEAD(X) P11O_FUNCTIONS_V2_TAIL(X)
#define P11O_FUNCTIONS(X) P11O_FUNCTIONS_V2(X) P11O_FUNCTIONS_V3(X) P11O_FUNCTIONS_EXT(X)
/* clang-format on */

/* Argument kinds, for the trace decoder. */
/* clang-format off */
#define P11O_ARG_KINDS(K) \
	K(ULONG) K(BOOL) K(SLOT) K(SESSION) K(OBJECT) K(FLAGS) K(SESSION_FLAGS) \
	K(WAIT_FLAGS) K(USER) K(MECH_TYPE) K(POINTER) K(RESERVED) K(INIT_ARGS) \
	K(MECHANISM) K(TEMPLATE) K(COUNT) K(IN_BYTES) K(LEN) K(PIN) K(IN_TEXT) \
	K(LABEL32) K(STRING) K(VAR_NAME) K(VAR_VALUE) K(OUT_INFO) K(OUT_SLOT_LIST) \
	K(OUT_COUNT) K(OUT_SLOT_INFO) K(OUT_TOKEN_INFO) K(OUT_MECH_LIST) \
	K(OUT_MECH_INFO) K(OUT_SESSION) K(OUT_SESSION_INFO) K(OUT_BYTES) \
	K(OUT_LEN) K(OUT_OBJECT) K(OUT_OBJECTS) K(OUT_ULONG) K(OUT_TEMPLATE) \
	K(OUT_SLOT) K(OUT_STRING) K(INOUT_ULONG)
/* clang-format on */

/* ---- argument-list mapping: apply M to each (kind, type, param) -------- */
#define P11O_NARGS(...)                                                        \
	P11O_NARGS_(__VA_ARGS__, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define P11O_NARGS_(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, n, ...) n
#define P11O_CAT(a, b) P11O_CAT_(a, b)
#define P11O_CAT_(a, b) a##b

/* comma-separated */
#define P11O_MAPC(M, ...)                                                      \
	P11O_CAT(P11O_MAPC_, P11O_NARGS(__VA_ARGS__))(M, __VA_ARGS__)
#define P11O_MAPC_1(M, a) M a
#define P11O_MAPC_2(M, a, ...) M a, P11O_MAPC_1(M, __VA_ARGS__)
#define P11O_MAPC_3(M, a, ...) M a, P11O_MAPC_2(M, __VA_ARGS__)
#define P11O_MAPC_4(M, a, ...) M a, P11O_MAPC_3(M, __VA_ARGS__)
#define P11O_MAPC_5(M, a, ...) M a, P11O_MAPC_4(M, __VA_ARGS__)
#define P11O_MAPC_6(M, a, ...) M a, P11O_MAPC_5(M, __VA_ARGS__)
#define P11O_MAPC_7(M, a, ...) M a, P11O_MAPC_6(M, __VA_ARGS__)
#define P11O_MAPC_8(M, a, ...) M a, P11O_MAPC_7(M, __VA_ARGS__)
#define P11O_MAPC_9(M, a, ...) M a, P11O_MAPC_8(M, __VA_ARGS__)
#define P11O_MAPC_10(M, a, ...) M a, P11O_MAPC_9(M, __VA_ARGS__)

/* no separator */
#define P11O_MAPS(M, ...)                                                      \
	P11O_CAT(P11O_MAPS_, P11O_NARGS(__VA_ARGS__))(M, __VA_ARGS__)
#define P11O_MAPS_1(M, a) M a
#define P11O_MAPS_2(M, a, ...) M a P11O_MAPS_1(M, __VA_ARGS__)
#define P11O_MAPS_3(M, a, ...) M a P11O_MAPS_2(M, __VA_ARGS__)
#define P11O_MAPS_4(M, a, ...) M a P11O_MAPS_3(M, __VA_ARGS__)
#define P11O_MAPS_5(M, a, ...) M a P11O_MAPS_4(M, __VA_ARGS__)
#define P11O_MAPS_6(M, a, ...) M a P11O_MAPS_5(M, __VA_ARGS__)
#define P11O_MAPS_7(M, a, ...) M a P11O_MAPS_6(M, __VA_ARGS__)
#define P11O_MAPS_8(M, a, ...) M a P11O_MAPS_7(M, __VA_ARGS__)
#define P11O_MAPS_9(M, a, ...) M a P11O_MAPS_8(M, __VA_ARGS__)
#define P11O_MAPS_10(M, a, ...) M a P11O_MAPS_9(M, __VA_ARGS__)

/* Per-kind hooks: P11O_IF_KIND(PREFIX_, kind, code) expands to `code` only
 * where PREFIX_<kind> is defined as P11O_KIND_HOOK, and to nothing
 * otherwise, so a layer writes hooks for the few kinds it cares about. */
#define P11O_KIND_HOOK ~, 1
#define P11O_SECOND_(a, b, ...) b
#define P11O_CHECK_(...) P11O_SECOND_(__VA_ARGS__, 0, )
#define P11O_IIF_0(t)
#define P11O_IIF_1(t) t
#define P11O_IF_KIND(prefix, kind, code)                                       \
	P11O_CAT(P11O_IIF_, P11O_CHECK_(P11O_CAT(prefix, kind)))(code)

#define P11O_DECL_(kind, type, param) type param
#define P11O_NAME_(kind, type, param) param
/* "CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo" */
#define P11O_PARAMS(...) P11O_MAPC(P11O_DECL_, __VA_ARGS__)
/* "slotID, pInfo" */
#define P11O_ARGS(...) P11O_MAPC(P11O_NAME_, __VA_ARGS__)

/* Index of every layered function: P11O_FN_C_GetInfo, ... */
enum p11o_fn_index {
#define P11O_ENUM_(name, ...) P11O_FN_##name,
	P11O_FUNCTIONS(P11O_ENUM_)
#undef P11O_ENUM_
	    P11O_FN_COUNT
};

#endif
