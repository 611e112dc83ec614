#!/usr/bin/python3
"""One cell of the feature matrix (test_matrix.py): its own rig and fresh card,
p11overlay loaded through PyKCS11, OpenSC directly (pkcs11-tool, another
process) as the oracle.  Prints "CELL ok|FAIL|n/a <detail>" last.
Usage: matrix_cell.py P11OVERLAY_SO CASE FEATURE
       matrix_cell.py --direct-cost RIG_DIR   (APDUs of 5 C_GetTokenInfo on OpenSC)"""
import ctypes, json, os, shutil, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cardadmin  # noqa: E402
import oracle  # noqa: E402
import rig  # noqa: E402
import selfcheck_cases  # noqa: E402
import vcard_iso  # noqa: E402
import vcard_p15  # noqa: E402

import PyKCS11  # noqa: E402
from PyKCS11 import LowLevel as LL  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils  # noqa: E402

CKF_USER_PIN_LOCKED = 0x00040000
CKU_CONTEXT_SPECIFIC = 2


HANG_SECONDS = 20  # one C_GetTokenInfo takes well under a second


class Watchdog:
    """Reports a hang of a call stuck in C (no Python code runs there): a
    separate process prints the verdict and kills this one after `secs`."""

    def __init__(self, secs, what):
        self.secs, self.what = secs, what

    def __enter__(self):
        msg = "CELL FAIL hang: %s did not return within %d s" % (self.what, self.secs)
        self.p = __import__("subprocess").Popen(
            ["sh", "-c", 'sleep "$1"; echo "$2"; kill -9 "$3"', "watchdog", str(self.secs),
             msg, str(os.getpid())], stdout=sys.stdout)
        return self

    def __exit__(self, *a):
        self.p.kill()
        self.p.wait()


class Red(Exception):
    pass


class NotApplicable(Exception):
    pass


def need(cond, msg):
    if not cond:
        raise Red(msg)


def rv_of(fn, *a):
    try:
        fn(*a)
        return LL.CKR_OK
    except PyKCS11.PyKCS11Error as e:
        return e.value


def rv_name(rv):
    return PyKCS11.CKR.get(rv, "0x%X" % rv)


class Cell:
    def __init__(self, so, case):
        self.so, self.spec = so, selfcheck_cases.CASES[case]()
        self.d = tempfile.mkdtemp(prefix="p11o-matrix-")
        cfg = None
        if self.spec.get("config") is not None:
            cfg = os.path.join(self.d, "card.in.json")
            with open(cfg, "w") as fh:
                json.dump(self.spec["config"], fh)
        self.rd = os.path.join(self.d, "rig")
        print("RIG %s" % self.rd, flush=True)  # test_matrix.py stops it if this cell hangs
        self.env = rig.start(self.rd, card_config=cfg, family=self.spec["family"], apdu_log=True)
        if self.spec.get("card_drivers"):
            oracle.set_opensc_option(self.env, "app default", "card_drivers",
                                     self.spec["card_drivers"])
        conf = os.path.join(self.d, "p11overlay.conf")
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # any umask
        with os.fdopen(fd, "w") as fh:
            fh.write("[provider]\nmodule = %s\n%s" % (self.env["RIG_OPENSC_MODULE"],
                                                    self.spec.get("proxy_conf", "")))
        os.environ.update(self.env)
        os.environ["P11OVERLAY_CONF"] = conf
        self.notes = set()
        self.lib = PyKCS11.PyKCS11Lib()
        self.lib.load(so)
        self.x = ctypes.CDLL(so)

    def close(self):
        rig.stop(self.rd)
        shutil.rmtree(self.d, ignore_errors=True)

    # ---- proxy tokens and their mapping to the spec's tokens
    def tokens(self):
        out = []
        for s in self.lib.getSlotList(tokenPresent=True):
            if self.lib.getSlotInfo(s).slotDescription.strip() != self.env["RIG_READER"]:
                continue
            ti = self.lib.getTokenInfo(s)
            out.append({"slot": s, "label": ti.label.strip(), "flags": ti.flags})
        return out

    def slot_of(self, tok, toks=None, strict=False):
        """Proxy slot of a spec token: the longest " (<pin label>)" suffix wins.
        strict=False (every feature but "tokens"): when the labels do not tell,
        the token at the same position as OpenSC's (slot IDs follow the provider's
        order), so one label fault does not hide the other features."""
        toks = toks if toks is not None else self.tokens()
        try:
            return self._slot_by_label(tok, toks)
        except Red:
            if strict or len(toks) != len(self.spec["tokens"]):
                raise
            order = [i for i, _ in oracle.slot_labels(self.env)]
            pos = order.index(self.opensc_index(tok))
            self.notes.add("labels ambiguous: tokens mapped by position")
            return sorted(t["slot"] for t in toks)[pos]

    def _slot_by_label(self, tok, toks):
        if len(self.spec["tokens"]) == 1:
            need(len(toks) == 1, "%d tokens for a one-PIN card" % len(toks))
            return toks[0]["slot"]
        labels = sorted((t["pin_label"] for t in self.spec["tokens"]), key=len, reverse=True)
        found = []
        for t in toks:
            best = next((lab for lab in labels if t["label"].endswith("(%s)" % lab)), None)
            if best == tok["pin_label"]:
                found.append(t["slot"])
        need(len(found) == 1, "%d proxy tokens labelled for PIN %r: %r" % (
            len(found), tok["pin_label"], [t["label"] for t in toks]))
        return found[0]

    def session(self, slot):
        return self.lib.openSession(slot, PyKCS11.CKF_SERIAL_SESSION | PyKCS11.CKF_RW_SESSION)

    def opensc_index(self, tok):
        for i, lab in oracle.slot_labels(self.env):
            if lab == tok.get("label") or ("suffix" in tok and lab.endswith(tok["suffix"])):
                return i
        raise Red("OpenSC shows no token for %r" % tok.get("label", tok.get("suffix")))

    def block_via_proxy(self, slot, tok, ub):
        s = self.session(slot)
        for _ in range(ub["tries"]):
            rv_of(s.login, ub["wrong"])
        rv = rv_of(s.login, tok["pin"])
        need(rv == LL.CKR_PIN_LOCKED, "blocked PIN: C_Login gives %s" % rv_name(rv))
        return s

    # ---- features
    def f_tokens(self):
        toks = self.tokens()
        labels = [t["label"] for t in toks]
        need(len(toks) == len(self.spec["tokens"]), "%d tokens, want %d: %r" % (
            len(toks), len(self.spec["tokens"]), labels))
        need(len(set(labels)) == len(labels), "labels not distinct: %r" % labels)
        for tok in self.spec["tokens"]:
            self.slot_of(tok, toks, strict=True)
        if len(toks) == 1:  # one PIN: the plain token name, as OpenSC labels it
            direct = [lab for _, lab in oracle.slot_labels(self.env)]
            need(labels == direct[:1], "label %r, OpenSC's %r" % (labels, direct))
        return "%d tokens %r" % (len(toks), labels)

    def f_stable_ids(self):
        before = sorted((t["slot"], t["label"]) for t in self.tokens())
        rig.remove(self.rd)
        self._wait(lambda: not self.tokens(), "tokens gone after removal")
        rig.insert(self.rd)
        self._wait(lambda: len(self.tokens()) == len(before), "tokens back after insertion")
        after = sorted((t["slot"], t["label"]) for t in self.tokens())
        need(before == after, "after re-insertion %r != %r" % (after, before))
        return "slot IDs %s kept across removal" % [hex(s) for s, _ in before]

    def _wait(self, cond, what, deadline=10.0):
        end = time.monotonic() + deadline
        while not cond():
            if time.monotonic() > end:
                raise Red("never: " + what)
            time.sleep(0.1)

    def f_pin_state(self):
        target = self.spec["tokens"][-1]
        ub = next(u for u in self.spec["unblock"] if u["token"]["ref"] == target["ref"])
        idx = self.opensc_index(target)
        for _ in range(ub["tries"]):  # another process: OpenSC directly
            oracle.opensc_login(self.env, idx, ub["wrong"])
        want = {t["pin_label"]: t["counter"] == target["counter"] for t in self.spec["tokens"]}

        def state():
            toks = self.tokens()
            return {t["pin_label"]: bool(next(p["flags"] for p in toks if p["slot"] ==
                                              self.slot_of(t, toks)) & CKF_USER_PIN_LOCKED)
                    for t in self.spec["tokens"]}
        try:
            self._wait(lambda: state() == want, "locked flags %r" % want, 5.0)
        except Red:
            raise Red("blocked %r from another process: LOCKED flags %r, want %r" % (
                target["pin_label"], state(), want))
        return "LOCKED on %r only" % [k for k, v in want.items() if v]

    def f_special_objects(self):
        slot = self.slot_of(self.spec["tokens"][0])
        s = self.session(slot)
        objs = {}  # only the four special objects: OpenSC's own data objects of absent
        for name in ("TokenSerialNumber", "TokenLabel", "ATR", "UpdateCount"):  # PIV containers
            found = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_DATA),  # fail even directly
                                   (PyKCS11.CKA_LABEL, name)])
            if not found:
                continue
            need(len(found) == 1, "%d objects labelled %s" % (len(found), name))
            try:
                app, val = s.getAttributeValue(found[0], [PyKCS11.CKA_APPLICATION,
                                                          PyKCS11.CKA_VALUE])
            except PyKCS11.PyKCS11Error as e:
                raise Red("%s: C_GetAttributeValue %s" % (name, rv_name(e.value)))
            objs[name] = (app, bytes(val or b""))
        bad = []
        ser = objs.get("TokenSerialNumber", ("", b""))[1].decode("latin-1").rstrip("\0 ")
        if ser.lower() != self.spec["serial"].lower():
            bad.append("TokenSerialNumber %r, want %r" % (ser, self.spec["serial"]))
        lab = objs.get("TokenLabel", ("", b""))[1].decode("utf-8", "replace").rstrip("\0 ")
        if lab != self.spec["card_label"]:
            bad.append("TokenLabel %r, want %r" % (lab, self.spec["card_label"]))
        app, atr = objs.get("ATR", ("", b""))
        if atr != bytes.fromhex(self.spec["atr"]) or app != self.spec["application"]:
            bad.append("ATR %s app %r, want %s %r" % (atr.hex(), app, self.spec["atr"],
                                                     self.spec["application"]))
        if "UpdateCount" not in objs:
            bad.append("no UpdateCount")
        else:
            u1 = self._update_count(s)
            u2 = self._update_count(s)
            if u1 != u2:
                bad.append("UpdateCount changed without a change")
            rep = self.spec["replace"]
            cardadmin.replace_certificate(self.rd, rep["family"], rep["which"],
                                          **rep.get("kw", {}))
            if self._update_count(s) == u1:
                bad.append("UpdateCount unchanged after another process replaced a certificate")
        need(not bad, "; ".join(bad))
        return "serial %s, label %r, ATR app %r, UpdateCount follows a certificate change" % (
            ser, lab, app)

    def _update_count(self, s):
        o = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_DATA),
                           (PyKCS11.CKA_LABEL, "UpdateCount")])
        need(o, "UpdateCount not found")
        try:
            return bytes(s.getAttributeValue(o[0], [PyKCS11.CKA_VALUE])[0])
        except PyKCS11.PyKCS11Error as e:
            raise Red("UpdateCount CKA_VALUE: %s" % rv_name(e.value))

    def _unlock_pin(self, s, puk, new):
        f = self.x.C_UnlockPIN
        f.argtypes = [ctypes.c_ulong, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p,
                      ctypes.c_ulong]
        return f(s.session.value(), puk, len(puk), new, len(new))

    def _new_pin_logs_in(self, slot, tok, new):
        s = self.session(slot)
        rv = rv_of(s.login, new)
        need(rv == LL.CKR_OK, "new PIN through the proxy: C_Login %s" % rv_name(rv))
        s.logout()
        ok, out = oracle.opensc_login(self.env, self.opensc_index(tok), new)
        need(ok, "new PIN through OpenSC directly refused: %s" % out.strip()[-200:])

    def f_puk_unlock(self):
        ub = self.spec["unblock"][0]
        tok = ub["token"]
        slot = self.slot_of(tok)
        s = self.block_via_proxy(slot, tok, ub)
        m = oracle.mark(self.rd)
        rv = self._unlock_pin(s, ub["puk"].encode(), ub["new"].encode())
        sent = oracle.unblock_apdus(self.rd, since=m)
        if ub.get("no_puk"):
            need(rv != LL.CKR_OK, "C_UnlockPIN OK on a PIN without PUK")
            raise NotApplicable("the PIN has no PUK: C_UnlockPIN %s, %d APDUs" % (
                rv_name(rv), len(sent)))
        need(rv == LL.CKR_OK, "C_UnlockPIN %s (sent %r)" % (
            rv_name(rv), [(a.p1, a.p2, a.data.hex(), "%04X" % a.sw) for a in sent]))
        right = ub.get("right") or ub["apdu"][2]
        need(sent and sent[-1].data == right and (sent[-1].p1, sent[-1].p2) == ub["apdu"][:2],
             "RESET RETRY COUNTER %r, want P1=%02X P2=%02X %s" % (
                 [(a.p1, a.p2, a.data.hex()) for a in sent], ub["apdu"][0], ub["apdu"][1],
                 right.hex()))
        self._new_pin_logs_in(slot, tok, ub["new"])
        return "00 2C %02X %02X %s; new PIN logs in through proxy and OpenSC" % (
            ub["apdu"][0], ub["apdu"][1], right.hex())

    def f_challenge(self):
        if not self.spec.get("challenge"):
            raise NotApplicable("%s has no challenge-response unblock" % self.spec["family"])
        ub = self.spec["unblock"][0]
        tok = ub["token"]
        slot = self.slot_of(tok)
        s = self.block_via_proxy(slot, tok, ub)
        f = self.x.C_GetUnlockChallenge
        f.argtypes = [ctypes.c_ulong, ctypes.c_char_p, ctypes.POINTER(ctypes.c_ulong)]
        buf, n = ctypes.create_string_buffer(64), ctypes.c_ulong(64)
        rv = f(s.session.value(), buf, ctypes.byref(n))
        need(rv == LL.CKR_OK, "C_GetUnlockChallenge %s" % rv_name(rv))
        resp = vcard_iso.compute_unlock_response(vcard_p15.DEFAULTS["unlock_key"]["key"],
                                                 buf.raw[:n.value])
        g = self.x.C_UnlockPINWithResponse
        g.argtypes = [ctypes.c_ulong, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p,
                      ctypes.c_ulong]
        new = ub["new"].encode()
        rv = g(s.session.value(), resp, len(resp), new, len(new))
        need(rv == LL.CKR_OK, "C_UnlockPINWithResponse %s" % rv_name(rv))
        self._new_pin_logs_in(slot, tok, ub["new"])
        return "challenge-response unblock; new PIN logs in through proxy and OpenSC"

    def f_sign(self):
        done = []
        for tok in self.spec["tokens"]:
            if not tok.get("sign"):
                continue
            slot = self.slot_of(tok)
            s = self.session(slot)
            s.login(tok["pin"])
            for kid in tok["sign"]:
                done.append(self._sign_one(s, slot, tok, bytes.fromhex(kid)))
            s.logout()
        return "; ".join(done)

    def _sign_one(self, s, slot, tok, kid):
        keys = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY), (PyKCS11.CKA_ID, kid)])
        need(len(keys) == 1, "%d private keys with ID %s" % (len(keys), kid.hex()))
        ktype, always = s.getAttributeValue(keys[0], [PyKCS11.CKA_KEY_TYPE,
                                                      PyKCS11.CKA_ALWAYS_AUTHENTICATE])
        is_ec = ktype == PyKCS11.CKK_EC
        msg = b"p11overlay feature matrix"
        mech = PyKCS11.Mechanism(PyKCS11.CKM_ECDSA_SHA256 if is_ec else PyKCS11.CKM_SHA256_RSA_PKCS)
        rv = s.lib.C_SignInit(s.session, mech.to_native(), keys[0])
        need(rv == LL.CKR_OK, "C_SignInit %s" % rv_name(rv))
        note = ""
        if always:
            rv = rv_of(s.login, tok["pin"], CKU_CONTEXT_SPECIFIC)
            need(rv == LL.CKR_OK, "context-specific C_Login %s" % rv_name(rv))
            print("context-specific login done; C_GetTokenInfo next", flush=True)
            with Watchdog(HANG_SECONDS, "C_GetTokenInfo after a context-specific login"):
                self.lib.getTokenInfo(slot)  # the hang: a wait on OpenSC's transaction
            note = " (CKA_ALWAYS_AUTHENTICATE: context login, C_GetTokenInfo, C_Sign)"
        sig = PyKCS11.ckbytelist()
        data = PyKCS11.ckbytelist(msg)
        for _ in range(2):
            rv = s.lib.C_Sign(s.session, data, sig)
            need(rv == LL.CKR_OK, "C_Sign %s" % rv_name(rv))
        pub = self._public_key(s, kid)
        if is_ec:
            n = len(sig) // 2
            der = utils.encode_dss_signature(int.from_bytes(bytes(sig[:n]), "big"),
                                             int.from_bytes(bytes(sig[n:]), "big"))
            pub.verify(der, msg, ec.ECDSA(hashes.SHA256()))
        else:
            pub.verify(bytes(sig), msg, padding.PKCS1v15(), hashes.SHA256())
        return "key %s signs%s" % (kid.hex(), note)

    def _public_key(self, s, kid):
        certs = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_CERTIFICATE), (PyKCS11.CKA_ID, kid)])
        if certs:
            der = bytes(s.getAttributeValue(certs[0], [PyKCS11.CKA_VALUE])[0])
            return x509.load_der_x509_certificate(der).public_key()
        pubs = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY), (PyKCS11.CKA_ID, kid)])
        need(pubs, "no certificate or public key with ID %s" % kid.hex())
        n, e = s.getAttributeValue(pubs[0], [PyKCS11.CKA_MODULUS, PyKCS11.CKA_PUBLIC_EXPONENT])
        need(n and e, "public key %s without modulus" % kid.hex())
        return rsa.RSAPublicNumbers(int.from_bytes(bytes(e), "big"),
                                    int.from_bytes(bytes(n), "big")).public_key()

    def f_apdu_cost(self):
        slot = self.slot_of(self.spec["tokens"][0])
        self.lib.getTokenInfo(slot)  # warm: what is learnt once per insertion is not counted
        proxy = None
        # the proxy re-reads PIN states older than P11O_PIN_STATE_TTL_MS (1 s): on a
        # loaded machine 5 calls may cross it, so the least of 3 runs is compared
        for _ in range(3):
            m = oracle.mark(self.rd)
            for _ in range(5):
                self.lib.getTokenInfo(slot)
            n = oracle.count(self.rd, since=m)
            proxy = n if proxy is None else min(proxy, n)
        self.lib.closeAllSessions(slot)
        p = __import__("subprocess").run(
            [sys.executable, os.path.abspath(__file__), "--direct-cost", self.rd,
             str(self.opensc_index(self.spec["tokens"][0]))],
            capture_output=True, text=True, timeout=60, env=dict(os.environ, **self.env))
        need(p.returncode == 0, "direct measurement failed: %s" % p.stderr[-300:])
        direct = int(p.stdout.split()[-1])
        need(proxy <= direct, "5 x C_GetTokenInfo: %d APDUs through the proxy, %d directly" % (
            proxy, direct))
        return "5 x C_GetTokenInfo: %d APDUs through the proxy, %d directly" % (proxy, direct)


def direct_cost(rd, index):
    lib = PyKCS11.PyKCS11Lib()
    lib.load(os.environ["RIG_OPENSC_MODULE"])
    slot = lib.getSlotList()[index]
    lib.getTokenInfo(slot)
    m = oracle.mark(rd)
    for _ in range(5):
        lib.getTokenInfo(slot)
    print(oracle.count(rd, since=m))


def _notes(cell):
    return " [%s]" % "; ".join(sorted(cell.notes)) if cell and cell.notes else ""


def main(argv):
    if argv[1] == "--direct-cost":
        direct_cost(argv[2], int(argv[3]))
        return 0
    so, case, feature = argv[1:4]
    cell = None
    try:
        cell = Cell(so, case)
        detail = getattr(cell, "f_" + feature.replace("-", "_"))()
        print("CELL ok %s%s" % (detail, _notes(cell)))
    except NotApplicable as e:
        print("CELL n/a %s%s" % (e, _notes(cell)))
    except (Red, PyKCS11.PyKCS11Error) as e:
        print("CELL FAIL %s%s" % (e, _notes(cell)))
    finally:
        sys.stdout.flush()
        if cell:
            cell.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
