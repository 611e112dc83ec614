#!/bin/sh
# The main job: build p11overlay, start the virtual smart-card rig (a
# PKCS#15 card with two PINs in a private pcscd), and load the module in
# pkcs11-tool in front of OpenSC: one virtual token per PIN, the special
# data objects readable without login (their values shown by
# p11overlay-tool list), and a TLS client authentication with each PIN's
# certificate (curl through the OpenSSL pkcs11 engine, against a local
# `openssl s_server` that requires a certificate from the card's CA).
# Plain-language notes between the steps, for someone who never saw a
# smart card.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh --minimal
B=${BUILD_DIR:-build}
[ -d "$B" ] || meson setup "$B" >/dev/null
ninja -C "$B" >/dev/null
RIG=$(mktemp -d /tmp/p11overlay-demo.XXXXXX)
SERVER_PID=
cleanup() {
	[ -z "$SERVER_PID" ] || kill "$SERVER_PID" 2>/dev/null || true
	tests/card/rig stop "$RIG" >/dev/null 2>&1 || true
	rm -rf "$RIG"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
tests/card/rig start "$RIG" >/dev/null
. "$RIG/env"
cat >"$RIG/p11overlay.conf" <<CONF
[provider]
module = $RIG_OPENSC_MODULE
CONF
chmod 0644 "$RIG/p11overlay.conf" # refused if group-writable (umask 002)
export P11OVERLAY_CONF="$RIG/p11overlay.conf"
M="$PWD/$B/p11overlay.so"
run() { printf '\n$ %s\n' "$*"; "$@"; }
say() { printf '\n'; printf '# %s\n' "$@"; }

say "A smart card is a small computer that keeps private keys and never lets them" \
	"out: it signs on request, after the right PIN.  This demo uses a virtual card" \
	"(tests/card/vcard.py) in a virtual reader of a private pcscd (the PC/SC daemon" \
	"programs use to reach card readers), so no hardware is needed." \
	"" \
	"The card has two PINs, each guarding its own RSA-2048 key and certificate:" \
	"  PIN 'Identification' = 1234   -> key and certificate ID 01, CN=Test User (Identification)" \
	"  PIN 'Signing'        = 123456 -> key and certificate ID 02, CN=Test User (Signing)" \
	"Each PIN has 3 tries; the PUK 12345678 unblocks them.  The card also holds the" \
	"certificate of the CA that issued both (CN=p11overlay Test CA)." \
	"" \
	"Programs talk to cards through a PKCS#11 module.  OpenSC's opensc-pkcs11.so" \
	"knows this card; p11overlay.so sits in front of it: the program loads" \
	"p11overlay.so, which loads OpenSC and forwards every call, adding what is shown" \
	"below."
run pkcs11-tool --module "$M" --show-info

say "PKCS#11 lets a program log in to a token with ONE PIN.  A card with two PINs" \
	"is therefore shown as two VIRTUAL TOKENS, one per PIN, each with the keys and" \
	"certificates that PIN protects.  The program just sees two tokens; logging in" \
	"to one presents that PIN to the card." \
	"" \
	"A token label has room for exactly 32 bytes (a fixed-size field of PKCS#11)." \
	"The name is '<card label> (<PIN name>)', and the card's label 'p11overlay" \
	"Virtual Test Card Number One' is too long, so it is cut until the whole name" \
	"fits: 'p11overlay Virt (Identification)' and 'p11overlay Virtual Tes (Signing)'" \
	"are both 32 bytes; the PIN name is never cut, so the tokens stay apart."
run pkcs11-tool --module "$M" --list-token-slots

say "p11overlay adds four SPECIAL OBJECTS to every virtual token, readable without" \
	"a PIN, for the values PKCS#11's fixed fields cannot hold:" \
	"  TokenSerialNumber  the card's full serial number (the token info keeps 16 bytes)" \
	"  TokenLabel         the card's full label (the token label above is cut)" \
	"  UpdateCount        a fingerprint (SHA-256) of the card's content: it changes" \
	"                     whenever something on the card changes, so a program can" \
	"                     tell its cached copy is stale" \
	"  ATR                the card's Answer To Reset: the bytes a card sends when" \
	"                     powered up, which identify the card type" \
	"p11overlay-tool list shows them, and the PIN state of each token:"
run "$B/tools/p11overlay-tool" --module "$M" list
for slot in $(pkcs11-tool --module "$M" -L 2>/dev/null | sed -n 's/^Slot [0-9]* (\(0x[0-9a-f]*\)).*/\1/p'); do
	pkcs11-tool --module "$M" --slot "$slot" -O >/dev/null 2>&1 || continue
	say "Objects of slot $slot without login: the certificates (with their public" \
		"keys), the special data objects, and the private key's public part."
	run pkcs11-tool --module "$M" --slot "$slot" --list-objects
done

# TLS client authentication: a local server that accepts only clients
# holding a certificate from the card's CA.
say "What the card is for: proving who you are to a web site.  A local TLS (https)" \
	"server asks the browser-like client for a certificate and accepts only ones" \
	"issued by the card's CA.  curl gives it the card's certificate and lets the" \
	"card sign the handshake (PIN entered as part of the key's pkcs11: address);" \
	"the server's page shows whose certificate it saw.  TLS 1.2: this card signs" \
	"with PKCS#1 v1.5 only, TLS 1.3 would need RSA-PSS."
ENGINE=$(openssl version -e | sed -n 's/^ENGINESDIR: "\(.*\)"$/\1/p')/pkcs11.so
openssl x509 -inform DER -in "$RIG_STATE/ca.cert.der" -out "$RIG/ca.pem"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
	-addext subjectAltName=DNS:localhost -keyout "$RIG/server.key" \
	-out "$RIG/server.pem" 2>/dev/null
openssl s_server -accept 127.0.0.1:0 -tls1_2 -www -cert "$RIG/server.pem" \
	-key "$RIG/server.key" -Verify 1 -verify_return_error -CAfile "$RIG/ca.pem" \
	</dev/null >"$RIG/server.log" 2>&1 &
SERVER_PID=$!
until grep -q '^ACCEPT' "$RIG/server.log"; do
	kill -0 "$SERVER_PID" 2>/dev/null || { cat "$RIG/server.log"; exit 1; }
	sleep 0.1
done
PORT=$(sed -n 's/^ACCEPT .*:\([0-9]*\)$/\1/p' "$RIG/server.log")
cat >"$RIG/openssl.cnf" <<EOC
openssl_conf = openssl_init
[openssl_init]
engines = engine_section
ssl_conf = ssl_section
[engine_section]
pkcs11 = pkcs11_section
[pkcs11_section]
engine_id = pkcs11
dynamic_path = $ENGINE
MODULE_PATH = $M
init = 0
[ssl_section]
system_default = tls_defaults
[tls_defaults]
SignatureAlgorithms = RSA+SHA256:RSA+SHA384:RSA+SHA512
EOC
tls() { # <token label URI-encoded> <key ID> <PIN>
	K="pkcs11:token=$1;id=%$2"
	printf '\n$ curl --engine pkcs11 --cert "%s;type=cert" --key "%s;type=private;pin-value=%s" https://localhost:%s/\n' \
		"$K" "$K" "$3" "$PORT"
	OPENSSL_CONF="$RIG/openssl.cnf" curl -sS --cacert "$RIG/server.pem" \
		--resolve "localhost:$PORT:127.0.0.1" --engine pkcs11 \
		--cert-type ENG --cert "$K;type=cert" \
		--key-type ENG --key "$K;type=private;pin-value=$3" \
		"https://localhost:$PORT/" >"$RIG/page.html"
	printf 'server page: '
	grep -E '^ *(Protocol *|Subject): ' "$RIG/page.html" | sed 's/^ *//' | tr '\n' ' '
	echo
}
say "With the Identification PIN (1234) and key 01:"
tls 'p11overlay%20Virt%20(Identification)' 01 1234
say "With the Signing PIN (123456) and key 02:"
tls 'p11overlay%20Virtual%20Tes%20(Signing)' 02 123456
say "The server saw each PIN's own certificate.  GnuTLS, NSS and Firefox do the" \
	"same in tests/interop/tls_*.sh and tests/browser/firefox.sh."
