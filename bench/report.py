#!/usr/bin/python3
"""Tables from bench/run.sh's result files; optionally into README.md.

usage: report.py RESDIR [--readme bench/README.md]
"""
import glob
import os
import platform
import statistics
import subprocess
import sys
import time

BEGIN = "<!-- results:begin -->"
END = "<!-- results:end -->"
CASES = [("p11o-off", "p11overlay, trace off"),
         ("p11o-calls", "p11overlay, trace calls → file"),
         ("p11o-full", "p11overlay, trace full → file"),
         ("p11kit", "p11-kit-proxy (SoftHSM2 only)"),
         ("spy-null", "pkcs11-spy → /dev/null"),
         ("spy-file", "pkcs11-spy → file")]
SHORT = {"direct": "direct", "p11o-off": "p11o off", "p11o-calls": "p11o calls",
         "p11o-full": "p11o full", "p11kit": "p11-kit-proxy",
         "spy-null": "spy → null", "spy-file": "spy → file"}
CHEAP = ["sessioninfo", "slotlist", "getattr", "random"]


def read_tsv(path):
    rows, header = [], None
    with open(path) as fh:
        for line in fh:
            line = line.rstrip("\n")
            if not line:
                continue
            if line.startswith("#"):
                header = None
                continue
            f = line.split("\t")
            if header is None:
                header = f
                continue
            rows.append(dict(zip(header, f)))
    return rows


def self_ir_by_object(path):
    """Self cost (Ir) per object file in one callgrind dump."""
    obs, ob, costs, skip = {}, None, {}, False
    with open(path) as fh:
        for line in fh:
            if line.startswith(("ob=", "cob=")):
                v = line.split("=", 1)[1].strip()
                if v.startswith("("):
                    i = v.index(")")
                    key, name = v[1:i], v[i + 1:].strip()
                    if name:
                        obs[key] = name
                    v = obs.get(key, key)
                if line.startswith("ob="):
                    ob = v
            elif line.startswith("calls="):
                skip = True
            elif line[:1].isdigit() or line[:1] in "+-*":
                if skip:
                    skip = False
                    continue
                f = line.split()
                if len(f) >= 2 and ob:
                    costs[ob] = costs.get(ob, 0) + int(f[1])
    return costs


def own_ir(cgdir, op, iters, obj="p11overlay.so"):
    """Ir per call spent in `obj`'s own code in the module child's dump of op."""
    for path in glob.glob(os.path.join(cgdir, "callgrind.module.*.*")):
        with open(path) as fh:
            head = fh.read(2000)
        if "Client Request: %s\n" % op not in head:
            continue
        c = self_ir_by_object(path)
        return sum(v for k, v in c.items() if k.endswith(obj)) / iters
    return float("nan")


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def fmt_ns(x):
    if x != x:
        return "–"
    if x >= 100000:
        return "%.0f µs" % (x / 1000)
    if x >= 10000:
        return "%.1f µs" % (x / 1000)
    return "%.0f ns" % x


def wall(res):
    """{case: {(op, threads): {direct: [..], module: [..], ratio: [..]}}}"""
    out = {}
    for path in glob.glob(os.path.join(res, "wall.*.tsv")):
        case = os.path.basename(path).split(".")[1]
        for r in read_tsv(path):
            k = (r["op"], int(r["threads"]))
            d = out.setdefault(case, {}).setdefault(
                k, {"direct": [], "module": [], "ratio": []})
            d["direct"].append(float(r["direct_ns"]))
            d["module"].append(float(r["module_ns"]))
            d["ratio"].append(float(r["ratio"]))
    return out


def main():
    res = sys.argv[1]
    readme = None
    if "--readme" in sys.argv:
        readme = sys.argv[sys.argv.index("--readme") + 1]
    lines = []
    P = lines.append
    try:
        rev = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(__file__)),
                              "describe", "--always", "--dirty"], capture_output=True,
                             text=True).stdout.strip()
    except OSError:
        rev = "?"
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(l.split(":", 1)[1].strip() for l in fh if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    P("Run of %s on %s (%d CPUs, %s), commit %s." % (
        time.strftime("%Y-%m-%d"), platform.node() or "?", os.cpu_count() or 0, cpu, rev))
    P("")
    targets = []

    W = wall(res)
    if W:
        reps = max(len(v["ratio"]) for c in W.values() for v in c.values())
        P("### Wall clock, single thread (median of %d runs; ratio = module ÷ direct "
          "SoftHSM2 measured back to back in the same invocation)" % reps)
        P("")
        cases = [c for c, _ in CASES if c in W]
        P("| operation | SoftHSM2 direct | " + " | ".join(SHORT[c] for c in cases) +
          " | direct vs itself |")
        P("|---|---:|" + "---:|" * len(cases) + "---:|")
        ops = [k for k in (W.get("p11o-off") or next(iter(W.values()))) if k[1] == 0]
        for k in ops:
            alld = [x for c in W.values() if k in c for x in c[k]["direct"]]
            cells = []
            for c in cases:
                v = W[c].get(k)
                cells.append("–" if not v else "%s (%.2f×)" % (fmt_ns(med(v["module"])), med(v["ratio"])))
            selfc = W.get("direct", {}).get(k)
            P("| %s | %s | %s | %s |" % (k[0], fmt_ns(med(alld)), " | ".join(cells),
                                          "%.2f×" % med(selfc["ratio"]) if selfc else "–"))
        P("")
        mt = sorted({k[0] for c in W.values() for k in c if k[1] > 0})
        thr = sorted({k[1] for c in W.values() for k in c if k[1] > 0})
        if 1 in thr and 2 in thr:
            P("### Threads: aggregate throughput with 2 threads ÷ with 1 thread "
              "(each thread its own session; median of runs)")
            P("")
            tc = [c for c in ["p11o-off", "p11o-full", "p11kit", "spy-null"] if c in W]
            P("| operation | 1 thread direct | direct 2T/1T | " +
              " | ".join("%s 2T/1T" % SHORT[c] for c in tc) + " |")
            P("|---|---:|---:|" + "---:|" * len(tc))
            for op in mt:
                # direct: every case's reference child, paired per run
                dr = []
                for c in W.values():
                    a, b = c.get((op, 1)), c.get((op, 2))
                    if a and b:
                        dr += [x / y for x, y in zip(a["direct"], b["direct"])]
                cells = []
                for c in tc:
                    a, b = W[c].get((op, 1)), W[c].get((op, 2))
                    if not (a and b):
                        cells.append("–")
                        continue
                    m = med([x / y for x, y in zip(a["module"], b["module"])])
                    dd = med([x / y for x, y in zip(a["direct"], b["direct"])])
                    cells.append("%.2f (direct %.2f)" % (m, dd))
                    if c == "p11o-off":
                        # one-sided: scaling better than direct is noise, not a cost
                        targets.append(("2-thread throughput ratio not >5%% below direct's: %s" % op,
                                        m / dd >= 0.95,
                                        "p11overlay %.2f vs direct %.2f (same runs)" % (m, dd)))
                one = [x for c in W.values() if (op, 1) in c for x in c[(op, 1)]["direct"]]
                P("| %s | %s | %.2f | %s |" % (op, fmt_ns(med(one)), med(dr), " | ".join(cells)))
            P("")
        off = W.get("p11o-off", {})
        for op in CHEAP:
            v = off.get((op, 0))
            if v:
                lim = 1.10 if op == "slotlist" else 1.05
                targets.append(("wall ratio %s (trace off) ≤ %.2f×" % (op, lim),
                                med(v["ratio"]) <= lim, "%.3f×" % med(v["ratio"])))

    cg = {}
    for path in glob.glob(os.path.join(res, "cg.*.tsv")):
        case = os.path.basename(path).split(".")[1]
        cg[case] = {r["op"]: r for r in read_tsv(path)}
    if cg:
        P("### Callgrind: instructions per call (only the loop is collected; "
          "added = module − direct, same operation and iteration count)")
        P("")
        cases = [c for c in ["direct"] + [c for c, _ in CASES] if c in cg]
        P("| operation | SoftHSM2 Ir/call | " +
          " | ".join("%s added" % ("direct vs itself" if c == "direct" else SHORT[c]) for c in cases) + " |")
        P("|---|---:|" + "---:|" * len(cases))
        ops = list(next(iter(cg.values())).keys())
        for op in ops:
            base = next((float(cg[c][op]["direct_ir"]) for c in cases if op in cg[c]), float("nan"))
            cells = ["%+.0f" % float(cg[c][op]["added_ir"]) if op in cg[c] else "–" for c in cases]
            P("| %s | %.0f | %s |" % (op, base, " | ".join(cells)))
        P("")
        cgroot = os.path.join(os.path.dirname(os.path.abspath(res)), "cg")
        own = [c for c in ["p11o-off", "p11o-calls", "p11o-full"] if c in cg]
        if own and os.path.isdir(cgroot):
            P("Instructions executed in `p11overlay.so`'s own code per call (self cost "
              "of its functions in the same dumps; excludes libc calls it makes, e.g. "
              "`write`, `clock_gettime`, `memcpy`, `__tls_get_addr`), which is free of "
              "the provider's heap-layout noise:")
            P("")
            P("| operation | " + " | ".join(SHORT[c] for c in own) + " |")
            P("|---|" + "---:|" * len(own))
            for op in ops:
                cells = []
                for c in own:
                    r = cg[c].get(op)
                    v = own_ir(os.path.join(cgroot, c), op, int(r["iters"])) if r else float("nan")
                    cells.append("%.0f" % v if v == v else "–")
                P("| %s | %s |" % (op, " | ".join(cells)))
            P("")
        o = cg.get("p11o-off", {})
        if "sessioninfo" in o:
            targets.append(("instructions added per C_GetSessionInfo (trace off) ≤ 100",
                            float(o["sessioninfo"]["added_ir"]) <= 100,
                            "%+.0f" % float(o["sessioninfo"]["added_ir"])))
        f = cg.get("p11o-full", {})
        for op in ["sessioninfo", "slotlist"]:
            if op in f:
                targets.append(("trace full to a file ≤ 2,000 instructions per cheap call: %s" % op,
                                float(f[op]["added_ir"]) <= 2000, "%+.0f" % float(f[op]["added_ir"])))

    al = {}
    for path in glob.glob(os.path.join(res, "allocs.*.tsv")):
        case = os.path.basename(path).split(".")[1]
        al[case] = {r["op"]: r for r in read_tsv(path) if r["threads"] == "0"}
    if al:
        P("### Heap allocations per call (LD_PRELOAD counter, calling thread, "
          "loop only; added = module − direct)")
        P("")
        cases = [c for c, _ in CASES if c in al]
        P("| operation | SoftHSM2 allocs/call | " + " | ".join("%s added" % SHORT[c] for c in cases) + " |")
        P("|---|---:|" + "---:|" * len(cases))
        ops = list(next(iter(al.values())).keys())
        worst = 0.0
        for op in ops:
            base = next(float(al[c][op]["direct_allocs"]) for c in cases if op in al[c])
            cells = []
            for c in cases:
                r = al[c].get(op)
                if not r:
                    cells.append("–")
                    continue
                add = float(r["module_allocs"]) - float(r["direct_allocs"])
                cells.append("%+.2f" % add)
                if c == "p11o-off" and op in ("slotlist", "tokeninfo", "sessioninfo", "getattr",
                                              "digest", "random", "find", "findall"):
                    worst = max(worst, add)
            P("| %s | %.2f | %s |" % (op, base, " | ".join(cells)))
        P("")
        if "p11o-off" in al:
            targets.append(("heap allocations added per forwarded call (trace off) = 0",
                            worst <= 0.005, "max %+.2f over the forwarded calls" % worst))

    card = os.path.join(res, "card.tsv")
    if os.path.exists(card):
        P("### Card rig: APDUs per operation (OpenSC 0.23 isoApplet driver, virtual "
          "PKCS#15 card; counted in the card's APDU log)")
        P("")
        P("| operation | OpenSC direct | through p11overlay |")
        P("|---|---:|---:|")
        for r in read_tsv(card):
            if r["op"] == "setup":
                P("| setup: load, C_Initialize, find token by label, open session | %s | %s |"
                  % (r["direct_apdus"], r["module_apdus"]))
            else:
                P("| %s | %.2f | %.2f |" % (r["op"], float(r["direct_apdus"]), float(r["module_apdus"])))
        P("")

    if targets:
        P("### Targets")
        P("")
        P("| target | result | measured |")
        P("|---|---|---|")
        for name, ok, meas in targets:
            P("| %s | %s | %s |" % (name, "met" if ok else "**missed**", meas))
        P("")

    text = "\n".join(lines)
    print(text)
    if readme:
        with open(readme) as fh:
            old = fh.read()
        if BEGIN in old and END in old:
            a = old.index(BEGIN) + len(BEGIN)
            b = old.index(END)
            new = old[:a] + "\n" + text + "\n" + old[b:]
        else:
            new = old + "\n" + BEGIN + "\n" + text + "\n" + END + "\n"
        with open(readme, "w") as fh:
            fh.write(new)


if __name__ == "__main__":
    main()
