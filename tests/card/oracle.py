"""OpenSC as the oracle: what did the card receive?

A rig started with `apdu_log=True` (`rig start DIR --apdu-log`) makes every card
process append "<command hex> <response hex>" lines (and "# power" at each
reset) to DIR/apdu<slot>.log.  This module reads them back and runs OpenSC's
own VERIFY and unblock through pkcs11-tool / pkcs15-tool, so a test can compare
the PIN and PUK data fields the proxy sends with OpenSC's, byte for byte:

    env = rig.start(d, family="piv", apdu_log=True)
    m = oracle.mark(d)
    oracle.opensc_login(env, slot_index, b"123456")       # OpenSC's VERIFY
    ref_data = oracle.verify_data(d, 0x80, since=m)        # [b"123456\\xff\\xff"]
    m = oracle.mark(d)
    oracle.opensc_unblock(env, slot_index, b"12345678", b"654321")
    oracle.unblock_apdus(d, since=m)                       # [Apdu(ins=0x2C, ...)]

Module-level functions only; no state besides the log files.
"""
import collections, os, re, subprocess

TOOL = "/usr/bin/pkcs11-tool"
P15TOOL = "/usr/bin/pkcs15-tool"

Apdu = collections.namedtuple("Apdu", "cla ins p1 p2 data le sw resp index")
Apdu.__doc__ = """One command as the card received it (chained parts joined, GET
RESPONSE folded into `resp`); index = line number in the log (for `since`)."""


def log_path(d, slot=0):
    return os.path.join(d, "apdu%d.log" % slot)


def _lines(d, slot):
    try:
        with open(log_path(d, slot)) as fh:
            return fh.read().splitlines()
    except FileNotFoundError:
        return []


def mark(d, slot=0):
    """Position after the last logged line: pass as `since=` to see only newer APDUs."""
    return len(_lines(d, slot))


def _parse_cmd(c):
    cla, ins, p1, p2 = c[:4]
    body = c[4:]
    data, le = b"", None
    if len(body) == 1:
        le = body[0] or 256
    elif len(body) > 1 and body[0] != 0:
        data = body[1:1 + body[0]]
        if len(body) == 2 + body[0]:
            le = body[-1] or 256
    elif len(body) == 3:
        le = int.from_bytes(body[1:3], "big") or 65536
    elif len(body) > 3:
        n = int.from_bytes(body[1:3], "big")
        data = body[3:3 + n]
        if len(body) == 5 + n:
            le = int.from_bytes(body[-2:], "big") or 65536
    return cla, ins, p1, p2, data, le


def apdus(d, slot=0, since=0, raw=False):
    """[Apdu] the card in reader `slot` received after position `since`.
    raw=True: every line as it came (no chain joining, no GET RESPONSE folding)."""
    out, chain = [], None
    for i, line in enumerate(_lines(d, slot)):
        if i < since:
            continue
        if line.startswith("#"):
            chain = None
            continue
        ch, rh = line.split()
        c, r = bytes.fromhex(ch), bytes.fromhex(rh)
        cla, ins, p1, p2, data, le = _parse_cmd(c)
        sw, resp = int.from_bytes(r[-2:], "big"), r[:-2]
        if raw:
            out.append(Apdu(cla, ins, p1, p2, data, le, sw, resp, i))
            continue
        if ins == 0xC0 and out and out[-1].sw >> 8 == 0x61:
            prev = out[-1]
            out[-1] = prev._replace(resp=prev.resp + resp, sw=sw)
            continue
        if cla & 0x10:
            chain = (chain or b"") + data
            continue
        if chain is not None:
            data, chain = chain + data, None
        out.append(Apdu(cla & ~0x10, ins, p1, p2, data, le, sw, resp, i))
    return out


def verify_data(d, ref, slot=0, since=0):
    """Data fields of VERIFY (00 20 00 <ref>) commands that carried a PIN."""
    return [a.data for a in apdus(d, slot, since)
            if a.ins == 0x20 and a.p1 == 0 and a.p2 == ref and a.data]


def unblock_apdus(d, ref=None, slot=0, since=0):
    """RESET RETRY COUNTER commands (all, or those with P2 = ref)."""
    return [a for a in apdus(d, slot, since) if a.ins == 0x2C and (ref is None or a.p2 == ref)]


def change_apdus(d, ref=None, slot=0, since=0):
    """CHANGE REFERENCE DATA commands (all, or those with P2 = ref)."""
    return [a for a in apdus(d, slot, since) if a.ins == 0x24 and (ref is None or a.p2 == ref)]


def count(d, slot=0, since=0):
    """Number of commands (chains and GET RESPONSE count once)."""
    return len(apdus(d, slot, since))


# ------------------------------------------------------------ OpenSC actions

def _run(env, args):
    e = dict(os.environ)
    e.update(env)
    p = subprocess.run(args, env=e, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def pkcs11_tool(env, *args):
    """(returncode, output) of pkcs11-tool on OpenSC's module with the rig's env."""
    return _run(env, [TOOL, "--module", env["RIG_OPENSC_MODULE"]] + [str(a) for a in args])


def set_opensc_option(env, block, key, value):
    """Set `key = value;` inside the `block {` of the rig's opensc.conf
    (block "pkcs11" or "pkcs15"); replaces an existing setting."""
    path = env["OPENSC_CONF"]
    with open(path) as fh:
        text = fh.read()
    text = re.sub(r"\n\s*%s\s*=[^;]*;" % re.escape(key), "", text)
    head = "framework pkcs15 {" if block == "pkcs15" else block + " {"
    if head not in text:
        raise ValueError("no block %r in %s" % (block, path))
    text = text.replace(head, "%s\n        %s = %s;" % (head, key, value), 1)
    with open(path, "w") as fh:
        fh.write(text)


def allow_opensc_unblock(env):
    """Let OpenSC unblock on C_SetPIN(PUK, new) in an unlogged session."""
    set_opensc_option(env, "pkcs11", "user_pin_unblock_style", "set_pin_in_unlogged_session")


def _s(secret):
    return secret.decode("utf-8") if isinstance(secret, bytes) else secret


def opensc_login(env, slot_index, pin):
    """OpenSC's own VERIFY: C_Login(CKU_USER) on the slot (index in the slot list).
    Returns (ok, output)."""
    rc, out = pkcs11_tool(env, "--slot-index", slot_index, "--login", "--pin", _s(pin),
                          "--list-objects")
    return rc == 0, out


def opensc_unblock(env, slot_index, puk, new_pin):
    """OpenSC's own unblock: C_SetPIN(PUK, new) in an unlogged session (turns on
    user_pin_unblock_style = set_pin_in_unlogged_session).  Returns (ok, output)."""
    allow_opensc_unblock(env)
    rc, out = pkcs11_tool(env, "--slot-index", slot_index, "--unlock-pin",
                          "--puk", _s(puk), "--new-pin", _s(new_pin))
    return rc == 0, out


def opensc_verify_auth(env, auth_id, secret):
    """OpenSC's VERIFY of any AODF PIN (also a PUK) by auth ID, through
    pkcs15-tool --verify-pin.  Returns (ok, output)."""
    rc, out = _run(env, [P15TOOL, "--verify-pin", "--auth-id", auth_id, "--pin", _s(secret)])
    return rc == 0, out


def slot_labels(env):
    """[(slot index, token label)] of the present tokens, as OpenSC lists them
    (index as pkcs11-tool's --slot-index counts: all slots, empty ones too)."""
    rc, out = pkcs11_tool(env, "--list-slots")
    labels, idx = [], -1
    for line in out.splitlines():
        if line.startswith("Slot "):
            idx += 1
        m = re.match(r"\s+token label\s+:\s(.*)$", line)
        if m:
            labels.append((idx, m.group(1).rstrip()))
    return labels
