#!/bin/bash
# Interop: NSS tools.  modutil -add p11overlay.so into a temporary NSS
# database, certutil -L -h all lists both virtual tokens' certificates
# ("<token label>:<nickname>"), and certutil -R makes a certificate request
# signed by each token's private key (-h <token>), checked with openssl:
# self-signature valid and public key = the token's certificate key.
#   nss.sh <p11overlay.so>
. "$(dirname "$0")/lib.sh"
need certutil modutil openssl pkcs11-tool

DB=sql:$WORK/nssdb
mkdir -p "$WORK/nssdb"
run nss-init certutil -N -d "$DB" --empty-password
run modutil-add modutil -force -dbdir "$DB" -add p11overlay -libfile "$SO" </dev/null
# (modutil -list p11overlay fails on the empty second reader, as it does
# with OpenSC directly: C_GetTokenInfo = CKR_TOKEN_NOT_PRESENT.)
run modutil-list modutil -dbdir "$DB" -list </dev/null
for name in Identification Signing; do
	label=$(token_label "$name")
	[ -n "$label" ] || fail "no $name token"
	grep -qF "token: $label" "$WORK/modutil-list.log" ||
		{ cat "$WORK/modutil-list.log"; fail "modutil -list: no token '$label'"; }
	case "$label" in *:*) fail "token label '$label' contains ':' (NSS splits on it)" ;; esac
done
ok "modutil -add/-list: both virtual tokens"

run certutil-list certutil -L -d "$DB" -h all
for pin in Identification:01:$PIN_ID Signing:02:$PIN_SIGN; do
	name=${pin%%:*}; rest=${pin#*:}; id=${rest%%:*}; pinval=${rest#*:}
	label=$(token_label "$name")
	grep -qF "$label:$name certificate " "$WORK/certutil-list.log" ||
		{ cat "$WORK/certutil-list.log"; fail "certutil -L -h all: no '$label:$name certificate'"; }
	grep -qF "$label:p11overlay Test CA " "$WORK/certutil-list.log" ||
		{ cat "$WORK/certutil-list.log"; fail "certutil -L -h all: no CA certificate in '$label'"; }
	cert_of "$SO" "$name" "$id" "$WORK/cert-$name"
	ok "certutil -L: $name certificate and CA certificate in '$label'"

	# Sign: a PKCS#10 request signed with the token's key (key ID $id).
	printf '%s\n' "$pinval" >"$WORK/pw-$name"
	run "keys-$name" certutil -K -d "$DB" -h "$label" -f "$WORK/pw-$name"
	grep -q "rsa *$id " "$WORK/keys-$name.log" ||
		{ cat "$WORK/keys-$name.log"; fail "certutil -K: no RSA key $id in '$label'"; }
	run "csr-$name" certutil -R -d "$DB" -h "$label" -k "$id" -Z SHA256 \
		-s "CN=p11overlay interop $name" -f "$WORK/pw-$name" \
		-o "$WORK/csr-$name.der" </dev/null
	run "csr-verify-$name" openssl req -inform DER -in "$WORK/csr-$name.der" -verify -noout
	openssl req -inform DER -in "$WORK/csr-$name.der" -noout -pubkey >"$WORK/csr-$name.pub.pem" ||
		fail "certificate request of $name unreadable"
	cmp -s "$WORK/csr-$name.pub.pem" "$WORK/cert-$name.pub.pem" ||
		fail "certutil -R $name: request key is not the token's key"
	ok "certutil -R -h '$label': request signed by the token key, verified"
done
# A wrong PIN is refused.
printf '0000\n' >"$WORK/pw-bad"
if certutil -R -d "$DB" -h "$(token_label Identification)" -k 01 \
	-s "CN=bad" -f "$WORK/pw-bad" -o "$WORK/bad.der" </dev/null >"$WORK/bad.log" 2>&1; then
	fail "certutil -R with a wrong PIN succeeded"
fi
run relogin pkcs11-tool --module "$SO" --slot "$(token_slot Identification)" \
	--login --pin "$PIN_ID" -O
ok "certutil with a wrong PIN fails"
echo "PASS: $TEST_NAME"
