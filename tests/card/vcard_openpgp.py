"""Virtual OpenPGP card (application D2 76 00 01 24 01, spec v2.x or v3.x) for
OpenSC 0.23's `openpgp` driver: PW1 (VERIFY 81 for PSO:CDS, 82 for the rest),
PW3 (83), Resetting Code, PW status bytes (DO C4), application related data
(6E), RSA-2048 signature/decryption/authentication keys with certificates in
DO 7F21 (one occurrence per key with SELECT DATA on v3).  See README.md."""
import hashlib, json, os, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vcard_iso import (IsoCard, Secret, StateFile, SWError, load_cert, load_key,  # noqa: E402
                       load_secrets, rsa_decrypt_pkcs1, rsa_sign_pkcs1, save_secrets,
                       tlv)

AID_PREFIX = bytes.fromhex("D27600012401")
# ATRs of OpenSC's openpgp ATR table ("OpenPGP card v2.x" / "v3.x"); their
# historical bytes announce extended Lc/Le (73 C0 01 40 / 60)
ATR_V2 = "3BDA18FF81B1FE751F030031C573C001400090000C"
ATR_V3 = "3BDA18FF81B1FE751F030031F573C001600090001C"

DEFAULTS = {
    "family": "openpgp",
    "version": "3.4",           # AID version bytes; "2.1" for a v2 card
    "atr": None,                # default: ATR_V2 / ATR_V3 by version
    "manufacturer": "FFFF",     # AID bytes 8-9 (FFFF: test card)
    "serial": "12345678",       # AID bytes 10-13; OpenSC's token serial: ffff12345678
    "pw1": "123456", "pw1_tries": 3,
    "pw3": "12345678", "pw3_tries": 3,
    "rc": "87654321", "rc_tries": 3,   # Resetting Code; null: not set
    "pw1_valid_multiple": True,        # C4 byte 0: PW1 (81) stays valid after a PSO:CDS
    "name": "User<<Test",
    "lang": "en",
    "ca_cn": "p11overlay OpenPGP Test CA",
    # key slot -> certificate CN (null: no certificate); key names in the key cache
    "keys": {"sig": "Test User (OpenPGP sig)", "dec": "Test User (OpenPGP dec)",
             "aut": "Test User (OpenPGP aut)"},
}

KEY_SLOTS = ("sig", "dec", "aut")              # C1/C2/C3, fingerprints in C5
CRT_TAG = {0xB6: "sig", 0xB8: "dec", 0xA4: "aut"}
CERT_OCCURRENCE = ("aut", "dec", "sig")       # SELECT DATA P1 0/1/2 (v3)
PW1_SIGN, PW1, PW3 = 0x81, 0x82, 0x83


class OpenPgpCard(IsoCard):
    def __init__(self, config=None, state_dir=None, key_cache=None):
        cfg = json.loads(json.dumps(DEFAULTS))
        cfg.update(config or {})
        self.cfg = cfg
        major, minor = (int(x) for x in cfg["version"].split("."))
        self.version = (major, minor)
        self.atr = bytes.fromhex(cfg["atr"] or (ATR_V3 if major >= 3 else ATR_V2))
        self.aid = (AID_PREFIX + bytes([(major // 10) << 4 | major % 10,
                                        (minor // 10) << 4 | minor % 10])
                    + bytes.fromhex(cfg["manufacturer"]) + bytes.fromhex(cfg["serial"])
                    + b"\x00\x00")
        self.state_dir, self.key_cache = state_dir, key_cache
        if state_dir:
            os.makedirs(state_dir, exist_ok=True)
        self._load_keys()
        self._load_state()
        self.power_on()

    # ---- keys, certificates, state
    def _load_keys(self):
        sd, kc, ca = self.state_dir, self.key_cache, self.cfg["ca_cn"]
        ca_key = load_key(sd, kc, "pgp-ca")
        self.keys, self.certs = {}, {}
        for i, slot in enumerate(KEY_SLOTS):
            k = load_key(sd, kc, "pgp-" + slot)
            self.keys[slot] = k
            cn = self.cfg["keys"].get(slot)
            self.certs[slot] = (load_cert(sd, "pgp-" + slot, cn, k, ca, ca_key, False, 0x200 + i)
                                if cn else b"")

    def _accepts(self, lo):
        return lambda data: lo <= len(data) <= 127

    def _load_state(self):
        c = self.cfg
        self.state = StateFile(self.state_dir)
        self.secrets = {
            PW1: Secret("PW1", c["pw1"].encode(), c["pw1_tries"], c["pw1_tries"],
                        self._accepts(6)),
            "rc": Secret("Resetting Code", (c["rc"] or "").encode(),
                         c["rc_tries"] if c["rc"] else 0, c["rc_tries"], self._accepts(8)),
            PW3: Secret("PW3", c["pw3"].encode(), c["pw3_tries"], c["pw3_tries"],
                        self._accepts(8)),
        }
        load_secrets(self.state, self.secrets)
        self.dos = {int(k, 16): bytes.fromhex(v) for k, v in self.state.data.get("dos", {}).items()}
        self.sig_count = self.state.data.get("sig_count", 0)
        self.pw1_multiple = self.state.data.get("pw1_multiple", c["pw1_valid_multiple"])

    def save_state(self):
        self.state.data["dos"] = {"%04X" % k: v.hex() for k, v in self.dos.items()}
        self.state.data["sig_count"] = self.sig_count
        self.state.data["pw1_multiple"] = self.pw1_multiple
        save_secrets(self.state, self.secrets)

    def power_on(self):
        self.selected = False
        self.verified = set()
        self.cert_slot = "aut"
        self.reset_transport()

    power_off = reset = power_on

    # ---- data objects
    def hist_bytes(self):
        n = self.atr[1] & 0x0F
        return self.atr[-1 - n:-1]

    def ext_caps(self):
        cert_max = (0x0800).to_bytes(2, "big")
        if self.version >= (3, 0):   # max special DO size, PIN block 2, MSE
            tail = b"\x00\xFF\x00\x00"
        else:                        # max command / response data
            tail = b"\x08\x00\x08\x00"
        return b"\x38\x00\x00\x00" + cert_max + tail

    def pw_status(self):
        s = self.secrets
        return bytes([1 if self.pw1_multiple else 0, 127, 127, 127,
                      s[PW1].tries, s["rc"].tries, s[PW3].tries])

    def fingerprint(self, slot):
        from cryptography.hazmat.primitives import serialization
        der = self.keys[slot].public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return hashlib.sha1(der).digest()

    def app_related(self):
        algo = b"\x01\x08\x00\x00\x20\x00"   # RSA, 2048-bit modulus, 32-bit exponent
        disc = (tlv(0xC0, self.ext_caps()) + tlv(0xC1, algo) + tlv(0xC2, algo) + tlv(0xC3, algo)
                + tlv(0xC4, self.pw_status())
                + tlv(0xC5, b"".join(self.fingerprint(s) for s in KEY_SLOTS))
                + tlv(0xC6, bytes(60)) + tlv(0xCD, bytes(12)))
        body = tlv(0x4F, self.aid) + tlv(0x5F52, self.hist_bytes())
        if self.version >= (3, 0):
            body += tlv(0x7F66, bytes.fromhex("0202080002020800"))
        return tlv(0x6E, body + tlv(0x73, disc))

    def get_do(self, tag):
        if tag == 0x4F:
            return self.aid
        if tag == 0x5F52:
            return self.hist_bytes()
        if tag == 0x6E:
            return self.app_related()
        if tag == 0x65:
            return tlv(0x65, tlv(0x5B, self.dos.get(0x5B, self.cfg["name"].encode()))
                       + tlv(0x5F2D, self.cfg["lang"].encode()) + tlv(0x5F35, b"9"))
        if tag == 0x7A:
            return tlv(0x7A, tlv(0x93, self.sig_count.to_bytes(3, "big")))
        if tag == 0xC4:
            return self.pw_status()
        if tag in (0x5E, 0x5F50, 0x0101, 0x0102):
            return self.dos.get(tag, b"")
        if tag == 0x0103:
            self._need(PW1)
            return self.dos.get(tag, b"")
        if tag == 0x0104:
            self._need(PW3)
            return self.dos.get(tag, b"")
        if tag == 0x7F21:
            return self.dos.get(0x7F21 + 0x10000 * CERT_OCCURRENCE.index(self.cert_slot),
                                self.certs[self.cert_slot])
        raise SWError(0x6A88)

    def _need(self, ref):
        if ref not in self.verified:
            raise SWError(0x6982)

    def _app(self):
        if not self.selected:
            raise SWError(0x6985)

    # ---- commands
    def cmd_select(self, p1, p2, data, le):
        if p1 == 4 and data and self.aid.startswith(data) and len(data) >= 6:
            self.selected = True
            self.verified = set()
            return b""
        if p1 == 4:
            self.selected = False
        raise SWError(0x6A82)

    def cmd_get_data(self, p1, p2, data, le):
        self._app()
        return self.get_do(p1 << 8 | p2)

    def cmd_put_data(self, p1, p2, data, le):
        self._app()
        tag = p1 << 8 | p2
        need = {0x0101: PW1, 0x0103: PW1, 0x0102: PW3, 0x0104: PW3, 0x5B: PW3, 0x5E: PW3,
                0x5F50: PW3, 0x7F21: PW3, 0xC4: PW3}.get(tag)
        if need is None:
            raise SWError(0x6A88)
        self._need(need)
        if tag == 0xC4:
            self.pw1_multiple = bool(data[:1] and data[0])
        elif tag == 0x7F21:
            self.dos[0x7F21 + 0x10000 * CERT_OCCURRENCE.index(self.cert_slot)] = bytes(data)
        else:
            self.dos[tag] = bytes(data)
        self.save_state()
        return b""

    def cmd_select_data(self, p1, p2, data, le):
        self._app()
        if self.version < (3, 0):
            raise SWError(0x6D00)
        if data != bytes.fromhex("60045C027F21") or p2 != 0x04 or p1 > 2:
            raise SWError(0x6A80)
        self.cert_slot = CERT_OCCURRENCE[p1]
        return b""

    def _secret_of(self, ref):
        if ref in (PW1_SIGN, PW1):
            return self.secrets[PW1]
        if ref == PW3:
            return self.secrets[PW3]
        raise SWError(0x6A80)

    def _check(self, s, data):
        try:
            s.check(data)
        finally:
            self.save_state()

    def cmd_verify(self, p1, p2, data, le):
        self._app()
        s = self._secret_of(p2)
        if self.version < (3, 0) and not data:
            # before v3 VERIFY has no status form (OpenSC reads DO C4 instead) and
            # no logout form (OpenSC selects the application again)
            raise SWError(0x6700)
        if p1 == 0xFF and not data:
            self.verified.discard(p2)
            return b""
        if p1 != 0:
            raise SWError(0x6A86)
        if not data:
            if s.tries <= 0:
                raise SWError(0x6983)
            if p2 in self.verified:
                return b""
            raise SWError(0x63C0 | s.tries)
        if not s.accepts(data):
            raise SWError(0x6A80)
        self.verified.discard(p2)
        self._check(s, data)
        self.verified.add(p2)
        return b""

    def cmd_change_reference_data(self, p1, p2, data, le):
        self._app()
        if p1 != 0 or p2 not in (PW1_SIGN, PW3):
            raise SWError(0x6A86 if p1 else 0x6A80)
        s = self._secret_of(p2)
        n = len(s.stored)
        if len(data) <= n or not s.accepts(data[n:]):
            raise SWError(0x6A80)
        self._check(s, data[:n])
        s.set(data[n:])
        self.verified -= {PW1_SIGN, PW1} if p2 == PW1_SIGN else {PW3}
        self.save_state()
        return b""

    def cmd_reset_retry_counter(self, p1, p2, data, le):
        """P1=00: Resetting Code || new PW1; P1=02: new PW1 after PW3 VERIFY.
        PW1 only (P2=81); the spec has no RESET RETRY COUNTER for 82 or 83."""
        self._app()
        if p2 != PW1_SIGN:
            raise SWError(0x6A86)
        pw1 = self.secrets[PW1]
        if p1 == 0:
            rc = self.secrets["rc"]
            if not rc.stored:
                raise SWError(0x6983)
            n = len(rc.stored)
            if len(data) <= n or not pw1.accepts(data[n:]):
                raise SWError(0x6A80)
            self._check(rc, data[:n])
            new = data[n:]
        elif p1 == 2:
            self._need(PW3)
            if not pw1.accepts(data):
                raise SWError(0x6A80)
            new = data
        else:
            raise SWError(0x6A86)
        pw1.set(new)
        self.verified -= {PW1_SIGN, PW1}
        self.save_state()
        return b""

    def cmd_generate_key(self, p1, p2, data, le):
        """P1=81: read the public key of the key slot named by the CRT."""
        self._app()
        if p1 != 0x81:
            self._need(PW3)
            raise SWError(0x6A81)   # key generation is not emulated
        slot = CRT_TAG.get(data[:1][0] if data else None)
        if slot is None:
            raise SWError(0x6A80)
        pub = self.keys[slot].public_key().public_numbers()
        e = pub.e.to_bytes((pub.e.bit_length() + 7) // 8, "big")
        return tlv(0x7F49, tlv(0x81, pub.n.to_bytes(256, "big")) + tlv(0x82, e))

    def cmd_pso(self, p1, p2, data, le):
        self._app()
        if (p1, p2) == (0x9E, 0x9A):
            self._need(PW1_SIGN)
            sig = rsa_sign_pkcs1(self.keys["sig"], data)
            self.sig_count += 1
            if not self.pw1_multiple:
                self.verified.discard(PW1_SIGN)
            self.save_state()
            return sig
        if (p1, p2) == (0x80, 0x86):
            self._need(PW1)
            if data[:1] != b"\x00":
                raise SWError(0x6A80)
            return rsa_decrypt_pkcs1(self.keys["dec"], data[1:])
        raise SWError(0x6A86)

    def cmd_internal_authenticate(self, p1, p2, data, le):
        self._app()
        self._need(PW1)
        return rsa_sign_pkcs1(self.keys["aut"], data)

    HANDLERS = {0xA4: cmd_select, 0xCA: cmd_get_data, 0xDA: cmd_put_data,
                0xA5: cmd_select_data, 0x20: cmd_verify, 0x24: cmd_change_reference_data,
                0x2C: cmd_reset_retry_counter, 0x47: cmd_generate_key, 0x2A: cmd_pso,
                0x88: cmd_internal_authenticate}

