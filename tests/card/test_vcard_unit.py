#!/usr/bin/python3
"""Unit tests of the virtual card's APDU handling (no sockets, no pcscd)."""
import os, shutil, sys, tempfile, unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vcard  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding  # noqa: E402

KEY_CACHE = os.environ.get("RIG_KEY_CACHE", "/tmp/p11overlay-vcard-keycache-%d" % os.getuid())
ISO_AID = "F276A288BCFBA69D34F31001"
SHA256_DI = bytes.fromhex("3031300d060960864801650304020105000420")


class CardTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="vcard-unit-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.state = tempfile.mkdtemp(dir=self.tmp)
        self.card = vcard.VirtualCard(None, self.state, KEY_CACHE)

    def tx(self, hexapdu, sw=0x9000):
        r = self.card.process_apdu(bytes.fromhex(hexapdu.replace(" ", "")))
        got = int.from_bytes(r[-2:], "big")
        if sw is not None:
            self.assertEqual(got, sw, "%s -> %04X, want %04X" % (hexapdu, got, sw))
        return r[:-2], got

    def pin_apdu(self, ins, p1, ref, data):
        return "00%02X%02X%02X%02X%s" % (ins, p1, ref, len(data), data.hex())

    def cert(self, name):
        with open(os.path.join(self.state, name + ".cert.der"), "rb") as fh:
            return x509.load_der_x509_certificate(fh.read())

    def read_file(self, path):
        self.tx("00A4080C%02X%s" % (len(path) // 2, path))
        out = b""
        while True:
            d, sw = self.tx("00B0%04X00" % len(out), None)
            out += d
            if len(d) < 256 or sw != 0x9000:
                return out

    # ---------------------------------------------------------------- tests
    def test_select_applet_answers_isoapplet_version(self):
        d, _ = self.tx("00A404000C" + ISO_AID)
        self.assertEqual(d, bytes([0, 6, 2]))
        self.tx("00A404000AA00000006350FFFFFFFF", 0x6A82)

    def test_select_and_fcp(self):
        d, _ = self.tx("00A40000023F0000")
        self.assertEqual(d[0], 0x62)
        d, _ = self.tx("00A4000002501500")  # DF under MF
        self.assertIn(b"\x82\x01\x38", d)
        d, _ = self.tx("00A4000002503200")  # EF in current DF
        self.assertIn(bytes.fromhex("8002"), d)
        self.tx("00A4000C02999900", 0x6A82)
        d, _ = self.tx("00A4040C0CA000000063504B43532D3135")
        self.assertEqual(d, b"")
        self.tx("00A4090C025031")  # path from current DF (5015)
        self.tx("00A4030C", 0x9000)  # parent -> MF
        self.tx("00A4080C045015FFFF", 0x6A82)

    def test_read_binary_offsets_and_pkcs15_files(self):
        edir = self.read_file("2F00")
        self.assertEqual(edir[0], 0x61)
        ti = self.read_file("50155032")
        self.assertIn(b"p11overlay Virtual Test Card Number One", ti)
        self.assertIn(bytes.fromhex(vcard.DEFAULTS["serial"]), ti)
        self.tx("00A4080C0450154331")
        part, _ = self.tx("00B0000410")
        whole = self.read_file("50154331")
        self.assertEqual(part, whole[4:20])
        x509.load_der_x509_certificate(whole)
        self.tx("00B07FFF01", 0x6B00)
        self.tx("00A4080C0450154B01")
        self.tx("00B0000010", 0x6982)  # private key file is not readable

    def test_verify_counters_block_and_status(self):
        self.tx("0020008100", 0x63C3)
        self.tx(self.pin_apdu(0x20, 0, 0x81, b"0000"), 0x63C2)
        self.tx("0020008100", 0x63C2)
        self.tx(self.pin_apdu(0x20, 0, 0x81, b"1234"))
        self.tx("0020008100", 0x9000)  # verified in this power cycle
        self.tx("0020008200", 0x63C3)  # the other PIN is independent
        self.card.reset()
        self.tx("0020008100", 0x63C3)  # security state gone, counter back to max
        for left in (2, 1, 0):
            self.tx(self.pin_apdu(0x20, 0, 0x81, b"9999"), 0x63C0 | left)
        self.tx("0020008100", 0x6983)
        self.tx(self.pin_apdu(0x20, 0, 0x81, b"1234"), 0x6983)
        self.tx(self.pin_apdu(0x20, 0, 0x81, b"12"), 0x6A80)
        self.tx("0020008900", 0x6A88)
        # counters persist across card restarts (state dir)
        card2 = vcard.VirtualCard(None, self.state, KEY_CACHE)
        self.assertEqual(card2.process_apdu(bytes.fromhex("0020008100")), b"\x69\x83")

    def test_change_reference_data(self):
        self.tx(self.pin_apdu(0x24, 0, 0x82, b"000000" + b"654321"), 0x63C2)
        self.tx(self.pin_apdu(0x24, 0, 0x82, b"123456" + b"12"), 0x6A80)
        self.tx(self.pin_apdu(0x24, 0, 0x82, b"123456" + b"87654321"))
        self.card.reset()
        self.tx(self.pin_apdu(0x20, 0, 0x82, b"123456"), 0x63C2)
        self.tx(self.pin_apdu(0x20, 0, 0x82, b"87654321"))
        self.tx(self.pin_apdu(0x24, 1, 0x82, b"5555"))  # P1=01: new value after VERIFY
        self.card.reset()
        self.tx(self.pin_apdu(0x20, 0, 0x82, b"5555"))

    def test_puk_reset_retry_counter(self):
        for _ in range(3):
            self.tx(self.pin_apdu(0x20, 0, 0x81, b"0000"), None)
        self.tx("0020008100", 0x6983)
        self.tx(self.pin_apdu(0x2C, 0, 0x81, b"87654321" + b"4321"), 0x63C4)
        self.tx("0020008300", 0x63C4)  # PUK status
        self.tx(self.pin_apdu(0x2C, 0, 0x81, b"12345678" + b"4321"))
        self.tx("0020008100", 0x63C3)
        self.tx("0020008300", 0x63C5)
        self.tx(self.pin_apdu(0x20, 0, 0x81, b"4321"))
        self.tx(self.pin_apdu(0x2C, 0, 0x82, b"12345678" + b"7777"))  # same PUK, other PIN
        self.tx(self.pin_apdu(0x20, 0, 0x82, b"7777"))
        self.tx(self.pin_apdu(0x2C, 0, 0x83, b"12345678" + b"7777"), 0x6A88)
        for left in (4, 3, 2, 1, 0):
            self.tx(self.pin_apdu(0x2C, 0, 0x81, b"00000000" + b"1111"), 0x63C0 | left)
        self.tx(self.pin_apdu(0x2C, 0, 0x81, b"12345678" + b"1111"), 0x6983)

    def test_challenge_response_unlock(self):
        key = vcard.DEFAULTS["unlock_key"]["key"]
        for _ in range(3):
            self.tx(self.pin_apdu(0x20, 0, 0x82, b"000000"), None)
        self.tx(self.pin_apdu(0x2C, 2, 0x82, b"2468"), 0x6982)  # not authenticated
        self.tx("0082000108" + "00" * 8, 0x6985)  # no challenge yet
        ch, _ = self.tx("0084000008")
        self.assertEqual(len(ch), 8)
        self.tx("0082000108" + "00" * 8, 0x6300)  # wrong response ...
        good = vcard.compute_unlock_response(key, ch)
        self.tx("0082000108" + good.hex(), 0x6985)  # ... spent the challenge
        self.tx(self.pin_apdu(0x2C, 2, 0x82, b"2468"), 0x6982)
        ch, _ = self.tx("0084000008")
        self.tx("0082000108" + vcard.compute_unlock_response(key, ch).hex())
        self.tx(self.pin_apdu(0x2C, 2, 0x82, b"2468"))
        self.tx(self.pin_apdu(0x2C, 2, 0x81, b"2468"), 0x6982)  # allowed once
        self.tx("0020008200", 0x63C3)
        self.tx(self.pin_apdu(0x20, 0, 0x82, b"2468"))
        # 2-key 3DES helper form
        self.assertEqual(len(vcard.compute_unlock_response("00" * 16, b"\x01" * 8)), 8)

    def sign(self, kref, pin_ref, pin, tbs):
        self.tx(self.pin_apdu(0x20, 0, pin_ref, pin))
        self.tx("0022 41B6 0A 800111 81024B%02X 8401%02X" % (kref, kref))
        sig, _ = self.tx("002A9E9A%02X%s00" % (len(tbs), tbs.hex()))
        return sig

    def test_sign_with_each_key(self):
        import hashlib
        msg = b"hello p11overlay"
        tbs = SHA256_DI + hashlib.sha256(msg).digest()
        for kref, ref, pin, name in ((1, 0x81, b"1234", "key1"), (2, 0x82, b"123456", "key2")):
            cert = self.cert(name)
            sig = self.sign(kref, ref, pin, tbs)
            self.assertEqual(len(sig), 256)
            cert.public_key().verify(sig, msg, padding.PKCS1v15(), hashes.SHA256())
        self.card.reset()
        self.tx("002241B603840101")
        self.tx("002A9E9A%02X%s00" % (len(tbs), tbs.hex()), 0x6982)  # PIN not verified

    def test_signing_key_needs_its_own_pin(self):
        self.tx(self.pin_apdu(0x20, 0, 0x81, b"1234"))
        self.tx("002241B603840102")
        self.tx("002A9E9A0401020304 00".replace(" ", ""), 0x6982)
        self.tx("002241B603840109", 0x6A88)
        self.tx("002241B6038001FF", 0x6A80)

    def test_decipher_with_chaining(self):
        cert = self.cert("key1")
        ct = cert.public_key().encrypt(b"top secret", padding.PKCS1v15())
        self.tx(self.pin_apdu(0x20, 0, 0x81, b"1234"))
        self.tx("002241B80A8001118102 4B01 840101".replace(" ", ""))
        data = b"\x00" + ct  # padding indicator + cryptogram, 257 bytes
        self.tx("102A8086C8" + data[:200].hex())
        self.tx("00B0000010", 0x6883)  # other command inside a chain is refused
        self.tx("102A8086C8" + data[:200].hex())
        pt, _ = self.tx("002A8086%02X%s00" % (57, data[200:].hex()))
        self.assertEqual(pt, b"top secret")

    def test_get_response_and_extended_apdu(self):
        self.tx("00A4080C0450154331")
        d, sw = self.tx("00B0000010", 0x9000)
        self.assertEqual(len(d), 16)
        # SELECT with a small Le: rest of the FCP through GET RESPONSE
        d1, sw = self.tx("00A40800045015503204", None)
        self.assertEqual(sw >> 8, 0x61)
        d2, _ = self.tx("00C00000%02X" % (sw & 0xFF))
        self.assertEqual((d1 + d2)[0], 0x62)
        self.assertEqual(len(d1 + d2), (d1 + d2)[1] + 2)
        self.tx("00C0000010", 0x6985)  # nothing pending any more
        # extended-length READ BINARY returns more than 256 bytes at once
        self.tx("00A4080C0450154331")
        d, _ = self.tx("00B00000000400")
        self.assertGreater(len(d), 256)
        self.tx("00", 0x6700)
        self.tx("00FF0000", 0x6D00)
        self.tx("80A40000", 0x6E00)

    def test_update_tokeninfo_needs_pin_and_persists(self):
        self.tx("00A4080C0450155032")
        self.tx("00D6000002AABB", 0x6982)
        self.tx(self.pin_apdu(0x20, 0, 0x81, b"1234"))
        ti = self.card.tokeninfo()
        new = ti.replace(b"Number One", b"Number Two")
        self.tx("00D60000%02X%s" % (len(new), new.hex()))
        card2 = vcard.VirtualCard(None, self.state, KEY_CACHE)
        self.assertEqual(card2.tokeninfo(), new)

    def test_power_cycle_clears_state(self):
        self.tx(self.pin_apdu(0x20, 0, 0x81, b"1234"))
        self.tx("0084000008")
        self.card.power_off()
        self.tx("0020008100", 0x63C3)
        self.tx("0082000108" + "00" * 8, 0x6985)


if __name__ == "__main__":
    print("vcard unit tests: APDU handling of tests/card/vcard.py")
    unittest.main(verbosity=2)
