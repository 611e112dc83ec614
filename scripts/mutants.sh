#!/bin/bash
# Mutation check before a release (issue 18; not part of CI, it is slow).
#
#   scripts/mutants.sh [--num-processes N] [--jobs J] [--timeout-multiplier X]
#                      [--only NAME,...] [--quick | --tests 'TEST ...'] [--keep]
#
# Each file scripts/mutants/*.mut plants one small, realistic bug: a
# literal piece of a source file and what it becomes.  For each mutant,
# one at a time, in a scratch copy of this tree (the tracked files as
# they are in the work tree, with untracked files not ignored, copied
# once per worker process): plant it,
# build (incremental), run the plain suite (meson test with each test's
# own timeout from meson.build, times X, default 1; --tests runs only
# those, --quick only the tests the mutant's "tests:" line names; J tests
# at a time per worker, default 1), then put the file back.  --quick
# gives a lower bound of the suite's kills in a fraction of the time.  A mutant is KILLED when a test fails,
# SURVIVED when the suite stays green; a suite that only fails by timeout
# counts as SURVIVED (a hang is not a test that names the bug).  A
# mutant whose text is no longer in the file once, or that does not
# build, is reported STALE / NOBUILD and left out of the score.
#
# Mutant file format:
#   file: proxy/variables.c
#   why: one line saying what the bug is
#   tests: the tests meant to kill it (for --quick)
#   --- (the exact text to replace, it must occur once in the file)
#   ...
#   +++ (what it becomes)
#   ...
# Exit status: 0 when every valid mutant was killed, 1 otherwise.
set -u
cd "$(dirname "$0")/.." || exit 2
SRC=$(pwd)
NPROC=1
TMUL=1
ONLY=""
TESTS=""
KEEP=0
QUICK=0
JOBS=1
while [ $# -gt 0 ]; do
	case "$1" in
	--num-processes) NPROC=$2; shift 2 ;;
	--timeout-multiplier) TMUL=$2; shift 2 ;;
	--only) ONLY=$2; shift 2 ;;
	--tests) TESTS=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	--quick) QUICK=1; shift ;;
	--jobs) JOBS=$2; shift 2 ;;
	*) echo "usage: $0 [--num-processes N] [--timeout-multiplier X] [--only A,B] [--quick | --tests 'T ...'] [--jobs J] [--keep]" >&2; exit 2 ;;
	esac
done

MUTANTS=()
for m in scripts/mutants/*.mut; do
	name=$(basename "$m" .mut)
	if [ -n "$ONLY" ] && ! echo ",$ONLY," | grep -q ",$name,"; then
		continue
	fi
	MUTANTS+=("$name")
done
[ ${#MUTANTS[@]} -gt 0 ] || { echo "no mutants selected" >&2; exit 2; }

WORK=$(mktemp -d /tmp/p11overlay-mutants.XXXXXX)
cleanup() {
	# Workers are in their own process groups; stop them with us.
	for p in $(jobs -p); do kill -- -"$p" 2>/dev/null; done
	if [ "$KEEP" = 1 ] || [ ! -s "$WORK/results" ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# plant FILE.mut DIR: replace the text; 0 ok, 3 stale.
plant() {
	/usr/bin/python3 - "$1" "$2" <<'EOF'
import sys
mut, root = sys.argv[1], sys.argv[2]
meta, old, new, cur = {}, [], [], None
for line in open(mut).read().split("\n"):
    if cur is None and line.startswith("---"):
        cur = old
    elif cur is old and line.startswith("+++"):
        cur = new
    elif cur is None:
        if ":" in line:
            k, v = line.split(":", 1)
            meta[k.strip()] = v.strip()
    else:
        cur.append(line)
while new and new[-1] == "":
    new.pop()
old_s, new_s = "\n".join(old).rstrip("\n"), "\n".join(new)
path = root + "/" + meta["file"]
text = open(path).read()
if not old_s or text.count(old_s) != 1:
    print("stale: text found %d times in %s" % (text.count(old_s), meta["file"]))
    sys.exit(3)
open(path, "w").write(text.replace(old_s, new_s))
EOF
}

# Names of the tests meson reported with one of the results in $1.
failed_tests() {
	awk -v re="^($1)\$" '$1 ~ /^[0-9]+\/[0-9]+$/ {
		for (i = 2; i <= NF; i++) if ($i ~ re) { print $(i - 1); break } }' "$2" |
		tr '\n' ' ' | sed 's/ $//'
}

field() { sed -n "s/^$2: *//p" "$1" | head -1; }

worker() {
	local w=$1; shift
	local tree="$WORK/tree$w" log="$WORK/w$w"
	mkdir -p "$tree" "$log"
	git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$tree" 2>/dev/null
	(cd "$tree" && meson setup build --werror >"$log/setup.log" 2>&1 &&
		ninja -C build >"$log/build.log" 2>&1) ||
		{ echo "worker $w: the unmutated tree does not build (see $log)" >&2; return 1; }
	for name in "$@"; do
		local mut="$SRC/scripts/mutants/$name.mut" file result
		file=$(field "$mut" file)
		cp "$tree/$file" "$log/orig"
		if ! plant "$mut" "$tree" >"$log/$name.plant" 2>&1; then
			result=STALE
		elif ! ninja -C "$tree/build" >"$log/$name.build" 2>&1; then
			result=NOBUILD
		else
			local tests=$TESTS
			[ "$QUICK" = 1 ] && tests=$(field "$mut" tests)
			# shellcheck disable=SC2086
			(cd "$tree" && meson test -C build --no-rebuild \
				--num-processes "$JOBS" --timeout-multiplier "$TMUL" \
				$tests >"$log/$name.test" 2>&1)
			local fails timeouts
			fails=$(failed_tests 'FAIL|ERROR' "$log/$name.test")
			timeouts=$(failed_tests TIMEOUT "$log/$name.test")
			if [ -n "$fails" ]; then
				result="KILLED by $fails"
			elif [ -n "$timeouts" ]; then
				result="SURVIVED (only timeouts: $timeouts)"
			elif grep -qE '^Ok: +[1-9]' "$log/$name.test"; then
				result=SURVIVED
			else
				result="NOBUILD (no test ran)"
			fi
		fi
		cp "$log/orig" "$tree/$file"
		printf '%-40s %s\n' "$name" "$result" | tee -a "$WORK/results"
		printf '    %s\n' "$(field "$mut" why)"
	done
}

echo "mutants: ${#MUTANTS[@]}, workers: $NPROC, tests at a time: $JOBS, timeout multiplier: ${TMUL}, $([ "$QUICK" = 1 ] && echo "quick (each mutant's tests: line)" || echo "tests: ${TESTS:-the whole suite}"), scratch: $WORK"
pids=()
for ((w = 0; w < NPROC; w++)); do
	mine=()
	for ((i = w; i < ${#MUTANTS[@]}; i += NPROC)); do
		mine+=("${MUTANTS[$i]}")
	done
	set -m
	worker "$w" "${mine[@]}" &
	set +m
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done

touch "$WORK/results"
killed=$(grep -c ' KILLED' "$WORK/results")
survived=$(grep -c ' SURVIVED' "$WORK/results")
invalid=$(grep -cE ' (STALE|NOBUILD)' "$WORK/results")
total=$((killed + survived))
echo
echo "killed $killed, survived $survived, stale/not building $invalid"
if [ "$total" -gt 0 ]; then
	echo "score: $killed/$total = $((100 * killed / total))%"
fi
[ "$survived" -eq 0 ] && [ "$total" -gt 0 ]
