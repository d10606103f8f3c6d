#!/usr/bin/env bash
# Lets this machine's engines run arm64 and 32-bit arm containers: the kernel's binfmt_misc hands arm ELF binaries
# to Debian's qemu-user-static. Registered with the F flag (the kernel opens the interpreter now), so a container
# needs no qemu inside its image: `docker build --platform linux/arm64` can RUN steps, and an engine runs arm images.
#   bash scripts/binfmt.sh            # mount binfmt_misc if needed, register qemu-aarch64 and qemu-arm; idempotent
#   bash scripts/binfmt.sh status     # what is registered
# What stays: binfmt_misc is the kernel's, one for the whole machine. The two entries stay registered after the
# environments go down (other environments on the machine may be using them) until reboot, or until
# `echo -1 > /proc/sys/fs/binfmt_misc/qemu-aarch64` (and qemu-arm) removes them.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BINFMT=/proc/sys/fs/binfmt_misc
# Debian's own registrations, in the systemd-binfmt format the register file takes as it is.
ENTRIES=(qemu-aarch64 qemu-arm)

status() {
  for name in "${ENTRIES[@]}"; do
    if [ -f "$BINFMT/$name" ]; then
      printf '%-13s %s\n' "$name" "$(head -n 1 "$BINFMT/$name") ($(grep -m1 '^interpreter' "$BINFMT/$name" | cut -d' ' -f2))"
    else
      printf '%-13s not registered\n' "$name"
    fi
  done
}

if [ "${1:-}" = status ]; then status; exit 0; fi

[ "$(id -u)" -eq 0 ] || die "registering binfmt_misc interpreters needs root"
need_packages qemu-user-static
if [ ! -f "$BINFMT/register" ]; then
  mount -t binfmt_misc binfmt_misc "$BINFMT" ||
    die "cannot mount binfmt_misc at $BINFMT (a container without the privilege cannot; the host must do it)"
fi
for name in "${ENTRIES[@]}"; do
  if [ -f "$BINFMT/$name" ]; then
    continue
  fi
  conf=/usr/lib/binfmt.d/$name.conf
  [ -f "$conf" ] || die "$conf is missing although qemu-user-static is installed"
  # Another script registering the same name at the same moment makes this write fail with EEXIST: fine.
  grep -v '^#' "$conf" >"$BINFMT/register" 2>/dev/null || [ -f "$BINFMT/$name" ] ||
    die "the kernel refused the binfmt_misc entry of $conf"
  say "registered $name for foreign binaries ($(grep -m1 '^interpreter' "$BINFMT/$name" | cut -d' ' -f2))"
done
