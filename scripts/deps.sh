#!/bin/sh
# Install the Debian packages p11overlay builds and tests with, when missing.
# `apt-get update` runs once, and only when something must be installed.
set -eu
PKGS="meson ninja-build pkg-config gcc clang libclang-rt-14-dev
libcmocka-dev libp11-kit-dev p11-kit libssl-dev libpcsclite-dev pcscd
vsmartcard-vpcd opensc opensc-pkcs11 softhsm2 python3 python3-cryptography
python3-pyscard python3-pykcs11 gnutls-bin libnss3-tools
libengine-pkcs11-openssl openssl openssh-client curl
firefox-esr xvfb xdotool x11-apps dbus mount clang-format cppcheck valgrind gdb elfutils util-linux"
[ "${1:-}" = "--minimal" ] && PKGS=$(echo "$PKGS" | tr ' ' '\n' | grep -v -e clang-format -e cppcheck -e valgrind -e firefox-esr -e xvfb -e xdotool -e x11-apps -e '^clang$' -e libclang-rt | tr '\n' ' ')
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "deps: installing$missing"
	SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
