#!/usr/bin/python3
"""pcscd restarted under a running application (issue 16 item 7): the
proxy's own PC/SC contexts are made anew, so the token flags still carry
the card's PIN state, on the right token only.

argv: p11overlay.so.  One rig in a temporary directory, always stopped.
OpenSC reports CKF_USER_PIN_FINAL_TRY alone at one try left; the proxy's
own reading adds CKF_USER_PIN_COUNT_LOW, so both flags prove that the proxy
read the card after the restart (with a dead context it could not)."""
import os, shutil, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import rig  # noqa: E402

import PyKCS11  # noqa: E402

PIN_FLAGS = (PyKCS11.CKF_USER_PIN_COUNT_LOW | PyKCS11.CKF_USER_PIN_FINAL_TRY
             | PyKCS11.CKF_USER_PIN_LOCKED)


def main(so):
    tmp = tempfile.mkdtemp(prefix="p11o-restart-")
    d = os.path.join(tmp, "rig")
    try:
        env = rig.start(d)
        os.environ.update(env)
        conf = os.path.join(tmp, "p11overlay.conf")
        with open(conf, "w") as fh:
            fh.write("[provider]\nmodule = %s\n" % env["RIG_OPENSC_MODULE"])
        os.chmod(conf, 0o600)
        os.environ["P11OVERLAY_CONF"] = conf
        lib = PyKCS11.PyKCS11Lib()
        lib.load(so)
        slots = lib.getSlotList(tokenPresent=True)
        assert len(slots) == 2, slots
        assert [lib.getTokenInfo(s).flags & PIN_FLAGS for s in slots] == [0, 0]
        # pcscd goes away and comes back; the card keeps its state.
        rig.stop(d)
        rig.start(d)
        # Another process spends two tries of the first PIN (ref 81).
        for _ in range(2):
            p = subprocess.run(["pkcs11-tool", "--module", env["RIG_OPENSC_MODULE"],
                                "--slot-index", "0", "--login", "--pin", "9999",
                                "--list-objects"], capture_output=True, text=True,
                               timeout=60)
            assert "CKR_PIN_INCORRECT" in p.stdout + p.stderr, p.stdout + p.stderr
        # A PIN state is kept P11O_PIN_STATE_TTL_MS (1 s) by the proxy.
        time.sleep(1.1)
        slots = lib.getSlotList(tokenPresent=True)
        flags = {lib.getTokenInfo(s).label.strip(): lib.getTokenInfo(s).flags & PIN_FLAGS
                 for s in slots}
        print("flags after the restart:", {k: hex(v) for k, v in flags.items()})
        want = {"p11overlay Virt (Identification)":
                PyKCS11.CKF_USER_PIN_COUNT_LOW | PyKCS11.CKF_USER_PIN_FINAL_TRY,
                "p11overlay Virtual Tes (Signing)": 0}
        assert flags == want, (flags, want)
        lib.lib.C_Finalize()
        print("ok")
        return 0
    finally:
        rig.stop(d)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(os.path.abspath(sys.argv[1])))
