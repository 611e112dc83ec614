#!/usr/bin/python3
"""Two providers in one module (issue 15): OpenSC for the virtual card and
SoftHSM2 as `[provider] soft-token`.  Checked against each provider called
directly: one slot list with both providers' tokens and the card's IDs
unchanged, token info as each provider says, sessions and signatures on
both, the card pulled while a soft-token session signs, events from the
card, object handles that never collide, the soft-token-type variable, a
soft-token module that cannot be loaded (reported, the cards still shown),
and C_Finalize.

argv: p11overlay.so p11overlay-tool.  One rig and one SoftHSM2 token
directory in a temporary directory, always removed."""
import ctypes, os, re, shutil, subprocess, sys, tempfile, threading, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import rig, vcard_p15  # noqa: E402

import PyKCS11  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, padding  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.utils import (  # noqa: E402
    encode_dss_signature)

SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"
SOFT_PIN, SOFT_SO = "1111", "22222222"
PINS = [p["value"] for p in vcard_p15.DEFAULTS["pins"]]
MSG = b"two providers, one module"
GONE = (PyKCS11.CKR_DEVICE_REMOVED, PyKCS11.CKR_SESSION_HANDLE_INVALID,
        PyKCS11.CKR_TOKEN_NOT_PRESENT, PyKCS11.CKR_SESSION_CLOSED,
        PyKCS11.CKR_DEVICE_ERROR)


def write_conf(path, text):
    with open(path, "w") as fh:
        fh.write(text)
    os.chmod(path, 0o644)


def tool_slot_ids(so, conf):
    """Slot IDs and labels that pkcs11-tool -L sees through the module."""
    env = dict(os.environ, P11OVERLAY_CONF=conf)
    p = subprocess.run(["pkcs11-tool", "--module", so, "-L"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    return re.findall(r"\(0x([0-9a-f]+)\)", p.stdout), p


def token_fields(lib, slot):
    t = lib.getTokenInfo(slot)
    return (t.label, t.manufacturerID, t.model, t.serialNumber, t.flags,
            t.ulMaxPinLen, t.ulMinPinLen, t.hardwareVersion, t.firmwareVersion)


def ecdsa_verify(pub_der, sig):
    pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), pub_der)
    half = len(sig) // 2
    der = encode_dss_signature(int.from_bytes(bytes(sig[:half]), "big"),
                               int.from_bytes(bytes(sig[half:]), "big"))
    pub.verify(der, MSG, ec.ECDSA(hashes.SHA256()))


def soft_token(tmp):
    """A SoftHSM2 token with a P-256 key pair, id 10; its public point."""
    conf = os.path.join(tmp, "softhsm2.conf")
    os.makedirs(os.path.join(tmp, "tokens"))
    write_conf(conf, "directories.tokendir = %s\nobjectstore.backend = file\n"
               % os.path.join(tmp, "tokens"))
    os.environ["SOFTHSM2_CONF"] = conf
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "soft",
                    "--pin", SOFT_PIN, "--so-pin", SOFT_SO], check=True,
                   capture_output=True, timeout=60)
    subprocess.run(["pkcs11-tool", "--module", SOFTHSM, "--token-label", "soft",
                    "--login", "--pin", SOFT_PIN, "--keypairgen", "--key-type",
                    "EC:prime256v1", "--id", "10", "--label", "softkey"],
                   check=True, capture_output=True, timeout=60)


def main(so, tool):
    tmp = tempfile.mkdtemp(prefix="p11o-twoprov-")
    d = os.path.join(tmp, "rig")
    try:
        env = rig.start(d, owner=os.getpid())  # stops even if we are killed
        os.environ.update(env)
        soft_token(tmp)
        opensc = env["RIG_OPENSC_MODULE"]
        only_card = os.path.join(tmp, "card.conf")
        write_conf(only_card, "[provider]\nmodule = %s\n" % opensc)
        both = os.path.join(tmp, "both.conf")
        trace = os.path.join(tmp, "trace.log")
        write_conf(both, "[provider]\nmodule = %s\nsoft-token = %s\n"
                   "[trace]\npath = %s\nlevel = calls\n" % (opensc, SOFTHSM, trace))

        # The card's slot IDs do not move when a soft token joins.
        card_ids, _ = tool_slot_ids(so, only_card)
        both_ids, _ = tool_slot_ids(so, both)
        print("card only:", card_ids, "both:", both_ids)
        assert both_ids[:len(card_ids)] == card_ids, (card_ids, both_ids)
        assert len(set(both_ids)) == len(both_ids), both_ids

        direct_soft = PyKCS11.PyKCS11Lib()
        direct_soft.load(SOFTHSM)
        soft_direct_slots = direct_soft.getSlotList(tokenPresent=True)

        os.environ["P11OVERLAY_CONF"] = both
        lib = PyKCS11.PyKCS11Lib()
        lib.load(so)
        slots = lib.getSlotList(tokenPresent=True)
        kinds = {s: lib.getTokenInfo(s).manufacturerID.strip() for s in slots}
        print("slots:", [(hex(s), kinds[s], lib.getTokenInfo(s).label.strip())
                         for s in slots])
        card_slots = [s for s in slots if "SoftHSM" not in kinds[s]]
        soft_slots = [s for s in slots if "SoftHSM" in kinds[s]]
        assert len(card_slots) == 2 and len(soft_slots) == len(soft_direct_slots), slots
        assert [hex(s)[2:] for s in card_slots] == card_ids[:2], (card_slots, card_ids)
        # The soft tokens as SoftHSM2 says, in its order.
        for mine, theirs in zip(soft_slots, soft_direct_slots):
            assert token_fields(lib, mine) == token_fields(direct_soft, theirs), mine
        soft = [s for s in soft_slots if lib.getTokenInfo(s).label.strip() == "soft"][0]

        # Sessions on both providers; signatures checked with the public keys.
        cs = lib.openSession(card_slots[0], PyKCS11.CKF_SERIAL_SESSION)
        cs.login(PINS[0])
        key = cs.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY)])[0]
        cert = cs.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_CERTIFICATE)])[0]
        der = bytes(cs.getAttributeValue(cert, [PyKCS11.CKA_VALUE])[0])
        sig = cs.sign(key, MSG, PyKCS11.Mechanism(PyKCS11.CKM_SHA256_RSA_PKCS))
        x509.load_der_x509_certificate(der).public_key().verify(
            bytes(sig), MSG, padding.PKCS1v15(), hashes.SHA256())
        ss = lib.openSession(soft, PyKCS11.CKF_SERIAL_SESSION | PyKCS11.CKF_RW_SESSION)
        ss.login(SOFT_PIN)
        skey = ss.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY)])[0]
        spub = ss.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY)])[0]
        point = bytes(ss.getAttributeValue(spub, [PyKCS11.CKA_EC_POINT])[0])
        point = point[2:] if point[0] == 0x04 and point[1] == len(point) - 2 else point
        ecdsa_verify(point, ss.sign(skey, MSG, PyKCS11.Mechanism(PyKCS11.CKM_ECDSA_SHA256)))
        print("signed on both providers")

        # Object handles of the two providers never collide; each token has
        # its special objects.
        card_objs = set(o.value() for o in cs.findObjects([]))
        soft_objs = set(o.value() for o in ss.findObjects([]))
        assert card_objs and soft_objs and not card_objs & soft_objs, (card_objs, soft_objs)
        for s in (cs, ss):
            objs = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_DATA),
                                  (PyKCS11.CKA_LABEL, "TokenSerialNumber")])
            assert len(objs) == 1, objs

        # C_HasNewEvent (the extension, from the same loaded module) sees
        # the card's events too: nothing new before the removal.
        ext = ctypes.CDLL(so)
        ext.C_HasNewEvent.argtypes = [ctypes.POINTER(ctypes.c_ulong)]
        last = ctypes.c_ulong(0)
        while ext.C_HasNewEvent(ctypes.byref(last)) == 0:
            pass
        assert ext.C_HasNewEvent(ctypes.byref(last)) == PyKCS11.CKR_NO_EVENT
        before = last.value

        # The card is pulled while another thread signs on the soft token.
        errors, count, stop = [], [0], threading.Event()

        def sign_loop():
            try:
                while not stop.is_set():
                    ss.sign(skey, MSG, PyKCS11.Mechanism(PyKCS11.CKM_ECDSA_SHA256))
                    count[0] += 1
            except PyKCS11.PyKCS11Error as e:  # pragma: no cover - reported
                errors.append(e)

        t = threading.Thread(target=sign_loop)
        t.start()
        time.sleep(0.3)
        rig.remove(d)
        time.sleep(0.5)
        try:
            cs.sign(key, MSG, PyKCS11.Mechanism(PyKCS11.CKM_SHA256_RSA_PKCS))
            raise AssertionError("card session signed after removal")
        except PyKCS11.PyKCS11Error as e:
            assert e.value in GONE, e
        time.sleep(0.3)
        stop.set()
        t.join(60)
        assert not t.is_alive() and not errors and count[0] > 0, (errors, count)
        print("soft-token signatures during the removal:", count[0])
        # The removal reached the application as events on the card's slots,
        # through C_HasNewEvent and through C_WaitForSlotEvent.
        assert ext.C_HasNewEvent(ctypes.byref(last)) == PyKCS11.CKR_OK, last
        assert last.value > before, (before, last.value)
        seen = set()
        for _ in range(20):
            try:
                seen.add(lib.waitForSlotEvent(PyKCS11.CKF_DONT_BLOCK))
            except PyKCS11.PyKCS11Error as e:
                assert e.value == PyKCS11.CKR_NO_EVENT, e
                break
        print("events:", [hex(s) for s in seen])
        assert seen and seen <= set(card_slots) | set(int(x, 16) for x in both_ids), seen
        assert set(card_slots) & seen, seen
        present = lib.getSlotList(tokenPresent=True)
        assert soft in present and not set(card_slots) & set(present), present
        ecdsa_verify(point, ss.sign(skey, MSG, PyKCS11.Mechanism(PyKCS11.CKM_ECDSA_SHA256)))

        # The card comes back under the same slot IDs.
        rig.insert(d)
        deadline = time.time() + 20
        while time.time() < deadline and not set(card_slots) <= set(
                lib.getSlotList(tokenPresent=True)):
            time.sleep(0.2)
        assert set(card_slots) <= set(lib.getSlotList(tokenPresent=True))
        cs = lib.openSession(card_slots[1], PyKCS11.CKF_SERIAL_SESSION)
        cs.login(PINS[1])
        cs.logout()
        ss.logout()
        lib.closeAllSessions(soft)
        lib.lib.C_Finalize()
        del lib
        with open(trace) as fh:
            text = fh.read()
        assert "# provider 0: " + opensc in text and "# provider 1: " + SOFTHSM in text, \
            text[:2000]
        assert "C_Finalize" in text

        # A token initialised through the module on the second provider is
        # SoftHSM2's too, and keeps its slot ID.
        lib = PyKCS11.PyKCS11Lib()
        lib.load(so)
        free = [s for s in lib.getSlotList(tokenPresent=True)
                if not lib.getTokenInfo(s).flags & PyKCS11.CKF_TOKEN_INITIALIZED]
        assert len(free) == 1, free
        # 32 bytes: PyKCS11 passes the string as it is, and C_InitToken
        # reads 32 (a shorter one is an over-read in SoftHSM2, seen by ASan).
        lib.initToken(free[0], SOFT_SO, "made through p11overlay".ljust(32))
        got = lib.getTokenInfo(free[0])
        print("after C_InitToken:", hex(free[0]), repr(got.label), hex(got.flags))
        assert got.label.rstrip(" \x00") == "made through p11overlay", got.label
        assert free[0] in lib.getSlotList(tokenPresent=True)
        lib.lib.C_Finalize()
        del lib
        direct_soft.lib.C_Finalize()
        direct_soft.lib.C_Initialize()
        labels = [direct_soft.getTokenInfo(s).label.rstrip(" \x00")
                  for s in direct_soft.getSlotList(tokenPresent=True)]
        assert "made through p11overlay" in labels, labels

        # soft-token-type names the configured module.
        p = subprocess.run([tool, "--module", so, "variables", "get", "soft-token-type"],
                           env=dict(os.environ, P11OVERLAY_CONF=both),
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0 and "libsofthsm2.so" in p.stdout, p.stdout + p.stderr

        # A soft-token module that cannot be loaded is reported; the card stays.
        broken = os.path.join(tmp, "broken.conf")
        write_conf(broken, "[provider]\nmodule = %s\nsoft-token = %s\n"
                   % (opensc, os.path.join(tmp, "missing.so")))
        ids, p = tool_slot_ids(so, broken)
        assert ids[:len(card_ids)] == card_ids, (ids, card_ids)
        assert "missing.so" in p.stderr and "going on without it" in p.stderr, p.stderr
        p = subprocess.run([tool, "config", "check", broken], capture_output=True,
                           text=True, timeout=60)
        assert p.returncode == 0 and "missing.so" in p.stdout, p.stdout + p.stderr
        print("ok")
        return 0
    finally:
        rig.stop(d)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    # Sanitizer builds: PyKCS11's C++ extension needs libstdc++ preloaded
    # after libasan (test_matrix.cell_env says why); re-run once with it.
    import test_matrix  # noqa: E402
    want = test_matrix.cell_env()
    if want.get("LD_PRELOAD") != os.environ.get("LD_PRELOAD"):
        os.execve(sys.executable, [sys.executable] + sys.argv, want)
    sys.exit(main(os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])))
