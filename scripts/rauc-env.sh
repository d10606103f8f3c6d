#!/usr/bin/env bash
# A real RAUC on this machine for the host OS update tests: two loop-device rootfs slots (A, B), a private D-Bus
# system bus, `rauc service`, the U-Boot-like test bootloader backend (os-image/bootloader/test-backend.sh) and a
# throwaway PKI (a CA whose key signs bundles, and a second CA nobody trusts). Needs root; no systemd.
#
#   bash scripts/rauc-env.sh up DIR [COMPATIBLE]   # create (or reuse) DIR, attach slots, start the bus; no boot yet
#   bash scripts/rauc-env.sh boot DIR              # power cycle: stop rauc, let the test bootloader pick a slot,
#                                                   # start `rauc service` booted from it; prints the slot
#   bash scripts/rauc-env.sh crash DIR             # power loss: SIGKILL rauc service, nothing is flushed
#   bash scripts/rauc-env.sh down DIR              # stop everything and detach the loop devices; files stay
#
# DIR/env.json says where everything is (bus address, system.conf, keys, slot devices) for the tests.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$SKIFF_REPO/os-image/rauc-config.sh"

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || die "usage: scripts/rauc-env.sh up|boot|crash|down DIR [COMPATIBLE]"
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
compatible=${3:-skiff-test-device}
backend="$SKIFF_REPO/os-image/bootloader/test-backend.sh"
bus="unix:path=$dir/run/system_bus_socket"
SLOT_MB=32

export DBUS_SYSTEM_BUS_ADDRESS=$bus
export SKIFF_TEST_BOOT_STATE="$dir/boot/state"

# detach_slot FILE : detach every loop device backed by FILE, leftovers of a killed run included.
detach_slot() {
  local dev
  for dev in $(losetup -j "$1" -O NAME -n 2>/dev/null); do
    umount "$dev" 2>/dev/null || true
    losetup -d "$dev" 2>/dev/null || say "warning: cannot detach $dev ($1)"
  done
}

detach_all() { detach_slot "$dir/slots/A.img"; detach_slot "$dir/slots/B.img"; }

# The mount points RAUC leaves behind when it is killed mid-install hold the loop devices busy.
unmount_leftovers() {
  local m
  for m in $(awk -v p="$dir/mnt" 'index($2, p) == 1 { print $2 }' /proc/mounts | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
}

# make_slot NAME VERSION : an ext4 slot image holding a minimal rootfs that says which OS version it is.
make_slot() {
  local img="$dir/slots/$1.img" root="$dir/slots/$1.root"
  [ -f "$img" ] && return 0
  rm -rf "$root"; mkdir -p "$root/etc"
  printf 'ID=skiff-test\nVERSION_ID=%s\n' "$2" >"$root/etc/os-release"
  truncate -s ${SLOT_MB}M "$img.tmp"
  mkfs.ext4 -q -F -L "rootfs-$1" -d "$root" "$img.tmp"
  mv "$img.tmp" "$img"; rm -rf "$root"
}

attach_slot() {
  local dev
  dev=$(losetup -j "$dir/slots/$1.img" -O NAME -n | head -1)
  [ -n "$dev" ] || dev=$(losetup --find --show "$dir/slots/$1.img")
  echo "$dev"
}

rauc_running() { pid_alive "$dir/run/rauc.pid"; }

up() {
  need_packages rauc dbus openssl e2fsprogs
  [ "$(id -u)" -eq 0 ] || die "rauc-env needs root (loop devices, mounts)"
  mkdir -p "$dir/run" "$dir/mnt" "$dir/data" "$dir/slots" "$dir/boot"
  bash "$SKIFF_REPO/os-image/signing-pki.sh" "$dir/pki/trusted" trusted
  bash "$SKIFF_REPO/os-image/signing-pki.sh" "$dir/pki/untrusted" untrusted
  make_slot A 1.0.0
  make_slot B 0.0.0
  local a b
  # Anything attached here is detached again if `up` does not finish.
  trap 'say "rauc-env up failed: detaching slots"; detach_all' ERR
  a=$(attach_slot A)
  b=$(attach_slot B)
  rauc_system_conf "$compatible" "$backend" "$dir/pki/trusted/ca.cert.pem" "$dir/data/central.raucs" "$a" "$b" \
    "$dir/mnt" 268435456 >"$dir/system.conf"
  dbus_system_conf "$bus" >"$dir/dbus.conf"
  if ! pid_alive "$dir/run/dbus.pid"; then
    rm -f "$dir/run/system_bus_socket"
    dbus-daemon --config-file="$dir/dbus.conf" --fork --print-pid >"$dir/run/dbus.pid"
    wait_for "private D-Bus" 10 test -S "$dir/run/system_bus_socket" || die "dbus-daemon did not start"
  fi
  trap - ERR
  cat >"$dir/env.json" <<JSON
{
  "dir": "$dir",
  "compatible": "$compatible",
  "busAddress": "$bus",
  "systemConf": "$dir/system.conf",
  "bootState": "$dir/boot/state",
  "backend": "$backend",
  "slots": { "A": "$a", "B": "$b" },
  "pki": {
    "trusted": { "ca": "$dir/pki/trusted/ca.cert.pem", "cert": "$dir/pki/trusted/signer.cert.pem", "key": "$dir/pki/trusted/signer.key.pem" },
    "untrusted": { "ca": "$dir/pki/untrusted/ca.cert.pem", "cert": "$dir/pki/untrusted/signer.cert.pem", "key": "$dir/pki/untrusted/signer.key.pem" }
  }
}
JSON
  say "rauc env up in $dir (slots A=$a B=$b, bus $bus)"
}

stop_rauc() {
  stop_pid "$dir/run/rauc.pid" 10
  unmount_leftovers
}

boot() {
  [ -f "$dir/system.conf" ] || die "no rauc env in $dir: run 'scripts/rauc-env.sh up $dir' first"
  stop_rauc
  local slot
  slot=$("$backend" power-on) || die "the test bootloader found no bootable slot in $dir"
  setsid rauc service --conf="$dir/system.conf" --override-boot-slot="$slot" \
    >>"$dir/run/rauc.log" 2>&1 </dev/null &
  echo $! >"$dir/run/rauc.pid"
  wait_for "rauc service (booted $slot)" 20 rauc status --conf="$dir/system.conf" ||
    { tail -20 "$dir/run/rauc.log" >&2; die "rauc service did not start (log: $dir/run/rauc.log)"; }
  echo "$slot"
}

crash() {
  if rauc_running; then kill -KILL "$(cat "$dir/run/rauc.pid")" 2>/dev/null || true; fi
  rm -f "$dir/run/rauc.pid"
  unmount_leftovers
}

down() {
  stop_rauc
  stop_pid "$dir/run/dbus.pid" 10
  unmount_leftovers
  detach_all
  say "rauc env in $dir is down"
}

case "$cmd" in
  up) up ;;
  boot) boot ;;
  crash) crash ;;
  down) down ;;
  *) die "usage: scripts/rauc-env.sh up|boot|crash|down DIR [COMPATIBLE]" ;;
esac
