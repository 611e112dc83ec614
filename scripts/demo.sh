#!/bin/sh
# The main job: build p11overlay, start the virtual smart-card rig (a
# PKCS#15 card with two PINs in a private pcscd), and load the module in
# pkcs11-tool in front of OpenSC: one virtual token per PIN, and the
# special data objects readable without login (their values shown by
# p11overlay-tool list).
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh --minimal
B=${BUILD_DIR:-build}
[ -d "$B" ] || meson setup "$B" >/dev/null
ninja -C "$B" >/dev/null
RIG=$(mktemp -d /tmp/p11overlay-demo.XXXXXX)
trap 'tests/card/rig stop "$RIG" >/dev/null 2>&1 || true; rm -rf "$RIG"' EXIT INT TERM
tests/card/rig start "$RIG" >/dev/null
. "$RIG/env"
cat > "$RIG/p11overlay.conf" <<CONF
[provider]
module = $RIG_OPENSC_MODULE
CONF
export P11OVERLAY_CONF="$RIG/p11overlay.conf"
M="$PWD/$B/p11overlay.so"
run() { printf '\n$ %s\n' "$*"; "$@"; }
run pkcs11-tool --module "$M" --show-info
run pkcs11-tool --module "$M" --list-token-slots
# The special data objects' values and the PIN states, as p11overlay sees them.
run "$B/tools/p11overlay-tool" --module "$M" list
for slot in $(pkcs11-tool --module "$M" -L 2>/dev/null | sed -n 's/^Slot [0-9]* (\(0x[0-9a-f]*\)).*/\1/p'); do
	pkcs11-tool --module "$M" --slot "$slot" -O >/dev/null 2>&1 || continue
	run pkcs11-tool --module "$M" --slot "$slot" --list-objects
done
