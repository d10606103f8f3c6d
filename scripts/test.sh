#!/usr/bin/env bash
# The whole test suite on real components: unit, integration and end-to-end. Starts the private 'test'
# environment (engines, registry, Redis, PostgreSQL) and stops it afterwards. The API and store suites run twice:
# on SQLite, then on PostgreSQL (SKIFF_TEST_STORE=postgres).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$SKIFF_REPO"

bash scripts/deps.sh
# The lint and format gate (biome.jsonc) first: a violation fails the run before any environment starts.
say "lint and format check (npm run lint)"
npm run --silent lint
bash scripts/env.sh up test
trap 'bash scripts/env.sh down test >/dev/null 2>&1 || true' EXIT

# Each mocha run writes to its own file, so a failure block is read from its run's own tail and never runs on
# into the next run's output.
outs=()
run_mocha() {
  local out
  out=$(mktemp)
  outs+=("$out")
  "$@" 2>&1 | tee "$out"
  return "${PIPESTATUS[0]}"
}
set +e
# Unit tests first: they fail fast and need nothing running.
whole=false
if [ $# -eq 0 ]; then
  whole=true
  set -- 'dist/test/unit/**/*.test.js' 'dist/test/integration/**/*.test.js' 'dist/test/e2e/**/*.test.js' \
    --ignore 'dist/test/integration/*-qemu.test.js'
fi
run_mocha npx mocha "$@"
status=$?
# The store's second backend: the API and store suites once more, on PostgreSQL (SQLite above).
if $whole; then
  say "API and store suites on PostgreSQL (SKIFF_TEST_STORE=postgres)"
  SKIFF_TEST_STORE=postgres run_mocha npx mocha 'dist/test/integration/api*.test.js' \
    dist/test/integration/store-sql.test.js dist/test/integration/device-admission.test.js \
    dist/test/integration/dashboard.test.js || status=1
fi
# Step "slow": a whole A/B device in qemu (about 4 minutes), on its own after the rest.
if $whole; then
  say "step slow: the OS update cycle in qemu (dist/test/integration/*-qemu.test.js)"
  run_mocha npx mocha 'dist/test/integration/*-qemu.test.js' || status=1
fi
set -e
# Mocha colours its summary; strip escape codes before reading the counts.
counts=$(cat "${outs[@]}" | sed 's/\x1b\[[0-9;]*m//g')
# No "failing" line at all is the good case: grep's exit 1 must not end the script (pipefail, set -e).
passed=$( { grep -Eo '^ *[0-9]+ passing' <<<"$counts" || true; } | awk '{ n += $1 } END { print n + 0 }')
failed=$( { grep -Eo '^ *[0-9]+ failing' <<<"$counts" || true; } | awk '{ n += $1 } END { print n + 0 }')
# CI shows only the tail of the output: repeat each failure's title and first lines of its error just above the
# counts, so a red run says which test failed without scrolling back through the whole log.
if [ "${failed:-0}" -gt 0 ]; then
  say "failures (repeated from above)"
  for out in "${outs[@]}"; do
    sed 's/\x1b\[[0-9;]*m//g' "$out" | awk '/^ *[0-9]+ failing/ { on = 1; n = 0 } on && n < 60 && !/^ +at / && !/^npm / { print; n++ }'
  done
  # The titles alone, last, so even a short tail of the log names every failed test.
  say "failed tests"
  for out in "${outs[@]}"; do
    sed 's/\x1b\[[0-9;]*m//g' "$out" | awk '/^ *[0-9]+ failing/ { on = 1 } on && /^  [0-9]+\) / { c = 3 } c > 0 { print; c-- }'
  done
fi
rm -f "${outs[@]}"
echo "${passed:-0} passed, ${failed:-0} failed"
[ "${passed:-0}" -gt 0 ] || { say "no test ran"; exit 1; }
exit "$status"
