#!/usr/bin/python3
"""Unit tests of the card families' APDU handling (no sockets, no OpenSC):
PKCS#15 PIN encodings per profile, OpenPGP PW1/PW3/Resetting Code, PIV PIN/PUK
padding and key access rules, the two-applet card's applet switching."""
import hashlib, json, os, shutil, sys, tempfile, unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import vcard  # noqa: E402
import vcard_p15  # noqa: E402
import vcard_iso  # noqa: E402

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, padding  # noqa: E402

KEY_CACHE = os.environ.get("RIG_KEY_CACHE", "/tmp/p11overlay-vcard-keycache-%d" % os.getuid())
SHA256_DI = bytes.fromhex("3031300d060960864801650304020105000420")


def profile(name):
    with open(os.path.join(HERE, "profiles", name + ".json")) as fh:
        return json.load(fh)


def apdu(cla_ins_p1_p2, data=b"", le=None):
    a = bytes.fromhex(cla_ins_p1_p2)
    if data:
        a += bytes([len(data)]) + data
    if le is not None:
        a += bytes([le & 0xFF])
    return a


class CardCase(unittest.TestCase):
    family_config = None

    def setUp(self):
        self.state = tempfile.mkdtemp(prefix="vcard-fam-")
        self.card = vcard.make_card(self.family_config, self.state, KEY_CACHE)

    def tearDown(self):
        shutil.rmtree(self.state, ignore_errors=True)

    def tx(self, a, want=0x9000):
        if isinstance(a, str):
            a = bytes.fromhex(a.replace(" ", ""))
        r = self.card.process_apdu(a)
        data, sw = r[:-2], int.from_bytes(r[-2:], "big")
        while sw >> 8 == 0x61:
            r = self.card.process_apdu(bytes([0, 0xC0, 0, 0, sw & 0xFF]))
            data, sw = data + r[:-2], int.from_bytes(r[-2:], "big")
        if want is not None:
            self.assertEqual(sw, want, "APDU %s -> %04X" % (a.hex(), sw))
        return data, sw


class Pkcs15Encodings(unittest.TestCase):
    def test_encodings_as_sc_build_pin(self):
        f = vcard_p15.PinFormat
        self.assertEqual(f({"value": "1234", "max": 8, "needs_padding": True, "pad_char": "FF"})
                         .encode("1234"), bytes.fromhex("31323334FFFFFFFF"))
        self.assertEqual(f({"value": "1234", "max": 8, "pad_char": "00"}).encode("1234"), b"1234")
        self.assertEqual(f({"value": "12345", "type": "bcd", "max": 12, "stored_length": 16,
                            "needs_padding": True, "pad_char": "FF"}).encode("12345"),
                         bytes.fromhex("12345FFFFFFFFFFF"))
        # padChar absent: OpenSC pads with 00
        self.assertEqual(f({"value": "12", "max": 4, "needs_padding": True}).encode("12"),
                         b"12\x00\x00")
        self.assertEqual(f({"value": "Grüße", "type": "utf8", "max": 16}).encode("Grüße"),
                         "Grüße".encode())

    def test_accepts_only_exact_encodings(self):
        nopad = vcard_p15.PinFormat({"value": "123456", "min": 4, "max": 12, "stored_length": 8,
                                     "pad_char": "00"})
        self.assertTrue(nopad.accepts(b"222222"))
        self.assertFalse(nopad.accepts(b"222222\x00\x00"))  # padded although not needs-padding
        self.assertFalse(nopad.accepts(b"22a2"))            # ascii-numeric
        padded = vcard_p15.PinFormat({"value": "1234", "min": 4, "max": 8, "needs_padding": True,
                                      "pad_char": "FF"})
        self.assertTrue(padded.accepts(b"2222\xff\xff\xff\xff"))
        self.assertFalse(padded.accepts(b"2222"))
        self.assertFalse(padded.accepts(b"2222\x00\x00\x00\x00"))


class Pkcs15Profiles(CardCase):
    family_config = profile("p15-padchar-nopad")

    def test_wrongly_padded_new_pin_is_refused_and_not_stored(self):
        puk = b"11112222"
        self.tx(apdu("002C0081", puk + b"222222\x00\x00"), 0x6A80)
        self.tx(apdu("00200091"), 0x63C5)  # the PUK's tries were not spent
        self.tx(apdu("002C0081", puk + b"222222"))
        self.tx(apdu("00200081", b"222222\x00\x00"), 0x63C2)
        self.tx(apdu("00200081", b"222222"))

    def test_puk_per_pin(self):
        self.tx(apdu("002C0081", b"33334444" + b"2222"), 0x63C4)  # the other PIN's PUK
        self.tx(apdu("002C0082", b"33334444" + b"2222"))

    def test_pin_without_puk(self):
        card = vcard.make_card(profile("p15-bcd"), self.state + "-bcd", KEY_CACHE)
        try:
            r = card.process_apdu(apdu("002C0082", b"12345678" + bytes.fromhex("222222FFFFFFFFFF")))
            self.assertEqual(r, b"\x69\x82")
            r = card.process_apdu(apdu("00200081", bytes.fromhex("12345FFFFFFFFFFF")))
            self.assertEqual(r, b"\x90\x00")
            r = card.process_apdu(apdu("00200081", b"12345\xff\xff\xff"))  # ASCII, not BCD
            self.assertEqual(r, b"\x63\xC2")
        finally:
            shutil.rmtree(self.state + "-bcd", ignore_errors=True)


class OpenPgp(CardCase):
    family_config = {"family": "openpgp"}

    def setUp(self):
        super().setUp()
        self.tx("00A4040006D27600012401")

    def test_aid_and_status_bytes(self):
        aid, _ = self.tx("00CA004F00")
        self.assertEqual(aid.hex().upper(), "D276000124010304FFFF123456780000")
        self.assertEqual(self.tx("00CA00C400")[0], bytes([1, 127, 127, 127, 3, 3, 3]))

    def test_pw1_refs_and_keys(self):
        tbs = SHA256_DI + hashlib.sha256(b"m").digest()
        self.tx(apdu("00200082", b"123456"))
        self.tx(apdu("002A9E9A", tbs, 0), 0x6982)      # PSO:CDS needs 81
        self.tx(apdu("00880000", tbs, 0))              # INTERNAL AUTHENTICATE with 82
        self.tx(apdu("00200081", b"123456"))
        sig, _ = self.tx(apdu("002A9E9A", tbs, 0))
        cert = x509.load_der_x509_certificate(self.card.certs["sig"])
        cert.public_key().verify(sig, b"m", padding.PKCS1v15(), hashes.SHA256())
        self.tx("0020008100")

    def test_resetting_code_and_admin_unblock(self):
        for left in (2, 1, 0):
            self.tx(apdu("00200082", b"000000"), 0x63C0 | left)
        self.tx(apdu("002C0082", b"87654321" + b"654321"), 0x6A86)  # only P2=81
        self.tx(apdu("002C0081", b"00000000" + b"654321"), 0x63C2)
        self.assertEqual(self.tx("00CA00C400")[0][4:], bytes([0, 2, 3]))
        self.tx(apdu("002C0081", b"87654321" + b"654321"))
        self.tx(apdu("00200082", b"654321"))
        self.tx(apdu("002C0281", b"111111"), 0x6982)  # P1=02 needs PW3
        self.tx(apdu("00200083", b"12345678"))
        self.tx(apdu("002C0281", b"111111"))
        self.tx(apdu("00200081", b"111111"))

    def test_v3_select_data_picks_certificate(self):
        for p1, slot in ((0, "aut"), (1, "dec"), (2, "sig")):
            self.tx("00A5%02X0406 60045C027F21" % p1)
            der, _ = self.tx("00CA7F2100")
            self.assertEqual(der, self.card.certs[slot])

    def test_pw1_single_signature(self):
        self.tx(apdu("00200083", b"12345678"))
        self.tx(apdu("00DA00C4", b"\x00"))
        self.tx(apdu("00200081", b"123456"))
        self.tx(apdu("002A9E9A", b"\x01" * 32, 0))
        self.tx(apdu("002A9E9A", b"\x01" * 32, 0), 0x6982)


class OpenPgpV2(CardCase):
    family_config = {"family": "openpgp", "version": "2.1"}

    def test_v2(self):
        self.tx("00CA004F00", 0x6985)  # application not selected
        self.tx("00A4040006D27600012401")
        self.tx("00A5000406 60045C027F21".replace(" ", ""), 0x6D00)
        self.tx("0020008100", 0x6700)  # no VERIFY status before v3: DO C4 only
        self.assertEqual(self.tx("00CA00C400")[0][4], 3)
        self.assertEqual(self.tx("00CA7F2100")[0], self.card.certs["aut"])


class Piv(CardCase):
    family_config = {"family": "piv"}

    def ga(self, alg, slot, data, want=0x9000):
        body = vcard_iso.tlv(0x7C, vcard_iso.tlv(0x82, b"") + vcard_iso.tlv(0x81, data))
        # command chaining in 255-byte parts, as OpenSC sends it
        parts = [body[i:i + 255] for i in range(0, len(body), 255)]
        for p in parts[:-1]:
            self.tx(bytes([0x10, 0x87, alg, slot, len(p)]) + p)
        out, sw = self.tx(bytes([0x00, 0x87, alg, slot, len(parts[-1])]) + parts[-1] + b"\x00",
                          want)
        return vcard_iso.parse_tlvs(vcard_iso.parse_tlvs(out)[0x7C])[0x82] if sw == 0x9000 else None

    def test_pin_padding_and_unblock(self):
        self.tx(apdu("00200080", b"123456"), 0x6A80)            # not padded
        self.tx(apdu("00200080", b"123456\x00\x00"), 0x63C2)    # wrong pad byte
        self.tx(apdu("00200080", b"123456\xff\xff"))
        self.tx("00200080", 0x9000)
        self.tx(apdu("002C0080", b"12345678" + b"654321"), 0x6A80)  # unpadded: PUK tries kept
        self.tx(apdu("002C0080", b"00000000" + b"654321\xff\xff"), 0x63C2)
        self.tx(apdu("002C0080", b"12345678" + b"654321\xff\xff"))
        self.tx("00200080", 0x63C3)
        self.tx(apdu("00200080", b"654321\xff\xff"))

    def test_keys(self):
        tbs = SHA256_DI + hashlib.sha256(b"m").digest()
        em = b"\x00\x01" + b"\xff" * (256 - 3 - len(tbs)) + b"\x00" + tbs
        self.ga(0x07, 0x9A, em, 0x6982)
        self.tx(apdu("00200080", b"123456\xff\xff"))
        sig = self.ga(0x07, 0x9A, em)
        x509.load_der_x509_certificate(self.card.certs["9A"]).public_key().verify(
            sig, b"m", padding.PKCS1v15(), hashes.SHA256())
        self.ga(0x07, 0x9A, em)                               # 9A: PIN once
        h = hashlib.sha256(b"m").digest()
        der = self.ga(0x11, 0x9C, h)                          # 9C: right after VERIFY
        x509.load_der_x509_certificate(self.card.certs["9C"]).public_key().verify(
            der, b"m", ec.ECDSA(hashes.SHA256()))
        self.ga(0x11, 0x9C, h, 0x6982)                        # PIN always
        self.ga(0x07, 0x9C, h, 0x6A80)                        # wrong algorithm

    def test_objects(self):
        self.tx("00CB3FFF055C035FC10B00", 0x6A82)             # no 9D certificate
        chuid, _ = self.tx("00CB3FFF055C035FC10200")
        self.assertIn(bytes.fromhex(self.card.cfg["guid"]), chuid)
        disc, _ = self.tx("00CB3FFF035C017E00")
        self.assertTrue(disc.startswith(b"\x7E"))


class TwoApplets(CardCase):
    family_config = {"family": "piv+openpgp"}

    def test_switch_loses_security_state(self):
        self.tx(apdu("00200080", b"123456\xff\xff"))
        self.tx("00A4040006D27600012401")
        self.tx("00CB3FFF035C017E00", 0x6D00)   # OpenPGP has no GET DATA CB
        self.tx(apdu("00200082", b"123456"))
        self.tx("00A4040009A00000030800001000")
        self.tx("0020008000", 0x63C3)           # PIV PIN no longer verified
        self.tx("00A4040006D27600012401")
        self.assertEqual(self.tx("00CA00C400")[0][4], 3)  # OpenPGP 2.1: status in C4 only
        self.tx(apdu("00880000", b"\x01" * 32, 0), 0x6982)  # and PW1 (82) no longer verified


if __name__ == "__main__":
    print("vcard family unit tests: tests/card/vcard_{p15,openpgp,piv,multi}.py")
    unittest.main(verbosity=2)
