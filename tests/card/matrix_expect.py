"""Cells of the feature matrix (test_matrix.py) expected red today, with the
reason seen (proxy at the time this list was written; issue 14).  Cells
impossible for a family are reported n/a by the cell itself and are not listed.
As the proxy gets a cell right, its entry must go: a listed cell that turns
green fails the test until it is removed, so the list is always the truth."""

# Every cell was green on main at 65d3cb5 (run of test_matrix.py, 19:30 UTC):
# the reasons once listed here (UpdateCount, PKCS#15 padding/BCD unlock,
# OpenPGP labels/serial/unlock, PIV unlock/special objects/APDU cost/9C hang,
# two applets) are fixed; see this file's git history for them.
RED = {}


def expected(case, feature):
    """("red", reason) or None (expected ok or n/a)."""
    reason = RED.get((case, feature)) or RED.get(("*", feature))
    return ("red", reason) if reason else None
