#!/bin/sh
# A representative bounded subset of the suite under valgrind memcheck on
# a separate plain build (build-valgrind): unit tests, the fault and
# lifecycle tests, the short variant of the stress tests, fork and secret
# hygiene.  Zero errors and no definite leaks, or the step fails.
# Suppressions (third-party libraries only, each commented) are in
# tests/reliability/valgrind.supp.  `scripts/valgrind.sh --suite X` runs
# other suites instead.
set -eu
cd "$(dirname "$0")/.."
B=${VALGRIND_BUILD_DIR:-build-valgrind}
[ -d "$B" ] || meson setup "$B" --werror --buildtype=debug
ninja -C "$B"
SUPP=$(pwd)/tests/reliability/valgrind.supp
WRAP="valgrind --quiet --error-exitcode=1 --leak-check=full \
--errors-for-leak-kinds=definite --show-leak-kinds=definite \
--track-fds=no --child-silent-after-fork=yes --suppressions=$SUPP"
# Short variants: valgrind is ~20-50x slower.
export REL_STRESS_SECONDS=${REL_STRESS_SECONDS:-3}
# rel-stress-card runs its test in a re-executed child (test_stress.c:
# supervise) that valgrind would not follow: run it in place.
export REL_STRESS_CHILD=1
# VmRSS means little under valgrind (its own queues); its leak check does.
export REL_RSS_BOUND_KB=${REL_RSS_BOUND_KB:--1}
if [ $# -gt 0 ]; then
	exec meson test -C "$B" --wrapper "$WRAP" --print-errorlogs \
		--timeout-multiplier 10 "$@"
fi
run() {
	meson test -C "$B" --wrapper "$WRAP" --print-errorlogs \
		--num-processes 2 --timeout-multiplier 10 "$@"
}
# The C unit tests (the suite's Python ones would only test python).
run test_config test_handles test_stack trace-format trace-safety test_der \
	test_profiles objects-handles
run rel-faults rel-stress-softhsm rel-stress-card rel-fork-softhsm \
	rel-secrets rel-lifecycle-short rel-card-faults rel-lying \
	rel-finalize-storm-short
