#!/usr/bin/python3
"""End-to-end test of the rig: virtual card -> vpcd -> private pcscd -> OpenSC
PKCS#11 (opensc-pkcs11.so directly, PyKCS11 and pkcs11-tool), plus raw PC/SC
APDUs for PUK and challenge-response unblocking.  Exits 0 on success, 1 on failure."""
import json, os, shutil, subprocess, sys, tempfile, time, traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import rig  # noqa: E402
import vcard  # noqa: E402

import PyKCS11  # noqa: E402
from PyKCS11 import LowLevel as LL  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding  # noqa: E402

D = vcard.DEFAULTS
PINS = {p["name"]: p for p in D["pins"]}
PUK = D["puk"]["value"].encode()


def step(msg):
    print("--", msg, flush=True)


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)
    print("   ok:", msg, flush=True)


def rv_of(fn):
    try:
        fn()
        return LL.CKR_OK
    except PyKCS11.PyKCS11Error as e:
        return e.value


def tokens(lib):
    """{pin name: slot id} of the present tokens on reader 0."""
    out = {}
    for s in lib.getSlotList(tokenPresent=True):
        if lib.getSlotInfo(s).slotDescription.strip() != rig.READER % 0:
            continue
        label = lib.getTokenInfo(s).label.strip()
        for name in PINS:
            if label.endswith("(%s)" % name):
                out[name] = s
    return out


def sign_and_verify(lib, slot, pin, msg=b"p11overlay rig test"):
    sess = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION)
    try:
        sess.login(pin)
        keys = sess.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY)])
        assert len(keys) == 1, "one private key per PIN token, got %d" % len(keys)
        kid = bytes(sess.getAttributeValue(keys[0], [PyKCS11.CKA_ID])[0])
        sig = bytes(sess.sign(keys[0], msg, PyKCS11.Mechanism(PyKCS11.CKM_SHA256_RSA_PKCS)))
        certs = sess.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_CERTIFICATE),
                                  (PyKCS11.CKA_ID, kid)])
        der = bytes(sess.getAttributeValue(certs[0], [PyKCS11.CKA_VALUE])[0])
        cert = x509.load_der_x509_certificate(der)
        cert.public_key().verify(sig, msg, padding.PKCS1v15(), hashes.SHA256())
        sess.logout()
        return cert.subject.rfc4514_string()
    finally:
        sess.closeSession()


def pin_status(d, ref):
    with rig.Pcsc(d) as c:
        return c.transmit("002000%02X" % ref)[1]


def block_pin(lib, slot, d, ref):
    sess = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION)
    try:
        seen = []
        for _ in range(3):
            seen.append(rv_of(lambda: sess.login("0000")))
            seen.append(pin_status(d, ref))
        return seen, rv_of(lambda: sess.login(PINS[[n for n, p in PINS.items()
                                                  if p["ref"] == ref][0]]["value"]))
    finally:
        sess.closeSession()


def run(d):
    step("rig start %s" % d)
    t = time.monotonic()
    env = rig.start(d)
    # Reported, not asserted: speed is for benchmarks, not tests.
    print("rig start took %.2f s" % (time.monotonic() - t))
    os.environ.update(env)
    module = env["RIG_OPENSC_MODULE"]

    step("pkcs11-tool -L")
    out = subprocess.run(["pkcs11-tool", "--module", module, "-L"], capture_output=True,
                         text=True, timeout=30).stdout
    print(out)
    for name in PINS:
        check("(%s)" % name in out, "token for PIN %r listed" % name)
    check(out.count(rig.READER % 0) == len(PINS), "one slot per user PIN, all on one reader")
    check("(PUK)" not in out, "no slot for the PUK")

    lib = PyKCS11.PyKCS11Lib()
    lib.load(module)
    tok = tokens(lib)
    check(sorted(tok) == sorted(PINS), "PyKCS11 sees tokens %s" % sorted(tok))
    for name, slot in tok.items():
        ti = lib.getTokenInfo(slot)
        print("   slot %d: label %r serial %r flags %s" % (slot, ti.label, ti.serialNumber,
                                                         ti.flags2text()))

    step("login and sign (CKM_SHA256_RSA_PKCS) with each PIN, verify with the card's certificate")
    for name, slot in tok.items():
        subj = sign_and_verify(lib, slot, PINS[name]["value"])
        check(name in subj, "%s: signature verified against %s" % (name, subj))

    step("decrypt (CKM_RSA_PKCS, 257-byte PSO DECIPHER sent with command chaining)")
    sess = lib.openSession(tok["Identification"], PyKCS11.CKF_SERIAL_SESSION)
    sess.login(PINS["Identification"]["value"])
    key = sess.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY)])[0]
    cert = sess.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_CERTIFICATE), (PyKCS11.CKA_ID, [1])])
    der = bytes(sess.getAttributeValue(cert[0], [PyKCS11.CKA_VALUE])[0])
    ct = x509.load_der_x509_certificate(der).public_key().encrypt(b"s3cret", padding.PKCS1v15())
    pt = bytes(sess.decrypt(key, ct, PyKCS11.Mechanism(PyKCS11.CKM_RSA_PKCS)))
    sess.logout()
    sess.closeSession()
    check(pt == b"s3cret", "decrypted %r" % pt)

    step("wrong PINs count down and block (Identification)")
    ident = PINS["Identification"]
    seen, rv = block_pin(lib, tok["Identification"], d, ident["ref"])
    print("   login rv / card status:", [hex(x) if x > 0xFF else x for x in seen])
    check(seen[1] == 0x63C2 and seen[3] == 0x63C1, "counter 63C2, 63C1")
    check(seen[0] == LL.CKR_PIN_INCORRECT, "wrong PIN -> CKR_PIN_INCORRECT")
    check(seen[5] == 0x6983, "blocked: VERIFY status 6983")
    check(rv == LL.CKR_PIN_LOCKED, "correct PIN on blocked token -> CKR_PIN_LOCKED")

    step("PUK unblock through raw PC/SC (00 2C 00 81 PUK||new PIN)")
    with rig.Pcsc(d) as c:
        sw = c.transmit(b"\x00\x2C\x00" + bytes([ident["ref"], len(PUK) + 4]) + PUK + b"4321")[1]
    check(sw == 0x9000, "RESET RETRY COUNTER with PUK -> %04X" % sw)
    check(pin_status(d, ident["ref"]) == 0x63C3, "PIN counter back to 3")
    sign_and_verify(lib, tok["Identification"], "4321")
    check(True, "login with the new PIN and sign")

    step("challenge-response unblock (Signing)")
    signing = PINS["Signing"]
    seen, rv = block_pin(lib, tok["Signing"], d, signing["ref"])
    check(seen[5] == 0x6983 and rv == LL.CKR_PIN_LOCKED, "Signing PIN blocked")
    key = D["unlock_key"]["key"]
    kref = D["unlock_key"]["ref"]
    with rig.Pcsc(d) as c:
        c.begin()
        ch, sw = c.transmit("0084000008")
        check(sw == 0x9000 and len(ch) == 8, "GET CHALLENGE -> 8 bytes")
        sw = c.transmit("008200%02X08%s" % (kref, "00" * 8))[1]
        check(sw == 0x6300, "wrong response -> 6300")
        good = vcard.compute_unlock_response(key, ch)
        sw = c.transmit("008200%02X08%s" % (kref, good.hex()))[1]
        check(sw == 0x6985, "wrong response spent the challenge -> 6985")
        ch, sw = c.transmit("0084000008")
        sw = c.transmit("008200%02X08%s" % (kref, vcard.compute_unlock_response(key, ch).hex()))[1]
        check(sw == 0x9000, "EXTERNAL AUTHENTICATE with 3DES-ECB(unlock key, challenge)")
        sw = c.transmit("002C02%02X04%s" % (signing["ref"], b"2468".hex()))[1]
        check(sw == 0x9000, "RESET RETRY COUNTER 00 2C 02 with new PIN")
        sw = c.transmit("002C02%02X04%s" % (signing["ref"], b"2468".hex()))[1]
        check(sw == 0x6982, "only once per authentication")
        c.end()
    sign_and_verify(lib, tok["Signing"], "2468")
    check(True, "login with the new Signing PIN and sign")

    step("removal and re-insertion")
    rig.remove(d)
    deadline = time.monotonic() + 5
    while tokens(lib) and time.monotonic() < deadline:
        time.sleep(0.05)
    check(tokens(lib) == {}, "tokens gone after removal")
    rig.insert(d)
    deadline = time.monotonic() + 5
    while len(tokens(lib)) < len(PINS) and time.monotonic() < deadline:
        time.sleep(0.05)
    tok = tokens(lib)
    check(sorted(tok) == sorted(PINS), "tokens back after re-insertion")
    sign_and_verify(lib, tok["Identification"], "4321")
    sign_and_verify(lib, tok["Signing"], "2468")
    check(True, "new PINs persisted in the state dir; sign works again")

    step("second reader: card with its own config")
    cfg = os.path.join(d, "second.json")
    with open(cfg, "w") as fh:
        json.dump({"label": "Second Card", "serial": "0102030405060708090A"}, fh)
    rig.insert(d, slot=1, card_config=cfg)
    out = subprocess.run(["pkcs11-tool", "--module", module, "-L"], capture_output=True,
                         text=True, timeout=30).stdout
    check(out.count("Second Card (") == len(PINS), "second card shows its own tokens")
    rig.remove(d, slot=1)
    lib.lib.C_Finalize()


def main():
    print("rig + OpenSC end-to-end test (tests/card/test_rig_opensc.py)")
    if rig.missing_dependencies():
        print("FAIL: missing %s (see tests/card/README.md)" % ", ".join(rig.missing_dependencies()))
        return 1
    d = tempfile.mkdtemp(prefix="p11o-rig-")
    ok = False
    try:
        run(d)
        ok = True
    except Exception:
        traceback.print_exc()
        for f in ("pcscd.log", "card0.log"):
            p = os.path.join(d, f)
            if os.path.exists(p):
                print("==== %s" % f)
                print(open(p, errors="replace").read()[-3000:])
    finally:
        rig.stop(d)
        shutil.rmtree(d, ignore_errors=True)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
