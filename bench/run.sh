#!/bin/bash
# Benchmarks of issue 10; see bench/README.md.
#
#   bench/run.sh [--build DIR] [--reps N] [--scale F] [--no-wall]
#                [--no-callgrind] [--no-allocs] [--no-card] [--no-readme]
#
# Every case runs p11bench, which measures the reference module (SoftHSM2
# called directly) and the module under test back to back in one
# invocation.  Wall-clock cases are repeated --reps times (default 3) and
# reported as medians; callgrind cases run once (instruction counts are
# deterministic).  Results go to bench/README.md between the markers and
# to stdout; raw files stay in the work directory printed at the end.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
build=${BUILD:-$src/build}
reps=3
scale=1
do_wall=1 do_cg=1 do_allocs=1 do_card=1 do_readme=1
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$2; shift ;;
	--reps) reps=$2; shift ;;
	--scale) scale=$2; shift ;;
	--no-wall) do_wall=0 ;;
	--no-callgrind) do_cg=0 ;;
	--no-allocs) do_allocs=0 ;;
	--no-card) do_card=0 ;;
	--no-readme) do_readme=0 ;;
	*) echo "usage: $0 [--build DIR] [--reps N] [--scale F] [--no-wall] [--no-callgrind] [--no-allocs] [--no-card] [--no-readme]" >&2; exit 2 ;;
	esac
	shift
done
build=$(cd "$build" && pwd)
bench=$build/bench/p11bench
mcount=$build/bench/libp11bench_malloc.so
overlay=$build/p11overlay.so
softhsm=/usr/lib/softhsm/libsofthsm2.so
p11kit=/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so
spy=/usr/lib/x86_64-linux-gnu/pkcs11/pkcs11-spy.so
py=/usr/bin/python3
for f in "$bench" "$mcount" "$overlay" "$softhsm" "$p11kit" "$spy"; do
	[ -e "$f" ] || { echo "run.sh: missing $f (build with ninja -C $build)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/p11bench-run.XXXXXX)
chmod 755 "$work"
mkdir -p "$work/tokens" "$work/res" "$work/cg" "$work/home/.config/pkcs11/modules"
cat >"$work/softhsm2.conf" <<EOF
directories.tokendir = $work/tokens
objectstore.backend = file
log.level = ERROR
EOF
export SOFTHSM2_CONF=$work/softhsm2.conf
softhsm2-util --init-token --free --label p11bench --so-pin 12345678 --pin 123456 >/dev/null
printf '[provider]\nmodule = %s\n' "$softhsm" >"$work/p11overlay.conf"
# p11-kit-proxy with SoftHSM2 only: a private user config.  p11-kit ignores
# user config as root, so that case runs as an unprivileged user.
printf 'user-config: only\n' >"$work/home/.config/pkcs11/pkcs11.conf"
printf 'module: %s\n' "$softhsm" >"$work/home/.config/pkcs11/modules/softhsm2.module"
runas=()
if [ "$(id -u)" = 0 ]; then
	id p11bench >/dev/null 2>&1 || useradd -m p11bench
	chown -R p11bench "$work"
	runas=(runuser -u p11bench --)
fi

# case name -> module and environment
case_env() {
	local c=$1
	case $c in
	direct) echo "$softhsm" ;;
	p11o-off) echo "$overlay P11OVERLAY_CONF=$work/p11overlay.conf" ;;
	p11o-calls) echo "$overlay P11OVERLAY_CONF=$work/p11overlay.conf P11OVERLAY_TRACE=$work/trace-calls.log,calls" ;;
	p11o-full) echo "$overlay P11OVERLAY_CONF=$work/p11overlay.conf P11OVERLAY_TRACE=$work/trace-full.log,full" ;;
	p11kit) echo "$p11kit HOME=$work/home XDG_CONFIG_HOME=$work/home/.config" ;;
	spy-null) echo "$spy PKCS11SPY=$softhsm PKCS11SPY_OUTPUT=/dev/null" ;;
	spy-file) echo "$spy PKCS11SPY=$softhsm PKCS11SPY_OUTPUT=$work/spy.log" ;;
	esac
}

# run_case CASE [p11bench args...]: p11bench with the case's module and env
run_case() {
	local c=$1; shift
	local spec; read -r -a spec <<<"$(case_env "$c")"
	local mod=${spec[0]}
	local prefix=()
	[ "$c" = p11kit ] && prefix=("${runas[@]}")
	rm -f "$work"/trace-*.log "$work/spy.log"
	"${prefix[@]}" env SOFTHSM2_CONF="$SOFTHSM2_CONF" "${spec[@]:1}" \
		"$bench" --direct "$softhsm" --module "$mod" "$@"
}

cases=(direct p11o-off p11o-calls p11o-full p11kit spy-null spy-file)

if [ $do_wall = 1 ]; then
	for r in $(seq 1 "$reps"); do
		for c in "${cases[@]}"; do
			echo "== wall $c (run $r/$reps)"
			run_case "$c" --scale "$scale" --tsv "$work/res/wall.$c.$r.tsv"
		done
	done
fi

if [ $do_cg = 1 ]; then
	for c in "${cases[@]}"; do
		echo "== callgrind $c"
		run_case "$c" --callgrind --iters 2000 --threads '' \
			--ops sessioninfo,slotlist,getattr,tokeninfo,random,digest \
			--cg-dir "$work/cg/$c" --tsv "$work/res/cg.$c.tsv"
	done
fi

if [ $do_allocs = 1 ]; then
	for c in p11o-off p11o-calls p11o-full p11kit spy-null; do
		echo "== allocations $c"
		LD_PRELOAD=$mcount run_case "$c" --scale 0.02 --threads '' --quiet \
			--tsv "$work/res/allocs.$c.tsv"
	done
fi

if [ $do_card = 1 ]; then
	echo "== card rig (APDUs per operation)"
	"$here/card.sh" "$build" "$work/rig" "$work/res/card.tsv" || echo "card rig skipped"
fi

rm -f "$work"/trace-*.log "$work/spy.log"
args=("$work/res")
[ $do_readme = 1 ] && args+=(--readme "$here/README.md")
"$py" "$here/report.py" "${args[@]}"
echo "raw results: $work/res"
