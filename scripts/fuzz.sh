#!/bin/sh
# Build every libFuzzer target in tests/fuzz with clang and run each for
# SECONDS (default 60) from its seed corpus.  `scripts/fuzz.sh 3600` is the
# long run.  Crashes are left in build-fuzz/crashes/.
set -eu
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-60}
B=build-fuzz
mkdir -p "$B/crashes" "$B/gen"
[ -f "$B/gen/p11o_build.h" ] || cat > "$B/gen/p11o_build.h" <<'H'
#define P11O_VERSION "fuzz"
#define P11O_DEFAULT_PROVIDER "/nonexistent.so"
#define P11O_SYSCONF_PATH "/nonexistent.conf"
#define P11O_HAVE_TRACE 1
H
SRCS=$(git ls-files 'proxy/*.c' 'addons/*.c' | grep -v '^proxy/module.c$')
CFLAGS="-std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -I$B/gen -I. -Iinclude -Iproxy $(pkg-config --cflags p11-kit-1 libpcsclite)"
LIBS="$(pkg-config --libs libpcsclite libcrypto) -ldl -lpthread"
for t in tests/fuzz/fuzz_*.c; do
	name=$(basename "$t" .c)
	corpus=tests/fuzz/corpus/${name#fuzz_}
	[ -d "$corpus" ] || corpus=tests/fuzz/corpus/$(echo "${name#fuzz_}" | cut -d_ -f1)
	mkdir -p "$B/corpus/$name"
	# shellcheck disable=SC2086
	clang $CFLAGS -o "$B/$name" "$t" $SRCS $LIBS
	echo "fuzz: $name for ${SECONDS_EACH}s"
	"$B/$name" -max_total_time="$SECONDS_EACH" -artifact_prefix="$B/crashes/$name-" \
		"$B/corpus/$name" $( [ -d "$corpus" ] && echo "$corpus" ) 2>&1 |
		grep -E '^(Done|#[0-9]+ *DONE)|ERROR|SUMMARY' || true
	ls "$B/crashes/$name-"* >/dev/null 2>&1 && { echo "fuzz: $name crashed"; exit 1; }
done
exit 0
