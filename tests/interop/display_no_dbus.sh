#!/bin/bash
# A program that loads p11overlay.so must not hang in C_Initialize when the
# provider forks while it is being loaded (it did before the atfork handlers in proxy/core.c knew about it).  Debian's
# opensc-pkcs11.so does so in its constructor when DISPLAY is set and there
# is no D-Bus session (GIO autolaunches D-Bus: fork), e.g. Firefox under
# Xvfb or over `ssh -X`: p11overlay holds its init lock while it dlopens the
# provider, and its pthread_atfork prepare handler took the same lock.
# Differential: the same pkcs11-tool -L with opensc-pkcs11.so itself must
# work (else the test is void), then through p11overlay.so.  A hang is cut
# after 60 s (pkcs11-tool -L takes well under a second here).
#   display_no_dbus.sh <p11overlay.so>
. "$(dirname "$0")/lib.sh"
need pkcs11-tool timeout
unset DBUS_SESSION_BUS_ADDRESS
export DISPLAY=:99.0   # no X server needed: the fork happens before any connection
run opensc-direct timeout 60 pkcs11-tool --module "$RIG_OPENSC_MODULE" -L
ok "opensc-pkcs11.so with DISPLAY set and no D-Bus session: -L works"
rc=0
timeout 60 pkcs11-tool --module "$SO" -L >"$WORK/overlay.log" 2>&1 || rc=$?
[ "$rc" -ne 124 ] || fail "p11overlay.so with DISPLAY set and no D-Bus session: pkcs11-tool -L hangs (killed after 60 s)"
[ "$rc" -eq 0 ] || { cat "$WORK/overlay.log" >&2; fail "pkcs11-tool -L through p11overlay.so exited with $rc"; }
grep -q '(Identification)' "$WORK/overlay.log" || fail "no Identification token"
ok "p11overlay.so with DISPLAY set and no D-Bus session: -L works"
echo "PASS: $TEST_NAME"
