"""PKCS#15 content of the virtual card: defaults, DER helpers, file tree,
RSA keys and certificates (generated once, kept in the state dir)."""
import datetime, os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

ISOAPPLET_AID = bytes.fromhex("F276A288BCFBA69D34F31001")
PKCS15_AID = bytes.fromhex("A000000063504B43532D3135")
SELECT_AID_ANSWER = bytes([0x00, 0x06, 0x02])  # API 00.06, features: secure random
ALG_RSA_PKCS1 = 0x11

DEFAULTS = {
    "atr": None,  # default: make_atr(b"p11overlay"), set below
    "serial": "2026000012345678ABCD",  # hex of TokenInfo.serialNumber octets
    "label": "p11overlay Virtual Test Card Number One",
    "manufacturer": "p11overlay project",
    "pins": [
        {"name": "Identification", "ref": 0x81, "auth_id": "01", "value": "1234",
         "tries": 3, "min": 4, "max": 8, "key_ref": 1, "key_id": "01",
         "key_label": "Identification key", "cert_cn": "Test User (Identification)",
         "usage": ["decrypt", "sign", "unwrap"]},
        {"name": "Signing", "ref": 0x82, "auth_id": "02", "value": "123456",
         "tries": 3, "min": 4, "max": 8, "key_ref": 2, "key_id": "02",
         "key_label": "Signing key", "cert_cn": "Test User (Signing)",
         "usage": ["sign", "nonRepudiation"]},
    ],
    "puk": {"name": "PUK", "ref": 0x83, "auth_id": "03", "value": "12345678", "tries": 5},
    "unlock_key": {"ref": 0x01, "alg": "3des",
                   "key": "0123456789ABCDEFFEDCBA98765432100F1E2D3C4B5A6978"},
    "ca_cn": "p11overlay Test CA",
}


def make_atr(hist):
    body = bytes([0x80 | len(hist), 0x80, 0x01]) + hist
    tck = 0
    for b in body:
        tck ^= b
    return bytes([0x3B]) + body + bytes([tck])


DEFAULTS["atr"] = make_atr(b"p11overlay").hex().upper()

# ---------------------------------------------------------------- DER helpers


def tlv(tag, content):
    n = len(content)
    if n < 0x80:
        ln = bytes([n])
    elif n < 0x100:
        ln = bytes([0x81, n])
    else:
        ln = bytes([0x82, n >> 8, n & 0xFF])
    return (tag.to_bytes(2, "big") if tag > 0xFF else bytes([tag])) + ln + content


def der_int(v, tag=0x02):
    n = max(1, (v.bit_length() + 8) // 8)
    return tlv(tag, v.to_bytes(n, "big"))


def der_bits(bits, tag=0x03):
    """BIT STRING with PKCS#15 bit numbering (bit 0 = first, most significant)."""
    if not bits:
        return tlv(tag, b"\x00")
    n = max(bits) + 1
    val = bytearray((n + 7) // 8)
    for b in bits:
        val[b // 8] |= 0x80 >> (b % 8)
    return tlv(tag, bytes([len(val) * 8 - n]) + bytes(val))


def seq(*parts):
    return tlv(0x30, b"".join(parts))


def path(p):
    return seq(tlv(0x04, p))


KEY_USAGE = {"encrypt": 0, "decrypt": 1, "sign": 2, "signRecover": 3, "wrap": 4,
             "unwrap": 5, "verify": 6, "verifyRecover": 7, "derive": 8,
             "nonRepudiation": 9}

# ------------------------------------------------------------------ file tree


class DF:
    def __init__(self, fid, name=None, parent=None):
        self.fid, self.name, self.parent, self.children = fid, name, parent, {}

    def add(self, node):
        node.parent = self
        self.children[node.fid] = node
        return node


class EF:
    def __init__(self, fid, data=b"", readable=True, internal=False, key=None):
        self.fid, self.data, self.readable = fid, bytearray(data), readable
        self.internal, self.key, self.parent, self.writable = internal, key, None, False


class P15Content:
    """Mixin of VirtualCard: builds self.mf / self.app_df / self.keys from self.cfg."""

    # ---- keys and certificates (generated once, kept in the state dir)
    def _key(self, name):
        """RSA-2048 key: from the state dir, else the key cache, else new."""
        fn = os.path.join(self.state_dir, name + ".key.pem") if self.state_dir else None
        cached = os.path.join(self.key_cache, name + ".key.pem") if self.key_cache else None
        for f in (fn, cached):
            if f and os.path.exists(f):
                with open(f, "rb") as fh:
                    pem = fh.read()
                break
        else:
            pem = rsa.generate_private_key(65537, 2048).private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption())
        for f in (fn, cached):
            if f and not os.path.exists(f):
                os.makedirs(os.path.dirname(f), exist_ok=True)
                tmp = "%s.%d.tmp" % (f, os.getpid())
                with open(tmp, "wb") as fh:
                    fh.write(pem)
                os.replace(tmp, f)
        return serialization.load_pem_private_key(pem, None)

    def _cert(self, name, cn, key, issuer_cn, issuer_key, ca, serial):
        fn = os.path.join(self.state_dir, name + ".cert.der") if self.state_dir else None
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
        der = b.sign(issuer_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
        if fn:
            with open(fn, "wb") as fh:
                fh.write(der)
        return der

    def _load_keys(self):
        ca_key = self._key("ca")
        self.ca_cert = self._cert("ca", self.cfg["ca_cn"], ca_key, self.cfg["ca_cn"],
                                  ca_key, True, 1)
        self.keys, self.certs = {}, {}
        for i, p in enumerate(self.cfg["pins"]):
            k = self._key("key%d" % p["key_ref"])
            self.keys[p["key_ref"]] = {"key": k, "pin": p["ref"], "n": k.private_numbers()}
            self.certs[p["key_ref"]] = self._cert("key%d" % p["key_ref"], p["cert_cn"], k,
                                                  self.cfg["ca_cn"], ca_key, False, 0x100 + i)

    # ---- PKCS#15 structures
    def tokeninfo(self):
        if self.tokeninfo_override is not None:
            return self.tokeninfo_override
        c = self.cfg
        return seq(der_int(0), tlv(0x04, bytes.fromhex(c["serial"])),
                   tlv(0x0C, c["manufacturer"].encode()), tlv(0x80, c["label"].encode()),
                   der_bits([2]))

    def _build_fs(self):
        c = self.cfg
        app = b"\x3F\x00\x50\x15"
        self.mf = DF(0x3F00)
        self.mf.add(EF(0x2F00, tlv(0x61, tlv(0x4F, PKCS15_AID) + tlv(0x50, b"p11overlay PKCS#15")
                                   + tlv(0x51, app))))
        d = self.mf.add(DF(0x5015, PKCS15_AID))
        self.app_df = d
        aodf, prkdf, cdf = b"", b"", b""
        puk = c["puk"]
        for p in c["pins"]:
            aodf += seq(seq(tlv(0x0C, p["name"].encode()), der_bits([1]),
                            tlv(0x04, bytes.fromhex(puk["auth_id"]))),
                        seq(tlv(0x04, bytes.fromhex(p["auth_id"]))),
                        tlv(0xA1, seq(der_bits([1, 4]), tlv(0x0A, b"\x01"), der_int(p["min"]),
                                      der_int(p["max"]), der_int(p["max"]),
                                      der_int(p["ref"], 0x80))))
            kr = p["key_ref"]
            kfid = 0x4B00 + kr
            prkdf += seq(seq(tlv(0x0C, p["key_label"].encode()), der_bits([0]),
                             tlv(0x04, bytes.fromhex(p["auth_id"]))),
                         seq(tlv(0x04, bytes.fromhex(p["key_id"])),
                             der_bits([KEY_USAGE[u] for u in p["usage"]]),
                             der_bits([0, 2, 3, 4]), der_int(kr)),
                         tlv(0xA1, seq(path(app + kfid.to_bytes(2, "big")), der_int(2048))))
            cfid = 0x4330 + kr
            cdf += seq(seq(tlv(0x0C, (p["name"] + " certificate").encode())),
                       seq(tlv(0x04, bytes.fromhex(p["key_id"]))),
                       tlv(0xA1, seq(path(app + cfid.to_bytes(2, "big")))))
            d.add(EF(kfid, b"", readable=False, internal=True, key=kr))
            d.add(EF(cfid, self.certs[kr]))
        aodf += seq(seq(tlv(0x0C, puk["name"].encode()), der_bits([1])),
                    seq(tlv(0x04, bytes.fromhex(puk["auth_id"]))),
                    tlv(0xA1, seq(der_bits([1, 4, 6]), tlv(0x0A, b"\x01"),
                                  der_int(len(puk["value"])), der_int(len(puk["value"])),
                                  der_int(len(puk["value"])), der_int(puk["ref"], 0x80))))
        cdf += seq(seq(tlv(0x0C, c["ca_cn"].encode())),
                   seq(tlv(0x04, b"\xCA"), tlv(0x01, b"\xFF")),
                   tlv(0xA1, seq(path(app + b"\x43\x3F"))))
        d.add(EF(0x433F, self.ca_cert))
        d.add(EF(0x4401, aodf))
        d.add(EF(0x4402, prkdf))
        d.add(EF(0x4403, cdf))
        d.add(EF(0x5031, tlv(0xA8, path(app + b"\x44\x01")) + tlv(0xA0, path(app + b"\x44\x02"))
                 + tlv(0xA4, path(app + b"\x44\x03"))))
        ti = d.add(EF(0x5032, self.tokeninfo()))
        ti.writable = True
        self.tokeninfo_ef = ti
