#!/bin/sh
# The whole test suite: installs what it needs, builds with -Werror, runs
# every test, then again under AddressSanitizer + UndefinedBehaviorSanitizer,
# and checks formatting and static analysis.  Exit status 0 = all green.
set -eu
cd "$(dirname "$0")/.."
# The module refuses a config file writable by group or others
# (p11overlay.conf(5), FILE SAFETY): the tests write theirs with the
# usual umask, whatever the caller's (Debian users often have 002).
umask 022
scripts/deps.sh
B=${BUILD_DIR:-build}
step() { printf '\n==== %s\n' "$*"; }

step "build ($B)"
[ -d "$B" ] || meson setup "$B" --werror
ninja -C "$B"
step "tests"
meson test -C "$B" --print-errorlogs --num-processes 2

step "sanitizer build ($B-asan)"
[ -d "$B-asan" ] || meson setup "$B-asan" --werror \
	-Db_sanitize=address,undefined -Db_lundef=false --buildtype=debug
ninja -C "$B-asan"
step "tests under ASan+UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	meson test -C "$B-asan" --print-errorlogs --num-processes 2 --timeout-multiplier 3

step "clang-format"
git ls-files '*.c' '*.h' | xargs clang-format --dry-run --Werror
step "cppcheck"
scripts/static.sh "$B"
step "fuzz smoke"
scripts/fuzz.sh 10
step "valgrind memcheck (bounded subset, build-valgrind)"
timeout 1800 scripts/valgrind.sh
echo "ALL TESTS PASSED"
