"""Another process changes the rig card's TokenInfo label (same length):
VERIFY the first user PIN, READ BINARY TokenInfo, UPDATE BINARY it.
usage: retoken.py RIG_DIR OLD NEW"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "card"))
import rig  # noqa: E402

d, old, new = sys.argv[1], sys.argv[2].encode(), sys.argv[3].encode()
assert len(old) == len(new)
with rig.Pcsc(d) as p:
    p.begin()
    assert p.transmit("00A4080C0450155032")[1] == 0x9000
    data, sw = p.transmit("00B0000000")
    assert sw in (0x9000, 0x6282), hex(sw)
    assert old in data, data
    data = data.replace(old, new)
    assert p.transmit("0020008104" + b"1234".hex())[1] == 0x9000
    apdu = bytes([0, 0xD6, 0, 0, len(data)]) + data
    assert p.transmit(apdu)[1] == 0x9000
    p.transmit("002000FF00")  # forget the verified PIN
    p.end()
