# shellcheck shell=bash disable=SC2034
# Shared part of the TLS client-authentication tests (sourced after lib.sh).
#
# tls_server_start: a local TLS server, `openssl s_server -www` on
#   127.0.0.1 (a free port the kernel picks), with a server certificate issued
#   by the card's CA (the rig keeps the CA key in its state dir) and the card's
#   CA as the only trusted client CA (-Verify 1 -verify_return_error: no
#   handshake completes without a client certificate from the card's CA).
#   The page it returns shows the client certificate (PEM) the server saw.
# tls_matrix <client function>: for each PIN (Identification 1234 key 01,
#   Signing 123456 key 02): a handshake with the right PIN, checked on the
#   page; then a wrong PIN first (clear failure, no page, the card's retry
#   counter drops by exactly one, read with raw APDUs) and the right PIN
#   again (page, counter back to 3).  The client function is called as
#     <fn> <pin name> <key id hex> <PIN> <log name>
#   runs one handshake with GET / and leaves the client's output in
#   $WORK/<log name>.log; its exit status says whether it worked.
#
# Protocol: TLS 1.2.  The card signs PKCS#1 v1.5 only (no raw RSA), and
# TLS 1.3 signs the handshake with RSA-PSS only, so TLS 1.3 client
# authentication cannot work with this card, with or without p11overlay.
# TLS_BAD_PIN_MSG (extended regex, set by each test): what the client must
# print when the PIN is wrong.

TLS_PINS="Identification:01:81:$PIN_ID:0000 Signing:02:82:$PIN_SIGN:000000"
TLS_PIN_MAX=3 # tries of each user PIN (tests/card/README.md)

# The config is the default one: with it p11overlay must not list
# mechanisms the card's keys cannot sign with (CKM_RSA_PKCS_PSS for
# software verification only made GnuTLS sign with RSA-PSS and NSS fail the
# server certificate; [mechanisms] public-only, tls-default-mechanisms).
tls_config() {
	printf '[provider]\nmodule = %s\n' "$RIG_OPENSC_MODULE" >"$P11OVERLAY_CONF"
	chmod 0644 "$P11OVERLAY_CONF" # refused if group-writable (umask 002)
}
tls_config

tls_server_start() {
	local i
	openssl x509 -inform DER -in "$RIG_STATE/ca.cert.der" -out "$WORK/ca.pem" ||
		fail "the rig's CA certificate is unreadable"
	printf 'subjectAltName = IP:127.0.0.1, DNS:localhost\nextendedKeyUsage = serverAuth\n' \
		>"$WORK/server.ext"
	# (The server side never uses the client's openssl.cnf.)
	run server-key env -u OPENSSL_CONF openssl req -new -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 \
		-keyout "$WORK/server.key" -out "$WORK/server.csr"
	run server-cert env -u OPENSSL_CONF openssl x509 -req -in "$WORK/server.csr" -CA "$WORK/ca.pem" \
		-CAkey "$RIG_STATE/ca.key.pem" -set_serial 7 -days 2 \
		-extfile "$WORK/server.ext" -out "$WORK/server.pem"
	env -u OPENSSL_CONF openssl s_server -accept 127.0.0.1:0 -tls1_2 -www \
		-cert "$WORK/server.pem" -key "$WORK/server.key" \
		-Verify 1 -verify_return_error -CAfile "$WORK/ca.pem" \
		</dev/null >"$WORK/server.log" 2>&1 &
	TLS_SERVER_PID=$!
	CLEANUP_HOOKS+=("kill $TLS_SERVER_PID 2>/dev/null")
	# Wait until it listens (it prints "ACCEPT <addr>:<port>"); bounded, and
	# gives up at once when the server died.
	TLS_PORT=
	for i in $(seq 300); do
		TLS_PORT=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$WORK/server.log")
		[ -n "$TLS_PORT" ] && break
		kill -0 "$TLS_SERVER_PID" 2>/dev/null ||
			{ cat "$WORK/server.log" >&2; fail "openssl s_server exited"; }
		sleep 0.1
	done
	[ -n "$TLS_PORT" ] || { cat "$WORK/server.log" >&2; fail "openssl s_server does not listen"; }
	printf 'GET / HTTP/1.0\r\n\r\n' >"$WORK/request"
	ok "TLS server on 127.0.0.1:$TLS_PORT (TLS 1.2, client certificate from the card's CA required)"
}

# tls_page_cert <log>: the client certificate the server's page shows (PEM).
tls_page_cert() {
	awk '/^Client certificate/ { on = 1 }
		on && /-----BEGIN CERTIFICATE-----/ { p = 1 }
		p { print }
		p && /-----END CERTIFICATE-----/ { exit }' "$1"
}

# tls_check_page <log name> <pin name>: the page came back, over TLS 1.2,
# and the certificate the server saw is the token's (byte for byte).
tls_check_page() {
	local log=$WORK/$1.log
	grep -q 'Protocol *: TLSv1\.2' "$log" ||
		{ cat "$log" >&2; fail "$1: no page from the server"; }
	grep -q "Subject: CN *= *Test User ($2)\$" "$log" ||
		{ cat "$log" >&2; fail "$1: the server did not see the $2 certificate"; }
	tls_page_cert "$log" | openssl x509 -outform DER -out "$WORK/$1.peer.der" ||
		fail "$1: no client certificate on the page"
	cmp -s "$WORK/$1.peer.der" "$WORK/cert-$2.der" ||
		fail "$1: the server saw a certificate other than the $2 token's"
}

# tls_tries <PIN ref hex>: tries left, as the card answers VERIFY.
tls_tries() { "$PY" "$INTEROP_DIR/pin_tries.py" "$RIG_DIR" "$1"; }

# Leave the card as found whatever happens: a right VERIFY for each PIN
# whose counter is not at its maximum (runs before the rig stops).
tls_restore_pins() {
	local p name rest ref pinval
	for p in $TLS_PINS; do
		name=${p%%:*}; rest=${p#*:}; rest=${rest#*:}; ref=${rest%%:*}
		rest=${rest#*:}; pinval=${rest%%:*}
		[ "$(tls_tries "$ref" 2>/dev/null)" = "$TLS_PIN_MAX" ] ||
			"$PY" "$INTEROP_DIR/pin_tries.py" "$RIG_DIR" "$ref" --restore "$pinval" >/dev/null 2>&1
	done
}
CLEANUP_HOOKS+=("tls_restore_pins")

tls_matrix() {
	local fn=$1 p name rest id ref pinval wrong n
	for p in $TLS_PINS; do
		name=${p%%:*}; rest=${p#*:}; id=${rest%%:*}; rest=${rest#*:}
		ref=${rest%%:*}; rest=${rest#*:}; pinval=${rest%%:*}; wrong=${rest#*:}
		[ -f "$WORK/cert-$name.der" ] || cert_of "$SO" "$name" "$id" "$WORK/cert-$name"

		"$fn" "$name" "$id" "$pinval" "hs-$name" ||
			{ cat "$WORK/hs-$name.log" >&2; fail "$TEST_NAME: handshake with the $name key failed"; }
		tls_check_page "hs-$name" "$name"
		ok "$name: handshake completed, the server saw the card's $name certificate"

		n=$(tls_tries "$ref") || fail "cannot read the $name PIN counter"
		[ "$n" = "$TLS_PIN_MAX" ] || fail "$name PIN: $n tries left before the wrong PIN, want $TLS_PIN_MAX"
		if "$fn" "$name" "$id" "$wrong" "bad-$name"; then
			cat "$WORK/bad-$name.log" >&2
			fail "handshake with a wrong $name PIN succeeded"
		fi
		! grep -q '^Client certificate' "$WORK/bad-$name.log" ||
			fail "wrong $name PIN: the server still returned a page"
		grep -Eq "$TLS_BAD_PIN_MSG" "$WORK/bad-$name.log" ||
			{ cat "$WORK/bad-$name.log" >&2; fail "wrong $name PIN: no clear message (want /$TLS_BAD_PIN_MSG/)"; }
		n=$(tls_tries "$ref") || fail "cannot read the $name PIN counter"
		[ "$n" = $((TLS_PIN_MAX - 1)) ] ||
			fail "wrong $name PIN: the card has $n tries left, want exactly one less ($((TLS_PIN_MAX - 1)))"
		ok "$name: wrong PIN refused ($(grep -Eo "$TLS_BAD_PIN_MSG" "$WORK/bad-$name.log" | head -1)), counter $TLS_PIN_MAX -> $n"

		"$fn" "$name" "$id" "$pinval" "again-$name" ||
			{ cat "$WORK/again-$name.log" >&2; fail "right $name PIN after a wrong one: handshake failed"; }
		tls_check_page "again-$name" "$name"
		n=$(tls_tries "$ref") || fail "cannot read the $name PIN counter"
		[ "$n" = "$TLS_PIN_MAX" ] || fail "right $name PIN: counter $n, want $TLS_PIN_MAX again"
		ok "$name: right PIN after the wrong one: handshake completed, counter back to $n"
	done
}
