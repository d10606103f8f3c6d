#!/usr/bin/env bash
# A whole A/B device in qemu (x86_64 under TCG; no KVM needed) for the slow OS update test: Debian's kernel, the
# initramfs of os-image/qemu/initramfs.sh (whose /init plays bootloader and OS), and virtio disks: slot A, slot B,
# a data disk (boot counter, RAUC status, the trial marker) and, when an update arrives, a disk holding the bundle.
#
#   bash os-image/qemu/device.sh prepare DIR --keyring ca.cert.pem --compatible DEVICE_TYPE
#        kernel (cached in .skiff/qemu-cache), initramfs, factory disks: A holds OS 1.0.0, B nothing yet
#   bash os-image/qemu/device.sh reset DIR                   factory disks again
#   bash os-image/qemu/device.sh bundle-disk BUNDLE IMG      an ext4 disk image holding the bundle
#   bash os-image/qemu/device.sh boot DIR [IMG]              power on, with the bundle disk IMG attached if given;
#        runs in the foreground, the serial console on stdout, until the guest powers off or reboots
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"

SLOT_MB=32
DATA_MB=8
MEMORY_MB=512
cache=${SKIFF_QEMU_CACHE:-$SKIFF_REPO/.skiff/qemu-cache}

# ext4_image IMG MB LABEL [TREE] : a filesystem image made without mounting (no root, no loop device needed).
ext4_image() {
  rm -f "$1"; truncate -s "$2M" "$1"
  mkfs.ext4 -q -F -L "$3" ${4:+-d "$4"} "$1"
}

reset() {
  local dir=$1 tree
  tree=$(mktemp -d "${TMPDIR:-/tmp}/skiff-slot.XXXXXX")
  mkdir -p "$tree/etc"
  printf 'ID=skiff-test\nVERSION_ID=1.0.0\n' >"$tree/etc/os-release"
  echo ok >"$tree/etc/skiff-health"
  ext4_image "$dir/slot-a.img" $SLOT_MB rootfs-a "$tree"
  rm -rf "$tree"
  ext4_image "$dir/slot-b.img" $SLOT_MB rootfs-b
  ext4_image "$dir/data.img" $DATA_MB data
}

prepare() {
  local dir=$1; shift
  local keyring='' compatible=''
  while [ $# -gt 0 ]; do
    case "$1" in
      --keyring) keyring=$2; shift 2 ;;
      --compatible) compatible=$2; shift 2 ;;
      *) die "device.sh prepare: unknown argument '$1'" ;;
    esac
  done
  [ -n "$keyring" ] && [ -n "$compatible" ] || die "device.sh prepare: --keyring and --compatible are required"
  need_packages qemu-system-x86 e2fsprogs
  mkdir -p "$dir"
  local tree
  tree=$(bash "$SKIFF_REPO/os-image/qemu/kernel.sh" "$cache")
  cp "$(ls "$tree"/boot/vmlinuz-* | head -1)" "$dir/vmlinuz"
  bash "$SKIFF_REPO/os-image/qemu/initramfs.sh" --kernel-tree "$tree" --keyring "$keyring" \
    --compatible "$compatible" --out "$dir/initramfs.cpio"
  reset "$dir"
}

bundle_disk() {
  local bundle=$1 img=$2 tree size_mb
  [ -f "$bundle" ] || die "device.sh bundle-disk: '$bundle' does not exist"
  tree=$(mktemp -d "${TMPDIR:-/tmp}/skiff-bundle-disk.XXXXXX")
  cp "$bundle" "$tree/update.raucb"
  size_mb=$(( $(stat -c %s "$bundle") / 1048576 + 8 ))
  ext4_image "$img" $size_mb bundle "$tree"
  rm -rf "$tree"
}

boot() {
  local dir=$1 bundle_img=${2:-}
  [ -f "$dir/initramfs.cpio" ] || die "device.sh boot: no device in $dir: run 'device.sh prepare $dir' first"
  command -v qemu-system-x86_64 >/dev/null ||
    die "qemu-system-x86_64 is missing: apt-get install -y qemu-system-x86 (scripts/deps.sh installs it)"
  local drives=(
    -drive "file=$dir/slot-a.img,format=raw,if=none,id=slota,cache=unsafe" -device virtio-blk-pci,drive=slota,serial=skiff-slot-a
    -drive "file=$dir/slot-b.img,format=raw,if=none,id=slotb,cache=unsafe" -device virtio-blk-pci,drive=slotb,serial=skiff-slot-b
    -drive "file=$dir/data.img,format=raw,if=none,id=data" -device virtio-blk-pci,drive=data,serial=skiff-data
  )
  [ -z "$bundle_img" ] ||
    drives+=(-drive "file=$bundle_img,format=raw,if=none,id=bundle,readonly=on" -device virtio-blk-pci,drive=bundle,serial=skiff-bundle)
  # -no-reboot: a reboot inside ends qemu, so the test sees every power cycle and starts the next boot itself.
  exec qemu-system-x86_64 -accel tcg -m $MEMORY_MB -smp 2 -nodefaults -display none -no-reboot \
    -serial stdio -monitor none \
    -kernel "$dir/vmlinuz" -initrd "$dir/initramfs.cpio" \
    -append "console=ttyS0 quiet loglevel=3 panic=-1" \
    "${drives[@]}"
}

cmd=${1:-}; [ $# -gt 0 ] && shift
case "$cmd" in
  prepare) [ $# -ge 1 ] || die "usage: device.sh prepare DIR --keyring CA --compatible TYPE"; prepare "$@" ;;
  reset) [ $# -eq 1 ] || die "usage: device.sh reset DIR"; reset "$1" ;;
  bundle-disk) [ $# -eq 2 ] || die "usage: device.sh bundle-disk BUNDLE IMG"; bundle_disk "$1" "$2" ;;
  boot) [ $# -ge 1 ] || die "usage: device.sh boot DIR [BUNDLE_IMG]"; boot "$@" ;;
  *) die "usage: os-image/qemu/device.sh prepare|reset|bundle-disk|boot ..." ;;
esac
