#!/bin/bash
# Interop: OpenSC's pkcs11-tool through p11overlay.so in front of OpenSC on
# the virtual card: -L, -O, --sign with each PIN's token (signature verified
# with openssl against the token's certificate), --test.
#   pkcs11_tool.sh <p11overlay.so>
. "$(dirname "$0")/lib.sh"
need pkcs11-tool openssl

# -L: one virtual token per PIN, same slot description (the reader).
run list pkcs11-tool --module "$SO" -L
grep -q 'token label *:.*(Identification)$' "$WORK/list.log" ||
	{ cat "$WORK/list.log"; fail "-L: no Identification token"; }
grep -q 'token label *:.*(Signing)$' "$WORK/list.log" ||
	{ cat "$WORK/list.log"; fail "-L: no Signing token"; }
n=$(grep -c "^Slot [0-9]* (0x[0-9a-f]*): $RIG_READER *\$" "$WORK/list.log")
[ "$n" -eq 2 ] || { cat "$WORK/list.log"; fail "-L: $n slots on $RIG_READER, want 2"; }
ok "pkcs11-tool -L: 2 virtual tokens on '$RIG_READER'"

for pin in Identification:01:$PIN_ID Signing:02:$PIN_SIGN; do
	name=${pin%%:*}; rest=${pin#*:}; id=${rest%%:*}; pinval=${rest#*:}
	slot=$(token_slot "$name")
	[ -n "$slot" ] || fail "no slot for $name"

	# -O without login: the PIN's certificate and the CA certificate are
	# public; no private key is visible.
	run "objects-$name" pkcs11-tool --module "$SO" --slot "$slot" -O
	grep -q "subject: *DN: CN=Test User ($name)" "$WORK/objects-$name.log" ||
		{ cat "$WORK/objects-$name.log"; fail "-O $name: no user certificate"; }
	grep -q 'subject: *DN: CN=p11overlay Test CA' "$WORK/objects-$name.log" ||
		{ cat "$WORK/objects-$name.log"; fail "-O $name: no CA certificate"; }
	! grep -q '^Private Key Object' "$WORK/objects-$name.log" ||
		fail "-O $name: private key visible without login"
	run "objects-login-$name" pkcs11-tool --module "$SO" --slot "$slot" \
		--login --pin "$pinval" -O --type privkey
	grep -q "^Private Key Object; RSA" "$WORK/objects-login-$name.log" ||
		{ cat "$WORK/objects-login-$name.log"; fail "-O --login $name: no private key"; }
	ok "pkcs11-tool -O $name: certificates public, private key after login"

	# --sign, verified with openssl against the token's certificate.
	cert_of "$SO" "$name" "$id" "$WORK/cert-$name"
	head -c 1000 /dev/urandom >"$WORK/data"
	run "sign-$name" pkcs11-tool --module "$SO" --slot "$slot" --login \
		--pin "$pinval" --sign --id "$id" -m SHA256-RSA-PKCS \
		-i "$WORK/data" -o "$WORK/sig-$name"
	openssl dgst -sha256 -verify "$WORK/cert-$name.pub.pem" \
		-signature "$WORK/sig-$name" "$WORK/data" >"$WORK/verify.log" 2>&1 ||
		{ cat "$WORK/verify.log"; fail "--sign $name: signature does not verify"; }
	# The other token's certificate must not verify it.
	other=Signing; [ "$name" = Signing ] && other=Identification
	if [ -e "$WORK/cert-$other.pub.pem" ] &&
		openssl dgst -sha256 -verify "$WORK/cert-$other.pub.pem" \
			-signature "$WORK/sig-$name" "$WORK/data" >/dev/null 2>&1; then
		fail "--sign $name: signed with the $other key"
	fi
	ok "pkcs11-tool --sign $name (SHA256-RSA-PKCS) verified by openssl"

	# --test: pkcs11-tool's own self test with login.
	run "test-$name" pkcs11-tool --module "$SO" --slot "$slot" --login \
		--pin "$pinval" --test
	grep -q '^No errors' "$WORK/test-$name.log" ||
		{ cat "$WORK/test-$name.log"; fail "--test $name"; }
	ok "pkcs11-tool --test $name: No errors"
done
# Wrong PIN is refused (and costs a try: give the right PIN afterwards so
# the counter is reset).
slot=$(token_slot Identification)
if pkcs11-tool --module "$SO" --slot "$slot" --login --pin 9999 -O \
	>"$WORK/wrong.log" 2>&1; then
	fail "login with a wrong PIN succeeded"
fi
grep -q CKR_PIN_INCORRECT "$WORK/wrong.log" ||
	{ cat "$WORK/wrong.log"; fail "wrong PIN: no CKR_PIN_INCORRECT"; }
run relogin pkcs11-tool --module "$SO" --slot "$slot" --login --pin "$PIN_ID" -O
ok "pkcs11-tool wrong PIN: CKR_PIN_INCORRECT"
echo "PASS: $TEST_NAME"
