#!/bin/bash
# APDUs per operation on the virtual card rig (tests/card): OpenSC directly
# vs p11overlay loading OpenSC.  The card process logs every APDU
# (rig insert --verbose: "> apdu" lines in DIR/card0.log); p11bench counts
# the lines around each loop.  Usage: card.sh BUILD RIGDIR OUT.tsv
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$1 dir=$2 out=$3
rig=$(dirname "$here")/tests/card/rig
if ! /usr/bin/python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import rig; m = rig.missing_dependencies(); print(*m); sys.exit(1 if m else 0)' "$(dirname "$rig")"; then
	echo "card.sh: rig dependencies missing" >&2
	exit 1
fi
"$rig" start "$dir" --no-card --verbose >/dev/null
trap '"$rig" stop "$dir" >/dev/null 2>&1 || true' EXIT
"$rig" insert "$dir" --verbose
# shellcheck disable=SC1091
. "$dir/env"
printf '[provider]\nmodule = %s\n' "$RIG_OPENSC_MODULE" >"$dir/p11overlay.conf"
first_label() {
	sed -n 's/^ *token label *: //p' | head -1
}
label=$(pkcs11-tool --module "$RIG_OPENSC_MODULE" -L 2>/dev/null | first_label)
# p11overlay names its virtual tokens itself (docs/architecture.md §4)
mlabel=$(P11OVERLAY_CONF=$dir/p11overlay.conf pkcs11-tool \
	--module "$build/p11overlay.so" -L 2>/dev/null | first_label)
P11OVERLAY_CONF=$dir/p11overlay.conf "$build/bench/p11bench" \
	--direct "$RIG_OPENSC_MODULE" --module "$build/p11overlay.so" \
	--label "$label" --module-label "$mlabel" --no-login --objects 0 --threads '' --iters 20 \
	--ops tokeninfo,findall,getattr,sessioninfo,slotlist \
	--apdu-log "$dir/card0.log" --tsv "$out"
