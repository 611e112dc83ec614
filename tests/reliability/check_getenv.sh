#!/bin/sh
# Every environment variable the module reads goes through secure_getenv
# (docs/architecture.md §2: P11OVERLAY_CONF is ignored in setuid programs).  Fails on
# any getenv( in proxy/ or addons/ that is not secure_getenv(.
cd "$(dirname "$0")/../.." || exit 2
bad=$(grep -rnE '(^|[^_[:alnum:]])getenv[[:space:]]*\(' proxy addons \
	--include='*.c' --include='*.h' || true)
if [ -n "$bad" ]; then
	echo "getenv without secure_ in the module's sources:"
	echo "$bad"
	exit 1
fi
echo "check_getenv: ok ($(grep -rn 'secure_getenv' proxy addons --include='*.c' | wc -l) secure_getenv calls)"
