#!/bin/bash
# A real browser: Firefox ESR (Debian's firefox-esr) with p11overlay.so as a
# security device loads a page that needs the card's client certificate.
#
#   firefox.sh <p11overlay.so> <evidence dir>
#
# The virtual card rig and the TLS server are those of the TLS interop tests
# (tests/interop/lib.sh, tls_lib.sh): `openssl s_server -tls1_2 -Verify 1`
# trusting only the card's CA, its page echoing the client certificate.
# For each PIN (Identification 1234, Signing 123456), in a throw-away
# profile: modutil adds p11overlay.so to the profile's NSS database (as
# Settings > Privacy & Security > Security Devices > Load does), the card's
# CA is trusted for web sites, and security.default_personal_cert = "Select
# Automatically" picks the certificate.  p11overlay shows only that PIN's
# token ([slots] pins = <PIN name>), so the choice is known.  Firefox runs
# under Xvfb; Marionette opens the page; the PIN is typed into Firefox's own
# "Password Required" dialog with xdotool: first a wrong PIN (Firefox asks
# again; the card's counter dropped by exactly one), then the right one.
# The page must show the card's certificate; the screenshot of the page and
# of the whole screen are saved in <evidence dir> (meson-logs/browser).
#
# Needs firefox-esr xvfb xdotool x11-apps dbus (scripts/deps.sh); when one
# is missing and cannot be installed, exit 77 with the reason.
#
# Firefox runs in a D-Bus session (dbus-run-session), as on a desktop.  It
# works without one too since the fix of interop-display-no-dbus (before,
# opensc-pkcs11.so's D-Bus autolaunch forked inside p11overlay's
# C_Initialize and Firefox hung at start), but this test took 232 s then,
# 130 s and 161 s with the session bus (single runs, shared 2-core machine).
. "$(dirname "$0")/../interop/lib.sh"
# shellcheck source=../interop/tls_lib.sh
. "$INTEROP_DIR/tls_lib.sh"
EVIDENCE=${2:-$WORK/evidence}
BROWSER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

browser_pkgs() {
	local p missing=""
	for p in firefox-esr:firefox-esr Xvfb:xvfb xdotool:xdotool xwd:x11-apps \
		dbus-run-session:dbus; do
		command -v "${p%%:*}" >/dev/null 2>&1 || missing="$missing ${p#*:}"
	done
	echo "$missing"
}
missing=$(browser_pkgs)
if [ -n "$missing" ]; then
	echo "installing$missing (apt-get)"
	if [ "$(id -u)" -eq 0 ]; then
		# shellcheck disable=SC2086
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends $missing; } # (word splitting wanted) >"$WORK/apt.log" 2>&1 || true
	fi
	missing=$(browser_pkgs)
	[ -z "$missing" ] || { tail -5 "$WORK/apt.log" 2>/dev/null >&2
		skip "browser packages$missing are not installed and cannot be installed here" \
			"($([ "$(id -u)" -eq 0 ] && echo 'apt-get install failed' || echo 'not root'))"; }
fi
need certutil modutil openssl pkcs11-tool
case "${LD_PRELOAD:-}" in
*libasan*)
	# Firefox dies with SIGSEGV at start with libasan preloaded, without
	# p11overlay too (`firefox-esr --headless --screenshot x.png about:blank`:
	# exit 139), and without the preload it cannot load an ASan-built module.
	skip "sanitizer build: Firefox crashes at start with libasan preloaded (also without p11overlay)" ;;
esac
unset LD_PRELOAD
mkdir -p "$EVIDENCE"
rm -f "$EVIDENCE"/firefox-*  # evidence of this run only

tls_server_start
URL=https://127.0.0.1:$TLS_PORT/

# One X server for the test; -displayfd picks a free display number.
Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp 3>"$WORK/display" \
	>"$WORK/xvfb.log" 2>&1 &
XVFB_PID=$!
CLEANUP_HOOKS+=("kill $XVFB_PID 2>/dev/null")
for _ in $(seq 200); do
	[ -s "$WORK/display" ] && break
	kill -0 "$XVFB_PID" 2>/dev/null || { cat "$WORK/xvfb.log" >&2; fail "Xvfb exited"; }
	sleep 0.1
done
[ -s "$WORK/display" ] || fail "Xvfb did not start"
# DISPLAY only for Firefox and its driver.
XDISPLAY=:$(tr -d '\n' <"$WORK/display")
ok "Xvfb on $XDISPLAY"

for p in $TLS_PINS; do
	name=${p%%:*}; rest=${p#*:}; id=${rest%%:*}; rest=${rest#*:}
	ref=${rest%%:*}; rest=${rest#*:}; pinval=${rest%%:*}; wrong=${rest#*:}
	# Only this PIN's token: Firefox's automatic choice is this certificate.
	tls_config
	printf '[slots]\npins = %s\n' "$name" >>"$P11OVERLAY_CONF"
	cert_of "$SO" "$name" "$id" "$WORK/cert-$name"

	prof=$WORK/profile-$name
	mkdir -p "$prof" "$WORK/home-$name"
	run "nssdb-$name" certutil -N -d "sql:$prof" --empty-password
	# FRIENDLY (certificates readable without login): Firefox asks for the
	# PIN once, when it signs, not to look for certificates.
	run "modutil-$name" modutil -force -dbdir "sql:$prof" -add p11overlay \
		-libfile "$SO" -mechanisms FRIENDLY
	run "trust-ca-$name" certutil -A -d "sql:$prof" -n 'card CA' -t 'CT,,' -i "$WORK/ca.pem"
	cat >"$prof/user.js" <<'EOJ'
user_pref("security.default_personal_cert", "Select Automatically");
user_pref("intl.locale.requested", "en-US");
user_pref("marionette.port", 0);
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.startup.homepage_override.mstone", "ignore");
user_pref("browser.aboutwelcome.enabled", false);
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("toolkit.telemetry.reportingpolicy.firstRun", false);
user_pref("app.update.disabledForTesting", true);
EOJ
	DISPLAY=$XDISPLAY HOME=$WORK/home-$name MOZ_CRASHREPORTER_DISABLE=1 \
		dbus-run-session -- firefox-esr --no-remote --marionette --profile "$prof" \
		>"$WORK/firefox-$name.log" 2>&1 &
	ff_pid=$!
	# dbus-run-session's children by its PID (Firefox, dbus-daemon).
	CLEANUP_HOOKS+=("pkill -P $ff_pid 2>/dev/null; kill $ff_pid 2>/dev/null")
	for _ in $(seq 600); do
		[ -s "$prof/MarionetteActivePort" ] && break
		kill -0 "$ff_pid" 2>/dev/null ||
			{ tail -20 "$WORK/firefox-$name.log" >&2; fail "Firefox exited at start"; }
		sleep 0.1
	done
	[ -s "$prof/MarionetteActivePort" ] ||
		{ tail -20 "$WORK/firefox-$name.log" >&2; fail "Firefox did not start (no Marionette port)"; }

	out=$EVIDENCE/firefox-$name
	if ! DISPLAY=$XDISPLAY "$PY" "$BROWSER_DIR/firefox_drive.py" "$(cat "$prof/MarionetteActivePort")" "$URL" \
		"$wrong,$pinval" "'$PY' '$INTEROP_DIR/pin_tries.py' '$RIG_DIR' $ref" 'Client certificate' "$out" \
		>"$WORK/drive-$name.log" 2>&1; then
		cat "$WORK/drive-$name.log" >&2
		xwd -display "$XDISPLAY" -root -silent >"$WORK/fail-$name.xwd" 2>/dev/null &&
			"$PY" "$BROWSER_DIR/xwd2png.py" "$WORK/fail-$name.xwd" "$out-failed.png" &&
			echo "screen at the failure: $out-failed.png" >&2
		fail "Firefox with the $name certificate"
	fi
	cat "$WORK/drive-$name.log"
	grep -q "^tries after wrong PIN: $((TLS_PIN_MAX - 1))\$" "$WORK/drive-$name.log" ||
		fail "$name: after the wrong PIN the card's counter is not exactly one less"
	for _ in $(seq 300); do kill -0 "$ff_pid" 2>/dev/null || break; sleep 0.1; done
	"$PY" "$BROWSER_DIR/xwd2png.py" "$out-screen.xwd" "$out-screen.png" && rm -f "$out-screen.xwd"

	# The page: the server saw this token's certificate (subject and bytes).
	grep -q "^URL: $URL\$" "$out.txt" || { cat "$out.txt" >&2; fail "$name: Firefox is not on $URL"; }
	grep -q "Subject: CN *= *Test User ($name)\$" "$out.txt" ||
		{ head -40 "$out.txt" >&2; fail "$name: the page does not show the $name certificate"; }
	tls_page_cert "$out.txt" | openssl x509 -outform DER -out "$WORK/ff-$name.der" ||
		fail "$name: no certificate on the page"
	cmp -s "$WORK/ff-$name.der" "$WORK/cert-$name.der" ||
		fail "$name: the server saw a certificate other than the card's"
	n=$(tls_tries "$ref") || fail "cannot read the $name PIN counter"
	[ "$n" = "$TLS_PIN_MAX" ] || fail "$name: counter $n after the right PIN, want $TLS_PIN_MAX"
	ok "Firefox: wrong PIN asked again (counter $TLS_PIN_MAX -> $((TLS_PIN_MAX - 1))), right PIN -> page with the card's $name certificate; screenshots $out.png, $out-screen.png"
done
echo "PASS: $TEST_NAME"
