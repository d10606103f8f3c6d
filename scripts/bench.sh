#!/usr/bin/env bash
# One bench on real components: bash scripts/bench.sh supervisor|api-poll|bandwidth|delta|metered|fleet-scale. With SKIFF_ENV_FILE set
# it runs on that environment as it is; otherwise it starts the private 'test' environment and stops it afterwards
# (so not while `make test` runs). Prints the bench's readable lines, then its one JSON line.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$SKIFF_REPO"

name=${1:-}
case "$name" in
  supervisor | api-poll | bandwidth | delta | metered | fleet-scale) ;;
  *) die "usage: scripts/bench.sh supervisor|api-poll|bandwidth|delta|metered|fleet-scale" ;;
esac
[ -f "dist/bench/$name.js" ] || die "dist/bench/$name.js is missing: compile first (make build)"
if [ -z "${SKIFF_ENV_FILE:-}" ]; then
  bash scripts/env.sh up test
  trap 'bash scripts/env.sh down test >/dev/null 2>&1 || true' EXIT
  export SKIFF_ENV_FILE="$SKIFF_REPO/.skiff/test/env.json"
fi
npm run --silent "bench:$name"
