#!/usr/bin/python3
"""Virtual smart-card rig: a private pcscd with a vpcd reader and vcard.py cards.

  rig start  <dir> [--card-config FILE] [--family F] [--apdu-log] [--no-card]
  rig insert <dir> [--slot N] [--card-config FILE] [--family F] [--state DIR] [--verbose]
  rig remove <dir> [--slot N]
  rig stop   <dir>
  rig reset  <dir> [--slot N]
  rig status <dir>

`start --owner PID` ties the rig's life to process PID (the test): a
watcher process stops the card(s) and pcscd as soon as PID ends, however
it ends (exit, abort(), a signal, meson's timeout), and with --cleanup-dir
also removes <dir>.  `reset` puts the card's PINs, counters and TokenInfo
back to the defaults (keys and certificates stay).

`rig start` writes <dir>/env (sourceable). Importable: start(), insert(),
remove(), stop(), load_env(), wait_card(), Pcsc (raw APDUs via pyscard).
"""
import argparse, json, os, random, select, shlex, shutil, signal, socket, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
VCARD = os.path.join(HERE, "vcard.py")
VPCD = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"
OPENSC_MODULE = "/usr/lib/x86_64-linux-gnu/pkcs11/opensc-pkcs11.so"
READER = "Virtual PCD 00 %02d"
PY = "/usr/bin/python3"
KEY_CACHE = os.environ.get("RIG_KEY_CACHE", "/tmp/p11overlay-vcard-keycache-%d" % os.getuid())

# OpenSC card drivers per card family (vcard.py --family): only the driver
# the emulator is written for, so a test proves that driver accepts it
CARD_DRIVERS = {"pkcs15": "isoApplet", "openpgp": "openpgp", "piv": "PIV-II",
                "piv+openpgp": "PIV-II, openpgp"}
FAMILIES = tuple(CARD_DRIVERS)

OPENSC_CONF = """\
# opensc.conf of the p11overlay test rig
app default {
    debug = 0;
    # the virtual card answers as an IsoApplet; skip probing the other drivers
    card_drivers = isoApplet;
    framework pkcs15 {
        use_file_caching = no;
    }
    pkcs11 {
        # one slot (token) per user PIN; PUK (unblockingPin) gets no slot
        create_slots_for_pins = "all";
        slots_per_card = 4;
    }
}
"""


def _free_port_pair():
    for _ in range(200):
        port = random.randrange(20000, 60000, 2)
        socks = []
        try:
            for p in (port, port + 1):
                s = socket.socket()
                s.bind(("0.0.0.0", p))
                socks.append(s)
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port pair")


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child counts as dead
        with open("/proc/%d/stat" % pid) as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _read_pid(path):
    try:
        with open(path) as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        return None


def _kill(pidfile, timeout=3.0):
    pid = _read_pid(pidfile)
    if pid and _pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _pid_alive(pid) and time.monotonic() < deadline:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.01)
        if _pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    if os.path.exists(pidfile):
        os.unlink(pidfile)


def load_env(d):
    """The variables of <dir>/env as a dict."""
    env = {}
    with open(os.path.join(d, "env")) as fh:
        for line in fh:
            if line.startswith("export "):
                k, v = line[7:].strip().split("=", 1)
                env[k] = shlex.split(v)[0] if v else ""
    return env


def apply_env(d):
    os.environ.update(load_env(d))


# ------------------------------------------------------------- PC/SC helpers

def _scard():
    from smartcard import scard
    return scard


# libpcsclite reads PCSCLITE_CSOCK_NAME once per process: pyscard in this
# process can only talk to the first rig it used.  Other rigs are asked through
# a child process (reader_state) or refused with a clear error (Pcsc).
_pcsc_socket = None


def _claim_socket(d):
    """True when this process's libpcsclite talks to the pcscd of rig `d`."""
    global _pcsc_socket
    sock = os.path.join(os.path.abspath(d), "pcscd", "pcscd.comm")
    if _pcsc_socket is None:
        _pcsc_socket = sock
        os.environ["PCSCLITE_CSOCK_NAME"] = sock
    return _pcsc_socket == sock


def reader_state(d, slot=0, timeout_ms=0):
    """(present, atr) of the rig's reader `slot`."""
    if not _claim_socket(d):
        p = subprocess.run([PY, os.path.abspath(__file__), "_state", d, str(slot)],
                           capture_output=True, text=True, timeout=30)
        out = p.stdout.split()
        if p.returncode != 0 or not out or out[0] == "none":
            return None, None
        return out[0] == "1", bytes.fromhex(out[1]) if len(out) > 1 else b""
    sc = _scard()
    hr, ctx = sc.SCardEstablishContext(sc.SCARD_SCOPE_USER)
    if hr != sc.SCARD_S_SUCCESS:
        return None, None
    try:
        hr, states = sc.SCardGetStatusChange(ctx, timeout_ms,
                                             [(READER % slot, sc.SCARD_STATE_UNAWARE)])
        if hr != sc.SCARD_S_SUCCESS:
            return None, None
        _, ev, atr = states[0]
        return bool(ev & sc.SCARD_STATE_PRESENT) and bool(atr), bytes(atr)
    finally:
        sc.SCardReleaseContext(ctx)


def wait_card(d, slot=0, present=True, timeout=10.0):
    """Poll until pcscd reports the card present (or absent)."""
    deadline = time.monotonic() + timeout
    while True:
        p, _ = reader_state(d, slot)
        if p is not None and p == present:
            return True
        if time.monotonic() > deadline:
            raise TimeoutError("card in %s slot %d not %s" %
                               (d, slot, "present" if present else "absent"))
        time.sleep(0.01)


class Pcsc:
    """Raw APDUs to the rig's card; SCARD_LEAVE_CARD keeps the security state."""

    def __init__(self, d, slot=0):
        if not _claim_socket(d):
            raise RuntimeError("rig.Pcsc: this process already used the pcscd of another rig "
                               "(libpcsclite keeps the first socket); use a child process")
        self.sc = sc = _scard()
        hr, self.ctx = sc.SCardEstablishContext(sc.SCARD_SCOPE_USER)
        hr, self.h, self.proto = sc.SCardConnect(
            self.ctx, READER % slot, sc.SCARD_SHARE_SHARED,
            sc.SCARD_PROTOCOL_T0 | sc.SCARD_PROTOCOL_T1)
        if hr != sc.SCARD_S_SUCCESS:
            raise RuntimeError("SCardConnect: " + sc.SCardGetErrorMessage(hr))

    def transmit(self, apdu, get_response=True):
        """Send APDU (bytes or hex); returns (data, sw). Follows 61xx."""
        if isinstance(apdu, str):
            apdu = bytes.fromhex(apdu.replace(" ", ""))
        hr, resp = self.sc.SCardTransmit(self.h, self.proto, list(apdu))
        if hr != self.sc.SCARD_S_SUCCESS:
            raise RuntimeError("SCardTransmit: " + self.sc.SCardGetErrorMessage(hr))
        data, sw = bytes(resp[:-2]), resp[-2] << 8 | resp[-1]
        while get_response and sw >> 8 == 0x61:
            hr, resp = self.sc.SCardTransmit(self.h, self.proto, [0, 0xC0, 0, 0, sw & 0xFF])
            data, sw = data + bytes(resp[:-2]), resp[-2] << 8 | resp[-1]
        return data, sw

    def begin(self):
        """SCardBeginTransaction: no other PC/SC client reaches the card until end()."""
        hr = self.sc.SCardBeginTransaction(self.h)
        if hr != self.sc.SCARD_S_SUCCESS:
            raise RuntimeError("SCardBeginTransaction: " + self.sc.SCardGetErrorMessage(hr))

    def end(self):
        self.sc.SCardEndTransaction(self.h, self.sc.SCARD_LEAVE_CARD)

    def close(self):
        self.sc.SCardDisconnect(self.h, self.sc.SCARD_LEAVE_CARD)
        self.sc.SCardReleaseContext(self.ctx)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


# ---------------------------------------------------------------- commands

def _wait_socket(path, proc, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("pcscd exited with %s" % proc.returncode)
        if os.path.exists(path):
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(path)
                return
            except OSError:
                pass
            finally:
                s.close()
        time.sleep(0.005)
    raise TimeoutError("pcscd socket %s" % path)


def family_of(card_config=None, family=None):
    """The card family: `family`, else the config file's "family" key, else pkcs15."""
    if family:
        return family
    if card_config:
        with open(card_config) as fh:
            return json.load(fh).get("family", "pkcs15")
    return "pkcs15"


def _config_has_family(card_config):
    with open(card_config) as fh:
        return "family" in json.load(fh)


def opensc_conf(family="pkcs15"):
    """The rig's opensc.conf text for a card family."""
    if family not in CARD_DRIVERS:
        raise RuntimeError("unknown card family %r (known: %s)" % (family, ", ".join(FAMILIES)))
    if family == "pkcs15":
        return OPENSC_CONF
    return OPENSC_CONF.replace(
        "    # the virtual card answers as an IsoApplet; skip probing the other drivers\n"
        "    card_drivers = isoApplet;\n",
        "    # card family %s; skip probing the other drivers\n"
        "    card_drivers = %s;\n" % (family, CARD_DRIVERS[family]))


def start(d, card_config=None, card=True, verbose=False, family=None, apdu_log=False,
          owner=None, cleanup_dir=False):
    """Start pcscd (and the card unless card=False).  family: pkcs15 | openpgp |
    piv | piv+openpgp (default: the config's "family" key, else pkcs15).
    apdu_log: every card process of this rig appends its APDUs to
    <dir>/apdu<slot>.log (see oracle.py).  owner: stop the rig when that
    process ends (and with cleanup_dir remove <dir>)."""
    d = os.path.abspath(d)
    family = family_of(card_config, family)
    if _read_pid(os.path.join(d, "pcscd.pid")) and _pid_alive(_read_pid(os.path.join(d, "pcscd.pid"))):
        raise RuntimeError("rig already running in " + d)
    for sub in ("pcscd", "reader.conf.d", "state"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    if owner:  # first, so that an owner dying during the start is seen too
        _start_watcher(d, owner, cleanup_dir)
    port = _free_port_pair()
    with open(os.path.join(d, "reader.conf.d", "vpcd"), "w") as fh:
        fh.write('FRIENDLYNAME "Virtual PCD"\nDEVICENAME /dev/null:%d\nLIBPATH %s\n'
                 'CHANNELID %d\n' % (port, VPCD, port))
    with open(os.path.join(d, "opensc.conf"), "w") as fh:
        fh.write(opensc_conf(family))
    if card_config:
        shutil.copy(card_config, os.path.join(d, "card.json"))
    sock = os.path.join(d, "pcscd", "pcscd.comm")
    env = {"RIG_DIR": d, "RIG_PORT": str(port), "RIG_READER": READER % 0,
           "RIG_READER1": READER % 1, "PCSCLITE_CSOCK_NAME": sock,
           "OPENSC_CONF": os.path.join(d, "opensc.conf"), "RIG_STATE": os.path.join(d, "state"),
           "RIG_OPENSC_MODULE": OPENSC_MODULE,
           "RIG_CARD_CONFIG": os.path.join(d, "card.json") if card_config else "",
           "RIG_FAMILY": family, "RIG_APDU_LOG": "1" if apdu_log else ""}
    with open(os.path.join(d, "env"), "w") as fh:
        for k, v in env.items():
            fh.write("export %s=%s\n" % (k, shlex.quote(v)))
    inner = ("mount -t tmpfs tmpfs /run && mkdir -p /run/pcscd && "
             "mount --bind %s /run/pcscd && exec pcscd --foreground %s -c %s"
             % (shlex.quote(os.path.join(d, "pcscd")), "--apdu --debug" if verbose else "",
                shlex.quote(os.path.join(d, "reader.conf.d"))))
    log = open(os.path.join(d, "pcscd.log"), "ab")
    # pcscd honours PCSCLITE_CSOCK_NAME: a value left by an earlier rig of this
    # process (Pcsc, reader_state) would put the socket in that rig's directory
    penv = {k: v for k, v in os.environ.items() if k != "PCSCLITE_CSOCK_NAME"}
    proc = subprocess.Popen(["unshare", "-r", "-m", "--propagation", "private", "sh", "-c", inner],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True, env=penv)
    log.close()
    with open(os.path.join(d, "pcscd.pid"), "w") as fh:
        fh.write("%d\n" % proc.pid)
    try:
        if card:  # the card process may load/generate keys while pcscd starts
            insert(d, wait=False)
        _wait_socket(sock, proc)
        if card:
            wait_card(d, 0)
    except BaseException:
        stop(d)
        raise
    return env


def missing_dependencies():
    """Paths/modules the rig needs that are not installed (Debian packages in README)."""
    missing = [p for p in (VPCD, OPENSC_MODULE, shutil.which("pcscd"), shutil.which("unshare"))
               if not p or not os.path.exists(p)]
    for mod in ("smartcard.scard", "cryptography", "PyKCS11"):
        try:
            __import__(mod)
        except ImportError:
            missing.append("python module " + mod)
    return missing


def insert(d, slot=0, card_config=None, state=None, verbose=False, wait=True, family=None):
    """Start the card process of reader `slot`; its family: `family`, else the
    config's, else the rig's (RIG_FAMILY)."""
    d = os.path.abspath(d)
    pidfile = os.path.join(d, "card%d.pid" % slot)
    pid = _read_pid(pidfile)
    if pid and _pid_alive(pid):
        return
    env = load_env(d)
    port = int(env["RIG_PORT"]) + slot
    if card_config is None and os.path.exists(os.path.join(d, "card.json")):
        card_config = os.path.join(d, "card.json")
    state = state or os.path.join(d, "state" if slot == 0 else "state%d" % slot)
    cmd = [PY, VCARD, "--port", str(port), "--state", state, "--key-cache", KEY_CACHE]
    if card_config:
        cmd += ["--config", card_config]
    if not family and not (card_config and _config_has_family(card_config)):
        family = env.get("RIG_FAMILY") or None
    if family:
        cmd += ["--family", family]
    if env.get("RIG_APDU_LOG"):
        cmd += ["--apdu-log", os.path.join(d, "apdu%d.log" % slot)]
    if verbose:
        cmd.append("--verbose")
    log = open(os.path.join(d, "card%d.log" % slot), "ab")
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True)
    log.close()
    with open(pidfile, "w") as fh:
        fh.write("%d\n" % proc.pid)
    if wait:
        wait_card(d, slot)


def remove(d, slot=0, wait=True):
    d = os.path.abspath(d)
    _kill(os.path.join(d, "card%d.pid" % slot))
    if wait and os.path.exists(os.path.join(d, "pcscd", "pcscd.comm")):
        wait_card(d, slot, present=False)


def stop(d):
    d = os.path.abspath(d)
    for f in os.listdir(d) if os.path.isdir(d) else []:
        if f.startswith("card") and f.endswith(".pid"):
            _kill(os.path.join(d, f))
    _kill(os.path.join(d, "pcscd.pid"))
    if _read_pid(os.path.join(d, "watch.pid")) != os.getpid():
        _kill(os.path.join(d, "watch.pid"))


def reset(d, slot=0):
    """The card in reader `slot` back to its default PINs, counters and
    TokenInfo (state.json goes; keys and certificates stay)."""
    d = os.path.abspath(d)
    pid = _read_pid(os.path.join(d, "card%d.pid" % slot))
    present = pid is not None and _pid_alive(pid)
    remove(d, slot)
    state = os.path.join(d, "state" if slot == 0 else "state%d" % slot)
    for f in ("state.json", "state.json.tmp"):
        if os.path.exists(os.path.join(state, f)):
            os.unlink(os.path.join(state, f))
    if present:
        insert(d, slot)


# ------------------------------------------------ the rig dies with its owner

def _start_watcher(d, owner, cleanup_dir):
    cmd = [PY, os.path.abspath(__file__), "_watch", d, str(owner)]
    if cleanup_dir:
        cmd.append("--cleanup-dir")
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    with open(os.path.join(d, "watch.pid"), "w") as fh:
        fh.write("%d\n" % proc.pid)


def _watch(d, owner, cleanup_dir):
    """Wait for process `owner` to end, then stop the rig (twice: a `rig
    insert` the owner had running may still start a card)."""
    try:
        fd = os.pidfd_open(owner)
        select.select([fd], [], [])
    except ProcessLookupError:
        pass
    except OSError:  # no pidfd: poll
        while _pid_alive(owner):
            time.sleep(0.2)
    for _ in range(2):
        stop(d)
        time.sleep(0.5)
    if os.path.exists(os.path.join(d, "watch.pid")):
        os.unlink(os.path.join(d, "watch.pid"))
    if cleanup_dir:
        shutil.rmtree(d, ignore_errors=True)


def status(d):
    env = load_env(d)
    print("rig %s port %s" % (d, env["RIG_PORT"]))
    for slot in (0, 1):
        present, atr = reader_state(d, slot)
        print("  %s: %s %s" % (READER % slot,
                              "no pcscd" if present is None else
                              "card" if present else "empty", atr.hex().upper() if atr else ""))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_state"]:  # internal: reader_state of another rig, see _claim_socket
        present, atr = reader_state(argv[1], int(argv[2]))
        print("none" if present is None else "%d %s" % (present, atr.hex()))
        return 0
    ap = argparse.ArgumentParser(prog="rig", description="virtual smart-card rig")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("start")
    p.add_argument("dir")
    p.add_argument("--card-config")
    p.add_argument("--no-card", action="store_true")
    p.add_argument("--verbose", action="store_true", help="pcscd APDU log")
    p.add_argument("--family", choices=FAMILIES, help="card family (default: config's, pkcs15)")
    p.add_argument("--apdu-log", action="store_true", help="cards log APDUs to DIR/apdu<N>.log")
    p.add_argument("--owner", type=int, help="stop the rig when this process ends")
    p.add_argument("--cleanup-dir", action="store_true",
                   help="with --owner: also remove the dir then")
    p = sub.add_parser("insert")
    p.add_argument("dir")
    p.add_argument("--slot", type=int, default=0, choices=(0, 1))
    p.add_argument("--card-config")
    p.add_argument("--state")
    p.add_argument("--verbose", action="store_true", help="card APDU log in card<N>.log")
    p.add_argument("--family", choices=FAMILIES)
    p = sub.add_parser("remove")
    p.add_argument("dir")
    p.add_argument("--slot", type=int, default=0, choices=(0, 1))
    p = sub.add_parser("reset")
    p.add_argument("dir")
    p.add_argument("--slot", type=int, default=0, choices=(0, 1))
    for name in ("stop", "status"):
        sub.add_parser(name).add_argument("dir")
    p = sub.add_parser("_watch")  # internal: the watcher of start --owner
    p.add_argument("dir")
    p.add_argument("owner", type=int)
    p.add_argument("--cleanup-dir", action="store_true")
    a = ap.parse_args(argv)
    if a.cmd == "start" and missing_dependencies():
        print("rig: missing %s" % ", ".join(missing_dependencies()), file=sys.stderr)
        return 1
    try:
        if a.cmd == "start":
            t = time.monotonic()
            start(a.dir, a.card_config, not a.no_card, a.verbose, a.family, a.apdu_log,
                  a.owner, a.cleanup_dir)
            print("rig started in %s (%.2f s); source %s/env" %
                  (os.path.abspath(a.dir), time.monotonic() - t, os.path.abspath(a.dir)))
        elif a.cmd == "insert":
            insert(a.dir, a.slot, a.card_config, a.state, a.verbose, family=a.family)
        elif a.cmd == "remove":
            remove(a.dir, a.slot)
        elif a.cmd == "stop":
            stop(a.dir)
        elif a.cmd == "reset":
            reset(a.dir, a.slot)
        elif a.cmd == "_watch":
            _watch(os.path.abspath(a.dir), a.owner, a.cleanup_dir)
        elif a.cmd == "status":
            status(a.dir)
    except (RuntimeError, TimeoutError, OSError) as e:
        print("rig %s: %s" % (a.cmd, e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
