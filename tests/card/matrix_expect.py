"""Cells of the feature matrix (test_matrix.py) expected red today, with the
reason seen (proxy at the time this list was written; issue 14).  Cells
impossible for a family are reported n/a by the cell itself and are not listed.
As the proxy gets a cell right, its entry must go: a listed cell that turns
green fails the test until it is removed, so the list is always the truth."""

UPDATECOUNT = ("UpdateCount does not change when another process replaces a certificate "
               "(the digest comes from what the provider loaded at C_Initialize)")
PGP_SPECIAL = ("TokenLabel is the cardholder name 'User<<Test' (DO 5B), OpenSC's token label is "
               "'OpenPGP card'; UpdateCount ignores another process's certificate change")
PIV_SPECIAL = "special objects: CKR_GENERAL_ERROR (an absent PIV container aborts UpdateCount)"
PIV_HANG = ("context-specific login on 9C then C_GetTokenInfo hangs: the proxy's PIN-status read "
            "waits on the card transaction OpenSC holds until C_Sign")
MULTI = ("two applets: the proxy reads the OpenPGP applet for the PIV token (label "
         "'User<<Test (User PIN)'; C_UnlockPIN sends the PUK to OpenPGP: 00 2C 00 81, 63C2)")

RED = {
    ("pkcs15-default", "special-objects"): UPDATECOUNT,
    ("pkcs15-padded-ff", "special-objects"): UPDATECOUNT,
    ("pkcs15-padchar-nopad", "special-objects"): UPDATECOUNT,
    ("pkcs15-bcd", "special-objects"): UPDATECOUNT,
    ("pkcs15-utf8", "special-objects"): UPDATECOUNT,
    ("openpgp-v2", "special-objects"): PGP_SPECIAL,
    ("openpgp-v3", "special-objects"): PGP_SPECIAL,
    ("piv", "special-objects"): PIV_SPECIAL,
    ("piv", "sign"): PIV_HANG,
    ("multi-piv", "tokens"): MULTI,
    ("multi-piv", "special-objects"): PIV_SPECIAL,
    ("multi-piv", "puk-unlock"): MULTI,
    ("multi-piv", "sign"): PIV_HANG,
}


def expected(case, feature):
    """("red", reason) or None (expected ok or n/a)."""
    reason = RED.get((case, feature)) or RED.get(("*", feature))
    return ("red", reason) if reason else None
