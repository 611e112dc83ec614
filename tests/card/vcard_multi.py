"""Two applets on one card, as on a real YubiKey: PIV (vcard_piv.py) and OpenPGP
(vcard_openpgp.py) behind one ATR.  SELECT by AID switches the applet that gets
the following commands; the applet left loses its security state (verified
PINs), as a YubiKey does.  PIV is selected at power-on (config
"default_applet": "piv" | "openpgp").  Config: {"family": "piv+openpgp",
"piv": {PIV overrides}, "openpgp": {OpenPGP overrides}}; state in
<state>/piv and <state>/openpgp."""
import os, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vcard_openpgp import AID_PREFIX as PGP_AID, OpenPgpCard  # noqa: E402
from vcard_piv import PIV_AID, YUBIKEY4_ATR, PivCard  # noqa: E402


class MultiAppletCard:
    def __init__(self, config=None, state_dir=None, key_cache=None):
        cfg = dict(config or {})
        self.atr = bytes.fromhex(cfg.get("atr", YUBIKEY4_ATR))
        sub = (lambda n: os.path.join(state_dir, n)) if state_dir else (lambda n: None)
        self.piv = PivCard(dict(cfg.get("piv", {}), atr=self.atr.hex()), sub("piv"), key_cache)
        self.pgp = OpenPgpCard(dict({"version": "2.1"}, **cfg.get("openpgp", {}),
                                    atr=self.atr.hex()), sub("openpgp"), key_cache)
        self.default = cfg.get("default_applet", "piv")
        self.power_on()

    def power_on(self):
        self.piv.power_on()
        self.pgp.power_on()
        self.current = self.piv if self.default == "piv" else self.pgp
        self.piv.selected = self.current is self.piv
        self.pgp.selected = self.current is self.pgp

    power_off = reset = power_on

    def _target(self, apdu):
        """The applet a SELECT by AID names (None: not an applet SELECT)."""
        if len(apdu) > 5 and apdu[1] == 0xA4 and apdu[2] == 0x04 and not apdu[0] & 0x10:
            aid = bytes(apdu[5:5 + apdu[4]])
            if len(aid) >= 5 and PIV_AID.startswith(aid):
                return self.piv
            if len(aid) >= 6 and aid.startswith(PGP_AID):
                return self.pgp
        return None

    def process_apdu(self, apdu):
        apdu = bytes(apdu)
        target = self._target(apdu)
        if target is not None and target is not self.current:
            left = self.current
            if left is self.piv:
                left.deselect()
            else:
                left.verified = set()
            left.selected = False
            left.reset_transport()
            self.current = target
        return self.current.process_apdu(apdu)
