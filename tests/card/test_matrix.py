#!/usr/bin/python3
"""Feature matrix of issue 14: card families x features through p11overlay
(PyKCS11 and the exported extension symbols), with OpenSC directly as the
oracle.  Every cell runs in its own child process with its own rig and a
fresh card, under a timeout (a hang is a red cell, not a stuck test).  The
matrix is printed as a table; cells expected red are listed in
matrix_expect.py with their reason, and the test fails when any cell differs
from that expectation (red where green is expected, or green where red was).

  test_matrix.py P11OVERLAY_SO                 whole matrix (exit 0 = as expected)
  test_matrix.py P11OVERLAY_SO CASE [FEATURE]  some rows/cells (prints, exit 0)
"""
import concurrent.futures, os, shutil, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import matrix_expect  # noqa: E402
import rig  # noqa: E402

FEATURES = ("tokens", "stable-ids", "pin-state", "special-objects", "puk-unlock",
            "challenge", "sign", "apdu-cost")
CASES = ("pkcs15-default", "pkcs15-padded-ff", "pkcs15-padchar-nopad", "pkcs15-bcd",
         "pkcs15-utf8", "openpgp-v2", "openpgp-v3", "piv", "multi-piv")
CELL_TIMEOUT = 240  # a cell takes 4-12 s (minutes on a loaded machine); hangs: Watchdog


def cell_env():
    """The environment of a cell.  Sanitizer builds: meson's ext_test_env
    preloads libasan into python; PyKCS11's C++ extension, loaded later, then
    needs libstdc++ in the preload too, or ASan's __cxa_throw interceptor
    aborts the child (as tests/interop/lib.sh does)."""
    env = dict(os.environ)
    pre = env.get("LD_PRELOAD", "")
    if "libasan" in pre and "libstdc++" not in pre:
        out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
        for ln in out.splitlines():
            if "libstdc++.so.6 " in ln and "x86-64" in ln:
                env["LD_PRELOAD"] = pre + " " + ln.split("=>")[-1].strip()
                break
    return env


def run_cell(so, case, feature):
    """(status, detail): status ok | FAIL | n/a, from a child running matrix_cell.py."""
    t = time.monotonic()
    try:
        p = subprocess.run([sys.executable, os.path.join(HERE, "matrix_cell.py"), so, case,
                            feature], capture_output=True, text=True, timeout=CELL_TIMEOUT,
                           env=cell_env())
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) \
            else (e.stdout or "")
        for ln in out.splitlines():  # the killed child could not stop its rig
            if ln.startswith("RIG "):
                rig.stop(ln[4:])
                shutil.rmtree(os.path.dirname(ln[4:]), ignore_errors=True)
        return "FAIL", "hang: no answer within %d s (last: %s)" % (
            CELL_TIMEOUT, (out.strip().splitlines() or ["-"])[-1]), time.monotonic() - t
    for ln in p.stdout.splitlines():  # a child killed by its watchdog left its rig
        if ln.startswith("RIG ") and os.path.exists(os.path.join(ln[4:], "pcscd.pid")):
            rig.stop(ln[4:])
            shutil.rmtree(os.path.dirname(ln[4:]), ignore_errors=True)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("CELL ")]
    if not lines:
        tail = (p.stdout + p.stderr).strip().splitlines()[-3:]
        return "FAIL", "child exit %d: %s" % (p.returncode, " | ".join(tail)), \
            time.monotonic() - t
    status, _, detail = lines[-1][5:].partition(" ")
    return status, detail, time.monotonic() - t


def table(results):
    w = max(len(c) for c in CASES)
    head = "%-*s | %s" % (w, "family", " | ".join("%-10s" % f[:10] for f in FEATURES))
    out = [head, "-" * len(head)]
    for case in CASES:
        cells = []
        for f in FEATURES:
            st = results.get((case, f), ("?", ""))[0]
            exp = matrix_expect.expected(case, f)
            mark = {"ok": "ok", "n/a": "n/a", "FAIL": "RED", "?": "-"}.get(st, st)
            if st != "?" and (st == "FAIL") != (exp is not None and exp[0] == "red"):
                mark += "!"
            cells.append("%-10s" % mark)
        out.append("%-*s | %s" % (w, case, " | ".join(cells)))
    return "\n".join(out)


def main(argv):
    so = os.path.abspath(argv[1])
    cases = [argv[2]] if len(argv) > 2 else list(CASES)
    feats = [argv[3]] if len(argv) > 3 else list(FEATURES)
    cells = [(c, f) for c in cases for f in feats]
    results = {}
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        futs = {pool.submit(run_cell, so, c, f): (c, f) for c, f in cells}
        for fut in concurrent.futures.as_completed(futs):
            c, f = futs[fut]
            st, detail, secs = fut.result()
            results[(c, f)] = (st, detail)
            print("%-22s %-16s %-5s %5.1fs %s" % (c, f, st, secs, detail), flush=True)
    print("\nmatrix (ok, n/a = impossible for the family, RED = broken; ! = differs from "
          "matrix_expect.py):\n" + table(results))
    print("\nreasons:")
    for (c, f), (st, detail) in sorted(results.items()):
        if st != "ok":
            exp = matrix_expect.expected(c, f)
            print("  %s / %s: %s: %s%s" % (c, f, st, detail,
                                           ("  [expected: %s]" % exp[1]) if exp else ""))
    if len(argv) > 2:
        return 0
    wrong = [(c, f) for (c, f), (st, _) in results.items()
             if (st == "FAIL") != (matrix_expect.expected(c, f) or ("", ""))[0].startswith("red")]
    if wrong:
        print("\nFAIL: cells differ from matrix_expect.py: %s" % ", ".join("%s/%s" % w
                                                                        for w in wrong))
        return 1
    print("\nPASS: every cell as expected")
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv))
