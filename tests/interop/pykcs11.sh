#!/bin/bash
# Interop: a PyKCS11 program (pykcs11_sign.py) through p11overlay.so, first
# in front of OpenSC on the virtual card, then in front of SoftHSM2.
#   pykcs11.sh <p11overlay.so>
. "$(dirname "$0")/lib.sh"
need softhsm2-util pkcs11-tool
"$PY" -c 'import PyKCS11, cryptography' 2>/dev/null ||
	skip "python3-pykcs11 / python3-cryptography not installed"
SOFTHSM=/usr/lib/softhsm/libsofthsm2.so
[ -r "$SOFTHSM" ] || need "$SOFTHSM"

run card "$PY" "$INTEROP_DIR/pykcs11_sign.py" card "$SO"
cat "$WORK/card.log"

mkdir -p "$WORK/softhsm/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
	"$WORK/softhsm/tokens" >"$WORK/softhsm/softhsm2.conf"
export SOFTHSM2_CONF=$WORK/softhsm/softhsm2.conf
run softhsm-init softhsm2-util --init-token --free --label interop \
	--so-pin 12345678 --pin 1234
printf '[provider]\nmodule = %s\n' "$SOFTHSM" >"$WORK/softhsm.conf"
chmod 0644 "$WORK/softhsm.conf" # refused if group-writable (umask 002)
P11OVERLAY_CONF=$WORK/softhsm.conf run softhsm "$PY" "$INTEROP_DIR/pykcs11_sign.py" softhsm "$SO"
cat "$WORK/softhsm.log"
# The key really is on the SoftHSM2 token.
run softhsm-objects pkcs11-tool --module "$SOFTHSM" --token-label interop \
	--login --pin 1234 -O --type privkey
grep -q 'label: *interop key' "$WORK/softhsm-objects.log" ||
	{ cat "$WORK/softhsm-objects.log"; fail "generated key not on the SoftHSM2 token"; }
ok "the key generated through p11overlay is on the SoftHSM2 token"
echo "PASS: $TEST_NAME"
