#!/bin/sh
# /init of the qemu test device (busybox sh, PID 1). One run is one power-on of a device with A/B root
# filesystems, in the order a real one goes through it:
#   1. firmware: the test bootloader (os-image/bootloader/test-backend.sh, its state on the data disk) picks the
#      slot with attempts left and takes one attempt;
#   2. the OS of that slot is "booted": its disk is mounted read-only at /slot (its /etc/os-release says which
#      version it is) and `rauc service` starts on a private D-Bus, told which slot is booted;
#   3. a trial boot after an update (DATA/trial names the slot) runs the health check, which the new root
#      filesystem decides by its content (/etc/skiff-health is "ok"), then commits (mark-good) or gives up on
#      the slot (mark-bad) and reboots into the old one; a boot that is not of the trial slot means the
#      bootloader fell back;
#   4. with a bundle disk attached (the update "arrives"), `rauc install` writes it to the other slot and the
#      device reboots into it.
# It reports every step as one line `SKIFF event=NAME key=value...` on the serial console (ttyS0) for the test;
# rauc status as `SKIFF-STATUS <json>`, tool output as `SKIFF-LOG <line>`. It ends with `reboot -f` or
# `poweroff -f`; qemu runs with -no-reboot, so both end the VM and the test powers it on again.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export SKIFF_TEST_BOOT_STATE=/data/boot-state
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/dbus/system_bus_socket
RAUC_CONF=/run/rauc/system.conf
. /usr/lib/skiff/rauc-config.sh

say() { echo "SKIFF $* uptime=$(cut -d' ' -f1 /proc/uptime)"; }
log_lines() { sed 's/^/SKIFF-LOG /'; }

# finish reboot|poweroff : stop RAUC, flush and unmount the data disk so nothing is lost, and end this boot.
finish() {
  say "event=$1"
  [ -n "${rauc_pid:-}" ] && kill "$rauc_pid" 2>/dev/null && sleep 0.5
  umount /bundle /slot 2>/dev/null
  sync; umount /data 2>/dev/null; sync
  "$1" -f
  sleep 10
}

fail() { say "event=error what=\"$*\""; dmesg | tail -20 | log_lines; finish poweroff; }

# disk SERIAL : the virtio disk qemu was given with that serial number (slot and data disks are found by name).
disk() {
  for b in /sys/block/vd*; do
    [ "$(cat "$b/serial" 2>/dev/null)" = "$1" ] && { echo "/dev/${b##*/}"; return 0; }
  done
  return 1
}

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /run /tmp /data /slot /bundle
mount -t tmpfs run /run
mount -t tmpfs tmp /tmp
exec </dev/ttyS0 >/dev/ttyS0 2>&1

say "event=kernel version=$(uname -r)"
while read -r module; do
  insmod "/lib/modules/$module.ko" 2>/dev/null || grep -q "^${module} " /proc/modules ||
    fail "cannot load kernel module $module"
done </lib/modules/load-order

i=0
until disk skiff-data >/dev/null; do
  i=$((i + 1)); [ $i -lt 50 ] || fail "no data disk (virtio serial skiff-data)"; sleep 0.1
done
mount -t ext4 "$(disk skiff-data)" /data || fail "cannot mount the data disk"

slot=$(/usr/lib/skiff/test-backend power-on 2>/tmp/bootloader.err) || {
  say "event=bricked reason=\"$(cat /tmp/bootloader.err)\""; finish poweroff; }
case $slot in A) other=B ;; *) other=A ;; esac
slot_dev=$(disk "skiff-slot-$(echo "$slot" | tr AB ab)") || fail "no disk for slot $slot"
other_dev=$(disk "skiff-slot-$(echo "$other" | tr AB ab)") || fail "no disk for slot $other"
mount -t ext4 -o ro "$slot_dev" /slot || fail "slot $slot ($slot_dev) holds no root filesystem"
version=$(. /slot/etc/os-release 2>/dev/null; echo "${VERSION_ID:-none}")
say "event=booted slot=$slot version=$version"

if [ "$slot" = A ]; then a_dev=$slot_dev; b_dev=$other_dev; else a_dev=$other_dev; b_dev=$slot_dev; fi
mkdir -p /run/rauc /run/dbus /run/rauc-mnt
rauc_system_conf "$(cat /etc/skiff/compatible)" /usr/lib/skiff/test-backend /etc/rauc/ca.cert.pem \
  /data/central.raucs "$a_dev" "$b_dev" /run/rauc-mnt >"$RAUC_CONF"
dbus-daemon --config-file=/etc/dbus-1/skiff-system.conf --fork --nopidfile || fail "dbus-daemon did not start"
rauc service --conf="$RAUC_CONF" --override-boot-slot="$slot" >/tmp/rauc.log 2>&1 &
rauc_pid=$!
i=0
until rauc status --conf="$RAUC_CONF" >/dev/null 2>&1; do
  i=$((i + 1))
  [ $i -lt 120 ] || { log_lines </tmp/rauc.log; fail "rauc service did not start"; }
  sleep 0.5
done
say "event=rauc-ready"

if [ -f /data/trial ]; then
  trial=$(cat /data/trial)
  if [ "$trial" != "$slot" ]; then
    rm -f /data/trial
    say "event=rolled-back from=$trial to=$slot"
  elif [ "$(cat /slot/etc/skiff-health 2>/dev/null)" = ok ]; then
    rauc status --conf="$RAUC_CONF" mark-good booted 2>&1 | log_lines
    rm -f /data/trial
    say "event=committed slot=$slot version=$version"
  else
    rauc status --conf="$RAUC_CONF" mark-bad booted 2>&1 | log_lines
    say "event=health-failed slot=$slot version=$version"
    finish reboot
  fi
fi

bundle_dev=$(disk skiff-bundle) && mount -t ext4 -o ro "$bundle_dev" /bundle && for bundle in /bundle/*.raucb; do
  [ -f "$bundle" ] || fail "the bundle disk holds no *.raucb"
  say "event=installing bundle=${bundle##*/}"
  if rauc install --conf="$RAUC_CONF" "$bundle" >/tmp/install.log 2>&1; then
    echo "$other" >/data/trial
    sync
    say "event=installed slot=$other"
    rauc status --conf="$RAUC_CONF" --detailed --output-format=json 2>/dev/null | sed 's/^/SKIFF-STATUS /'
    finish reboot
  fi
  log_lines </tmp/install.log
  reason=$(sed -n 's/^LastError: //p' /tmp/install.log | tail -1 | tr '"' "'")
  say "event=install-failed reason=\"${reason:-$(tail -1 /tmp/install.log)}\""
  dmesg | grep -iE 'verity|squashfs|I/O error' | tail -5 | log_lines
done

rauc status --conf="$RAUC_CONF" --detailed --output-format=json 2>/dev/null | sed 's/^/SKIFF-STATUS /'
finish poweroff
