#!/usr/bin/python3
"""cg_own.py DUMP ITERS [PROVIDER_SUFFIX...]: p11overlay's own instructions
per iteration in a p11bench --cg-dir module dump: the inclusive cost of its
entry points minus that of the providers' C_* functions they reach (default
providers: libsofthsm2.so, opensc-pkcs11.so).  Unlike module - direct, this
does not move with how the provider's own work changes in another process
(heap layout, OpenSSL state of a second provider)."""
import re
import subprocess
import sys
dump, iters = sys.argv[1], int(sys.argv[2])
providers = tuple(sys.argv[3:]) or ("libsofthsm2.so", "opensc-pkcs11.so")
out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", dump],
                     capture_output=True, text=True).stdout
entry = prov = 0
for ln in out.splitlines():
    m = re.match(r"\s*([\d,]+) \([^)]*\)\s+(\S+):(\S+) \[(\S+)\]", ln)
    if not m:
        continue
    cost, fn, obj = int(m.group(1).replace(",", "")), m.group(3), m.group(4)
    if obj.endswith("p11overlay.so") and fn.startswith("entry_C_"):
        entry += cost
    elif obj.endswith(providers) and re.fullmatch(r"C_\w+", fn):
        prov += cost
print("%s: own %.1f Ir/iter" % (dump.split("/")[-1], (entry - prov) / iters))
