#!/bin/bash
# Hostile config and trace files (issue 16 items 2 and 3): files planted by
# another user (simulated by chown to uid 65534), links, FIFOs, devices,
# huge files.  The module (C_Initialize through `p11overlay-tool list` on
# SoftHSM2) and `p11overlay-tool config check` must refuse each config with
# the same clear message; a refused trace file is said on stderr, nothing
# is written through it and the application runs on.  Every run is under
# `timeout`: a blocked open shows as exit status 124, not as a hung suite.
# $1 = p11overlay-tool, $2 = p11overlay.so.  The files of another user
# need root (chown); without it those cases are skipped, the rest runs.
set -u
tool=$1
mod=$(realpath "$2")
softhsm=/usr/lib/softhsm/libsofthsm2.so
me=$(id -u)
root() { # root DESC: true when the cases of another user's files can run
	[ "$me" -eq 0 ] && return 0
	echo "skip - $1 (needs root to plant another user's file)"
	return 1
}
if [ ! -r "$softhsm" ]; then
	echo "SKIP: SoftHSM2 not installed ($softhsm; scripts/deps.sh installs it)"
	exit 77
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/p11o-files.XXXXXX") || exit 1
reader=
cleanup() {
	[ -n "$reader" ] && kill "$reader" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM
chmod 755 "$dir"
dir=$(realpath "$dir") # the messages name the directories as walked
fails=0
ok() { echo "ok - $*"; }
bad() {
	echo "FAIL - $*"
	fails=$((fails + 1))
}
# run CMD...: output in $out (stdout+stderr), status in $rc
run() {
	out=$(timeout 30 "$@" 2>&1)
	rc=$?
	[ $rc -eq 124 ] && bad "BLOCKED (killed after 30 s): $*"
}
expect() { # expect DESC RC PATTERN
	if [ "$rc" -eq "$2" ] && grep -q -- "$3" <<<"$out"; then ok "$1"; else
		bad "$1 (rc $rc, want $2 and '$3'): $out"
	fi
}

mkdir "$dir/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\n' \
	"$dir" >"$dir/softhsm2.conf"
export SOFTHSM2_CONF=$dir/softhsm2.conf
unset P11OVERLAY_TRACE
good_text="[provider]
module = $softhsm
"
printf '%s' "$good_text" >"$dir/good.conf"
chmod 644 "$dir/good.conf"

# ---- config: the module and `config check` give the same verdict -------
config_refused() { # config_refused DESC FILE PATTERN
	P11OVERLAY_CONF=$2 run "$tool" --module "$mod" list
	expect "module refuses $1" 3 "$3"
	run "$tool" config check "$2"
	expect "config check refuses $1" 1 "$3"
	if grep -q "provider module:" <<<"$out"; then
		bad "config check prints settings after an error: $out"
	fi
}

P11OVERLAY_CONF=$dir/good.conf run "$tool" --module "$mod" list
expect "module accepts a root-owned 0644 config" 0 "Slot 0x"
run "$tool" config check "$dir/good.conf"
expect "config check accepts it" 0 "0 error(s), 0 warning(s)"

cp "$dir/good.conf" "$dir/world.conf" && chmod 666 "$dir/world.conf"
config_refused "a world-writable config" "$dir/world.conf" \
	"writable by group or others (mode 0666)"
cp "$dir/good.conf" "$dir/group.conf" && chmod 664 "$dir/group.conf"
config_refused "a group-writable config" "$dir/group.conf" \
	"writable by group or others (mode 0664)"
if root "configs of another user"; then
	cp "$dir/good.conf" "$dir/foreign.conf" &&
		chown 65534:65534 "$dir/foreign.conf"
	config_refused "a config of another user" "$dir/foreign.conf" \
		"owned by uid 65534, neither root nor uid $me"
	ln -s foreign.conf "$dir/link-foreign.conf"
	config_refused "a link to a config of another user" \
		"$dir/link-foreign.conf" "owned by uid 65534"
fi
ln -s good.conf "$dir/link-good.conf"
P11OVERLAY_CONF=$dir/link-good.conf run "$tool" --module "$mod" list
expect "a link to a good config is followed (links in /etc are common)" 0 "Slot 0x"
# every directory on the way (issue 16 item 3): root's or ours, and not
# writable by group or others unless sticky; named in the message
mkdir -m 777 "$dir/openconf" && cp "$dir/good.conf" "$dir/openconf/"
config_refused "a config in a world-writable directory" \
	"$dir/openconf/good.conf" \
	"directory $dir/openconf writable by group or others and not sticky (mode 0777)"
mkdir -m 775 "$dir/groupconf" && cp "$dir/good.conf" "$dir/groupconf/"
config_refused "a config in a group-writable directory" \
	"$dir/groupconf/good.conf" \
	"directory $dir/groupconf writable by group or others and not sticky (mode 0775)"
P11OVERLAY_CONF=good.conf run env -C "$dir/openconf" "$tool" --module "$mod" list
expect "module refuses a relative config in such a current directory" 3 \
	"directory $dir/openconf writable by group"
mkdir -m 1777 "$dir/stickyconf" && cp "$dir/good.conf" "$dir/stickyconf/"
P11OVERLAY_CONF=$dir/stickyconf/good.conf run "$tool" --module "$mod" list
expect "our config in a sticky world-writable directory (like /tmp) is used" 0 "Slot 0x"
if root "directories and links of another user on the config's path"; then
	mkdir -m 755 "$dir/theirconf" && cp "$dir/good.conf" "$dir/theirconf/" &&
		chown 65534:65534 "$dir/theirconf"
	config_refused "a config in a directory of another user" \
		"$dir/theirconf/good.conf" \
		"directory $dir/theirconf owned by uid 65534, neither root nor uid $me"
	ln -s theirconf "$dir/conflink"
	config_refused "a config through a link to a directory of another user" \
		"$dir/conflink/good.conf" \
		"directory $dir/theirconf owned by uid 65534, neither root nor uid $me"
	ln -s ../good.conf "$dir/stickyconf/theirlink.conf" &&
		chown -h 65534:65534 "$dir/stickyconf/theirlink.conf"
	config_refused "a link of another user to our config" \
		"$dir/stickyconf/theirlink.conf" \
		"link $dir/stickyconf/theirlink.conf owned by uid 65534, neither root nor uid $me"
fi
mkdir -m 755 "$dir/goodlink"
ln -s ../stickyconf "$dir/goodlink/d"
P11OVERLAY_CONF=$dir/goodlink/d/good.conf run "$tool" --module "$mod" list
expect "a config through our own directory link is used" 0 "Slot 0x"
# path forms the walk resolves itself: '.', '..', '//', a relative link
run "$tool" config check "$dir//goodlink/../stickyconf/./good.conf"
expect "config check: '.', '..' and '//' in the path" 0 "0 error(s), 0 warning(s)"
run env -C "$dir/goodlink" "$tool" config check d/good.conf
expect "config check: a relative path through a relative link" 0 "0 error(s)"
ln -s loop1 "$dir/loop2" && ln -s loop2 "$dir/loop1"
config_refused "a loop of links" "$dir/loop1" "Too many levels of symbolic links"
mkfifo "$dir/fifo.conf"
config_refused "a FIFO config (and does not block)" "$dir/fifo.conf" \
	"not a regular file (a FIFO)"
config_refused "/dev/zero (and does not block)" /dev/zero \
	"not a regular file (a character device)"
{
	printf '%s' "$good_text"
	head -c 1258291 /dev/zero | tr '\0' '#'
} >"$dir/huge.conf"
chmod 644 "$dir/huge.conf" # refused for its size only, whatever the umask
config_refused "a 1.2 MB config" "$dir/huge.conf" "larger than 1048576 bytes"
mkdir "$dir/adir.conf"
config_refused "a directory" "$dir/adir.conf" "not a regular file (a directory)"
printf '[provider]\nmodul = %s\n' "$softhsm" >"$dir/typo.conf"
chmod 644 "$dir/typo.conf"
config_refused "an unknown key in [provider]" "$dir/typo.conf" \
	"typo.conf:2: unknown key 'modul' in \[provider\]"
printf '[provider]\nmodule = %s/no-such-module.so\n' "$dir" >"$dir/nomod.conf"
chmod 644 "$dir/nomod.conf"
P11OVERLAY_CONF=$dir/nomod.conf run "$tool" --module "$mod" list
expect "module fails on a provider that does not exist" 3 "no-such-module.so"
run "$tool" config check "$dir/nomod.conf"
expect "config check: a provider that does not exist is an error" 1 \
	"1 error(s), 0 warning(s)"
grep -q "provider module:" <<<"$out" &&
	bad "config check prints settings after an error: $out"
# the provider module the config names: the same owner and mode rules
provider_refused() { # provider_refused DESC MODULE-FILE PATTERN
	printf '[provider]\nmodule = %s\n' "$2" >"$dir/prov.conf"
	chmod 644 "$dir/prov.conf"
	P11OVERLAY_CONF=$dir/prov.conf run "$tool" --module "$mod" list
	expect "module refuses $1" 3 "$3"
	run "$tool" config check "$dir/prov.conf"
	expect "config check refuses $1" 1 "$3"
}
cp "$softhsm" "$dir/open.so" && chmod 777 "$dir/open.so"
provider_refused "a world-writable provider" "$dir/open.so" \
	"writable by group or others (mode 0777)"
if root "a provider of another user"; then
	cp "$softhsm" "$dir/theirs.so" && chmod 755 "$dir/theirs.so" &&
		chown 65534:65534 "$dir/theirs.so"
	provider_refused "a provider of another user" "$dir/theirs.so" \
		"owned by uid 65534, neither root nor uid 0"
fi
ln -s "$softhsm" "$dir/link.so"
printf '[provider]\nmodule = %s\n' "$dir/link.so" >"$dir/prov.conf"
chmod 644 "$dir/prov.conf"
P11OVERLAY_CONF=$dir/prov.conf run "$tool" --module "$mod" list
expect "a link to a root-owned provider is followed" 0 "Slot 0x"

# the provider is opened once, judged on the descriptor and loaded through
# it (/proc/self/fd/N; the loader says which file it maps)
LD_DEBUG=files P11OVERLAY_CONF=$dir/prov.conf run "$tool" --module "$mod" list
if [ "$rc" -eq 0 ] && grep -q "file=/proc/self/fd/[0-9]*.*dynamically loaded" <<<"$out"; then
	ok "the provider is loaded through the descriptor that was checked"
else bad "provider not loaded through /proc/self/fd (rc $rc): $(grep 'file=' <<<"$out" | head -5)"; fi
mkfifo "$dir/fifo.so"
provider_refused "a FIFO as provider (and does not block)" "$dir/fifo.so" \
	"not a regular file (a FIFO)"
cp "$dir/good.conf" "$dir/notelf.so" && chmod 644 "$dir/notelf.so"
printf '[provider]\nmodule = %s\n' "$dir/notelf.so" >"$dir/prov2.conf"
chmod 644 "$dir/prov2.conf"
P11OVERLAY_CONF=$dir/prov2.conf run "$tool" --module "$mod" list
if [ "$rc" -eq 3 ] && grep -q "cannot load provider '$dir/notelf.so': $dir/notelf.so: " <<<"$out" &&
	! grep -q /proc/self/fd <<<"$out"; then
	ok "the loader's error names the provider's path, not the descriptor"
else bad "loader error (rc $rc): $out"; fi
mkdir -m 777 "$dir/openlib" && cp -P "$dir/link.so" "$dir/openlib/"
provider_refused "a provider in a world-writable directory" "$dir/openlib/link.so" \
	"directory $dir/openlib writable by group or others and not sticky"
if root "a provider in a directory of another user"; then
	mkdir -m 755 "$dir/theirlib" && cp -P "$dir/link.so" "$dir/theirlib/" &&
		chown 65534:65534 "$dir/theirlib"
	provider_refused "a provider in a directory of another user" \
		"$dir/theirlib/link.so" \
		"directory $dir/theirlib owned by uid 65534, neither root nor uid $me"
fi

# the search order (P11OVERLAY_CONF) gets the same rules
P11OVERLAY_CONF=$dir/world.conf run "$tool" config check
expect "config check via P11OVERLAY_CONF refuses too" 1 "writable by group or others"

# ---- trace files ---------------------------------------------------------
export P11OVERLAY_CONF=$dir/good.conf
traced() { # traced PATH: `list` with a trace to PATH
	P11OVERLAY_TRACE=$1,calls run "$tool" --module "$mod" list
}
mkdir -m 755 "$dir/traces"
mkdir -m 1777 "$dir/sticky"
printf 'victim\n' >"$dir/victim" && chmod 644 "$dir/victim"

traced "$dir/traces/t.log"
expect "trace: a new file works" 0 "Slot 0x"
if [ "$(stat -c %a "$dir/traces/t.log")" = 600 ] &&
	grep -q "^# p11overlay .* trace" "$dir/traces/t.log"; then
	ok "trace: created 0600 with the header"
else bad "trace: new file: $(ls -l "$dir/traces")"; fi
traced "$dir/traces/t.log"
[ "$(grep -c '^# p11overlay .* trace' "$dir/traces/t.log")" = 2 ] &&
	ok "trace: an own file is appended to" || bad "trace: own file not appended"

# A link planted where %p will point: the pid is known after exec.
plant_and_run() { # plant_and_run CMD-TO-PLANT (with $P = the future pid)
	P11OVERLAY_TRACE="$dir/sticky/p11overlay-%p.log,calls" \
		run bash -c "P=\$\$; $1; exec \"\$0\" --module \"\$1\" list" \
		"$tool" "$mod"
}
plant_and_run "ln -s '$dir/victim' '$dir/sticky/p11overlay-'\$P.log"
expect "trace: a planted symbolic link is refused, the app runs on" 0 \
	"a symbolic link (never followed); running without a trace file"
grep -q "Slot 0x" <<<"$out" || bad "trace: symlink: the listing is missing"
[ "$(cat "$dir/victim")" = victim ] && ok "trace: nothing written through the link" ||
	bad "trace: the link's target changed: $(head -c 200 "$dir/victim")"

if root "a trace file of another user"; then
	: >"$dir/sticky/theirs.log"
	chown 65534:65534 "$dir/sticky/theirs.log" && chmod 666 "$dir/sticky/theirs.log"
	traced "$dir/sticky/theirs.log"
	expect "trace: another user's world-writable file is refused" 0 \
		"owned by uid 65534, not by uid $me"
	[ -s "$dir/sticky/theirs.log" ] && bad "trace: records went to another user's file" ||
		ok "trace: nothing written to another user's file"
fi

: >"$dir/traces/open.log" && chmod 666 "$dir/traces/open.log"
traced "$dir/traces/open.log"
expect "trace: an own file writable by others is refused" 0 \
	"writable by group or others (mode 0666)"

mkfifo "$dir/sticky/fifo.log"
traced "$dir/sticky/fifo.log"
expect "trace: a FIFO without reader is refused, no blocking" 0 "a FIFO or socket"
# The shell holds the FIFO open for reading (read-write, so the open
# cannot block) before the module runs: a background reader may not have
# opened it yet when the module tries, which tests the no-reader case again.
exec 7<>"$dir/sticky/fifo.log"
traced "$dir/sticky/fifo.log"
expect "trace: a FIFO with a reader is refused, no blocking" 0 \
	"not a regular file (a FIFO)"
fifo_data=
read -r -t 1 -u 7 fifo_data || :
exec 7<&-
[ -n "$fifo_data" ] && bad "trace: records went into the FIFO" ||
	ok "trace: nothing written into the FIFO"

cp "$dir/victim" "$dir/victim2"
ln "$dir/victim2" "$dir/sticky/hard.log"
traced "$dir/sticky/hard.log"
expect "trace: a hard link to another file is refused" 0 "has 2 hard links"
[ "$(cat "$dir/victim2")" = victim ] && ok "trace: nothing written through the hard link" ||
	bad "trace: the hard link's target changed"

if root "directories of another user"; then
	mkdir -m 755 "$dir/theirdir" && chown 65534:65534 "$dir/theirdir"
	traced "$dir/theirdir/t.log"
	expect "trace: a directory of another user is refused" 0 \
		"directory $dir/theirdir owned by uid 65534, neither root nor uid $me"
	[ -e "$dir/theirdir/t.log" ] && bad "trace: created in another user's directory" ||
		ok "trace: nothing created in another user's directory"
	mkdir -m 1777 "$dir/theirsticky" && chown 65534:65534 "$dir/theirsticky"
	traced "$dir/theirsticky/t.log"
	expect "trace: a sticky directory of another user is refused" 0 \
		"directory $dir/theirsticky owned by uid 65534, neither root nor uid $me"
fi
mkdir -m 777 "$dir/open"
traced "$dir/open/t.log"
expect "trace: a world-writable directory that is not sticky is refused" 0 \
	"directory $dir/open writable by group or others and not sticky (mode 0777)"

# no link anywhere on a trace's path (issue 16 item 2)
ln -s traces "$dir/tracelink"
traced "$dir/tracelink/l.log"
expect "trace: a directory link on the way is refused" 0 \
	"$dir/tracelink is a symbolic link (links are never followed here)"
[ -e "$dir/traces/l.log" ] && bad "trace: written through a directory link" ||
	ok "trace: nothing created through the directory link"
P11OVERLAY_TRACE=rel.log,calls run env -C "$dir/traces" "$tool" --module "$mod" list
expect "trace: a relative path works" 0 "Slot 0x"
grep -q "^# p11overlay .* trace" "$dir/traces/rel.log" 2>/dev/null &&
	ok "trace: the relative file has the header" || bad "trace: relative file missing"

echo "$fails failure(s)"
[ $fails -eq 0 ]
