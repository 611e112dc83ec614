#!/usr/bin/python3
"""A card whose PIN names are long and share their first 32 bytes (issue 16
item 8): OpenSC labels both tokens with the same cut PIN name; through the
proxy the two tokens get distinct labels, each names its own PIN, and the
PIN state blocked from another process shows on that token only, never
with less than OpenSC's own flags.

argv: p11overlay.so.  One rig in a temporary directory, always stopped."""
import json, os, shutil, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import oracle, rig, vcard_p15  # noqa: E402

import PyKCS11  # noqa: E402

NAMES = ["Qualified electronic signature PIN one", "Qualified electronic signature PIN two"]
PIN_FLAGS = (PyKCS11.CKF_USER_PIN_COUNT_LOW | PyKCS11.CKF_USER_PIN_FINAL_TRY
             | PyKCS11.CKF_USER_PIN_LOCKED)


def main(so):
    tmp = tempfile.mkdtemp(prefix="p11o-longpins-")
    d = os.path.join(tmp, "rig")
    try:
        pins = json.loads(json.dumps(vcard_p15.DEFAULTS["pins"]))
        for p, n in zip(pins, NAMES):
            p["name"] = n
        cfg = os.path.join(tmp, "card.json")
        with open(cfg, "w") as fh:
            json.dump({"pins": pins}, fh)
        env = rig.start(d, card_config=cfg)
        os.environ.update(env)
        direct = [l for _, l in oracle.slot_labels(env)]
        print("OpenSC's labels:", direct)
        assert len(direct) == 2 and direct[0] == direct[1], direct  # the case at hand
        conf = os.path.join(tmp, "p11overlay.conf")
        with open(conf, "w") as fh:
            fh.write("[provider]\nmodule = %s\n" % env["RIG_OPENSC_MODULE"])
        os.chmod(conf, 0o600)
        os.environ["P11OVERLAY_CONF"] = conf
        lib = PyKCS11.PyKCS11Lib()
        lib.load(so)
        slots = lib.getSlotList(tokenPresent=True)
        labels = [lib.getTokenInfo(s).label.strip() for s in slots]
        print("labels through the proxy:", labels)
        assert len(labels) == 2 and labels[0] != labels[1], labels
        # Two tries of the second PIN (ref 82) spent by another process.
        for _ in range(2):
            p = subprocess.run(["pkcs11-tool", "--module", env["RIG_OPENSC_MODULE"],
                                "--slot-index", "1", "--login", "--pin", "9999",
                                "--list-objects"], capture_output=True, text=True,
                               timeout=60)
            assert "CKR_PIN_INCORRECT" in p.stdout + p.stderr, p.stdout + p.stderr
        # The proxy keeps a PIN state P11O_PIN_STATE_TTL_MS (1 s); this
        # card's OpenSC driver does not ask the card at all.
        time.sleep(1.1)
        flags = [lib.getTokenInfo(s).flags & PIN_FLAGS for s in slots]
        print("flags through the proxy:", [hex(f) for f in flags])
        assert flags[0] == 0, flags
        assert flags[1] & PyKCS11.CKF_USER_PIN_FINAL_TRY, flags
        # The second token is the second PIN: it logs in with its value.
        s = lib.openSession(slots[1])
        s.login(pins[1]["value"])
        s.logout()
        lib.lib.C_Finalize()
        print("ok")
        return 0
    finally:
        rig.stop(d)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(os.path.abspath(sys.argv[1])))
