"""Expected OpenSC 0.23 behaviour per card family, as data for test_selfcheck.py
(and usable by the feature-matrix tests): token labels, PIN values, VERIFY
references and bytes, key IDs to sign with, and OpenSC's own unblock APDU.

A token: {"label" or "suffix", "pin", "ref", "verify" (bytes OpenSC's VERIFY
sends), "sign": [key ID hex]}.  An unblock: {"token", "wrong", "tries", "puk",
"new", "apdu": (P1, P2, data) OpenSC sends, "ok": the card accepts it, "why"}."""
import json, os

import vcard_openpgp
import vcard_p15
import vcard_piv

HERE = os.path.dirname(os.path.abspath(__file__))
PROFILES = os.path.join(HERE, "profiles")


def _opensc_unblock_data(pin, puk, puk_value, new):
    """The RESET RETRY COUNTER data OpenSC 0.23's sc_pkcs15_unblock_pin builds:
    the PUK with the PIN's type and padding flag (the PUK's pad char and length),
    the new PIN with the PUK's type (the PIN's pad char and length)."""
    pf, kf = vcard_p15.PinFormat(pin), vcard_p15.PinFormat(puk)

    def crossed(fmt, typ, pad):
        f = vcard_p15.PinFormat(dict(pin if fmt is pf else puk))
        f.type = typ if typ == "bcd" else "ascii-numeric"
        f.needs_padding = pad
        return f

    puk_bytes = crossed(kf, pf.type, pf.needs_padding).encode(puk_value)
    new_bytes = crossed(pf, kf.type, pf.needs_padding).encode(new)
    return puk_bytes + new_bytes, kf.encode(puk_value) + pf.encode(new)


def pkcs15_case(profile):
    def build():
        cfg = dict(vcard_p15.DEFAULTS)
        if profile:
            with open(os.path.join(PROFILES, profile + ".json")) as fh:
                cfg.update(json.load(fh))
        tokens, unblocks = [], []
        for p in cfg["pins"]:
            tok = {"suffix": " (%s)" % p["name"], "pin": p["value"], "ref": p["ref"],
                   "pin_label": p["name"], "counter": p["ref"],
                   "verify": vcard_p15.PinFormat(p).encode(p["value"]),
                   "sign": [p["key_id"]] if "sign" in p.get("usage", []) else []}
            tokens.append(tok)
            puk = vcard_p15.puk_of(cfg, p)
            new = "2" * max(p.get("min", 4), 6) if p.get("type") != "utf8" else "neues-PIN"
            if len(new.encode()) > p.get("max", 8):
                new = new[:p["max"]]
            ub = {"token": tok, "wrong": _wrong(p), "tries": p["tries"], "new": new}
            if puk is None:
                # OpenSC uses the PIN's own object as "PUK": PIN-encoded bytes + new PIN
                enc = vcard_p15.PinFormat(p)
                ub.update(puk=p["value"], apdu=(0, p["ref"], enc.encode(p["value"]) + enc.encode(new)),
                          ok=False, why="the PIN has no PUK", no_puk=True)
            else:
                sent, right = _opensc_unblock_data(p, puk, puk["value"], new)
                ub.update(puk=puk["value"], apdu=(0, p["ref"], sent), ok=sent == right, right=right,
                          why="OpenSC encodes PUK and new PIN crosswise (PIN type %s, PUK type %s)"
                          % (p.get("type", "ascii-numeric"), puk.get("type", "ascii-numeric")))
            unblocks.append(ub)
        first = cfg["pins"][0]
        replace = {"family": "pkcs15", "which": first["key_ref"], "token": tokens[0],
                   "id": first["key_id"],
                   "kw": {"pin": (first["ref"], tokens[0]["verify"])}}
        return {"family": "pkcs15", "config": cfg if profile else None, "replace": replace,
                "tokens": tokens, "unblock": unblocks, "shows_locked": False,
                # facts for the feature matrix (test_matrix.py)
                "serial": cfg["serial"].lower(), "card_label": cfg["label"],
                "application": "PKCS #15", "atr": cfg["atr"], "challenge": True,
                "proxy_conf": '[card "vcard"]\napplication = PKCS #15\nunlock-key-ref = 0x01\n'}
    return build


def _wrong(p):
    w = "9" * max(p.get("min", 4), 6)
    return w[:p.get("max", 8)] if w != p["value"] else "8" * len(w)


def openpgp_case(version, family="openpgp"):
    def build():
        user = {"label": "OpenPGP card (User PIN)", "pin": "123456", "ref": 0x82,
                "pin_label": "User PIN", "counter": "pw1",
                "verify": b"123456", "sign": ["03"]}
        sig = {"label": "OpenPGP card (User PIN (sig))", "pin": "123456", "ref": 0x81,
               "pin_label": "User PIN (sig)", "counter": "pw1",
               "verify": b"123456", "sign": ["01"]}
        # OpenSC's unblock on either token: RESET RETRY COUNTER 00 2C 00 81 <RC><new PW1>
        ub = [{"token": t, "wrong": "000000", "tries": 3, "puk": "87654321", "new": new,
               "apdu": (0, 0x81, b"87654321" + new.encode()), "ok": True, "why": ""}
              for t, new in ((user, "654321"), (sig, "246802"))]
        ub[1]["token"] = dict(sig, pin="654321")  # PW1 after the first unblock
        # v2 has no ISO PIN status: OpenSC 0.23 reads DO C4 byte 4 + (ref & 0F), one
        # too far (ref 81 shows the Resetting Code's counter, 82 PW3's): never "locked"
        spec = {"family": "openpgp", "config": {"family": "openpgp", "version": version},
                "tokens": [user, sig], "unblock": ub, "shows_locked": version >= "3.1",
                "replace": {"family": "openpgp", "which": "aut", "token": user, "id": "03"},
                "serial": "ffff12345678", "card_label": "OpenPGP card",
                "application": "OpenPGP",
                "atr": vcard_openpgp.ATR_V3 if version >= "3" else vcard_openpgp.ATR_V2}
        if family == "piv+openpgp":  # the OpenPGP applet of the two-applet card
            spec.update(family=family, card_drivers="openpgp", atr=vcard_piv.YUBIKEY4_ATR,
                        config={"family": family, "openpgp": {"version": version}})
        return spec
    return build


def piv_case(config=None, family="piv"):
    def build():
        tok = {"label": "PIV Authentication Test User", "pin": "123456", "ref": 0x80,
               "pin_label": "PIN", "counter": "pin",
               "verify": b"123456\xff\xff", "sign": ["01", "02"]}
        # OpenSC's unblock: 00 2C 00 80 10 <PUK FF-padded to 8><new PIN FF-padded to 8>
        ub = {"token": tok, "wrong": "000000", "tries": 3, "puk": "12345678", "new": "654321",
              "apdu": (0, 0x80, b"12345678" + b"654321\xff\xff"), "ok": True, "why": ""}
        return {"family": family, "config": config, "tokens": [tok], "unblock": [ub],
                "replace": {"family": "piv", "which": "9C", "token": tok, "id": "02"},
                "context_key": "02",
                "serial": vcard_piv.DEFAULTS["guid"].lower(),
                "card_label": "PIV Authentication Test User",
                "application": "NIST SP 800-73 [PIV]", "atr": vcard_piv.YUBIKEY4_ATR}
    return build


CASES = {
    "pkcs15-default": pkcs15_case(None),
    "pkcs15-padded-ff": pkcs15_case("p15-padded-ff"),
    "pkcs15-padchar-nopad": pkcs15_case("p15-padchar-nopad"),
    "pkcs15-bcd": pkcs15_case("p15-bcd"),
    "pkcs15-utf8": pkcs15_case("p15-utf8"),
    "openpgp-v2": openpgp_case("2.1"),
    "openpgp-v3": openpgp_case("3.4"),
    "piv": piv_case(),
    # two applets on one card: OpenSC binds PIV-II first; with card_drivers = openpgp
    # it serves the OpenPGP applet (YubiKey 4: OpenPGP 2.1)
    "multi-piv": piv_case({"family": "piv+openpgp"}, "piv+openpgp"),
    "multi-openpgp": openpgp_case("2.1", "piv+openpgp"),
}
