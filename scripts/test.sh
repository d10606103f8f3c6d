#!/usr/bin/env bash
# The whole test suite on real components: unit, integration and end-to-end. Starts the private 'test'
# environment (engines, registry, Redis) and stops it afterwards.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$SKIFF_REPO"

bash scripts/deps.sh
bash scripts/env.sh up test
trap 'bash scripts/env.sh down test >/dev/null 2>&1 || true' EXIT

out=$(mktemp)
set +e
# Unit tests first: they fail fast and need nothing running.
if [ $# -eq 0 ]; then
  set -- 'dist/test/unit/**/*.test.js' 'dist/test/integration/**/*.test.js' 'dist/test/e2e/**/*.test.js'
fi
npx mocha "$@" 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
set -e
# Mocha colours its summary; strip escape codes before reading the counts.
counts=$(sed 's/\x1b\[[0-9;]*m//g' "$out")
passed=$(grep -Eo '^ *[0-9]+ passing' <<<"$counts" | grep -Eo '[0-9]+' | tail -1 || true)
failed=$(grep -Eo '^ *[0-9]+ failing' <<<"$counts" | grep -Eo '[0-9]+' | tail -1 || true)
rm -f "$out"
echo "${passed:-0} passed, ${failed:-0} failed"
[ "${passed:-0}" -gt 0 ] || { say "no test ran"; exit 1; }
exit "$status"
