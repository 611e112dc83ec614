# shellcheck shell=bash disable=SC2034
# Shared helpers of the interop tests (sourced by bash scripts).
#
#   . lib.sh <p11overlay.so>
#
# Starts a private virtual-card rig (tests/card/rig) in a mktemp dir, stops it
# and removes the dir on exit whatever happens, and points p11overlay at the
# rig's OpenSC with a throw-away config (P11OVERLAY_CONF).  Tests call
# need <tool>... (exit 77 only when a tool is absent), fail "<msg>" (exit 1),
# ok "<msg>", and use $SO, $WORK, $PIN_ID/$PIN_SIGN, token_slot/token_label.
set -u
set -o pipefail

SO=${1:-${P11OVERLAY_SO:-}}
INTEROP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RIG=${RIG:-$INTEROP_DIR/../card/rig}
PY=/usr/bin/python3          # Debian's python (python3-pykcs11, -cryptography)
PIN_ID=1234                  # PIN "Identification" (ref 0x81), key ID 01
PIN_SIGN=123456              # PIN "Signing" (ref 0x82), key ID 02
MODDIR=$(pkg-config --variable=p11_module_path p11-kit-1 2>/dev/null ||
	echo /usr/lib/x86_64-linux-gnu/pkcs11)
TEST_NAME=$(basename "$0" .sh)

fail() { echo "FAIL: $TEST_NAME: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
skip() { echo "SKIP: $TEST_NAME: $*" >&2; exit 77; }
need() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || [ -e "$t" ] ||
			skip "$t not installed (scripts/deps.sh installs it)"
	done
}
# run <log name> <command...>: run, keep the output in $WORK/<log name>.log,
# show it and fail when the command fails.
run() {
	local name=$1 rc=0
	shift
	"$@" >"$WORK/$name.log" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ]; then
		cat "$WORK/$name.log" >&2
		fail "$name: '$*' exited with $rc"
	fi
}

# Sanitizer builds: meson's ext_test_env preloads libasan into every program.
# C++ programs loaded later (PyKCS11's extension) then need libstdc++ in the
# preload too, or ASan's __cxa_throw interceptor aborts.
case "${LD_PRELOAD:-}" in
*libasan*)
	stdcxx=$(ldconfig -p 2>/dev/null | awk '/libstdc\+\+\.so\.6 .*x86-64/ {print $NF; exit}')
	[ -n "$stdcxx" ] && export LD_PRELOAD="$LD_PRELOAD $stdcxx" ;;
esac
# no_asan_preload <why>: programs that hang with libasan preloaded whatever
# module they load (p11-kit and GnuTLS: `p11tool --provider p11-kit-trust.so
# --list-tokens` never exits) cannot run an ASan-built p11overlay.so: skip.
no_asan_preload() {
	case "${LD_PRELOAD:-}" in
	*libasan*) skip "sanitizer build: $* hangs with libasan preloaded (also without p11overlay)" ;;
	esac
}

[ -n "$SO" ] || fail "usage: $0 <p11overlay.so>"
[ -r "$SO" ] || fail "$SO not found"
SO=$(cd "$(dirname "$SO")" && pwd)/$(basename "$SO")
need "$PY" "$RIG"
unset P11OVERLAY_TRACE

WORK=$(mktemp -d "${TMPDIR:-/tmp}/p11o-interop-$TEST_NAME.XXXXXX") || exit 99
CLEANUP_HOOKS=()
interop_cleanup() {
	local h
	for h in "${CLEANUP_HOOKS[@]}"; do eval "$h" || true; done
	"$RIG" stop "$WORK/rig" >/dev/null 2>&1
	if [ -n "${P11O_INTEROP_KEEP:-}" ]; then
		echo "kept $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}
trap interop_cleanup EXIT
trap 'exit 130' INT TERM

if ! "$RIG" start "$WORK/rig" >"$WORK/rig-start.log" 2>&1; then
	cat "$WORK/rig-start.log" >&2
	fail "the virtual card rig does not start (see tests/card/README.md)"
fi
# shellcheck disable=SC1091
. "$WORK/rig/env"
printf '[provider]\nmodule = %s\n' "$RIG_OPENSC_MODULE" >"$WORK/p11overlay.conf"
chmod 0644 "$WORK/p11overlay.conf" # refused if group-writable (umask 002)
export P11OVERLAY_CONF=$WORK/p11overlay.conf

# token_field <module> <pin name> <slot|label>: the slot ID (hex, as
# pkcs11-tool prints it) or the token label of the virtual token whose label
# ends in "(<pin name>)".  Empty when there is none.
token_field() {
	pkcs11-tool --module "$1" -L 2>/dev/null | awk -v pin="($2)" -v what="$3" '
		/^Slot [0-9]+ \(0x[0-9a-f]+\)/ { id = $3; gsub(/[():]/, "", id) }
		/^  token label *:/ {
			l = $0; sub(/^  token label *: /, "", l)
			n = length(pin)
			if (substr(l, length(l) - n + 1) == pin) {
				print (what == "slot" ? id : l); exit
			}
		}'
}
token_slot() { token_field "${2:-$SO}" "$1" slot; }
token_label() { token_field "${2:-$SO}" "$1" label; }

# uri_enc <string>: percent-encode for a pkcs11: URI attribute value.
uri_enc() {
	LC_ALL=C awk -v s="$1" 'BEGIN {
		for (i = 0; i < 256; i++) ord[sprintf("%c", i)] = i
		for (i = 1; i <= length(s); i++) {
			c = substr(s, i, 1)
			if (c ~ /[A-Za-z0-9_.~-]/) printf "%s", c
			else printf "%%%02X", ord[c]
		}
	}'
}

# cert_of <module> <pin name> <id hex> <out prefix>: read the certificate
# with that ID from the token without login, write <out>.der, <out>.pem
# (certificate) and <out>.pub.pem (its public key).
cert_of() {
	local slot
	slot=$(token_slot "$2" "$1")
	[ -n "$slot" ] || fail "no token for PIN $2 in $1"
	run "read-cert-$3" pkcs11-tool --module "$1" --slot "$slot" \
		--read-object --type cert --id "$3" -o "$4.der"
	openssl x509 -inform DER -in "$4.der" -out "$4.pem" ||
		fail "certificate $3 of $2 is not X.509"
	openssl x509 -in "$4.pem" -noout -pubkey >"$4.pub.pem" ||
		fail "no public key in certificate $3"
}
