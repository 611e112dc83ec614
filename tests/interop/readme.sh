#!/bin/bash
# README commands (issue 17): every ```sh block of README.md runs exactly as
# shown, in README order in one bash (`set -ex`), from a clean environment
# (env -i: only PATH, HOME, LANG, TMPDIR), in a tree where `tests` is the
# source's tests/ and `build` the build dir under test; blocks that cannot
# run here carry a `<!-- readme-test: skip: reason -->` marker and are listed
# (readme_blocks.py).  Run as root and as an unprivileged user (nobody, by
# setpriv) when started as root; else as the current user only.  If a run
# fails, its virtual card, TLS server and p11-kit server are stopped.
#   readme.sh <p11overlay.so> <README.md>
set -u
set -o pipefail
TEST_NAME=readme
fail() { echo "FAIL: $TEST_NAME: $*" >&2; exit 1; }
skip() { echo "SKIP: $TEST_NAME: $*" >&2; exit 77; }
ok() { echo "ok: $*"; }
[ $# -eq 2 ] || fail "usage: $0 <p11overlay.so> <README.md>"
SO=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
README=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
SRC=$(dirname "$README")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3
case "${LD_PRELOAD:-}" in
*libasan*) skip "sanitizer build: the README's p11tool and p11-kit server hang with libasan preloaded (lib.sh)" ;;
esac
for t in "$PY" pkcs11-tool p11tool p11-kit openssl curl certutil modutil ssh-keygen setpriv; do
	command -v "$t" >/dev/null 2>&1 || skip "$t not installed (scripts/deps.sh installs it)"
done
[ "$(basename "$SO")" = p11overlay.so ] || fail "$SO is not p11overlay.so"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/p11o-readme.XXXXXX") || exit 99
chmod 755 "$WORK"
trap '[ -n "${P11O_INTEROP_KEEP:-}" ] && echo "kept $WORK" >&2 || rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
mkdir "$WORK/tree"
ln -s "$SRC/tests" "$WORK/tree/tests"
ln -s "$(dirname "$SO")" "$WORK/tree/build"
"$PY" "$HERE/readme_blocks.py" "$README" "$WORK/readme-run.sh" || fail "README blocks"
grep -q 'tests/card/rig start' "$WORK/readme-run.sh" || fail "the README never starts the virtual card"
# The wrapper adds only the shell options and a cleanup for a failed run.
cat >"$WORK/wrap.sh" <<EOS
set -ex
cleanup() {
	set +e
	[ -z "\$(jobs -p)" ] || kill \$(jobs -p)
	[ -z "\${P11_KIT_SERVER_PID:-}" ] || kill "\$P11_KIT_SERVER_PID" 2>/dev/null
	if [ -n "\${CARD:-}" ] && [ -d "\$CARD/rig" ]; then
		"$WORK/tree/tests/card/rig" stop "\$CARD/rig"
		rm -rf "\$CARD"
	fi
}
trap cleanup EXIT
cd "$WORK/tree"
. "$WORK/readme-run.sh"
EOS

# run_as <name> [prefix command...]: the README as that user.
run_as() {
	local name=$1 rc=0
	shift
	mkdir -p "$WORK/home-$name"
	[ "$name" = root ] || [ "$(id -u)" -ne 0 ] || chown "$name" "$WORK/home-$name"
	"$@" env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME="$WORK/home-$name" \
		LANG=C.UTF-8 TMPDIR=/tmp bash "$WORK/wrap.sh" </dev/null >"$WORK/$name.log" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ]; then
		tail -40 "$WORK/$name.log" >&2
		fail "README as $name: exit $rc (last command above, after '+')"
	fi
	grep -q "Subject: CN=Test User (Identification)" "$WORK/$name.log" ||
		fail "README as $name: the TLS example did not show the card's certificate"
	ok "README as $name: $(grep -c '^### README line' "$WORK/$name.log") blocks ran"
}
if [ "$(id -u)" -eq 0 ]; then
	run_as root
	run_as nobody setpriv --reuid=nobody --regid=nogroup --clear-groups
else
	echo "not root: the README runs as $(id -un) only"
	run_as "$(id -un)"
fi
echo "PASS: $TEST_NAME"
