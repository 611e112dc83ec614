#!/bin/sh
echo "bench/run.sh: not written yet" >&2
exit 1
