"""Cells of the feature matrix (test_matrix.py) expected red today, with the
reason seen (proxy at the time this list was written; issue 14).  Cells
impossible for a family are reported n/a by the cell itself and are not listed.
As the proxy gets a cell right, its entry must go: a listed cell that turns
green fails the test until it is removed, so the list is always the truth."""

UPDATECOUNT = ("UpdateCount does not change when another process replaces a certificate "
               "(the digest comes from what the provider loaded at C_Initialize)")
PAD_UNLOCK = ("the proxy pads the new PIN of RESET RETRY COUNTER to storedLength although the "
              "AODF has no needs-padding flag (OpenSC sends it unpadded): the card refuses it")
BCD_UNLOCK = ("the proxy sends a BCD PIN's new value as 16 bytes (storedLength in bytes) instead "
              "of storedLength/2 BCD bytes, after an ASCII PUK: the card refuses it")
PGP_LABELS = ("OpenPGP PIN names contain ' (': both tokens labelled '<name> (User PIN)'; "
              "the token name is the cardholder name, not the card label")
PGP_SPECIAL = ("TokenSerialNumber '12345678' shorter than the token's 'ffff12345678'; TokenLabel "
               "is the cardholder name; UpdateCount ignores another process's certificate change")
PGP_UNLOCK = ("C_UnlockPIN sends 00 2C 00 82 (6A86): OpenPGP resets PW1 with P2=81 "
              "(<RC><new PW1>) whichever reference the token verifies with")
PIV_SPECIAL = "special objects: CKR_GENERAL_ERROR (an absent PIV container aborts UpdateCount)"
PIV_UNLOCK = "C_UnlockPIN: CKR_FUNCTION_NOT_SUPPORTED (no built-in PIV family)"
PIV_COST = "5 x C_GetTokenInfo cost 25 APDUs through the proxy, 10 directly (nothing cached)"
PIV_HANG = ("context-specific login on 9C then C_GetTokenInfo hangs: the proxy's PIN-status read "
            "waits on the card transaction OpenSC holds until C_Sign")
MULTI = ("two applets: the proxy reads the OpenPGP applet for the PIV token (label "
         "'User<<Test (User PIN (sig))', PIN state of the wrong applet, PUK sent to OpenPGP)")

RED = {
    ("pkcs15-default", "special-objects"): UPDATECOUNT,
    ("pkcs15-padded-ff", "special-objects"): UPDATECOUNT,
    ("pkcs15-padchar-nopad", "special-objects"): UPDATECOUNT,
    ("pkcs15-padchar-nopad", "puk-unlock"): PAD_UNLOCK,
    ("pkcs15-padchar-nopad", "challenge"): PAD_UNLOCK,
    ("pkcs15-bcd", "special-objects"): UPDATECOUNT,
    ("pkcs15-bcd", "puk-unlock"): BCD_UNLOCK,
    ("pkcs15-bcd", "challenge"): BCD_UNLOCK,
    ("pkcs15-utf8", "special-objects"): UPDATECOUNT,
    ("openpgp-v2", "tokens"): PGP_LABELS,
    ("openpgp-v2", "special-objects"): PGP_SPECIAL,
    ("openpgp-v2", "puk-unlock"): PGP_UNLOCK,
    ("openpgp-v3", "tokens"): PGP_LABELS,
    ("openpgp-v3", "special-objects"): PGP_SPECIAL,
    ("openpgp-v3", "puk-unlock"): PGP_UNLOCK,
    ("piv", "special-objects"): PIV_SPECIAL,
    ("piv", "puk-unlock"): PIV_UNLOCK,
    ("piv", "sign"): PIV_HANG,
    ("piv", "apdu-cost"): PIV_COST,
    ("multi-piv", "tokens"): MULTI,
    ("multi-piv", "pin-state"): MULTI,
    ("multi-piv", "special-objects"): PIV_SPECIAL,
    ("multi-piv", "puk-unlock"): MULTI,
    ("multi-piv", "sign"): PIV_HANG,
}


def expected(case, feature):
    """("red", reason) or None (expected ok or n/a)."""
    reason = RED.get((case, feature)) or RED.get(("*", feature))
    return ("red", reason) if reason else None
