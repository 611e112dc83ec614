#!/usr/bin/python3
"""Self-check of one card family: OpenSC 0.23's own driver (no proxy) lists the
tokens, logs in with each PIN (VERIFY data checked byte for byte), signs with
each PIN's keys (checked against the card's certificate), refuses a wrong PIN,
and unblocks through its own path (C_SetPIN(PUK, new) in an unlogged session),
after which the new PIN logs in.  Proves the emulator is accepted by OpenSC's
real driver.  Usage: test_selfcheck.py CASE   (CASE from CASES; exit 0 = pass)."""
import json, os, shutil, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cardadmin  # noqa: E402
import oracle  # noqa: E402
import rig  # noqa: E402
import selfcheck_cases  # noqa: E402

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, padding  # noqa: E402


def check(cond, msg, detail=""):
    if not cond:
        raise AssertionError(msg + ("\n" + detail if detail else ""))
    print("   ok:", msg, flush=True)


def token_index(env, tok):
    """Slot index of the token whose label is tok["label"] or ends with tok["suffix"]."""
    found = [i for i, lab in oracle.slot_labels(env)
             if lab == tok.get("label") or ("suffix" in tok and lab.endswith(tok["suffix"]))]
    check(len(found) == 1, "exactly one token %s" % (tok.get("label") or tok["suffix"]),
          repr(oracle.slot_labels(env)))
    return found[0]


def sign_and_verify(env, d, idx, tok, key_id, msg=b"p11overlay selfcheck"):
    mfile, sfile, cfile = (os.path.join(d, n) for n in ("msg", "sig", "cert.der"))
    with open(mfile, "wb") as fh:
        fh.write(msg)
    rc, out = oracle.pkcs11_tool(env, "--slot-index", idx, "--read-object", "--type", "cert",
                                 "--id", key_id, "-o", cfile)
    if rc == 0:
        with open(cfile, "rb") as fh:
            cert = x509.load_der_x509_certificate(fh.read())
        pub, who = cert.public_key(), cert.subject.rfc4514_string()
    else:  # no certificate (OpenPGP v2 has one, for the AUT key): the public key object
        rc, out = oracle.pkcs11_tool(env, "--slot-index", idx, "--read-object", "--type",
                                     "pubkey", "--id", key_id, "-o", cfile)
        check(rc == 0, "certificate or public key %s readable" % key_id, out)
        with open(cfile, "rb") as fh:
            pub, who = serialization.load_der_public_key(fh.read()), "public key " + key_id
    mech = "ECDSA-SHA256" if isinstance(pub, ec.EllipticCurvePublicKey) else "SHA256-RSA-PKCS"
    args = ["--slot-index", idx, "--login", "--pin", tok["pin"], "--sign", "-m", mech,
            "--id", key_id, "-i", mfile, "-o", sfile]
    if mech == "ECDSA-SHA256":
        args += ["--signature-format", "openssl"]
    rc, out = oracle.pkcs11_tool(env, *args)
    check(rc == 0, "sign with key %s on %s" % (key_id, tok.get("label") or tok["suffix"]), out)
    with open(sfile, "rb") as fh:
        sig = fh.read()
    if mech == "ECDSA-SHA256":
        pub.verify(sig, msg, ec.ECDSA(hashes.SHA256()))
    else:
        pub.verify(sig, msg, padding.PKCS1v15(), hashes.SHA256())
    check(True, "signature verifies with %s" % who)


def context_specific_direct(env, idx, pin, key_id):
    """OpenSC directly (the control for the matrix's hang cell): C_SignInit on a
    CKA_ALWAYS_AUTHENTICATE key, C_Login(CKU_CONTEXT_SPECIFIC), C_GetTokenInfo,
    C_Sign.  OpenSC holds the card transaction between login and sign."""
    import PyKCS11
    os.environ.update(env)
    lib = PyKCS11.PyKCS11Lib()
    lib.load(env["RIG_OPENSC_MODULE"])
    slot = lib.getSlotList()[idx]
    s = lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION)
    s.login(pin)
    key = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY),
                         (PyKCS11.CKA_ID, bytes.fromhex(key_id))])[0]
    always = s.getAttributeValue(key, [PyKCS11.CKA_ALWAYS_AUTHENTICATE])[0]
    check(always, "key %s has CKA_ALWAYS_AUTHENTICATE" % key_id)
    mech = PyKCS11.Mechanism(PyKCS11.CKM_ECDSA_SHA256)
    check(s.lib.C_SignInit(s.session, mech.to_native(), key) == 0, "C_SignInit")
    s.login(pin, 2)  # CKU_CONTEXT_SPECIFIC
    label = lib.getTokenInfo(slot).label.strip()
    sig, data = PyKCS11.ckbytelist(), PyKCS11.ckbytelist(b"context")
    rv = s.lib.C_Sign(s.session, data, sig)
    rv = rv or s.lib.C_Sign(s.session, data, sig)
    check(rv == 0 and len(sig) == 64, "OpenSC directly: context-specific login, C_GetTokenInfo "
          "(%s), C_Sign" % label)
    s.logout()
    s.closeSession()
    lib.lib.C_Finalize()


def locked(env, idx):
    rc, out = oracle.pkcs11_tool(env, "--slot-index", idx, "--list-token-slots")
    return "user PIN locked" in out


def run(case):
    spec = selfcheck_cases.CASES[case]()
    d = tempfile.mkdtemp(prefix="p11o-selfcheck-")
    try:
        cfg = None
        if spec.get("config") is not None:
            cfg = os.path.join(d, "card.in.json")
            with open(cfg, "w") as fh:
                json.dump(spec["config"], fh)
        print("-- %s: rig with family %s" % (case, spec["family"]), flush=True)
        env = rig.start(os.path.join(d, "rig"), card_config=cfg, family=spec["family"],
                        apdu_log=True)
        rd = env["RIG_DIR"]
        if spec.get("card_drivers"):
            oracle.set_opensc_option(env, "app default", "card_drivers", spec["card_drivers"])
        labels = [lab for _, lab in oracle.slot_labels(env)]
        print("   tokens:", labels)
        check(len(labels) == len(spec["tokens"]), "%d tokens" % len(spec["tokens"]), repr(labels))
        for tok in spec["tokens"]:
            idx = token_index(env, tok)
            m = oracle.mark(rd)
            ok, out = oracle.opensc_login(env, idx, tok["pin"])
            check(ok, "login on %s" % (tok.get("label") or tok["suffix"]), out)
            sent = oracle.verify_data(rd, tok["ref"], since=m)
            check(sent and all(s == tok["verify"] for s in sent),
                  "VERIFY %02X data is %s" % (tok["ref"], tok["verify"].hex()), repr(sent))
            for kid in tok.get("sign", []):
                sign_and_verify(env, d, idx, tok, kid)
        if spec.get("context_key"):
            tok = spec["tokens"][0]
            context_specific_direct(env, token_index(env, tok), tok["pin"], spec["context_key"])
        rep = spec.get("replace")
        if rep:  # another process replaces a certificate: OpenSC (no file cache) sees it
            new = cardadmin.replace_certificate(rd, rep["family"], rep["which"],
                                                **rep.get("kw", {}))
            cfile = os.path.join(d, "replaced.der")
            rc, out = oracle.pkcs11_tool(env, "--slot-index", token_index(env, rep["token"]),
                                         "--read-object", "--type", "cert", "--id", rep["id"],
                                         "-o", cfile)
            with open(cfile, "rb") as fh:
                check(rc == 0 and fh.read() == new,
                      "certificate %s replaced from another process is what OpenSC reads"
                      % rep["id"], out)
        for ub in spec.get("unblock", []):
            tok = ub["token"]
            idx = token_index(env, tok)
            for _ in range(ub["tries"]):
                oracle.opensc_login(env, idx, ub["wrong"])
            check(not oracle.opensc_login(env, idx, tok["pin"])[0], "blocked PIN refuses login")
            if spec.get("shows_locked", True):
                check(locked(env, idx), "token flags show user PIN locked")
            else:  # see selfcheck_cases: the driver cannot tell (isoApplet, OpenPGP v2)
                check(not locked(env, idx), "token flags do not show the lock (driver: no PIN info)")
            m = oracle.mark(rd)
            ok, out = oracle.opensc_unblock(env, idx, ub["puk"], ub["new"])
            sent = oracle.unblock_apdus(rd, since=m)
            check(sent and (sent[-1].p1, sent[-1].p2, sent[-1].data) == ub["apdu"],
                  "OpenSC's RESET RETRY COUNTER is P1=%02X P2=%02X %s"
                  % (ub["apdu"][0], ub["apdu"][1], ub["apdu"][2].hex()),
                  repr([(a.p1, a.p2, a.data.hex(), "%04X" % a.sw) for a in sent]))
            if ub["ok"]:
                check(ok, "OpenSC's unblock succeeds", out)
                ok, out = oracle.opensc_login(env, idx, ub["new"])
                check(ok, "new PIN logs in", out)
                check(not locked(env, idx), "token no longer locked")
            else:
                check(not ok and sent[-1].sw != 0x9000,
                      "OpenSC's unblock is refused by the card (%s)" % ub["why"], out)
        print("PASS")
        return 0
    finally:
        rig.stop(os.path.join(d, "rig"))
        if not os.environ.get("SELFCHECK_KEEP"):
            shutil.rmtree(d, ignore_errors=True)
        else:
            print("kept", d)


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in selfcheck_cases.CASES:
        print("usage: test_selfcheck.py {%s}" % ",".join(selfcheck_cases.CASES), file=sys.stderr)
        sys.exit(2)
    missing = rig.missing_dependencies()
    if missing:
        print("SKIP: missing " + ", ".join(missing))
        sys.exit(77)
    try:
        sys.exit(run(sys.argv[1]))
    except AssertionError as e:
        print("FAIL:", e)
        sys.exit(1)
