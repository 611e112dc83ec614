"""Card changes made by "another process": raw PC/SC APDUs to a rig's card, per
family, as an administrator would send them (for tests of caches and
UpdateCount).  Leaves the card's security state as PC/SC finds it (connects
and disconnects with SCARD_LEAVE_CARD; the VERIFY it sends stays in effect on
the card until the next reset, as on a real card).

    der = cardadmin.read_certificate(d, "piv", "9A")
    cardadmin.replace_certificate(d, "piv", "9A")            # same key, new CN
    cardadmin.replace_certificate(d, "openpgp", "aut")       # VERIFY PW3 + PUT DATA
    cardadmin.replace_certificate(d, "pkcs15", 1, pin=(0x81, b"1234"))
"""
import datetime, os, sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rig  # noqa: E402
from vcard_iso import compute_unlock_response, parse_tlvs, tlv  # noqa: E402
from vcard_openpgp import AID_PREFIX as PGP_AID, CERT_OCCURRENCE  # noqa: E402
from vcard_piv import CERT_TAGS, DEFAULTS as PIV_DEFAULTS, PIV_AID  # noqa: E402

PIV_TAG = {slot: tag for tag, slot in CERT_TAGS.items()}


class CardError(Exception):
    pass


def _ok(resp, what):
    data, sw = resp
    if sw != 0x9000:
        raise CardError("%s: SW %04X" % (what, sw))
    return data


def _send(c, cla_ins_p1_p2, data=b"", le=True):
    """One command, chained in 255-byte parts when longer."""
    hdr = bytes.fromhex(cla_ins_p1_p2)
    parts = [data[i:i + 255] for i in range(0, len(data), 255)] or [b""]
    for p in parts[:-1]:
        _ok(c.transmit(bytes([hdr[0] | 0x10]) + hdr[1:] + bytes([len(p)]) + p), "chain")
    last = parts[-1]
    apdu = hdr + (bytes([len(last)]) + last if last else b"") + (b"\x00" if le else b"")
    return c.transmit(apdu)


def read_certificate(d, family, which, slot=0):
    """DER of a certificate as the card returns it. which: PKCS#15 key ref (1, 2, ...),
    OpenPGP "aut"/"dec"/"sig", PIV "9A"/"9C"."""
    with rig.Pcsc(d, slot) as c:
        if family == "pkcs15":
            _ok(c.transmit("00A4080C0450154%03X" % (0x330 + which)), "SELECT")
            out = b""
            while True:
                data, sw = c.transmit(bytes([0, 0xB0, len(out) >> 8, len(out) & 0xFF, 0]))
                out += data
                if sw != 0x9000 or len(data) < 256:
                    return out
        if family == "openpgp":
            _ok(_send(c, "00A40400", PGP_AID, le=False), "SELECT")
            _send(c, "00A5%02X04" % CERT_OCCURRENCE.index(which), bytes.fromhex("60045C027F21"),
                  le=False)
            return _ok(c.transmit("00CA7F2100"), "GET DATA 7F21")
        if family == "piv":
            _ok(_send(c, "00A40400", PIV_AID), "SELECT")
            obj = _ok(_send(c, "00CB3FFF", tlv(0x5C, PIV_TAG[which].to_bytes(3, "big"))),
                      "GET DATA")
            return parse_tlvs(parse_tlvs(obj)[0x53])[0x70]
    raise ValueError("family %r" % family)


def new_certificate_like(der, cn_suffix=" (replaced)"):
    """A certificate for the same public key with another subject and serial,
    signed by a throw-away issuer."""
    old = x509.load_der_x509_certificate(der)
    cn = old.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value + cn_suffix
    issuer_key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cardadmin")]))
            .public_key(old.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(datetime.datetime(2020, 1, 1))
            .not_valid_after(datetime.datetime(2049, 12, 31)))
    for ext in old.extensions:
        cert = cert.add_extension(ext.value, ext.critical)
    return cert.sign(issuer_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def write_certificate(d, family, which, der, slot=0, pin=None, admin=None):
    """Store `der` as the card's certificate `which`.  pkcs15: pin=(ref, encoded
    bytes) of a user PIN (the EF is written with UPDATE BINARY); openpgp: admin =
    PW3 (default 12345678); piv: admin = management key hex (default YubiKey's)."""
    with rig.Pcsc(d, slot) as c:
        if family == "pkcs15":
            ref, value = pin
            _ok(c.transmit(bytes([0, 0x20, 0, ref, len(value)]) + value), "VERIFY")
            _ok(c.transmit("00A4080C0450154%03X" % (0x330 + which)), "SELECT")
            for off in range(0, len(der), 255):
                part = der[off:off + 255]
                _ok(c.transmit(bytes([0, 0xD6, off >> 8, off & 0xFF, len(part)]) + part),
                    "UPDATE BINARY")
            return
        if family == "openpgp":
            pw3 = (admin or "12345678").encode()
            _ok(_send(c, "00A40400", PGP_AID, le=False), "SELECT")
            _ok(_send(c, "00200083", pw3, le=False), "VERIFY PW3")
            _send(c, "00A5%02X04" % CERT_OCCURRENCE.index(which), bytes.fromhex("60045C027F21"),
                  le=False)
            _ok(_send(c, "00DA7F21", der, le=False), "PUT DATA 7F21")
            return
        if family == "piv":
            key = admin or PIV_DEFAULTS["mgmt_key"]
            _ok(_send(c, "00A40400", PIV_AID), "SELECT")
            ch = _ok(_send(c, "0087039B", tlv(0x7C, tlv(0x81, b""))), "GENERAL AUTHENTICATE")
            ch = parse_tlvs(parse_tlvs(ch)[0x7C])[0x81]
            resp = compute_unlock_response(key, ch)
            _ok(_send(c, "0087039B", tlv(0x7C, tlv(0x82, resp)), le=False), "9B response")
            obj = tlv(0x53, tlv(0x70, der) + tlv(0x71, b"\x00") + tlv(0xFE, b""))
            _ok(_send(c, "00DB3FFF", tlv(0x5C, PIV_TAG[which].to_bytes(3, "big")) + obj,
                      le=False), "PUT DATA")
            return
    raise ValueError("family %r" % family)


def replace_certificate(d, family, which, slot=0, pin=None, admin=None, cn_suffix=" (replaced)"):
    """Replace certificate `which` by one for the same key with a new subject;
    returns the new DER."""
    der = new_certificate_like(read_certificate(d, family, which, slot), cn_suffix)
    write_certificate(d, family, which, der, slot, pin, admin)
    return der
