#!/usr/bin/python3
"""Virtual PKCS#15 smart card for the p11overlay test rig.

Speaks the vsmartcard vpcd socket protocol (the card is the TCP client) and
answers like an IsoApplet (API 00.06) so Debian's OpenSC 0.23 binds its
`isoApplet` driver, with a PKCS#15 file system behind it.  Two user PINs each
protect one RSA-2048 key, a PUK unblocks both, an extra CA certificate has no
key, and a 3DES unlock key allows challenge-response unblocking.
See README.md in this folder for the defaults.

Importable: VirtualCard(config, state_dir).process_apdu(bytes) -> bytes.
"""
import argparse, json, os, secrets, signal, socket, struct, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vcard_iso import (IsoCard, Secret, StateFile, SWError, load_secrets,  # noqa: E402
                       compute_unlock_response, rsa_decrypt_pkcs1, rsa_sign_pkcs1,
                       save_secrets)
from vcard_p15 import (DEFAULTS, DF, EF, ISOAPPLET_AID, P15Content,  # noqa: E402
                       SELECT_AID_ANSWER, ALG_RSA_PKCS1, PinFormat, puk_of,
                       tlv, unblocking_pins)

FAMILIES = ("pkcs15", "openpgp", "piv", "piv+openpgp")

# ----------------------------------------------------------------- the card


class VirtualCard(IsoCard, P15Content):
    def __init__(self, config=None, state_dir=None, key_cache=None):
        cfg = json.loads(json.dumps(DEFAULTS))
        if config:
            cfg.update({k: v for k, v in config.items() if k != "family"})
        self.cfg = cfg
        self.atr = bytes.fromhex(cfg["atr"])
        self.state_dir, self.key_cache = state_dir, key_cache
        if state_dir:
            os.makedirs(state_dir, exist_ok=True)
        self._load_state()
        self._load_keys()
        self._build_fs()
        for fid, data in self.state.data.get("files", {}).items():
            ef = self.app_df.children.get(int(fid, 16))
            if ef is not None:
                ef.data = bytearray(bytes.fromhex(data))
        self.power_on()

    # ---- persistent state (PIN values and counters, TokenInfo updates)
    def _load_state(self):
        self.state = StateFile(self.state_dir)
        self.secrets = {}  # ref -> Secret holding the encoded bytes
        self.formats = {}  # ref -> PinFormat
        self.puk_ref_of = {}  # PIN ref -> ref of its PUK (None: no PUK)
        for p in self.cfg["pins"] + unblocking_pins(self.cfg):
            f = PinFormat(p)
            self.formats[p["ref"]] = f
            self.secrets[p["ref"]] = Secret(p["name"], f.encode(p["value"]), p["tries"],
                                            p["tries"], f.accepts)
        for p in self.cfg["pins"]:
            puk = puk_of(self.cfg, p)
            self.puk_ref_of[p["ref"]] = puk["ref"] if puk else None
        load_secrets(self.state, self.secrets)
        ti = self.state.data.get("tokeninfo")
        self.tokeninfo_override = bytes.fromhex(ti) if ti else None

    def save_state(self):
        if self.tokeninfo_override is not None:
            self.state.data["tokeninfo"] = self.tokeninfo_override.hex()
        save_secrets(self.state, self.secrets)

    # ---- power / security state
    def power_on(self):
        self.verified = set()
        self.unlock_ok = False
        self.challenge = None
        self.cur_df, self.cur_ef = self.mf, None
        self.env = None
        self.reset_transport()

    power_off = reset = power_on

    # ---- file selection
    def _find_df_by_name(self, name):
        if name == ISOAPPLET_AID:
            return self.mf
        stack = [self.mf]
        while stack:
            n = stack.pop()
            if isinstance(n, DF):
                if n.name == name:
                    return n
                stack.extend(n.children.values())
        return None

    def _walk(self, start, fids):
        node = start
        for fid in fids:
            if not isinstance(node, DF) or fid not in node.children:
                raise SWError(0x6A82)
            node = node.children[fid]
        return node

    def cmd_select(self, p1, p2, data, le):
        fids = [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data) - 1, 2)]
        if p1 in (0, 1, 2, 8, 9) and len(data) % 2:
            raise SWError(0x6A87)
        if p1 == 0:
            if not data or fids == [0x3F00]:
                node = self.mf
            elif len(fids) != 1:
                raise SWError(0x6A87)
            else:
                f = fids[0]
                df = self.cur_df
                node = df.children.get(f)
                if node is None and df.fid == f:
                    node = df
                if node is None and df.parent is not None:
                    node = df.parent.children.get(f) or (df.parent if df.parent.fid == f else None)
                if node is None:
                    raise SWError(0x6A82)
        elif p1 in (1, 2):
            node = self._walk(self.cur_df, fids)
            if (p1 == 1) != isinstance(node, DF):
                raise SWError(0x6A82)
        elif p1 == 3:
            node = self.cur_df.parent or self.mf
        elif p1 == 4:
            node = self._find_df_by_name(data)
            if node is None:
                raise SWError(0x6A82)
        elif p1 == 8:
            if fids[:1] == [0x3F00]:
                fids = fids[1:]
            node = self._walk(self.mf, fids)
        elif p1 == 9:
            node = self._walk(self.cur_df, fids)
        else:
            raise SWError(0x6A86)
        if isinstance(node, DF):
            self.cur_df, self.cur_ef = node, None
        else:
            self.cur_df, self.cur_ef = node.parent, node
        if p1 == 4 and data == ISOAPPLET_AID:
            return SELECT_AID_ANSWER
        if p2 & 0x0C == 0x0C:
            return b""
        return self._fcp(node)

    @staticmethod
    def _fcp(node):
        if isinstance(node, DF):
            body = tlv(0x82, b"\x38") + tlv(0x83, node.fid.to_bytes(2, "big"))
            if node.name:
                body += tlv(0x84, node.name)
        else:
            body = (tlv(0x80, len(node.data).to_bytes(2, "big"))
                    + tlv(0x82, b"\x09" if node.internal else b"\x01")
                    + tlv(0x83, node.fid.to_bytes(2, "big")))
        return tlv(0x62, body + tlv(0x8A, b"\x05"))

    def _ef_for(self, p1):
        if p1 & 0x80:  # short EF identifier
            sfi = p1 & 0x1F
            ef = [e for e in self.cur_df.children.values()
                  if isinstance(e, EF) and (e.fid & 0x1F) == sfi]
            ef = ef[0] if len(ef) == 1 else None
            if ef is None:
                raise SWError(0x6A82)
            self.cur_ef = ef
            return ef, 0
        if self.cur_ef is None:
            raise SWError(0x6986)
        return self.cur_ef, None

    def cmd_read_binary(self, p1, p2, data, le):
        ef, off = self._ef_for(p1)
        off = p2 if off is not None else ((p1 & 0x7F) << 8) | p2
        if not ef.readable:
            raise SWError(0x6982)
        if off > len(ef.data):
            raise SWError(0x6B00)
        want = le if le is not None else 256
        chunk = bytes(ef.data[off:off + want])
        if len(chunk) < want and le is not None and le not in (256, 65536):
            return chunk + b"\x62\x82" if chunk else 0x6282
        return chunk

    def cmd_update_binary(self, p1, p2, data, le):
        ef, off = self._ef_for(p1)
        off = p2 if off is not None else ((p1 & 0x7F) << 8) | p2
        if not ef.writable:
            raise SWError(0x6982)
        if not (self.verified & {p["ref"] for p in self.cfg["pins"]}):
            raise SWError(0x6982)
        if off > len(ef.data):
            raise SWError(0x6B00)
        ef.data[off:off + len(data)] = data
        if ef is self.tokeninfo_ef:
            self.tokeninfo_override = bytes(ef.data)
        else:  # a certificate EF: replaced from any process, kept across restarts
            self.state.data.setdefault("files", {})["%04X" % ef.fid] = bytes(ef.data).hex()
        self.save_state()
        return b""

    # ---- PINs (stored as the bytes of their AODF encoding, see PinFormat)
    def _secret(self, ref):
        s = self.secrets.get(ref)
        if s is None:
            raise SWError(0x6A88)
        return s

    def _check(self, ref, s, candidate):
        try:
            s.check(candidate)
        except SWError:
            self.verified.discard(ref)
            self.save_state()
            raise
        self.save_state()

    def cmd_verify(self, p1, p2, data, le):
        if p1 == 0xFF:  # ISO 7816-4: reset the verification status
            self.verified.discard(p2)
            return b""
        if p1 != 0:
            raise SWError(0x6A86)
        s = self._secret(p2)
        if not data:
            if s.tries <= 0:
                raise SWError(0x6983)
            if p2 in self.verified:
                return b""
            raise SWError(0x63C0 | s.tries)
        if not self.formats[p2].length_ok(data):
            raise SWError(0x6A80)
        self._check(p2, s, data)
        self.verified.add(p2)
        return b""

    def cmd_change_reference_data(self, p1, p2, data, le):
        s = self._secret(p2)
        if p2 not in self.puk_ref_of and p1 == 1:
            raise SWError(0x6982)
        if p1 == 0:
            n = len(s.stored)
            self._check(p2, s, data[:n])
            new = data[n:]
        elif p1 == 1:
            if p2 not in self.verified:
                raise SWError(0x6982)
            new = data
        else:
            raise SWError(0x6A86)
        s.set(new)
        self.verified.add(p2)
        self.save_state()
        return b""

    def cmd_reset_retry_counter(self, p1, p2, data, le):
        if p2 not in self.puk_ref_of:
            raise SWError(0x6A88)
        s = self._secret(p2)
        if p1 in (0, 1):
            puk_ref = self.puk_ref_of[p2]
            if puk_ref is None:
                raise SWError(0x6982)
            puk = self.secrets[puk_ref]
            n = len(puk.stored)
            if p1 == 1 and len(data) != n:
                raise SWError(0x6A80)
            if p1 == 0 and len(data) <= n:
                raise SWError(0x6A80)
            new = data[n:] if p1 == 0 else None
            if new is not None and not s.accepts(new):
                raise SWError(0x6A80)
            self._check(puk_ref, puk, data[:n])
        elif p1 in (2, 3):
            if not self.unlock_ok:
                raise SWError(0x6982)
            new = data if p1 == 2 else None
            if (p1 == 2) != bool(data):
                raise SWError(0x6A80)
            if new is not None and not s.accepts(new):
                raise SWError(0x6A80)
            self.unlock_ok = False
        else:
            raise SWError(0x6A86)
        if new is not None:
            s.set(new)
        s.tries = s.max_tries
        self.verified.discard(p2)
        self.save_state()
        return b""

    # ---- challenge-response unlock
    def cmd_get_challenge(self, p1, p2, data, le):
        if p1 or p2:
            raise SWError(0x6A86)
        n = 8 if le in (None, 256, 65536) else le
        self.challenge = secrets.token_bytes(n)
        return self.challenge

    def unlock_response(self, challenge):
        """Expected EXTERNAL AUTHENTICATE data: 3DES-ECB(unlock key, challenge)."""
        return compute_unlock_response(self.cfg["unlock_key"]["key"], challenge)

    def cmd_external_authenticate(self, p1, p2, data, le):
        if p2 != self.cfg["unlock_key"]["ref"] or p1 != 0:
            raise SWError(0x6A88)
        ch, self.challenge = self.challenge, None  # any attempt spends the challenge
        self.unlock_ok = False
        if ch is None or len(ch) != 8:
            raise SWError(0x6985)
        if len(data) != 8:
            raise SWError(0x6700)
        if data != self.unlock_response(ch):
            raise SWError(0x6300)
        self.unlock_ok = True
        return b""

    # ---- crypto
    def cmd_mse(self, p1, p2, data, le):
        if p1 == 0xF3:
            self.env = None
            return b""
        if p1 != 0x41 or p2 not in (0xB6, 0xB8):
            raise SWError(0x6A86)
        tags, i = {}, 0
        while i + 2 <= len(data):
            t, n = data[i], data[i + 1]
            tags[t] = data[i + 2:i + 2 + n]
            i += 2 + n
        if 0x80 in tags and tags[0x80] != bytes([ALG_RSA_PKCS1]):
            raise SWError(0x6A80)
        kref = None
        if 0x84 in tags:
            kref = tags[0x84][-1] if tags[0x84] else None
        elif 0x81 in tags:
            ef = self.app_df.children.get(int.from_bytes(tags[0x81][-2:], "big"))
            kref = getattr(ef, "key", None)
        if kref not in self.keys:
            raise SWError(0x6A88)
        self.env = (p2, kref)
        return b""

    def cmd_pso(self, p1, p2, data, le):
        if self.env is None:
            raise SWError(0x6985)
        op, kref = self.env
        k = self.keys[kref]
        if k["pin"] not in self.verified:
            raise SWError(0x6982)
        if (p1, p2) == (0x9E, 0x9A):
            if op != 0xB6:
                raise SWError(0x6985)
            return rsa_sign_pkcs1(k["key"], data)
        if (p1, p2) == (0x80, 0x86):
            if op != 0xB8:
                raise SWError(0x6985)
            if data[:1] == b"\x00" and len(data) == 257:
                data = data[1:]
            return rsa_decrypt_pkcs1(k["key"], data)
        raise SWError(0x6A86)

    HANDLERS = {0xA4: cmd_select, 0xB0: cmd_read_binary, 0xD6: cmd_update_binary,
                0x20: cmd_verify, 0x24: cmd_change_reference_data,
                0x2C: cmd_reset_retry_counter, 0x84: cmd_get_challenge,
                0x82: cmd_external_authenticate, 0x22: cmd_mse, 0x2A: cmd_pso}


# ------------------------------------------------------------ vpcd transport


def recv_all(sock, n):
    buf = b""
    while len(buf) < n:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        except OSError:
            pass
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def connect(host, port, timeout):
    deadline = time.monotonic() + timeout
    while True:
        try:
            s = socket.create_connection((host, port), timeout=1)
            s.settimeout(None)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return s
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def serve(card, sock, verbose=False, apdu_log=None):
    """Answer vpcd messages until the reader goes away.  `apdu_log`: open text
    file; one line per command, "<command hex> <response hex>", and "# power"
    at each power-on/reset (read by oracle.py)."""
    while True:
        hdr = recv_all(sock, 2)
        if hdr is None:
            return
        msg = recv_all(sock, struct.unpack(">H", hdr)[0])
        if msg is None:
            return
        if len(msg) == 1:
            ctrl = msg[0]
            if ctrl in (0, 1, 2):
                card.power_on()
                if apdu_log:
                    apdu_log.write("# power\n")
                    apdu_log.flush()
                continue
            out = card.atr if ctrl == 4 else b"\x6D\x00"
        else:
            out = card.process_apdu(msg)
            if verbose:
                print("> %s\n< %s" % (msg.hex(), out.hex()), flush=True)
            if apdu_log:
                apdu_log.write("%s %s\n" % (msg.hex(), out.hex()))
                apdu_log.flush()
        sock.sendall(struct.pack(">H", len(out)) + out)


def make_card(cfg, state_dir=None, key_cache=None):
    """The card of the config's "family" (default pkcs15)."""
    family = (cfg or {}).get("family", "pkcs15")
    if family == "pkcs15":
        return VirtualCard(cfg, state_dir, key_cache)
    if family == "openpgp":
        from vcard_openpgp import OpenPgpCard
        return OpenPgpCard(cfg, state_dir, key_cache)
    if family == "piv":
        from vcard_piv import PivCard
        return PivCard(cfg, state_dir, key_cache)
    if family == "piv+openpgp":
        from vcard_multi import MultiAppletCard
        return MultiAppletCard(cfg, state_dir, key_cache)
    raise ValueError("unknown card family %r (known: %s)" % (family, ", ".join(FAMILIES)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=35963)
    ap.add_argument("--config", help="JSON file overriding the defaults")
    ap.add_argument("--family", choices=FAMILIES, help="card family (overrides the config's)")
    ap.add_argument("--state", help="state dir (keys, certificates, PIN counters)")
    ap.add_argument("--key-cache", help="dir to share generated RSA keys between state dirs")
    ap.add_argument("--connect-timeout", type=float, default=10.0)
    ap.add_argument("--reconnect", action="store_true", help="reconnect when the reader goes away")
    ap.add_argument("--verbose", action="store_true", help="log APDUs")
    ap.add_argument("--apdu-log", help="append every command/response to this file")
    ap.add_argument("--dump-defaults", action="store_true")
    a = ap.parse_args()
    if a.dump_defaults:
        print(json.dumps(DEFAULTS, indent=1))
        return 0
    cfg = None
    if a.config:
        with open(a.config) as fh:
            cfg = json.load(fh)
    if a.family:
        cfg = dict(cfg or {}, family=a.family)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    card = make_card(cfg, a.state, a.key_cache)
    log = open(a.apdu_log, "a") if a.apdu_log else None
    while True:
        try:
            sock = connect(a.host, a.port, a.connect_timeout)
        except OSError as e:
            print("vcard: cannot connect to vpcd at %s:%d: %s" % (a.host, a.port, e),
                  file=sys.stderr)
            return 1
        try:
            serve(card, sock, a.verbose, log)
        except (ConnectionError, OSError):
            pass
        finally:
            sock.close()
        if not a.reconnect:
            return 0
        card.power_off()


if __name__ == "__main__":
    sys.exit(main())
