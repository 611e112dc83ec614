#!/bin/sh
# Start a private virtual-card rig, run the card access test against it,
# stop the rig whatever happens.  $1 = test_card_rig binary; $RIG = path
# of tests/card/rig (meson passes both).
set -u
here=$(cd "$(dirname "$0")" && pwd)
RIG=${RIG:-$here/../card/rig}
export RIG
dir=$(mktemp -d "${TMPDIR:-/tmp}/p11o-cardaccess.XXXXXX") || exit 1
cleanup() {
	"$RIG" stop "$dir" >/dev/null 2>&1
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM
if ! "$RIG" start "$dir" >"$dir.log" 2>&1; then
	cat "$dir.log" >&2
	rm -f "$dir.log"
	echo "rig unavailable: skipped" >&2
	exit 77
fi
rm -f "$dir.log"
. "$dir/env"
"$1"
