#!/bin/bash
# Part of p11kit_modules.sh run inside its private mount namespace, where
# p11-kit's module dirs show only the scenario's modules.
#   p11kit_modules_inner.sh <scenario> <p11-kit-proxy.so> <work dir>
set -u
set -o pipefail
SCENARIO=$1 PROXY=$2 WORK=$3
fail() { echo "FAIL: p11kit_modules ($SCENARIO): $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
count_label() { grep -c "$1" "$2" || true; }

if [ "$SCENARIO" != proxy-dedup ]; then
	p11-kit list-modules >"$WORK/list-modules.log" 2>&1 ||
		{ cat "$WORK/list-modules.log"; fail "p11-kit list-modules"; }
	# The p11overlay block: from "p11overlay: ..." to the next module.
	awk '/^[^ ]/ { on = ($1 == "p11overlay:") } on' "$WORK/list-modules.log" \
		>"$WORK/list-p11overlay.log"
	grep -q '^p11overlay: p11overlay.so$' "$WORK/list-p11overlay.log" ||
		{ cat "$WORK/list-modules.log"; fail "list-modules: p11overlay not registered"; }
	grep -q 'library-manufacturer: p11overlay' "$WORK/list-p11overlay.log" &&
		grep -q 'token: .*(Identification)$' "$WORK/list-p11overlay.log" &&
		grep -q 'token: .*(Signing)$' "$WORK/list-p11overlay.log" ||
		{ cat "$WORK/list-modules.log"; fail "list-modules: p11overlay loaded but shows no info/tokens"; }
	ok "p11-kit list-modules: p11overlay (shipped .module file) with both virtual tokens"
fi

# p11-kit-proxy.so, as NSS/Firefox or any application load it.
pkcs11-tool --module "$PROXY" -L >"$WORK/proxy-list.log" 2>&1 ||
	{ cat "$WORK/proxy-list.log"; fail "pkcs11-tool via p11-kit-proxy.so -L"; }
for name in Identification Signing; do
	n=$(count_label "token label *:.*($name)\$" "$WORK/proxy-list.log")
	if [ "$SCENARIO" != both ] && [ "$n" -ne 1 ]; then
		cat "$WORK/proxy-list.log"
		fail "p11-kit-proxy: $n tokens for $name, want exactly 1 (OpenSC's registration is off for the proxy)"
	fi
	[ "$n" -ge 1 ] || { cat "$WORK/proxy-list.log"; fail "p11-kit-proxy: no $name token"; }
done
ok "p11-kit-proxy.so -L: virtual tokens listed$([ "$SCENARIO" != both ] && echo ', each once')"

# Sign through the proxy with the Signing token (in "both", the last one
# listed: p11-kit orders modules by name, opensc-pkcs11 before p11overlay).
slot=$(awk '/^Slot [0-9]+ \(0x[0-9a-f]+\)/ { id = $3; gsub(/[():]/, "", id) }
	/^  token label *:.*\(Signing\)$/ { s = id } END { print s }' "$WORK/proxy-list.log")
[ -n "$slot" ] || fail "p11-kit-proxy: no Signing slot"
pkcs11-tool --module "$PROXY" --slot "$slot" --read-object --type cert --id 02 \
	-o "$WORK/pk-cert.der" >"$WORK/pk-cert.log" 2>&1 ||
	{ cat "$WORK/pk-cert.log"; fail "p11-kit-proxy: read certificate"; }
openssl x509 -inform DER -in "$WORK/pk-cert.der" -noout -pubkey >"$WORK/pk-pub.pem" ||
	fail "p11-kit-proxy: bad certificate"
head -c 999 /dev/urandom >"$WORK/pk-data"
pkcs11-tool --module "$PROXY" --slot "$slot" --login --pin "$PIN_SIGN" --sign \
	--id 02 -m SHA256-RSA-PKCS -i "$WORK/pk-data" -o "$WORK/pk-sig" \
	>"$WORK/pk-sign.log" 2>&1 || { cat "$WORK/pk-sign.log"; fail "p11-kit-proxy: sign"; }
openssl dgst -sha256 -verify "$WORK/pk-pub.pem" -signature "$WORK/pk-sig" \
	"$WORK/pk-data" >/dev/null || fail "p11-kit-proxy: signature does not verify"
ok "p11-kit-proxy.so: Signing token signs, verified"

# GnuTLS without --provider loads the registered modules through p11-kit.
if [ "$SCENARIO" != proxy-dedup ] && command -v p11tool >/dev/null; then
	p11tool --list-tokens >"$WORK/p11tool.log" 2>&1 ||
		{ cat "$WORK/p11tool.log"; fail "p11tool --list-tokens"; }
	for name in Identification Signing; do
		grep -q "^	Label: .*($name)\$" "$WORK/p11tool.log" ||
			{ cat "$WORK/p11tool.log"; fail "p11tool (registered modules): no $name token"; }
	done
	ok "p11tool --list-tokens (p11-kit registration): both virtual tokens"
fi
