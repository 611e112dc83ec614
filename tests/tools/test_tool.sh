#!/bin/bash
# p11overlay-tool end to end (issue 7): selfcheck, variables, config check,
# list, unlock --puk / --challenge with --pin-fd on the card rig, init and
# reset on SoftHSM2.  $1 = p11overlay-tool, $2 = p11overlay.so, $RIG.
set -u
tool=$1
mod=$(realpath "$2")
here=$(cd "$(dirname "$0")" && pwd)
carddir=$here/../card
RIG=${RIG:-$carddir/rig}
dir=$(mktemp -d "${TMPDIR:-/tmp}/p11o-tool.XXXXXX") || exit 1
cleanup() {
	"$RIG" stop "$dir/rig" >/dev/null 2>&1
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM
fails=0
T() { "$tool" --module "$mod" "$@"; }
ok() { echo "ok - $*"; }
bad() {
	echo "FAIL - $*"
	fails=$((fails + 1))
}
check() { # check DESC EXPECTED-RC CMD...
	local desc=$1 want=$2
	shift 2
	out=$("$@" 2>"$dir/stderr")
	rc=$?
	if [ "$rc" -eq "$want" ]; then ok "$desc"; else
		bad "$desc (rc $rc, want $want): $out $(cat "$dir/stderr")"
	fi
}
has() { # has DESC PATTERN: in the last output (stdout+stderr)
	if grep -q -- "$2" <<<"$out$(cat "$dir/stderr")"; then ok "$1"; else
		bad "$1: no '$2' in: $out $(cat "$dir/stderr")"
	fi
}

# ---- no token needed --------------------------------------------------
export P11OVERLAY_CONF=$dir/empty.conf
: >"$P11OVERLAY_CONF"
chmod 644 "$P11OVERLAY_CONF" # refused if group-writable (umask 002)
check "selfcheck" 0 T selfcheck
has "selfcheck compares the ABI" "OK: same byte order"
check "variables list" 0 T variables
has "variables list shows system-info" "system-info = p11overlay"
check "variables one (alias)" 0 T variables netid-system-info
has "system-info names the build" "PKCS11 - .* endian build (.*-bits CK_ULONG)"
check "unknown variable" 1 T variables no-such-variable
has "unknown variable named" "CKR_ARGUMENTS_BAD"
check "read-only variable" 1 T variables version=2
check "usage error" 2 T frobnicate
# Usage errors are found before anything is loaded: a module that does
# not exist would make them exit 3.
check "unknown command: usage, before loading" 2 "$tool" --module /nonexistent.so bogus
has "unknown command named" "unknown command bogus"
check "unknown option: usage, before loading" 2 "$tool" --module /nonexistent.so --bogus list
check "extra argument: usage, before loading" 2 "$tool" --module /nonexistent.so list extra
check "config without check: usage" 2 "$tool" --module /nonexistent.so config frob
default_mod=$("$tool" --help | sed -n 's/^default module: //p')
if [ ! -e "$default_mod" ]; then
	check "module not installed" 3 "$tool" list
	has "not installed: --module suggested" "give the module with --module PATH"
fi
# No PC/SC service: list says so (exit 5), not an empty success.
printf '[provider]\nmodule = %s\n' "${RIG_OPENSC_MODULE:-$(dirname "$default_mod")/opensc-pkcs11.so}" >"$dir/nopcsc.conf"
chmod 644 "$dir/nopcsc.conf"
check "list without pcscd" 5 env P11OVERLAY_CONF="$dir/nopcsc.conf" \
	PCSCLITE_CSOCK_NAME="$dir/no-such.sock" "$tool" --module "$mod" list
has "no slots said" "no slots found"
has "no PC/SC service said" "no PC/SC service: cannot connect to $dir/no-such.sock"
check "config check of a good file" 0 T config check "$P11OVERLAY_CONF"
has "no errors" "0 error(s), 0 warning(s)"
printf '[unlock]\ntimeout = abc\nbogus = 1\n' >"$dir/bad.conf"
chmod 644 "$dir/bad.conf"
check "config check of a bad file" 1 T config check "$dir/bad.conf"
has "bad value reported" "bad.conf:2"
has "unknown key reported" "bogus"
check "config check of a missing file" 1 T config check "$dir/none.conf"

# ---- card rig ----------------------------------------------------------
if ! "$RIG" start "$dir/rig" >"$dir/rig.log" 2>&1; then
	cat "$dir/rig.log" >&2
	echo "rig unavailable: card part skipped" >&2
	[ $fails -eq 0 ] && exit 77
	exit 1
fi
. "$dir/rig/env"
cat >"$dir/card.conf" <<CONF
[provider]
module = $RIG_OPENSC_MODULE
[card "vcard"]
application = PKCS #15
unlock-key-ref = 0x01
CONF
chmod 644 "$dir/card.conf"
export P11OVERLAY_CONF=$dir/card.conf
apdu() { # raw APDUs to the rig's card; prints the last SW
	/usr/bin/python3 - "$carddir" "$dir/rig" "$@" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import rig
p = rig.Pcsc(sys.argv[2])
sw = 0
for a in sys.argv[3:]:
    sw = p.transmit(a)[1]
print("%04X" % sw)
PY
}
block() { apdu 002000810430303030 002000810430303030 002000810430303030 >/dev/null; }

check "list" 0 T list
has "list shows the Identification token" "(Identification)"
has "list shows the Signing token" "(Signing)"
has "list shows PIN states" "user PIN: ok"
block
check "list after blocking" 0 T list
has "list shows the blocked PIN" "user PIN: LOCKED"
printf '87654321\n4321\n' >"$dir/wrong"
check "unlock --puk, wrong PUK" 1 T --token Identification unlock --puk --pin-fd 3 3<"$dir/wrong"
has "wrong PUK named" "CKR_PIN_INCORRECT"
printf '12345678\n4321\n' >"$dir/puk"
check "unlock --puk" 0 T --token Identification unlock --puk --pin-fd 3 3<"$dir/puk"
[ "$(apdu 002000810434333231)" = 9000 ] && ok "new PIN verifies" || bad "new PIN does not verify"
check "unlock needs a token" 2 T --token nosuch unlock --puk --pin-fd 3 3<"$dir/puk"
check "reset is not for this card" 1 T --token Identification reset --pin-fd 3 3<<<"4321"
has "reset answer named" "CKR_FUNCTION_NOT_SUPPORTED"

# challenge-response: the tool prints the challenge, reads the response
block
printf '1234\n' >"$dir/newpin"
coproc TOOL { T --token Identification unlock --challenge --pin-fd 3 3<"$dir/newpin" 2>"$dir/stderr"; }
read -r -t 20 line <&"${TOOL[0]}"
ch=${line#Challenge: }
resp=$(/usr/bin/python3 -c "import sys; sys.path.insert(0, '$carddir'); import vcard; print(vcard.compute_unlock_response('0123456789ABCDEFFEDCBA98765432100F1E2D3C4B5A6978', bytes.fromhex('$ch')).hex())")
echo "$resp" >&"${TOOL[1]}"
wait "$TOOL_PID"
rc=$?
[ $rc -eq 0 ] && ok "unlock --challenge" || bad "unlock --challenge rc $rc: $line $(cat "$dir/stderr")"
[ "$(apdu 002000810431323334)" = 9000 ] && ok "PIN after challenge-response" || bad "PIN after challenge-response"
block
check "unlock --challenge, wrong response" 1 T --token Identification unlock --challenge --response 0011223344556677 --pin-fd 3 3<"$dir/newpin"
has "wrong response named" "CKR_PIN_INCORRECT"
check "unlock --puk again" 0 T --token Identification unlock --puk --pin-fd 3 3<"$dir/puk"

# ---- SoftHSM2: init and reset -----------------------------------------
softhsm=/usr/lib/softhsm/libsofthsm2.so
if [ -r "$softhsm" ]; then
	mkdir -p "$dir/tokens"
	printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\n' "$dir" >"$dir/softhsm2.conf"
	export SOFTHSM2_CONF=$dir/softhsm2.conf
	printf '[provider]\nmodule = %s\n' "$softhsm" >"$dir/soft.conf"
chmod 644 "$dir/soft.conf"
	export P11OVERLAY_CONF=$dir/soft.conf
	slot=$(T list | sed -n 's/^Slot \(0x[0-9a-f]*\):.*/\1/p' | head -1)
	printf 'so-secret\n1111\n' >"$dir/init"
	check "init with a user PIN" 0 T --slot "$slot" init --label tooltest --user-pin --pin-fd 3 3<"$dir/init"
	check "list the new token" 0 T list
	has "token listed" "token:    tooltest"
	check "reset, wrong PIN" 1 T --token tooltest reset --pin-fd 3 3<<<"0000"
	check "reset" 0 T --token tooltest reset --pin-fd 3 3<<<"1111"
	check "unlock --puk on a soft token" 1 T --token tooltest unlock --puk --pin-fd 3 3<"$dir/puk"
	has "no PUK on soft tokens" "CKR_FUNCTION_NOT_SUPPORTED"
fi
echo "$fails failure(s)"
[ $fails -eq 0 ]
