#!/bin/bash
# Interop: GnuTLS p11tool with p11overlay.so as its provider (--provider, the
# same module loading p11-kit does for a registered module): --list-tokens,
# --list-all-certs, --test-sign with a pkcs11: URI for each PIN's token,
# --export of the certificate compared with what pkcs11-tool reads.
#   p11tool.sh <p11overlay.so>
. "$(dirname "$0")/lib.sh"
no_asan_preload "GnuTLS p11tool"
need p11tool pkcs11-tool openssl

P11TOOL=(p11tool --provider "$SO")
run tokens "${P11TOOL[@]}" --list-tokens
for name in Identification Signing; do
	label=$(token_label "$name")
	[ -n "$label" ] || fail "no $name token"
	grep -qF "Label: $label" "$WORK/tokens.log" ||
		{ cat "$WORK/tokens.log"; fail "--list-tokens: no '$label'"; }
done
# Token URL of each PIN, as p11tool prints it.
url_of() {
	awk -v want="$1" '/^\tURL: /{u=$2} /^\tLabel: /{l=$0; sub(/^\tLabel: /,"",l); if (l==want) {print u; exit}}' \
		"$WORK/tokens.log"
}
ok "p11tool --list-tokens: both virtual tokens"

for pin in Identification:01:$PIN_ID Signing:02:$PIN_SIGN; do
	name=${pin%%:*}; rest=${pin#*:}; id=${rest%%:*}; pinval=${rest#*:}
	label=$(token_label "$name")
	url=$(url_of "$label")
	[ -n "$url" ] || fail "no URL for '$label'"
	# The URL names the token by its label: check the encoding round trip.
	case "$url" in *"token=$(uri_enc "$label")"*) ;;
	*) fail "URL $url does not carry token=$(uri_enc "$label")" ;; esac

	run "certs-$name" "${P11TOOL[@]}" --list-all-certs "$url"
	grep -q "^	Label: $name certificate" "$WORK/certs-$name.log" ||
		{ cat "$WORK/certs-$name.log"; fail "--list-all-certs $name: no user certificate"; }
	grep -q '^	Label: p11overlay Test CA' "$WORK/certs-$name.log" ||
		{ cat "$WORK/certs-$name.log"; fail "--list-all-certs $name: no CA certificate"; }
	ok "p11tool --list-all-certs $name"

	run "export-$name" "${P11TOOL[@]}" --export "$url;id=%$id;type=cert"
	cert_of "$SO" "$name" "$id" "$WORK/cert-$name"
	openssl x509 -in "$WORK/export-$name.log" -outform DER -out "$WORK/export-$name.der" ||
		fail "--export $name: not a certificate"
	cmp -s "$WORK/export-$name.der" "$WORK/cert-$name.der" ||
		fail "--export $name differs from the certificate pkcs11-tool reads"
	ok "p11tool --export $name = pkcs11-tool --read-object"

	run "test-sign-$name" "${P11TOOL[@]}" --login --set-pin="$pinval" \
		--test-sign "$url;id=%$id;type=private"
	grep -q 'Verifying against public key in the token... ok' "$WORK/test-sign-$name.log" ||
		{ cat "$WORK/test-sign-$name.log"; fail "--test-sign $name"; }
	ok "p11tool --test-sign $name"
done
echo "PASS: $TEST_NAME"
