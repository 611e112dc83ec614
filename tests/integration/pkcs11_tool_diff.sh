#!/bin/bash
# pkcs11-tool through SoftHSM2 directly vs through p11overlay.so (issue 2).
#
#   pkcs11_tool_diff.sh <p11overlay.so> [<libsofthsm2.so>]
#
# One SoftHSM2 token with an RSA and an EC key pair is created once and
# copied, so each module works on an identical throw-away copy.  Then
# `pkcs11-tool -I -L`, `-O`, `-M`, `--login --pin ... -O` and
# `--login --pin ... --test` run against each module; the lines the proxy
# owns (CK_INFO: Cryptoki version, manufacturer, library; slot ID numbers)
# are normalised and the outputs must otherwise be identical.
# Exit 0 = identical, 1 = differences, 77 = skipped (tools missing).
set -u

PROXY=${1:?usage: $0 <p11overlay.so> [<libsofthsm2.so>]}
SOFTHSM=${2:-/usr/lib/softhsm/libsofthsm2.so}
SO_PIN=12345678
PIN=1234

for tool in pkcs11-tool softhsm2-util; do
	if ! command -v "$tool" >/dev/null; then
		echo "SKIP: $tool not installed"
		exit 77
	fi
done
[ -r "$SOFTHSM" ] || { echo "SKIP: $SOFTHSM not found"; exit 77; }
[ -r "$PROXY" ] || { echo "FAIL: $PROXY not found"; exit 1; }

TMP=$(mktemp -d /tmp/p11o-tooldiff-XXXXXX) || exit 99
if [ -n "${P11O_DIFF_KEEP:-}" ]; then echo "keeping $TMP"; else trap 'rm -rf "$TMP"' EXIT; fi
unset P11OVERLAY_TRACE

conf() { # <name>: softhsm2.conf for <name>/tokens
	mkdir -p "$TMP/$1/tokens"
	printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
		"$TMP/$1/tokens" >"$TMP/$1/softhsm2.conf"
	printf '[provider]\nmodule = %s\n[objects]\nenabled = no\n[mechanisms]\nenabled = no\n' "$SOFTHSM" >"$TMP/$1/p11overlay.conf"
	chmod 0644 "$TMP/$1/p11overlay.conf" # refused if group-writable (umask 002)
}

conf template
export SOFTHSM2_CONF=$TMP/template/softhsm2.conf
if ! softhsm2-util --init-token --free --label difftok --so-pin $SO_PIN \
	--pin $PIN >"$TMP/setup.log" 2>&1 ||
	! pkcs11-tool --module "$SOFTHSM" --login --pin $PIN --keypairgen \
		--key-type rsa:2048 --id 01 --label rsakey >>"$TMP/setup.log" 2>&1 ||
	! pkcs11-tool --module "$SOFTHSM" --login --pin $PIN --keypairgen \
		--key-type EC:prime256v1 --id 02 --label eckey >>"$TMP/setup.log" 2>&1; then
	echo "FAIL: token setup"
	cat "$TMP/setup.log"
	exit 99
fi

# The lines the proxy owns (docs/architecture.md §1, §4): CK_INFO and slot IDs.
normalise() {
	sed -E \
		-e 's/^(Cryptoki version) .*/\1 <proxy-owned>/' \
		-e 's/^(Manufacturer {5}).*/\1<proxy-owned>/' \
		-e 's/^(Library {10}).*/\1<proxy-owned>/' \
		-e 's/^(Slot [0-9]+ )\(0x[0-9a-f]+\)/\1(<slot-id>)/' \
		-e 's/(with a present token )\(0x[0-9a-f]+\)/\1(<slot-id>)/' \
		-e 's/(slot )0x[0-9a-f]+( selected)/\1<slot-id>\2/'
}

fail=0
run_case() { # <case name> <pkcs11-tool args...>
	local name=$1
	shift
	for side in direct proxy; do
		local module=$SOFTHSM
		[ $side = proxy ] && module=$PROXY
		SOFTHSM2_CONF=$TMP/$side/softhsm2.conf \
			P11OVERLAY_CONF=$TMP/$side/p11overlay.conf \
			timeout 120 pkcs11-tool --module "$module" "$@" \
			>"$TMP/$name.$side.raw" 2>&1
		echo "exit status $?" >>"$TMP/$name.$side.raw"
		normalise <"$TMP/$name.$side.raw" >"$TMP/$name.$side"
	done
	if diff -u --label "direct: pkcs11-tool $*" --label "proxy: pkcs11-tool $*" \
		"$TMP/$name.direct" "$TMP/$name.proxy"; then
		echo "ok: pkcs11-tool $* ($(wc -l <"$TMP/$name.direct") lines)"
	else
		echo "DIFF: pkcs11-tool $*"
		fail=1
	fi
}

for side in direct proxy; do
	conf $side
	cp -a "$TMP/template/tokens/." "$TMP/$side/tokens/"
done

run_case info -I -L
run_case objects -O
run_case mechanisms -M
run_case objects-login --login --pin $PIN -O
run_case test --login --pin $PIN --test
run_case bad-pin --login --pin 0000 -O

# The proxy's CK_INFO: version 2.11, manufacturer p11overlay.
if ! grep -q '^Cryptoki version 2.11$' "$TMP/info.proxy.raw" ||
	! grep -q '^Manufacturer     p11overlay$' "$TMP/info.proxy.raw"; then
	echo "FAIL: proxy CK_INFO is not 2.11/p11overlay:"
	grep -E '^(Cryptoki|Manufacturer|Library)' "$TMP/info.proxy.raw"
	fail=1
fi
exit $fail
