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
  qemu-user-static

# Install only when the lock file changed since the last install: it takes minutes (better-sqlite3 builds from
# source). `npm install`, not `npm ci`: npm 11 here records no entries for other platforms' optional binaries
# (msgpackr-extract), and `npm ci` refuses such a lock file as out of sync.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages"
  npm install --no-audit --no-fund --loglevel=error
fi
say "compiling TypeScript"
rm -rf dist  # a deleted source must not leave its compiled test behind
# Every folder is a project of its own (tsconfig.json lists them): -b builds them in order and fails on an import
# across the walls they declare.
npx tsc -b
# The device's validators as plain functions (protocol/validators-build.ts): the supervisor never loads ajv's compiler.
node dist/protocol/validators-build.js
