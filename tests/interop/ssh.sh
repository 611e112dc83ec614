#!/bin/bash
# Interop: OpenSSH.  ssh-keygen -D p11overlay.so lists the public keys of
# both virtual tokens (compared with the keys of the card's certificates),
# then ssh-agent loads the module (ssh-add -s, PIN by SSH_ASKPASS) and
# ssh-keygen -Y sign signs through the agent with the Identification key;
# ssh-keygen -Y verify checks the signature.
#   ssh.sh <p11overlay.so>
. "$(dirname "$0")/lib.sh"
need ssh-keygen ssh-agent ssh-add pkcs11-tool openssl

run keygen-D ssh-keygen -D "$SO"
for pin in Identification:01 Signing:02; do
	name=${pin%%:*}; id=${pin#*:}
	cert_of "$SO" "$name" "$id" "$WORK/cert-$name"
	ssh-keygen -i -m PKCS8 -f "$WORK/cert-$name.pub.pem" >"$WORK/$name.ssh" ||
		fail "ssh-keygen -i of the $name certificate key"
	key=$(awk '{print $2}' "$WORK/$name.ssh")
	grep -q "^ssh-rsa $key " "$WORK/keygen-D.log" ||
		{ cat "$WORK/keygen-D.log"; fail "ssh-keygen -D: no $name key"; }
done
ok "ssh-keygen -D: public keys of both PIN tokens"

# Agent: the module runs in ssh-pkcs11-helper, a child of ssh-agent.
printf '#!/bin/sh\necho %s\n' "$PIN_ID" >"$WORK/askpass"
chmod 700 "$WORK/askpass"
eval "$(ssh-agent -s -a "$WORK/agent.sock" -P "$SO")" >/dev/null ||
	fail "ssh-agent does not start"
CLEANUP_HOOKS+=("kill $SSH_AGENT_PID 2>/dev/null")
SSH_ASKPASS=$WORK/askpass SSH_ASKPASS_REQUIRE=force DISPLAY=:0 \
	run ssh-add timeout 60 ssh-add -s "$SO" </dev/null
run ssh-add-L ssh-add -L
idkey=$(awk '{print $2}' "$WORK/Identification.ssh")
grep "^ssh-rsa $idkey " "$WORK/ssh-add-L.log" >"$WORK/id.pub" ||
	{ cat "$WORK/ssh-add-L.log"; fail "ssh-add -L: Identification key not in the agent"; }
head -c 2000 /dev/urandom >"$WORK/msg"
run sign timeout 60 ssh-keygen -Y sign -f "$WORK/id.pub" -n file "$WORK/msg"
echo "interop $(awk '{print $1, $2}' "$WORK/id.pub")" >"$WORK/allowed"
run verify ssh-keygen -Y verify -f "$WORK/allowed" -I interop -n file \
	-s "$WORK/msg.sig" <"$WORK/msg"
grep -q '^Good "file" signature for interop' "$WORK/verify.log" ||
	{ cat "$WORK/verify.log"; fail "ssh-keygen -Y verify"; }
ok "ssh-agent + ssh-keygen -Y sign with the Identification key, verified"
kill "$SSH_AGENT_PID" 2>/dev/null
# ssh-add gave one PIN to every token; restore the other token's counter.
run relogin pkcs11-tool --module "$SO" --slot "$(token_slot Signing)" \
	--login --pin "$PIN_SIGN" -O
echo "PASS: $TEST_NAME"
