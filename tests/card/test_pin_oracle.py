#!/usr/bin/python3
"""OpenSC as the oracle for the proxy's PIN handling (issue 14).

For every card family and PIN: the proxy's unblock (p11overlay-tool unlock
--puk, i.e. C_UnlockPIN, and C_InitToken with init-user-pin) sends the PUK
and the new PIN byte for byte as OpenSC's own VERIFY encodes each secret,
and afterwards C_Login with the new PIN succeeds through OpenSC directly
and through the proxy.  The token labels of one card are distinct and name
the right PIN.

argv: p11overlay.so p11overlay-tool.  Each case runs its own rig (own
pcscd, APDU log) and always stops it.
"""
import os, shutil, subprocess, sys, tempfile, unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import oracle, rig  # noqa: E402

MODULE = TOOL = None
PROFILES = os.path.join(HERE, "profiles")

# One entry per card: rig arguments and, per PIN token, (label suffix, PIN
# ref, VERIFY ref OpenSC uses for it, unblock P2, PUK auth ID for OpenSC's
# VERIFY of the PUK (None: no VERIFY, e.g. the resetting code), PUK value).
CASES = {
    "pkcs15": dict(
        start={}, pins=[("(Identification)", 0x81, 0x81, "03", "12345678"),
                        ("(Signing)", 0x82, 0x82, "03", "12345678")]),
    "p15-padchar-nopad": dict(
        start={"card_config": "p15-padchar-nopad.json"},
        pins=[("(Identification)", 0x81, 0x81, "11", "11112222"),
              ("(Signing)", 0x82, 0x82, "12", "33334444")]),
    "p15-padded-ff": dict(
        start={"card_config": "p15-padded-ff.json"},
        pins=[("(Identification)", 0x81, 0x81, "03", "12345678"),
              ("(Signing (QES))", 0x82, 0x82, "03", "12345678"),
              ("(Decryption)", 0x84, 0x84, "03", "12345678")]),
    "p15-bcd": dict(
        start={"card_config": "p15-bcd.json"},
        pins=[("(Ausweis-PIN)", 0x81, 0x81, "03", "12345678")]),
    "openpgp": dict(
        start={"family": "openpgp"},
        pins=[("(User PIN)", 0x82, 0x82, None, "87654321"),
              ("(User PIN (sig))", 0x81, 0x81, None, "87654321")]),
    "piv": dict(
        start={"family": "piv"},
        pins=[("", 0x80, 0x80, "02", "12345678")]),
}
UNBLOCK_P2 = {"openpgp": 0x81}
NEW_PIN = {"p15-bcd": "24680"}


def run(env, args, stdin=None):
    p = subprocess.run(args, input=stdin, env=env, capture_output=True, text=True,
                       timeout=120)
    return p.returncode, p.stdout + p.stderr


class Case:
    def __init__(self, name):
        self.name, self.spec = name, CASES[name]
        self.tmp = tempfile.mkdtemp(prefix="p11o-pinoracle-")
        self.d = os.path.join(self.tmp, "rig")
        kw = dict(self.spec["start"])
        if "card_config" in kw:
            kw["card_config"] = os.path.join(PROFILES, kw["card_config"])
        self.env = dict(os.environ)
        try:
            self.env.update(rig.start(self.d, apdu_log=True, **kw))
        except BaseException:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise
        conf = os.path.join(self.tmp, "p11overlay.conf")
        with open(conf, "w") as fh:
            fh.write("[provider]\nmodule = %s\n" % self.env["RIG_OPENSC_MODULE"])
        os.chmod(conf, 0o600)
        self.env["P11OVERLAY_CONF"] = conf

    def stop(self):
        rig.stop(self.d)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def proxy_labels(self):
        rc, out = run(self.env, ["pkcs11-tool", "--module", MODULE, "--list-slots"])
        return [l.split(":", 1)[1].strip() for l in out.splitlines()
                if l.strip().startswith("token label")]

    def token(self, suffix):
        labels = [l for l in self.proxy_labels() if l.endswith(suffix)]
        return labels

    def proxy_login(self, label, pin):
        rc, out = run(self.env, ["pkcs11-tool", "--module", MODULE, "--token-label", label,
                                 "--login", "--pin", pin, "--list-objects"])
        return rc == 0, out

    def opensc_slot(self, suffix):
        for idx, label in oracle.slot_labels(self.env):
            if label.endswith(suffix):
                return idx
        raise AssertionError("OpenSC shows no token ending in %r: %r"
                             % (suffix, oracle.slot_labels(self.env)))


def split_unblock(data, puk_len):
    return data[:puk_len], data[puk_len:]


class PinOracle(unittest.TestCase):
    def check_case(self, name):
        c = Case(name)
        try:
            labels = c.proxy_labels()
            self.assertEqual(len(labels), len(set(labels)),
                             "%s: labels not distinct: %r" % (name, labels))
            for i, (suffix, ref, vref, puk_id, puk) in enumerate(c.spec["pins"]):
                toks = c.token(suffix) if suffix else labels
                self.assertEqual(len(toks), 1, "%s: tokens for %r: %r" % (name, suffix, labels))
                label = toks[0]
                new = NEW_PIN.get(name, "97531%d" % i)
                # The proxy's unblock (tool -> C_UnlockPIN).
                m = oracle.mark(c.d)
                rc, out = run(c.env, [TOOL, "--module", MODULE, "--pin-fd", "0", "unlock",
                                      "--puk", "--token", label], stdin="%s\n%s\n" % (puk, new))
                self.assertEqual(rc, 0, "%s %s: unlock: %s" % (name, label, out))
                ub = oracle.unblock_apdus(c.d, since=m)
                self.assertEqual(len(ub), 1, "%s: %r" % (name, ub))
                self.assertEqual((ub[0].p1, ub[0].p2), (0, UNBLOCK_P2.get(name, ref)))
                # OpenSC's VERIFY of the new PIN, directly: it must log in.
                m = oracle.mark(c.d)
                ok, out = oracle.opensc_login(c.env, c.opensc_slot(suffix), new)
                self.assertTrue(ok, "%s %s: OpenSC login with the new PIN: %s"
                                % (name, label, out))
                vd = oracle.verify_data(c.d, vref, since=m)
                self.assertTrue(vd, "%s: no VERIFY %02X seen" % (name, vref))
                self.assertTrue(ub[0].data.endswith(vd[-1]),
                                "%s: new PIN %s, OpenSC VERIFY %s"
                                % (name, ub[0].data.hex(), vd[-1].hex()))
                puk_part = ub[0].data[:len(ub[0].data) - len(vd[-1])]
                if puk_id:
                    m = oracle.mark(c.d)
                    oracle.opensc_verify_auth(c.env, puk_id, puk)
                    pd = [a.data for a in oracle.apdus(c.d, since=m)
                          if a.ins == 0x20 and a.data]
                    self.assertTrue(pd, "%s: OpenSC sent no VERIFY of the PUK" % name)
                    self.assertEqual(puk_part.hex(), pd[-1].hex(), "%s: PUK" % name)
                else:
                    self.assertEqual(puk_part, puk.encode(), "%s: resetting code" % name)
                ok, out = c.proxy_login(label, new)
                self.assertTrue(ok, "%s %s: login through the proxy: %s" % (name, label, out))
                if c.spec["start"].get("family") == "openpgp":
                    continue  # C_InitToken takes a PUK, not a resetting code
                # C_InitToken with init-user-pin: the same encoding.
                new2 = NEW_PIN.get(name, "86420%d" % i)[::-1]
                m = oracle.mark(c.d)
                rc, out = run(c.env, [TOOL, "--module", MODULE, "--pin-fd", "0", "init",
                                      "--label", "x", "--user-pin", "--token", label],
                              stdin="%s\n%s\n" % (puk, new2))
                self.assertEqual(rc, 0, "%s %s: init: %s" % (name, label, out))
                ub = oracle.unblock_apdus(c.d, since=m)
                self.assertEqual(len(ub), 1, "%s: %r" % (name, ub))
                self.assertEqual(ub[0].data[:len(puk_part)], puk_part)
                m = oracle.mark(c.d)
                ok, out = oracle.opensc_login(c.env, c.opensc_slot(suffix), new2)
                self.assertTrue(ok, "%s %s: OpenSC login after init: %s" % (name, label, out))
                vd = oracle.verify_data(c.d, vref, since=m)
                self.assertEqual(ub[0].data[len(puk_part):].hex(), vd[-1].hex())
                ok, out = c.proxy_login(label, new2)
                self.assertTrue(ok, "%s %s: proxy login after init: %s" % (name, label, out))
        finally:
            c.stop()


def make_test(name):
    return lambda self: self.check_case(name)


for _n in CASES:
    setattr(PinOracle, "test_" + _n.replace("-", "_"), make_test(_n))

if __name__ == "__main__":
    MODULE, TOOL = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
