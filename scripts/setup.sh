#!/usr/bin/env bash
# Idempotent set-up shared by `npm start`, `npm test`, `npm run bench` and `npm run soak`:
# Node 24 (scripts/use-node.sh), OS packages (nats-server, janus, janus-tools, chromium, softhsm2), npm dependencies,
# helm, build. `bash scripts/setup.sh <command…>` then runs the command with the same Node on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
# npm runs `npm start` as `sh -c 'exec bash scripts/setup.sh …'` and forwards SIGINT/SIGTERM to that child: the
# `exec` here and below make it the command itself. A signal during the set-up stops it after the current step
# (bash runs a trap once its foreground command returns) instead of going on to start the command.
trap 'echo "haven: interrupted during set-up" >&2; exit 130' INT TERM

# shellcheck source=scripts/use-node.sh
. scripts/use-node.sh
haven_use_node "$PWD"

need=()
command -v nats-server >/dev/null 2>&1 || need+=(nats-server)
command -v janus >/dev/null 2>&1 || need+=(janus)
command -v janus-pp-rec >/dev/null 2>&1 || need+=(janus-tools)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ -f /usr/share/javascript/janus-gateway/janus.js ] || need+=(libjs-janus-gateway)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
# softhsm2: a real PKCS#11 token for the HSM adapter's tests (tests only; small, so always installed).
[ -f /usr/lib/softhsm/libsofthsm2.so ] && command -v softhsm2-util >/dev/null 2>&1 || need+=(softhsm2)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "haven: missing system packages: ${need[*]}" >&2
    echo "haven: run this once as root, then try again:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  echo "haven: installing system packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# npm dependencies: `npm ci` whenever package-lock.json changed since the last install, or the Node ABI did
# (native addons such as pkcs11js are built for one).
lock_hash="$(sha256sum package-lock.json | cut -d' ' -f1) node-abi-$(node -p process.versions.modules)"
if [ "$(cat node_modules/.haven-lock-hash 2>/dev/null)" != "$lock_hash" ]; then
  echo "haven: npm ci"
  npm ci --no-audit --no-fund
  echo "$lock_hash" > node_modules/.haven-lock-hash
fi

node scripts/install-helm.mjs
echo "haven: build"
npm run --silent build

trap - INT TERM
if [ $# -gt 0 ]; then exec "$@"; fi
