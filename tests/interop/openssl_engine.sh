#!/bin/bash
# Interop: OpenSSL 3 through libengine-pkcs11-openssl (engine "pkcs11",
# MODULE_PATH = p11overlay.so in a private openssl.cnf): sign with a pkcs11:
# URI for each PIN's token (openssl dgst and pkeyutl), verify with openssl
# against the token's certificate and with the token's public key through
# the engine.
#   openssl_engine.sh <p11overlay.so>
. "$(dirname "$0")/lib.sh"
need openssl pkcs11-tool
ENGINE=$(openssl version -e 2>/dev/null | sed -n 's/^ENGINESDIR: "\(.*\)"$/\1/p')/pkcs11.so
[ -r "$ENGINE" ] || need "$ENGINE"     # libengine-pkcs11-openssl

cat >"$WORK/openssl.cnf" <<EOC
openssl_conf = openssl_init
[openssl_init]
engines = engine_section
[engine_section]
pkcs11 = pkcs11_section
[pkcs11_section]
engine_id = pkcs11
dynamic_path = $ENGINE
MODULE_PATH = $SO
init = 0
EOC
export OPENSSL_CONF=$WORK/openssl.cnf
head -c 4096 /dev/urandom >"$WORK/data"
openssl dgst -sha256 -binary "$WORK/data" >"$WORK/data.sha256"

for pin in Identification:01:$PIN_ID Signing:02:$PIN_SIGN; do
	name=${pin%%:*}; rest=${pin#*:}; id=${rest%%:*}; pinval=${rest#*:}
	label=$(token_label "$name")
	[ -n "$label" ] || fail "no $name token"
	cert_of "$SO" "$name" "$id" "$WORK/cert-$name"
	tok="pkcs11:token=$(uri_enc "$label");id=%$id"
	key="$tok;type=private;pin-value=$pinval"

	run "dgst-$name" openssl dgst -sha256 -engine pkcs11 -keyform engine \
		-sign "$key" -out "$WORK/sig-$name" "$WORK/data"
	run "verify-$name" openssl dgst -sha256 -verify "$WORK/cert-$name.pub.pem" \
		-signature "$WORK/sig-$name" "$WORK/data"
	ok "openssl dgst -engine pkcs11 -sign $name, verified against the certificate"

	run "pkeyutl-$name" openssl pkeyutl -engine pkcs11 -keyform engine \
		-inkey "$key" -sign -in "$WORK/data.sha256" -pkeyopt digest:sha256 \
		-out "$WORK/sig2-$name"
	# RSA PKCS#1 v1.5 is deterministic: both ways give the same signature.
	cmp -s "$WORK/sig-$name" "$WORK/sig2-$name" ||
		fail "pkeyutl and dgst signatures of $name differ"
	run "pkeyutl-verify-$name" openssl pkeyutl -engine pkcs11 -keyform engine \
		-pubin -inkey "$tok;type=public" -verify -in "$WORK/data.sha256" \
		-pkeyopt digest:sha256 -sigfile "$WORK/sig2-$name"
	grep -q 'Signature Verified Successfully' "$WORK/pkeyutl-verify-$name.log" ||
		{ cat "$WORK/pkeyutl-verify-$name.log"; fail "pkeyutl -verify $name"; }
	ok "openssl pkeyutl -engine pkcs11 -sign/-verify $name"
done
# A wrong PIN must fail the operation.
if openssl dgst -sha256 -engine pkcs11 -keyform engine -sign \
	"pkcs11:token=$(uri_enc "$(token_label Signing)");id=%02;type=private;pin-value=000000" \
	-out "$WORK/bad" "$WORK/data" >"$WORK/bad.log" 2>&1; then
	fail "signing with a wrong PIN succeeded"
fi
# Reset the try counter with the right PIN.
run relogin pkcs11-tool --module "$SO" --slot "$(token_slot Signing)" \
	--login --pin "$PIN_SIGN" -O
ok "openssl with a wrong PIN fails"
echo "PASS: $TEST_NAME"
