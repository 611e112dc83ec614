#!/usr/bin/python3
"""Interop: PyKCS11 through p11overlay.so.

    pykcs11_sign.py card <p11overlay.so>      # rig card, env set by pykcs11.sh
    pykcs11_sign.py softhsm <p11overlay.so>   # SoftHSM2 token, env likewise

card: for each PIN's virtual token, read the certificate without login, log
in, sign (CKM_SHA256_RSA_PKCS), verify with python3-cryptography against
the certificate and with C_Verify on the token; a wrong PIN gives
CKR_PIN_INCORRECT.  softhsm: generate an RSA key pair on the soft token
through the proxy, sign and verify.
"""
import os
import sys

import PyKCS11
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

PINS = {"Identification": ("1234", b"\x01"), "Signing": ("123456", b"\x02")}


def fail(msg):
    print("FAIL: pykcs11: " + msg, file=sys.stderr)
    sys.exit(1)


def label_of(lib, slot):
    return lib.getTokenInfo(slot).label.strip()


def card(lib):
    tokens = {}
    for slot in lib.getSlotList(tokenPresent=True):
        label = label_of(lib, slot)
        for name in PINS:
            if label.endswith("(%s)" % name):
                tokens[name] = slot
    if sorted(tokens) != sorted(PINS):
        fail("want one token per PIN, got %r" % tokens)
    descs = {lib.getSlotInfo(s).slotDescription.strip() for s in tokens.values()}
    if len(descs) != 1:
        fail("virtual slots of one card have different descriptions: %r" % descs)
    data = os.urandom(3000)
    for name, slot in sorted(tokens.items()):
        pin, ckid = PINS[name]
        s = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION | PyKCS11.CKF_RW_SESSION)
        certs = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_CERTIFICATE),
                               (PyKCS11.CKA_ID, ckid)])
        if len(certs) != 1:
            fail("%s: %d certificates with ID %s before login" % (name, len(certs), ckid.hex()))
        der = bytes(s.getAttributeValue(certs[0], [PyKCS11.CKA_VALUE])[0])
        cert = x509.load_der_x509_certificate(der)
        if cert.subject.rfc4514_string() != "CN=Test User (%s)" % name:
            fail("%s: certificate subject %s" % (name, cert.subject.rfc4514_string()))
        if s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY)]):
            fail("%s: private key visible before login" % name)
        try:
            s.login("0000")
            fail("%s: login with a wrong PIN succeeded" % name)
        except PyKCS11.PyKCS11Error as e:
            if e.value != PyKCS11.CKR_PIN_INCORRECT:
                fail("%s: wrong PIN gave %s" % (name, e))
        s.login(pin)
        keys = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY),
                              (PyKCS11.CKA_ID, ckid)])
        if len(keys) != 1:
            fail("%s: %d private keys with ID %s after login" % (name, len(keys), ckid.hex()))
        other = [k for n, (p, k) in PINS.items() if n != name][0]
        if s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY),
                          (PyKCS11.CKA_ID, other)]):
            fail("%s: the other PIN's key is visible in this token" % name)
        mech = PyKCS11.Mechanism(PyKCS11.CKM_SHA256_RSA_PKCS, None)
        sig = bytes(s.sign(keys[0], data, mech))
        try:
            cert.public_key().verify(sig, data, padding.PKCS1v15(), hashes.SHA256())
        except Exception as e:  # noqa: BLE001 - any failure is a test failure
            fail("%s: signature does not verify against the certificate: %r" % (name, e))
        pubs = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY),
                              (PyKCS11.CKA_ID, ckid)])
        if pubs and not s.verify(pubs[0], data, sig, mech):
            fail("%s: C_Verify on the token rejects the signature" % name)
        s.logout()
        s.closeSession()
        print("ok: PyKCS11 %s: cert before login, wrong PIN refused, sign+verify" % name)


def softhsm(lib):
    slots = [s for s in lib.getSlotList(tokenPresent=True)
             if label_of(lib, s) == "interop"]
    if len(slots) != 1:
        fail("SoftHSM2: want 1 token 'interop', got %d" % len(slots))
    s = lib.openSession(slots[0], PyKCS11.CKF_SERIAL_SESSION | PyKCS11.CKF_RW_SESSION)
    s.login("1234")
    pub_t = [(PyKCS11.CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY), (PyKCS11.CKA_TOKEN, True),
             (PyKCS11.CKA_VERIFY, True), (PyKCS11.CKA_MODULUS_BITS, 2048),
             (PyKCS11.CKA_PUBLIC_EXPONENT, (1, 0, 1)), (PyKCS11.CKA_ID, (0x42,)),
             (PyKCS11.CKA_LABEL, "interop key")]
    prv_t = [(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY), (PyKCS11.CKA_TOKEN, True),
             (PyKCS11.CKA_PRIVATE, True), (PyKCS11.CKA_SIGN, True),
             (PyKCS11.CKA_ID, (0x42,)), (PyKCS11.CKA_LABEL, "interop key")]
    pub, prv = s.generateKeyPair(pub_t, prv_t)
    n, e = s.getAttributeValue(pub, [PyKCS11.CKA_MODULUS, PyKCS11.CKA_PUBLIC_EXPONENT])
    key = rsa.RSAPublicNumbers(int.from_bytes(bytes(e), "big"),
                               int.from_bytes(bytes(n), "big")).public_key()
    data = os.urandom(777)
    for mech, pad in ((PyKCS11.CKM_SHA256_RSA_PKCS, padding.PKCS1v15()),
                      (PyKCS11.CKM_SHA256_RSA_PKCS_PSS,
                       padding.PSS(padding.MGF1(hashes.SHA256()), 32))):
        param = None
        if mech == PyKCS11.CKM_SHA256_RSA_PKCS_PSS:
            param = PyKCS11.RSA_PSS_Mechanism(mech, PyKCS11.CKM_SHA256,
                                              PyKCS11.CKG_MGF1_SHA256, 32)
        m = param or PyKCS11.Mechanism(mech, None)
        sig = bytes(s.sign(prv, data, m))
        try:
            key.verify(sig, data, pad, hashes.SHA256())
        except Exception as e:  # noqa: BLE001
            fail("SoftHSM2: %s signature does not verify: %r" % (PyKCS11.CKM[mech], e))
        if not s.verify(pub, data, sig, m):
            fail("SoftHSM2: C_Verify rejects the %s signature" % PyKCS11.CKM[mech])
    s.logout()
    s.closeSession()
    print("ok: PyKCS11 SoftHSM2: key pair generated through the proxy, PKCS#1 and PSS sign+verify")


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("card", "softhsm"):
        fail("usage: pykcs11_sign.py card|softhsm <p11overlay.so>")
    lib = PyKCS11.PyKCS11Lib()
    lib.load(sys.argv[2])
    info = lib.getInfo()
    if not info.manufacturerID.startswith("p11overlay"):
        fail("loaded module is not p11overlay: %r" % info.manufacturerID)
    (card if sys.argv[1] == "card" else softhsm)(lib)


if __name__ == "__main__":
    main()
