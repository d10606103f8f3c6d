# Shared shell helpers for Skiff's scripts. Sourced, never run.
# shellcheck shell=bash

SKIFF_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

say() { printf '[skiff] %s\n' "$*" >&2; }
die() { printf '[skiff] error: %s\n' "$*" >&2; exit 1; }

# need_packages PKG... : install missing Debian packages as root, or say exactly what to run.
need_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    die "missing Debian packages: ${missing[*]}. Install them with: sudo apt-get install -y ${missing[*]}"
  fi
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Skiff runs its own private daemons and never the system's: Debian's policy-rc.d hook (exit 101) keeps the
  # packages' services (docker, redis, postgresql, sshd on port 22...) from being started by the install.
  local policy=/usr/sbin/policy-rc.d own_policy=false
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# Written by Skiff scripts/lib.sh during apt-get install; removed after it.\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=true
  fi
  local status=0
  # A fresh machine has no package lists; an old list may lack a package: update once and retry.
  if ! apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; then
    if apt-get update -qq >/dev/null 2>&1; then
      apt-get install -y -qq "${missing[@]}" >/dev/null || status=2
    else
      status=1
    fi
  fi
  if $own_policy; then rm -f "$policy"; fi
  [ "$status" -ne 1 ] || die "apt-get update failed"
  [ "$status" -ne 2 ] || die "apt-get install ${missing[*]} failed"
}

# wait_for DESCRIPTION SECONDS CMD... : poll CMD until it succeeds or the time is up.
wait_for() {
  local what=$1 secs=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.3
  done
  say "$what is ready"
}

# pid_alive FILE : the process whose pid FILE holds is running.
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop_pid FILE [SECONDS] : TERM the process, wait, then KILL.
stop_pid() {
  local file=$1 secs=${2:-20} pid i
  pid_alive "$file" || { rm -f "$file"; return 0; }
  pid=$(cat "$file")
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < secs * 5; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  rm -f "$file"
}
