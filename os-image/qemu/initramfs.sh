#!/usr/bin/env bash
# Makes the initramfs of the qemu test device: busybox (static), this machine's rauc and dbus-daemon with the
# shared libraries they load (from ldd; openssl is not needed in the guest), the kernel modules the A/B cycle
# needs with everything they depend on (virtio disks, ext4, loop, squashfs and dm-verity for verity bundles),
# the test bootloader backend, the bundle signers' CA and os-image/qemu/init.sh as /init.
#
#   bash os-image/qemu/initramfs.sh --kernel-tree TREE --keyring ca.cert.pem --compatible DEVICE_TYPE --out FILE
#
# TREE is what os-image/qemu/kernel.sh prints.
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
source "$SKIFF_REPO/os-image/rauc-config.sh"

tree='' keyring='' compatible='' out=''
while [ $# -gt 0 ]; do
  case "$1" in
    --kernel-tree) tree=$2; shift 2 ;;
    --keyring) keyring=$2; shift 2 ;;
    --compatible) compatible=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) die "initramfs: unknown argument '$1'" ;;
  esac
done
for v in tree keyring compatible out; do [ -n "${!v}" ] || die "initramfs: --${v/tree/kernel-tree} is required"; done
[ -f "$keyring" ] || die "initramfs: keyring '$keyring' does not exist"
need_packages busybox-static rauc dbus
# Loaded in this order; each one's dependencies are added before it.
MODULES="virtio_pci virtio_blk crc32c_generic ext4 loop squashfs dm_verity"

modules_dir=$(ls -d "$tree"/lib/modules/*/ 2>/dev/null | head -1)
[ -n "$modules_dir" ] || die "initramfs: no lib/modules in $tree"

root=$(mktemp -d "${TMPDIR:-/tmp}/skiff-initramfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,lib/modules,etc/rauc,etc/skiff,etc/dbus-1,usr/lib/skiff,proc,sys,dev,run,tmp}

cp /bin/busybox "$root/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done

# copy_with_libs BINARY : the binary at the same path, and every library ldd says it loads.
copy_with_libs() {
  install -D -m 0755 "$1" "$root$1"
  local lib
  for lib in $(ldd "$1" | grep -oE '/[^ ]+'); do
    [ -e "$root$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
  done
}
copy_with_libs /usr/bin/rauc
copy_with_libs /usr/bin/dbus-daemon

# Module closure from each module's own `depends=` (the .deb has no modules.dep and depmod may be missing).
declare -A path_of=() loaded=()
while IFS= read -r ko; do
  name=$(basename "$ko" .ko); path_of[${name//-/_}]=$ko
done < <(find "$modules_dir" -name '*.ko')
order=()
add_module() {
  local name=${1//-/_} dep deps
  [ -n "${loaded[$name]:-}" ] && return 0
  local ko=${path_of[$name]:-}
  [ -n "$ko" ] || die "initramfs: kernel module $name is not in $modules_dir"
  loaded[$name]=1
  deps=$(tr '\0' '\n' <"$ko" | sed -n 's/^depends=//p' | head -1)
  for dep in ${deps//,/ }; do add_module "$dep"; done
  cp "$ko" "$root/lib/modules/$name.ko"
  order+=("$name")
}
for m in $MODULES; do add_module "$m"; done
printf '%s\n' "${order[@]}" >"$root/lib/modules/load-order"

install -m 0755 "$SKIFF_REPO/os-image/qemu/init.sh" "$root/init"
install -m 0755 "$SKIFF_REPO/os-image/bootloader/test-backend.sh" "$root/usr/lib/skiff/test-backend"
cp "$keyring" "$root/etc/rauc/ca.cert.pem"
echo "$compatible" >"$root/etc/skiff/compatible"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
dbus_system_conf unix:path=/run/dbus/system_bus_socket >"$root/etc/dbus-1/skiff-system.conf"
install -m 0644 "$SKIFF_REPO/os-image/rauc-config.sh" "$root/usr/lib/skiff/rauc-config.sh"

mkdir -p "$(dirname "$out")"
(cd "$root" && find . | LC_ALL=C sort | /bin/busybox cpio -o -H newc 2>/dev/null) >"$out.tmp"
mv "$out.tmp" "$out"
say "initramfs $out: modules ${order[*]}; $(du -h "$out" | cut -f1)"
