#!/bin/bash
# TLS client authentication with GnuTLS: gnutls-cli takes the card's
# certificate and key by pkcs11: URI from the modules registered with
# p11-kit (no --provider), and fetches the page of a local
# `openssl s_server -Verify 1`.  Each PIN's key, a wrong PIN first
# (tls_lib.sh).
#
# Registration without touching the machine's (as p11kit_modules.sh): each
# gnutls-cli runs in a private mount namespace where p11-kit's module config
# dir holds only the shipped config/p11overlay.module (and OpenSC's switched
# off with a blank "module:"), and p11-kit's module dir a symlink
# p11overlay.so -> the built module (and OpenSC, p11overlay's provider); /etc/pkcs11/modules, when present, is
# covered by an empty dir.
#   tls_gnutls.sh <p11overlay.so>
. "$(dirname "$0")/lib.sh"
. "$INTEROP_DIR/tls_lib.sh"
no_asan_preload "GnuTLS gnutls-cli"
need gnutls-cli openssl pkcs11-tool unshare mount
PKGDIR=$(pkg-config --variable=p11_module_configs p11-kit-1 2>/dev/null ||
	echo /usr/share/p11-kit/modules)
SHIPPED=$INTEROP_DIR/../../config/p11overlay.module
[ -r "$SHIPPED" ] || fail "$SHIPPED missing"
mkdir -p "$WORK/modules" "$WORK/moddir" "$WORK/empty" "$WORK/home"
cp "$SHIPPED" "$WORK/modules/p11overlay.module"
printf 'module:\n' >"$WORK/modules/opensc-pkcs11.module"
ln -s "$SO" "$WORK/moddir/p11overlay.so"
# p11overlay's provider (the config names it by its path in that dir).
ln -s "$(readlink -f "$RIG_OPENSC_MODULE")" "$WORK/moddir/$(basename "$RIG_OPENSC_MODULE")"
if [ "$(id -u)" -eq 0 ]; then NS=(unshare -m --propagation private)
else NS=(unshare -r -m --propagation private); fi
# The namespace's setup, then the command given as arguments.
cat >"$WORK/in-ns.sh" <<EOS
set -e
mount --bind "$WORK/modules" "$PKGDIR"
mount --bind "$WORK/moddir" "$MODDIR"
[ ! -d /etc/pkcs11/modules ] || mount --bind "$WORK/empty" /etc/pkcs11/modules
export HOME="$WORK/home"
unset XDG_CONFIG_HOME
exec "\$@"
EOS

run registered "${NS[@]}" bash "$WORK/in-ns.sh" p11-kit list-modules
grep -q '^p11overlay: p11overlay.so$' "$WORK/registered.log" ||
	{ cat "$WORK/registered.log" >&2; fail "p11overlay is not registered in the namespace"; }
ok "p11-kit (private registration): p11overlay.so registered"
TLS_BAD_PIN_MSG='Error in provided PIN'

tls_server_start
gnutls_client() {
	local tok
	tok="pkcs11:token=$(uri_enc "$(token_label "$1")");id=%$2"
	"${NS[@]}" bash "$WORK/in-ns.sh" gnutls-cli --x509cafile "$WORK/ca.pem" \
		--x509certfile "$tok;type=cert" \
		--x509keyfile "$tok;type=private;pin-value=$3" \
		-p "$TLS_PORT" 127.0.0.1 <"$WORK/request" >"$WORK/$4.log" 2>&1
}
tls_matrix gnutls_client
echo "PASS: $TEST_NAME"
