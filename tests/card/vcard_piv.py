"""Virtual PIV card (NIST SP 800-73-4, application A0 00 00 03 08) that answers
like a YubiKey 4, for OpenSC 0.23's `PIV-II` driver: application PIN 80 and
PUK 81 (both FF-padded to 8 bytes, compared byte for byte), RESET RETRY COUNTER
`00 2C 00 80 10 <PUK><PIN>`, GENERAL AUTHENTICATE with command chaining, key 9A
(RSA-2048, PIN once) and 9C (EC P-256, PIN always: a VERIFY right before each
use), certificates, CHUID (FASC-N 9999 + GUID), CCC and discovery object.
See README.md."""
import json, os, secrets, sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa, utils

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vcard_iso import (IsoCard, Secret, StateFile, SWError, compute_unlock_response,  # noqa: E402
                       load_cert, load_key, load_secrets, parse_tlvs, rsa_private,
                       save_secrets, tlv)

PIV_AID = bytes.fromhex("A000000308000010000100")
YUBIKEY4_ATR = "3BF81300008131FE15597562696B657934D4"   # historical bytes "Yubikey4"

DEFAULTS = {
    "family": "piv",
    "atr": YUBIKEY4_ATR,
    "yubico_version": "040305",      # GET VERSION (INS FD); >= 4.3.2: VERIFY Lc=0 works
    "pin": "123456", "pin_tries": 3,
    "puk": "12345678", "puk_tries": 3,
    # FASC-N of agency 9999 (not a government card) + GUID: OpenSC's serial is the GUID
    "fascn": "D4E739DA739CED39CE739D836858210842108421C84210C3EB",
    "guid": "494730303030A00112345678ABCDEF01",
    "ca_cn": "p11overlay PIV Test CA",
    # card management key (9B, 3-key 3DES; the YubiKey default)
    "mgmt_key": "010203040506070801020304050607080102030405060708",
    "keys": {
        "9A": {"alg": "rsa2048", "cn": "PIV Authentication Test User"},
        "9C": {"alg": "p256", "cn": "PIV Digital Signature Test User"},
    },
}

PIN_REF, PUK_REF = 0x80, 0x81
ALG_IDS = {"rsa2048": 0x07, "p256": 0x11}
# GET DATA tag -> key slot of the certificate container
CERT_TAGS = {0x5FC105: "9A", 0x5FC10A: "9C", 0x5FC10B: "9D", 0x5FC101: "9E"}
PIN_ALWAYS = {"9C"}                   # key usage needs a VERIFY right before


def _pin_accepts(lo):
    """PIV PIN/PUK format: lo..8 ASCII digits, FF-padded to exactly 8 bytes."""
    def accepts(data):
        body = bytes(data).rstrip(b"\xFF")
        return len(data) == 8 and lo <= len(body) <= 8 and body.isdigit()
    return accepts


def _padded(value):
    return value.encode() + b"\xFF" * (8 - len(value))


class PivCard(IsoCard):
    def __init__(self, config=None, state_dir=None, key_cache=None):
        cfg = json.loads(json.dumps(DEFAULTS))
        cfg.update(config or {})
        self.cfg = cfg
        self.atr = bytes.fromhex(cfg["atr"])
        self.state_dir, self.key_cache = state_dir, key_cache
        if state_dir:
            os.makedirs(state_dir, exist_ok=True)
        self._load_keys()
        self._load_state()
        self.default_selected = True     # PIV is the card's default application
        self.power_on()

    def _load_keys(self):
        sd, kc, ca = self.state_dir, self.key_cache, self.cfg["ca_cn"]
        ca_key = load_key(sd, kc, "piv-ca")
        self.keys, self.certs = {}, {}
        for i, (slot, k) in enumerate(sorted(self.cfg["keys"].items())):
            name = "piv-%s-%s" % (slot.lower(), k["alg"])
            key = load_key(sd, kc, name, k["alg"])
            self.keys[slot] = key
            usage = "sign" if slot != "9C" else "nonrep"
            self.certs[slot] = load_cert(sd, name, k["cn"], key, ca, ca_key, False, 0x300 + i,
                                         key_usage=usage)

    def _load_state(self):
        c = self.cfg
        self.state = StateFile(self.state_dir)
        self.secrets = {
            PIN_REF: Secret("PIN", _padded(c["pin"]), c["pin_tries"], c["pin_tries"],
                            _pin_accepts(6)),
            PUK_REF: Secret("PUK", _padded(c["puk"]), c["puk_tries"], c["puk_tries"],
                            _pin_accepts(6)),
        }
        load_secrets(self.state, self.secrets)
        for slot, der in self.state.data.get("certs", {}).items():
            self.certs[slot] = bytes.fromhex(der)

    def save_state(self):
        save_secrets(self.state, self.secrets)

    def power_on(self):
        self.selected = self.default_selected
        self.deselect()
        self.reset_transport()

    power_off = reset = power_on

    def deselect(self):
        """Security state is lost when the application is left (YubiKey)."""
        self.verified = False
        self.pin_always_ok = False
        self.admin = False
        self.mgmt_challenge = None

    # ---- data objects
    def chuid(self):
        c = self.cfg
        return tlv(0x53, tlv(0x30, bytes.fromhex(c["fascn"])) + tlv(0x34, bytes.fromhex(c["guid"]))
                   + tlv(0x35, b"20491231") + tlv(0x3E, b"") + tlv(0xFE, b""))

    def ccc(self):
        card_id = bytes.fromhex("A000000116FF02") + bytes.fromhex(self.cfg["guid"])[:14]
        return tlv(0x53, tlv(0xF0, card_id) + tlv(0xF1, b"\x21") + tlv(0xF2, b"\x21")
                   + tlv(0xF3, b"") + tlv(0xF4, b"\x00") + tlv(0xF5, b"\x10") + tlv(0xF6, b"")
                   + tlv(0xF7, b"") + tlv(0xFA, b"") + tlv(0xFB, b"") + tlv(0xFC, b"")
                   + tlv(0xFD, b"") + tlv(0xFE, b""))

    def discovery(self):
        # PIN usage policy 40 00: the PIV application PIN only (no global PIN)
        return tlv(0x7E, tlv(0x4F, PIV_AID) + tlv(0x5F2F, b"\x40\x00"))

    def get_object(self, tag):
        if tag == 0x7E:
            return self.discovery()
        if tag == 0x5FC102:
            return self.chuid()
        if tag == 0x5FC107:
            return self.ccc()
        slot = CERT_TAGS.get(tag)
        if slot and slot in self.certs:
            return tlv(0x53, tlv(0x70, self.certs[slot]) + tlv(0x71, b"\x00") + tlv(0xFE, b""))
        raise SWError(0x6A82)

    # ---- commands
    def cmd_select(self, p1, p2, data, le):
        if p1 == 4 and data and PIV_AID.startswith(data) and len(data) >= 5:
            if not self.selected:
                self.deselect()
            self.selected = True
            # application property template: PIX of the AID, coexistent tag allocation
            return tlv(0x61, tlv(0x4F, PIV_AID[5:]) + tlv(0x79, tlv(0x4F, PIV_AID[:5])))
        raise SWError(0x6A82)

    def _app(self):
        if not self.selected:
            raise SWError(0x6D00)

    def cmd_get_data(self, p1, p2, data, le):
        self._app()
        if (p1, p2) != (0x3F, 0xFF):
            raise SWError(0x6A86)
        t = parse_tlvs(data).get(0x5C)
        if t is None or not 1 <= len(t) <= 3:
            raise SWError(0x6A80)
        return self.get_object(int.from_bytes(t, "big"))

    def cmd_get_version(self, p1, p2, data, le):
        return bytes.fromhex(self.cfg["yubico_version"])

    def _check(self, s, data):
        try:
            s.check(data)
        finally:
            self.save_state()

    def cmd_verify(self, p1, p2, data, le):
        self._app()
        if p2 != PIN_REF:
            raise SWError(0x6A88 if p2 != PUK_REF else 0x6A80)
        s = self.secrets[PIN_REF]
        if p1 == 0xFF and not data:          # 800-73-4: reset the verification status
            self.deselect()
            return b""
        if p1 != 0:
            raise SWError(0x6A86)
        if not data:
            if s.tries <= 0:
                raise SWError(0x6983)
            return b"" if self.verified else 0x63C0 | s.tries
        if len(data) != 8:
            raise SWError(0x6A80)
        self.deselect()
        self._check(s, data)
        self.verified = self.pin_always_ok = True
        return b""

    def cmd_change_reference_data(self, p1, p2, data, le):
        self._app()
        if p1 != 0 or p2 not in (PIN_REF, PUK_REF):
            raise SWError(0x6A86 if p1 else 0x6A88)
        s = self.secrets[p2]
        if len(data) != 16 or not s.accepts(data[8:]):
            raise SWError(0x6A80)
        self._check(s, data[:8])
        s.set(data[8:])
        self.save_state()
        return b""

    def cmd_reset_retry_counter(self, p1, p2, data, le):
        """00 2C 00 80 10 <PUK><new PIN>, both FF-padded to 8 bytes."""
        self._app()
        if p1 != 0 or p2 != PIN_REF:
            raise SWError(0x6A86 if p1 else 0x6A88)
        pin, puk = self.secrets[PIN_REF], self.secrets[PUK_REF]
        if len(data) != 16 or not pin.accepts(data[8:]):
            raise SWError(0x6A80)
        self._check(puk, data[:8])
        pin.set(data[8:])
        self.deselect()
        self.save_state()
        return b""

    def cmd_general_authenticate(self, p1, p2, data, le):
        self._app()
        outer = parse_tlvs(data).get(0x7C)
        if outer is None:
            raise SWError(0x6A80)
        inner = parse_tlvs(outer)
        if p2 == 0x9B:
            return self._mgmt_auth(inner)
        slot = "%02X" % p2
        key = self.keys.get(slot)
        if key is None:
            raise SWError(0x6A88)
        alg = self.cfg["keys"][slot]["alg"]
        if p1 != ALG_IDS[alg] or 0x82 not in inner or 0x81 not in inner:
            raise SWError(0x6A80)
        if not self.verified or (slot in PIN_ALWAYS and not self.pin_always_ok):
            raise SWError(0x6982)
        if slot in PIN_ALWAYS:
            self.pin_always_ok = False
        challenge = inner[0x81]
        if isinstance(key, rsa.RSAPrivateKey):
            if len(challenge) != key.key_size // 8:
                raise SWError(0x6A80)
            out = rsa_private(key, int.from_bytes(challenge, "big")).to_bytes(len(challenge), "big")
        else:
            digest = challenge[:32].rjust(32, b"\x00")
            out = key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        return tlv(0x7C, tlv(0x82, out))

    def _mgmt_auth(self, inner):
        """Card management key (9B): 7C{81 00} gives a challenge (OpenSC's
        random source too); 7C{82 3DES-ECB(key, challenge)} authenticates."""
        if inner.get(0x81) == b"":
            self.mgmt_challenge = secrets.token_bytes(8)
            return tlv(0x7C, tlv(0x81, self.mgmt_challenge))
        ch, self.mgmt_challenge = self.mgmt_challenge, None
        if 0x82 in inner and ch is not None:
            if inner[0x82] == compute_unlock_response(self.cfg["mgmt_key"], ch):
                self.admin = True
                return b""
            raise SWError(0x6982)
        raise SWError(0x6A80)

    def cmd_put_data(self, p1, p2, data, le):
        """PUT DATA 00 DB 3F FF 5C <tag> 53 <object>, after 9B authentication;
        certificate containers of keys the card has (kept in the state dir)."""
        self._app()
        if (p1, p2) != (0x3F, 0xFF):
            raise SWError(0x6A86)
        if not self.admin:
            raise SWError(0x6982)
        t = parse_tlvs(data)
        slot = CERT_TAGS.get(int.from_bytes(t.get(0x5C, b""), "big"))
        if slot not in self.keys or 0x53 not in t:
            raise SWError(0x6A80)
        cert = parse_tlvs(t[0x53]).get(0x70)
        if not cert:
            raise SWError(0x6A80)
        self.certs[slot] = cert
        self.state.data.setdefault("certs", {})[slot] = cert.hex()
        self.save_state()
        return b""

    HANDLERS = {0xA4: cmd_select, 0xCB: cmd_get_data, 0xFD: cmd_get_version, 0xDB: cmd_put_data,
                0x20: cmd_verify, 0x24: cmd_change_reference_data,
                0x2C: cmd_reset_retry_counter, 0x87: cmd_general_authenticate}
