#!/bin/bash
# With [mechanisms] at its defaults p11overlay must not list
# CKM_RSA_PKCS_PSS (it could only verify in software) for a card that cannot
# sign RSA-PSS; OpenSC alone does not list it.  When it did:
#  - GnuTLS (gnutls-cli) signed the TLS 1.2 handshake with RSA-PSS and failed
#    ("PKCS #11 unsupported feature");
#  - NSS (tstclnt) failed the server's certificate with
#    SEC_ERROR_INVALID_ALGORITHM.
# One handshake with each stack at the default config; passes only when
# both complete.
#   tls_default_mechanisms.sh <p11overlay.so>
. "$(dirname "$0")/lib.sh"
. "$INTEROP_DIR/tls_lib.sh"
need tstclnt certutil modutil openssl pkcs11-tool
tls_config
tls_server_start
cert_of "$SO" Identification 01 "$WORK/cert-Identification"
label=$(token_label Identification)
tok="pkcs11:token=$(uri_enc "$label");id=%01"
bad=0

DB=sql:$WORK/nssdb
mkdir -p "$WORK/nssdb"
run nss-init certutil -N -d "$DB" --empty-password
run modutil-add modutil -force -dbdir "$DB" -add p11overlay -libfile "$SO" \
	-mechanisms FRIENDLY </dev/null
run trust-ca certutil -A -d "$DB" -n 'card CA' -t 'C,,' -i "$WORK/ca.pem"
if tstclnt -h 127.0.0.1 -p "$TLS_PORT" -d "$DB" -V tls1.2:tls1.2 \
	-n "$label:Identification certificate" -w "$PIN_ID" -A "$WORK/request" \
	</dev/null >"$WORK/nss.log" 2>&1; then
	tls_check_page nss Identification
	ok "NSS tstclnt: handshake at the default [mechanisms]"
else
	grep -v '^tstclnt: [0-9]* bytes' "$WORK/nss.log" | tail -3 >&2
	echo "NSS tstclnt: handshake fails at the default [mechanisms]" >&2
	bad=1
fi

case "${LD_PRELOAD:-}" in
*libasan*) echo "GnuTLS part skipped: hangs with libasan preloaded (lib.sh)" ;;
*)
	if gnutls-cli --provider "$SO" --x509cafile "$WORK/ca.pem" \
		--x509certfile "$tok;type=cert" \
		--x509keyfile "$tok;type=private;pin-value=$PIN_ID" \
		-p "$TLS_PORT" 127.0.0.1 <"$WORK/request" >"$WORK/gnutls.log" 2>&1; then
		tls_check_page gnutls Identification
		ok "gnutls-cli: handshake at the default [mechanisms]"
	else
		grep -i 'error' "$WORK/gnutls.log" | tail -3 >&2
		echo "gnutls-cli: handshake fails at the default [mechanisms]" >&2
		bad=1
	fi ;;
esac
[ "$bad" -eq 0 ] || exit 1
echo "PASS: $TEST_NAME"
