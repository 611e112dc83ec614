#!/bin/bash
# TLS client authentication with NSS (the TLS stack of Firefox and
# Chromium on Linux): tstclnt from libnss3-tools with p11overlay.so added by
# modutil to a throw-away NSS database, the client certificate named
# "<token label>:<certificate label>", fetches the page of a local
# `openssl s_server -Verify 1`.  Each PIN's key, a wrong PIN first
# (tls_lib.sh).
#   tls_nss.sh <p11overlay.so>
. "$(dirname "$0")/lib.sh"
. "$INTEROP_DIR/tls_lib.sh"
need tstclnt certutil modutil openssl pkcs11-tool

tls_server_start
DB=sql:$WORK/nssdb
mkdir -p "$WORK/nssdb"
run nss-init certutil -N -d "$DB" --empty-password
# FRIENDLY ("certificates are public"): NSS finds the certificate and key
# without logging in first, so it presents the PIN once per handshake.
# Without it, tstclnt -w presents a wrong PIN once per certificate/key lookup
# (3+ times in one handshake): the card's PIN is blocked by one wrong
# password.  Measured the same with opensc-pkcs11.so in place of
# p11overlay.so: a client behaviour, not the module's.
run modutil-add modutil -force -dbdir "$DB" -add p11overlay -libfile "$SO" \
	-mechanisms FRIENDLY </dev/null
# The server's certificate is issued by the card's CA: trust it for TLS.
run trust-ca certutil -A -d "$DB" -n 'card CA' -t 'C,,' -i "$WORK/ca.pem"
TLS_BAD_PIN_MSG='Incorrect password/PIN entered'

nss_client() {
	tstclnt -h 127.0.0.1 -p "$TLS_PORT" -d "$DB" -V tls1.2:tls1.2 \
		-n "$(token_label "$1"):$1 certificate" -w "$3" -A "$WORK/request" \
		</dev/null >"$WORK/$4.log" 2>&1
}
tls_matrix nss_client
echo "PASS: $TEST_NAME"
