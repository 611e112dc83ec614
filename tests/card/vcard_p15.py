"""PKCS#15 content of the virtual card: defaults, PIN encodings per AODF
attributes, DER helpers, file tree, keys and certificates."""
import os, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vcard_iso import load_cert, load_key, make_atr, tlv  # noqa: E402,F401

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


DEFAULTS["atr"] = make_atr(b"p11overlay").hex().upper()

# ---------------------------------------------------------------- DER helpers


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


# ------------------------------------------------------------ PIN attributes
# A PIN's format is given by its AODF pinAttributes; the config keys are
# "type" (ascii-numeric | utf8 | bcd), "needs_padding", "pad_char" (hex, absent
# = no padChar in the AODF), "stored_length", "min", "max".  The card stores the
# encoded bytes and compares VERIFY data with them byte for byte.

PIN_TYPES = {"bcd": 0, "ascii-numeric": 1, "utf8": 2}


class PinFormat:
    def __init__(self, p):
        value = p["value"]
        self.type = p.get("type", "ascii-numeric")
        if self.type not in PIN_TYPES:
            raise ValueError("unknown PIN type %r" % self.type)
        self.min = p.get("min", len(value))
        self.max = p.get("max", len(value))
        self.stored_length = p.get("stored_length", self.max)
        self.needs_padding = bool(p.get("needs_padding", False))
        self.pad_char_given = p.get("pad_char") is not None
        self.pad_char = bytes.fromhex(p["pad_char"])[0] if self.pad_char_given else 0

    def encode(self, value):
        """The bytes OpenSC's VERIFY sends for `value` with these attributes."""
        raw = value.encode("utf-8")
        if self.type == "bcd":
            nib = "".join(chr(c) for c in raw)
            if len(nib) % 2:
                nib += "%X" % (self.pad_char & 0xF)
            out = bytes.fromhex(nib)
            pad_len = self.stored_length // 2
        else:
            out, pad_len = raw, self.stored_length
        if self.needs_padding and len(out) < pad_len:
            out += bytes([self.pad_char]) * (pad_len - len(out))
        return out

    def _valid_value(self, v):
        # lengths count bytes for utf8 (as OpenSC's PIN length check does)
        if not (self.min <= len(v.encode("utf-8")) <= self.max):
            return False
        if self.type in ("ascii-numeric", "bcd"):
            return v.isdigit() and v.isascii()
        return all(ord(c) >= 0x20 for c in v)

    def candidates(self, data):
        if self.type == "bcd":
            nib = data.hex().upper()
            return [nib[:k] for k in range(len(nib) + 1)]
        bodies = [data]
        if self.needs_padding:
            bodies.append(data.rstrip(bytes([self.pad_char])))
        out = []
        for b in bodies:
            try:
                out.append(b.decode("utf-8"))
            except UnicodeDecodeError:
                pass
        return out

    def accepts(self, data):
        """True when `data` is the exact encoding of some valid value."""
        return any(self._valid_value(v) and self.encode(v) == data
                   for v in self.candidates(bytes(data)))

    def length_ok(self, data):
        """A length the card can compare (else 6A80, no try counted)."""
        unit = 2 if self.type == "bcd" else 1
        lo = (self.min + unit - 1) // unit
        hi = max((self.max + unit - 1) // unit, self.stored_length // unit)
        if self.needs_padding:
            lo = max(lo, self.stored_length // unit)
        return lo <= len(data) <= hi * (4 if self.type == "utf8" else 1)

    def aodf_attrs(self, ref, unblocking):
        flags = [1, 4] + ([5] if self.needs_padding else []) + ([6] if unblocking else [])
        body = (der_bits(sorted(flags)) + tlv(0x0A, bytes([PIN_TYPES[self.type]]))
                + der_int(self.min) + der_int(self.stored_length) + der_int(self.max)
                + der_int(ref, 0x80))
        if self.pad_char_given:
            body += tlv(0x04, bytes([self.pad_char]))
        return tlv(0xA1, seq(body))


def unblocking_pins(cfg):
    """The PUKs of a config: `puk` (shared, may be null) and the list `puks`."""
    return ([cfg["puk"]] if cfg.get("puk") else []) + list(cfg.get("puks", []))


def puk_of(cfg, pin):
    """The PUK dict that unblocks `pin` (its "puk" = a PUK auth_id; null = none;
    absent = the shared `puk`)."""
    if "puk" in pin:
        want = pin["puk"]
        if want is None:
            return None
        for k in unblocking_pins(cfg):
            if k["auth_id"] == want:
                return k
        raise ValueError("PIN %r: no PUK with auth_id %r" % (pin["name"], want))
    return cfg.get("puk")


class P15Content:
    """Mixin of VirtualCard: builds self.mf / self.app_df / self.keys from self.cfg."""

    def _load_keys(self):
        sd, kc = self.state_dir, self.key_cache
        ca_key = load_key(sd, kc, "ca")
        ca = self.cfg["ca_cn"]
        self.ca_cert = load_cert(sd, "ca", ca, ca_key, ca, ca_key, True, 1)
        self.keys, self.certs = {}, {}
        for i, p in enumerate(self.cfg["pins"]):
            if p.get("key_ref") is None:
                continue
            name = "key%d" % p["key_ref"]
            k = load_key(sd, kc, name)
            self.keys[p["key_ref"]] = {"key": k, "pin": p["ref"]}
            self.certs[p["key_ref"]] = load_cert(sd, name, p["cert_cn"], k, ca, ca_key,
                                                 False, 0x100 + i)

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
        for p in c["pins"]:
            puk = puk_of(c, p)
            common = tlv(0x0C, p["name"].encode("utf-8")) + der_bits([1])
            if puk:
                common += tlv(0x04, bytes.fromhex(puk["auth_id"]))
            aodf += seq(seq(common), seq(tlv(0x04, bytes.fromhex(p["auth_id"]))),
                        PinFormat(p).aodf_attrs(p["ref"], False))
            kr = p.get("key_ref")
            if kr is None:
                continue
            kfid = 0x4B00 + kr
            prkdf += seq(seq(tlv(0x0C, p["key_label"].encode("utf-8")), der_bits([0]),
                             tlv(0x04, bytes.fromhex(p["auth_id"]))),
                         seq(tlv(0x04, bytes.fromhex(p["key_id"])),
                             der_bits([KEY_USAGE[u] for u in p["usage"]]),
                             der_bits([0, 2, 3, 4]), der_int(kr)),
                         tlv(0xA1, seq(path(app + kfid.to_bytes(2, "big")), der_int(2048))))
            cfid = 0x4330 + kr
            cdf += seq(seq(tlv(0x0C, (p["name"] + " certificate").encode("utf-8"))),
                       seq(tlv(0x04, bytes.fromhex(p["key_id"]))),
                       tlv(0xA1, seq(path(app + cfid.to_bytes(2, "big")))))
            d.add(EF(kfid, b"", readable=False, internal=True, key=kr))
            d.add(EF(cfid, self.certs[kr])).writable = True
        for puk in unblocking_pins(c):
            aodf += seq(seq(tlv(0x0C, puk["name"].encode("utf-8")), der_bits([1])),
                        seq(tlv(0x04, bytes.fromhex(puk["auth_id"]))),
                        PinFormat(puk).aodf_attrs(puk["ref"], True))
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
