#!/usr/bin/python3
"""Tries left of a PIN of the rig's card, read with raw APDUs (PC/SC).

    pin_tries.py <rig dir> <PIN ref hex, e.g. 81>            prints e.g. 3
    pin_tries.py <rig dir> <PIN ref hex> --restore <PIN>     VERIFY with PIN

The card answers VERIFY without data with 63Cx (x tries left), 6983
(blocked) or 9000 (verified in this power cycle, no count).  To always get
the count, the verification status is reset first (VERIFY P1=FF, ISO
7816-4), which only changes what the card has seen this power cycle; the
counter itself is untouched.  --restore presents the right PIN (a right
PIN also puts the counter back to its maximum) and prints the count after.
The PIN comes from the command line: these are the rig's published test
PINs (tests/card/README.md).  Prints "blocked" for 6983; exit 1 on any
other answer.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "card"))
import rig  # noqa: E402

ISOAPPLET_AID = "F276A288BCFBA69D34F31001"


def main():
    if len(sys.argv) not in (3, 5) or (len(sys.argv) == 5 and sys.argv[3] != "--restore"):
        sys.exit(__doc__)
    d, ref = sys.argv[1], int(sys.argv[2], 16)
    with rig.Pcsc(d) as card:
        card.begin()
        try:
            aid = bytes.fromhex(ISOAPPLET_AID)
            card.transmit(bytes([0, 0xA4, 4, 0, len(aid)]) + aid)
            if len(sys.argv) == 5:
                pin = sys.argv[4].encode()
                _, sw = card.transmit(bytes([0, 0x20, 0, ref, len(pin)]) + pin)
                if sw != 0x9000:
                    sys.exit("VERIFY with the right PIN: SW %04X" % sw)
            _, sw = card.transmit(bytes([0, 0x20, 0xFF, ref]))
            if sw != 0x9000:
                sys.exit("VERIFY reset status: SW %04X" % sw)
            _, sw = card.transmit(bytes([0, 0x20, 0, ref]))
        finally:
            card.end()
    if sw & 0xFFF0 == 0x63C0:
        print(sw & 0xF)
    elif sw == 0x6983:
        print("blocked")
    else:
        sys.exit("VERIFY without data: SW %04X" % sw)


if __name__ == "__main__":
    main()
