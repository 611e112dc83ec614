#!/bin/bash
# TLS client authentication with OpenSSL: curl (OpenSSL 3) takes the card's
# certificate and key by pkcs11: URI through libengine-pkcs11-openssl
# (engine "pkcs11", MODULE_PATH = p11overlay.so in a private openssl.cnf)
# and fetches the page of a local `openssl s_server -Verify 1`.  Each PIN's
# key, a wrong PIN first (tls_lib.sh).
#   tls_openssl.sh <p11overlay.so>
. "$(dirname "$0")/lib.sh"
. "$INTEROP_DIR/tls_lib.sh"
need openssl pkcs11-tool
case "${LD_PRELOAD:-}" in *libasan*) ;; *) need curl ;; esac
ENGINE=$(openssl version -e 2>/dev/null | sed -n 's/^ENGINESDIR: "\(.*\)"$/\1/p')/pkcs11.so
[ -r "$ENGINE" ] || need "$ENGINE" # libengine-pkcs11-openssl

# SignatureAlgorithms: the engine cannot tell OpenSSL that the card's key
# signs PKCS#1 v1.5 only, and OpenSSL prefers RSA-PSS when the server
# offers it ("Mechanism invalid" from the card otherwise, as with OpenSC).
cat >"$WORK/openssl.cnf" <<EOC
openssl_conf = openssl_init
[openssl_init]
engines = engine_section
ssl_conf = ssl_section
[engine_section]
pkcs11 = pkcs11_section
[pkcs11_section]
engine_id = pkcs11
dynamic_path = $ENGINE
MODULE_PATH = $SO
init = 0
[ssl_section]
system_default = tls_defaults
[tls_defaults]
SignatureAlgorithms = RSA+SHA256:RSA+SHA384:RSA+SHA512
EOC
export OPENSSL_CONF=$WORK/openssl.cnf
TLS_BAD_PIN_MSG='Login (to token )?failed'

tls_server_start
curl_client() {
	local tok
	tok="pkcs11:token=$(uri_enc "$(token_label "$1")");id=%$2"
	curl -sS --max-time 120 --cacert "$WORK/ca.pem" --engine pkcs11 \
		--cert-type ENG --cert "$tok;type=cert" \
		--key-type ENG --key "$tok;type=private;pin-value=$3" \
		"https://127.0.0.1:$TLS_PORT/" </dev/null >"$WORK/$4.log" 2>&1
}
# Sanitizer builds: curl hangs at start with libasan preloaded (it links
# GnuTLS through libldap/librtmp: `curl --version` never returns, as with
# the p11-kit/GnuTLS programs in lib.sh).  openssl s_client takes the key
# through the same engine there; its certificate is the token's (read by
# pkcs11-tool: s_client loads certificates from files only).
s_client_client() {
	[ -f "$WORK/cert-$1.pem" ] || cert_of "$SO" "$1" "$2" "$WORK/cert-$1"
	openssl s_client -connect "127.0.0.1:$TLS_PORT" -CAfile "$WORK/ca.pem" \
		-engine pkcs11 -keyform engine -cert "$WORK/cert-$1.pem" \
		-key "pkcs11:token=$(uri_enc "$(token_label "$1")");id=%$2;type=private;pin-value=$3" \
		-quiet -ign_eof <"$WORK/request" >"$WORK/$4.log" 2>&1 &&
		grep -q '^Client certificate' "$WORK/$4.log"
}
case "${LD_PRELOAD:-}" in
*libasan*) echo "sanitizer build: openssl s_client in place of curl"; tls_matrix s_client_client ;;
*) tls_matrix curl_client ;;
esac
echo "PASS: $TEST_NAME"
