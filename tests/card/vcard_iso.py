"""ISO 7816-4 plumbing shared by the virtual card families (PKCS#15, OpenPGP,
PIV): APDU parsing, command chaining, GET RESPONSE, a PIN store that compares
the stored bytes like a real card, persistent state, keys and certificates
(generated once, kept in the state dir and a key cache)."""
import datetime, json, os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.x509.oid import NameOID


class SWError(Exception):
    def __init__(self, sw):
        super().__init__("%04X" % sw)
        self.sw = sw


def tlv(tag, content):
    """BER-TLV with a 1-, 2- or 3-byte tag (as given) and definite length."""
    n = len(content)
    if n < 0x80:
        ln = bytes([n])
    elif n < 0x100:
        ln = bytes([0x81, n])
    else:
        ln = bytes([0x82, n >> 8, n & 0xFF])
    tb = tag.to_bytes((tag.bit_length() + 7) // 8 or 1, "big")
    return tb + ln + content


def parse_tlvs(data):
    """{tag: value} of a flat BER-TLV list (multi-byte tags kept as ints)."""
    out, i = {}, 0
    while i < len(data):
        t = data[i]
        i += 1
        if t & 0x1F == 0x1F:
            while data[i] & 0x80:
                t = t << 8 | data[i]
                i += 1
            t = t << 8 | data[i]
            i += 1
        n = data[i]
        i += 1
        if n & 0x80:
            k = n & 0x7F
            n = int.from_bytes(data[i:i + k], "big")
            i += k
        out[t] = data[i:i + n]
        i += n
    return out


class IsoCard:
    """Base of every family: process_apdu(bytes) -> response bytes.
    Subclasses set HANDLERS {ins: method} and implement power_on()."""
    HANDLERS = {}

    def reset_transport(self):
        self.pending = b""
        self.chain = None

    def process_apdu(self, apdu):
        try:
            cla, ins, p1, p2, data, le = self._parse(bytes(apdu))
        except SWError as e:
            return e.sw.to_bytes(2, "big")
        if ins != 0xC0:
            self.pending = b""
        try:
            if cla & 0x10:
                if self.chain and self.chain[0] != (ins, p1, p2):
                    self.chain = None
                    raise SWError(0x6883)
                prev = self.chain[1] if self.chain else b""
                self.chain = ((ins, p1, p2), prev + data)
                return b"\x90\x00"
            if self.chain:
                hdr, prev = self.chain
                self.chain = None
                if hdr != (ins, p1, p2):
                    raise SWError(0x6883)
                data = prev + data
            if cla & 0xEC:
                raise SWError(0x6E00)
            if ins == 0xC0:
                return self._respond(self.cmd_get_response(p1, p2, data, le), le)
            handler = self.HANDLERS.get(ins)
            if handler is None:
                raise SWError(0x6D00)
            out = handler(self, p1, p2, data, le) or b""
            if isinstance(out, int):
                return out.to_bytes(2, "big")
            return self._respond(out, le)
        except SWError as e:
            return e.sw.to_bytes(2, "big")

    @staticmethod
    def _parse(a):
        if len(a) < 4:
            raise SWError(0x6700)
        cla, ins, p1, p2 = a[:4]
        body = a[4:]
        if not body:
            return cla, ins, p1, p2, b"", None
        if len(body) == 1:
            return cla, ins, p1, p2, b"", body[0] or 256
        if body[0] != 0:
            lc = body[0]
            if len(body) == 1 + lc:
                return cla, ins, p1, p2, body[1:], None
            if len(body) == 2 + lc:
                return cla, ins, p1, p2, body[1:1 + lc], body[-1] or 256
            raise SWError(0x6700)
        if len(body) == 3:
            return cla, ins, p1, p2, b"", int.from_bytes(body[1:3], "big") or 65536
        lc = int.from_bytes(body[1:3], "big")
        if len(body) == 3 + lc:
            return cla, ins, p1, p2, body[3:], None
        if len(body) == 5 + lc:
            return cla, ins, p1, p2, body[3:3 + lc], int.from_bytes(body[-2:], "big") or 65536
        raise SWError(0x6700)

    def _respond(self, out, le):
        n = le if le is not None else 256
        if len(out) <= n:
            return out + b"\x90\x00"
        self.pending = out[n:]
        return out[:n] + bytes([0x61, min(len(self.pending), 256) & 0xFF])

    def cmd_get_response(self, p1, p2, data, le):
        if not self.pending:
            raise SWError(0x6985)
        out, self.pending = self.pending, b""
        return out


# ------------------------------------------------------------------ secrets

class Secret:
    """A PIN, PUK or resetting code as a card stores it: the exact bytes a
    VERIFY must carry (`stored`), a retry counter and the format a new value
    must have (`accepts(data)`, set by the family)."""

    def __init__(self, name, stored, tries, max_tries, accepts):
        self.name, self.stored, self.tries, self.max_tries = name, stored, tries, max_tries
        self.accepts = accepts

    def check(self, candidate):
        """Compare with the stored bytes; counts down on mismatch."""
        if self.tries <= 0:
            raise SWError(0x6983)
        if candidate != self.stored:
            self.tries -= 1
            raise SWError(0x63C0 | self.tries)
        self.tries = self.max_tries

    def set(self, data):
        if not self.accepts(data):
            raise SWError(0x6A80)
        self.stored = bytes(data)
        self.tries = self.max_tries


class StateFile:
    """JSON state in <state dir>/state.json (PIN values and counters, ...)."""

    def __init__(self, state_dir):
        self.path = os.path.join(state_dir, "state.json") if state_dir else None
        self.data = {}
        if self.path and os.path.exists(self.path):
            with open(self.path) as fh:
                self.data = json.load(fh)

    def save(self):
        if not self.path:
            return
        tmp = self.path + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(self.data, fh, indent=1)
        os.replace(tmp, self.path)


def load_secrets(state, secrets):
    """Overwrite stored bytes and counters of {key: Secret} from the state."""
    for k, s in secrets.items():
        st = state.data.get("secrets", {}).get(str(k))
        if st:
            s.stored, s.tries = bytes.fromhex(st["stored"]), st["tries"]


def save_secrets(state, secrets):
    state.data["secrets"] = {str(k): {"stored": s.stored.hex(), "tries": s.tries}
                             for k, s in secrets.items()}
    state.save()


# ------------------------------------------------------- keys and certificates

def load_key(state_dir, key_cache, name, kind="rsa2048"):
    """Private key `name`: from the state dir, else the key cache, else new."""
    fn = os.path.join(state_dir, name + ".key.pem") if state_dir else None
    cached = os.path.join(key_cache, name + ".key.pem") if key_cache else None
    for f in (fn, cached):
        if f and os.path.exists(f):
            with open(f, "rb") as fh:
                pem = fh.read()
            break
    else:
        if kind == "p256":
            k = ec.generate_private_key(ec.SECP256R1())
        else:
            k = rsa.generate_private_key(65537, 2048)
        pem = k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    for f in (fn, cached):
        if f and not os.path.exists(f):
            os.makedirs(os.path.dirname(f), exist_ok=True)
            tmp = "%s.%d.tmp" % (f, os.getpid())
            with open(tmp, "wb") as fh:
                fh.write(pem)
            os.replace(tmp, f)
    return serialization.load_pem_private_key(pem, None)


def load_cert(state_dir, name, cn, key, issuer_cn, issuer_key, ca, serial, key_usage=None):
    """DER certificate `name` (made once per state dir).  key_usage: None (no
    extension), "sign" (digitalSignature) or "nonrep" (+ nonRepudiation)."""
    fn = os.path.join(state_dir, name + ".cert.der") if state_dir else None
    if fn and os.path.exists(fn):
        with open(fn, "rb") as fh:
            return fh.read()
    subj = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    iss = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_cn)])
    b = (x509.CertificateBuilder().subject_name(subj).issuer_name(iss)
         .public_key(key.public_key()).serial_number(serial)
         .not_valid_before(datetime.datetime(2020, 1, 1))
         .not_valid_after(datetime.datetime(2049, 12, 31))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        b = b.add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                          False, False), critical=True)
    elif key_usage:
        b = b.add_extension(x509.KeyUsage(True, key_usage == "nonrep", False, False, False,
                                          False, False, False, False), critical=True)
    der = b.sign(issuer_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
    if fn:
        with open(fn, "wb") as fh:
            fh.write(der)
    return der


def rsa_private(key, m):
    """Raw RSA private operation m^d mod n (CRT) of an int; 6A80 if m >= n."""
    pn = key.private_numbers()
    if m >= pn.public_numbers.n:
        raise SWError(0x6A80)
    m1 = pow(m, pn.dmp1, pn.p)
    m2 = pow(m, pn.dmq1, pn.q)
    h = (pn.iqmp * (m1 - m2)) % pn.p
    return m2 + h * pn.q


def rsa_sign_pkcs1(key, data):
    """PKCS#1 v1.5 type 1 padding of `data` (a DigestInfo or raw) and signing."""
    size = key.key_size // 8
    if len(data) > size - 11:
        raise SWError(0x6A80)
    em = b"\x00\x01" + b"\xFF" * (size - 3 - len(data)) + b"\x00" + data
    return rsa_private(key, int.from_bytes(em, "big")).to_bytes(size, "big")


def rsa_decrypt_pkcs1(key, cryptogram):
    size = key.key_size // 8
    if len(cryptogram) != size:
        raise SWError(0x6A80)
    em = rsa_private(key, int.from_bytes(cryptogram, "big")).to_bytes(size, "big")
    sep = em.find(b"\x00", 2)
    if em[:2] != b"\x00\x02" or sep < 10:
        raise SWError(0x6A80)
    return em[sep + 1:]


def make_atr(hist):
    """T=0/T=1 ATR with the given historical bytes."""
    body = bytes([0x80 | len(hist), 0x80, 0x01]) + hist
    tck = 0
    for b in body:
        tck ^= b
    return bytes([0x3B]) + body + bytes([tck])


def compute_unlock_response(key_hex, challenge):
    """3DES-ECB encryption of the 8-byte challenge with the unlock key
    (24-byte key = 3-key 3DES, 16-byte key = 2-key 3DES)."""
    key = bytes.fromhex(key_hex)
    if len(key) == 16:
        key = key + key[:8]
    enc = Cipher(algorithms.TripleDES(key), modes.ECB()).encryptor()
    return enc.update(challenge) + enc.finalize()
