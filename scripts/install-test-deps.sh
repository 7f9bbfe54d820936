#!/usr/bin/env bash
# Installs the WAMP client libraries the interop tests (go test ./tests/...) drive:
#   - Autobahn|Python for Debian's /usr/bin/python3, with Twisted and asyncio and the
#     MessagePack and CBOR serializers (Debian packages, never PyPI);
#   - autobahn-js and wampy for Node, at the exact versions pinned in
#     tests/js/package-lock.json (npm ci).
# Idempotent: does nothing when everything is already there. Non-interactive; runs as
# root (or through sudo when available).
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=(sudo -E); else
    echo "install-test-deps: need root (or sudo) for apt-get" >&2; exit 1; fi
fi

# python3-autobahn pulls txaio, u-msgpack, ujson, etc.; cbor2 is what its CBOR
# serializer imports, msgpack what its MessagePack serializer prefers. RawSocket and
# asyncio support are in the autobahn package itself. python3-nacl (PyNaCl) is what
# autobahn.wamp.cryptosign needs for WAMP-Cryptosign (tests/auth_test.go).
debs=(python3 python3-autobahn python3-twisted python3-txaio python3-msgpack python3-cbor2 python3-nacl)
command -v node >/dev/null 2>&1 || debs+=(nodejs)
command -v npm >/dev/null 2>&1 || debs+=(npm)

missing=()
for p in "${debs[@]}"; do
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-test-deps: apt-get install ${missing[*]}"
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The machine may have another python3 first on PATH (pyenv); the tests always use
# Debian's, so check that one.
/usr/bin/python3 -c 'import autobahn, twisted, txaio, msgpack, cbor2, nacl' || {
  echo "install-test-deps: /usr/bin/python3 cannot import autobahn/twisted/msgpack/cbor2/nacl" >&2
  exit 1
}

# npm ci only when the lock file changed since the last install (stamp holds its hash).
js=tests/js
stamp="$js/node_modules/.wampd-lock.sha256"
want=$(sha256sum "$js/package-lock.json" | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "install-test-deps: npm ci in $js"
  (cd "$js" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
fi
(cd "$js" && node -e 'require("autobahn"); require("wampy"); require("ws"); require("websocket")') || {
  echo "install-test-deps: node cannot load autobahn/wampy from $js/node_modules" >&2
  exit 1
}
echo "install-test-deps: ok"
