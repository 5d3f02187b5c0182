#!/usr/bin/env bash
# Runs jest under the pinned Node (scripts/use-node.sh) with the flags the suite needs:
#   bash scripts/jest.sh <jest arguments…>        (npm test, npm run test:unit, npm run jest -- <paths>)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/use-node.sh
. "$root/scripts/use-node.sh"
haven_use_node "$root"
# --experimental-vm-modules: jest loads ESM-only dependencies (uuid, jose, canonicalize) through require(esm)
# only with it; its one ExperimentalWarning per worker says nothing new.
exec node --experimental-vm-modules --disable-warning=ExperimentalWarning "$root/node_modules/jest/bin/jest.js" "$@"
