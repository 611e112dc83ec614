#!/bin/bash
# Interop: p11-kit remoting.  `p11-kit server --provider p11overlay.so
# pkcs11:` exports every virtual token on a unix socket; in other processes
# (without the rig's or p11overlay's environment) p11-kit-client.so with
# P11_KIT_SERVER_ADDRESS lists the per-PIN tokens, reads the certificates and
# signs with each PIN (pkcs11-tool), signatures verified with openssl.
#   p11kit_server.sh <p11overlay.so>
. "$(dirname "$0")/lib.sh"
no_asan_preload "p11-kit"
need p11-kit pkcs11-tool openssl
CLIENT=$MODDIR/p11-kit-client.so
[ -r "$CLIENT" ] || need "$CLIENT"

# The server is a daemon: it inherits P11OVERLAY_CONF and the rig's pcscd.
p11-kit server --provider "$SO" -n "$WORK/p11kit.sock" -s 'pkcs11:' \
	>"$WORK/server.env" 2>"$WORK/server.log" ||
	{ cat "$WORK/server.log"; fail "p11-kit server does not start"; }
# shellcheck disable=SC1091
. "$WORK/server.env"
[ -n "${P11_KIT_SERVER_PID:-}" ] || fail "p11-kit server printed no PID"
CLEANUP_HOOKS+=("kill $P11_KIT_SERVER_PID 2>/dev/null")
[ "$P11_KIT_SERVER_ADDRESS" = "unix:path=$WORK/p11kit.sock" ] ||
	fail "unexpected server address $P11_KIT_SERVER_ADDRESS"
ok "p11-kit server --provider p11overlay.so (pid $P11_KIT_SERVER_PID)"

# Clients: nothing but the socket address.
unset P11OVERLAY_CONF PCSCLITE_CSOCK_NAME OPENSC_CONF
run client-list pkcs11-tool --module "$CLIENT" -L
for pin in Identification:01:$PIN_ID Signing:02:$PIN_SIGN; do
	name=${pin%%:*}; rest=${pin#*:}; id=${rest%%:*}; pinval=${rest#*:}
	slot=$(token_slot "$name" "$CLIENT")
	[ -n "$slot" ] || { cat "$WORK/client-list.log"; fail "client: no $name token"; }
	cert_of "$CLIENT" "$name" "$id" "$WORK/cert-$name"
	openssl x509 -in "$WORK/cert-$name.pem" -noout -subject | grep -q "CN *= *Test User ($name)" ||
		fail "client: wrong certificate for $name"
	head -c 1500 /dev/urandom >"$WORK/data"
	run "sign-$name" pkcs11-tool --module "$CLIENT" --slot "$slot" --login \
		--pin "$pinval" --sign --id "$id" -m SHA256-RSA-PKCS \
		-i "$WORK/data" -o "$WORK/sig-$name"
	run "verify-$name" openssl dgst -sha256 -verify "$WORK/cert-$name.pub.pem" \
		-signature "$WORK/sig-$name" "$WORK/data"
	ok "p11-kit-client.so: $name token listed, certificate read, signature verified"
done
echo "PASS: $TEST_NAME"
