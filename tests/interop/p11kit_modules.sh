#!/bin/bash
# Interop: p11-kit registration with the shipped config/p11overlay.module.
#
#   p11kit_modules.sh <p11overlay.so> [overlay-only|proxy-dedup|both]
#
# p11-kit reads module files from its package dir (/usr/share/p11-kit/
# modules), /etc/pkcs11/modules and, for non-root users only, ~/.config/
# pkcs11/modules.  To test without touching the machine's registration
# (and without other tests seeing our module), the checks run in a private
# mount namespace (unshare -m as root, unshare -rm otherwise) where a temp
# dir is bind-mounted over p11-kit's package module dir (holding only the
# modules of the scenario) and another over p11-kit's module dir (symlinks:
# p11overlay.so -> the built module, opensc-pkcs11.so -> the real OpenSC), so
# the shipped file's relative "module: p11overlay.so" is used as is.
#
# overlay-only (default): p11overlay.module, and OpenSC's module file
#   switched off with a blank "module:" (documented in p11overlay(7)):
#   p11-kit list-modules shows p11overlay with both virtual tokens;
#   p11-kit-proxy.so shows each virtual token exactly once and signs;
#   p11tool without --provider (GnuTLS loads registered modules) lists them.
# proxy-dedup: OpenSC's module file with "disable-in: p11-kit-proxy" (the
#   other documented way): through p11-kit-proxy.so each virtual token
#   appears exactly once and signs.  (Programs that are not the proxy still
#   load both modules: see "both".)
# both: p11overlay.module and OpenSC's unchanged module file, as on a system
#   with opensc-pkcs11 installed: both modules load in one process and share
#   one opensc-pkcs11.so; p11overlay must still show its tokens and sign.
. "$(dirname "$0")/lib.sh"
[ "${2:-}" = proxy-dedup ] || no_asan_preload "p11-kit list-modules, GnuTLS p11tool"
need p11-kit pkcs11-tool openssl unshare mount
SCENARIO=${2:-overlay-only}
case "$SCENARIO" in overlay-only | proxy-dedup | both) ;; *) fail "unknown scenario $SCENARIO" ;; esac
PKGDIR=$(pkg-config --variable=p11_module_configs p11-kit-1 2>/dev/null ||
	echo /usr/share/p11-kit/modules)
PROXY=$(dirname "$MODDIR")/p11-kit-proxy.so
[ -r "$PROXY" ] || need "$PROXY"
SHIPPED=$INTEROP_DIR/../../config/p11overlay.module
[ -r "$SHIPPED" ] || fail "$SHIPPED missing"
grep -q '^module: *p11overlay.so *$' "$SHIPPED" ||
	fail "config/p11overlay.module does not register p11overlay.so"

mkdir -p "$WORK/modules" "$WORK/moddir" "$WORK/home"
cp "$SHIPPED" "$WORK/modules/p11overlay.module"
opensc_real=$(readlink -f "$RIG_OPENSC_MODULE")
ln -s "$opensc_real" "$WORK/moddir/opensc-pkcs11.so"
ln -s "$SO" "$WORK/moddir/p11overlay.so"
case "$SCENARIO" in
overlay-only) printf 'module:\n' >"$WORK/modules/opensc-pkcs11.module" ;;
proxy-dedup)
	printf 'module: opensc-pkcs11.so\ndisable-in: p11-kit-proxy\n' \
		>"$WORK/modules/opensc-pkcs11.module" ;;
both) printf 'module: opensc-pkcs11.so\n' >"$WORK/modules/opensc-pkcs11.module" ;;
esac

# The checks, run inside the namespace.
cat >"$WORK/inner.sh" <<EOS
set -eu
mount --bind "$WORK/modules" "$PKGDIR"
mount --bind "$WORK/moddir" "$MODDIR"
export HOME="$WORK/home"      # no user module config (root ignores it anyway)
unset XDG_CONFIG_HOME
exec bash "$INTEROP_DIR/p11kit_modules_inner.sh" "$SCENARIO" "$PROXY" "$WORK"
EOS
if [ "$(id -u)" -eq 0 ]; then NS=(unshare -m --propagation private)
else NS=(unshare -r -m --propagation private); fi
export PIN_ID PIN_SIGN
rc=0
"${NS[@]}" bash "$WORK/inner.sh" || rc=$?
[ "$rc" -eq 0 ] || fail "scenario $SCENARIO failed (exit $rc)"
# Nothing leaked outside the namespace.
! grep -qs 'p11overlay' "$PKGDIR"/*.module || fail "p11overlay.module visible outside the namespace"
echo "PASS: $TEST_NAME $SCENARIO"
