#!/usr/bin/env bash
# Everything Skiff needs on a fresh Debian machine: Debian packages, npm packages, the compiled tree.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$SKIFF_REPO"

command -v node >/dev/null || die "Node.js 20 or newer is needed (node not found on PATH)"
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || die "Node.js 20 or newer is needed (found $(node --version))"

need_packages docker.io docker-registry redis-server busybox-static iproute2 curl openssh-client openssh-server autossh \
  rauc dbus openssl squashfs-tools e2fsprogs libubootenv-tool fdisk dosfstools mtools qemu-system-x86 wrk docker-compose postgresql zstd xdelta3 zsh \
  qemu-user-static chromium poppler-utils libjemalloc2

# Install only when node_modules does not hold what the lock file pins (compared by content: a fresh clone's
# lock file is always newer than its install). `npm ci` installs the lock file as it is and never rewrites it, so a
# fresh clone stays clean; it refuses a lock file out of step with package.json rather than "fixing" it.
if ! why=$(node scripts/node-modules-match.mjs); then
  # npm ci empties node_modules first: never do that to a tree this checkout only links to (a worktree's shared one).
  if [ -L node_modules ]; then
    die "node_modules links to $(readlink -f node_modules), which does not match package-lock.json ($why); run npm ci there"
  fi
  say "installing npm packages with npm ci ($why); the first time takes a few minutes (native modules compile)"
  log=$(mktemp)
  npm ci --no-audit --no-fund --loglevel=error >"$log" 2>&1 &
  npm_pid=$!
  # npm shows no progress when its output is not a terminal: a line every 15 s with what is in place so far.
  started=$SECONDS last=-1
  while kill -0 "$npm_pid" 2>/dev/null; do
    for ((i = 0; i < 15; i++)); do kill -0 "$npm_pid" 2>/dev/null || break; sleep 1; done
    kill -0 "$npm_pid" 2>/dev/null || break
    count=$( { compgen -G 'node_modules/[!@.]*/' || true; } | wc -l)
    scoped=$( { compgen -G 'node_modules/@*/*/' || true; } | wc -l)
    count=$((count + scoped))
    # Once every package is unpacked, npm runs install scripts: better-sqlite3 compiles for minutes.
    if [ "$count" -eq "$last" ]; then
      say "npm ci: $((SECONDS - started)) s, $count packages unpacked, compiling native modules"
    else
      say "npm ci: $((SECONDS - started)) s, $count packages unpacked"
    fi
    last=$count
  done
  if ! wait "$npm_pid"; then
    tail -40 "$log" >&2
    rm -f "$log"
    die "npm ci failed (output above)"
  fi
  rm -f "$log"
  say "npm packages installed in $((SECONDS - started)) s"
fi
say "compiling TypeScript"
rm -rf dist  # a deleted source must not leave its compiled test behind
# Every folder is a project of its own (tsconfig.json lists them): -b builds them in order and fails on an import
# across the walls they declare.
npx tsc -b
# The device's validators as plain functions (protocol/validators-build.ts): the supervisor never loads ajv's compiler.
node dist/protocol/validators-build.js
# The dashboard (dashboard/): type-checked, then bundled by Vite into dist/dashboard, which registry-api serves.
npm run --silent build:dashboard
