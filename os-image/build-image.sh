#!/usr/bin/env bash
# Builds a Raspberry Pi disk image with A/B root filesystems for host OS updates:
#   p1 boot (FAT32)   firmware files + autoboot.txt (tryboot_a_b=1: A is partition 2, a trial boots partition 3)
#   p2 rootfs A       the root filesystem (ext4)
#   p3 rootfs B       the same at first; RAUC writes updates to whichever of A/B is not booted
#   p4 data (ext4)    survives every update: /var/lib/skiff (the supervisor's data dir: provisioning config.json,
#                     host-os.json) and the engine's data root
#
#   bash os-image/build-image.sh --rootfs DIR --provisioning config.json --out pi.img
#        [--boot-files DIR] [--rootfs-mb 1024] [--data-mb 512] [--keyring ca.cert.pem] [--compatible DEVICE_TYPE]
#
# The provisioning config.json must pin the API's target-signing key (apiSigningKey, the signingKey of the API's
# GET /v1/info, read over a channel you trust): a device never learns it from the API it talks to.
# --rootfs is the documented input: a Raspberry Pi OS (or debootstrap) tree with node, the Docker Engine and
# Skiff's dist/ installed. Without it a minimal tree is made from this machine's files (busybox, node and the
# supervisor), which is enough to check the layout, not to boot a Pi. --boot-files is the Pi firmware (start4.elf,
# kernel, device trees); --keyring is the CA certificate bundles must be signed by, written to /etc/rauc/ca.cert.pem.
# The RAUC system.conf and the tryboot backend are installed into the rootfs.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
source "$SKIFF_REPO/os-image/rauc-config.sh"

rootfs='' provisioning='' out='' boot_files='' rootfs_mb=1024 data_mb=512 keyring='' compatible=''
while [ $# -gt 0 ]; do
  case "$1" in
    --rootfs) rootfs=$2; shift 2 ;;
    --provisioning) provisioning=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --boot-files) boot_files=$2; shift 2 ;;
    --rootfs-mb) rootfs_mb=$2; shift 2 ;;
    --data-mb) data_mb=$2; shift 2 ;;
    --keyring) keyring=$2; shift 2 ;;
    --compatible) compatible=$2; shift 2 ;;
    *) die "build-image: unknown argument '$1'" ;;
  esac
done
[ -n "$provisioning" ] && [ -f "$provisioning" ] || die "build-image: --provisioning FILE (the device's config.json) is required"
[ -n "$out" ] || die "build-image: --out is required"
node -e 'const c=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")); process.exit(typeof c.apiSigningKey==="string"&&c.apiSigningKey!==""?0:1)' "$provisioning" ||
  die "build-image: $provisioning pins no apiSigningKey; add the signingKey field of the API's GET /v1/info"

need_packages fdisk dosfstools mtools e2fsprogs busybox-static
[ -n "$compatible" ] || compatible=$(node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).deviceType)' "$provisioning")

work=$(mktemp -d "${TMPDIR:-/tmp}/skiff-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
BOOT_MB=256

if [ -z "$rootfs" ]; then
  say "no --rootfs: making a minimal tree from this machine's files (layout check only)"
  rootfs="$work/rootfs"
  mkdir -p "$rootfs"/{bin,etc,usr/lib/skiff,var/lib/skiff,proc,sys,dev,boot/firmware,data}
  cp /bin/busybox "$rootfs/bin/busybox"
  printf 'ID=skiff\nVERSION_ID=1.0.0\n' >"$rootfs/etc/os-release"
  cp -r "$SKIFF_REPO/dist" "$rootfs/usr/lib/skiff/dist"
fi

# What every image needs for updates, whatever the base: RAUC's config, the tryboot backend, the keyring.
install -D -m 0755 "$SKIFF_REPO/os-image/bootloader/tryboot-backend.sh" "$rootfs/usr/lib/skiff/tryboot-backend"
mkdir -p "$rootfs/etc/rauc"
rauc_system_conf "$compatible" /usr/lib/skiff/tryboot-backend /etc/rauc/ca.cert.pem /var/lib/skiff/rauc.status \
  /dev/mmcblk0p2 /dev/mmcblk0p3 >"$rootfs/etc/rauc/system.conf"
[ -z "$keyring" ] || cp "$keyring" "$rootfs/etc/rauc/ca.cert.pem"

# Data partition: the supervisor's data dir, provisioned.
mkdir -p "$work/data/skiff" "$work/data/docker"
cp "$provisioning" "$work/data/skiff/config.json"
cat >"$work/data/skiff/host-os.json" <<JSON
{ "rebootCommand": ["/usr/lib/skiff/tryboot-backend", "reboot"], "healthDeadlineSeconds": 600 }
JSON

say "making filesystems"
truncate -s ${BOOT_MB}M "$work/boot.img"
mkfs.fat -F 32 -n BOOT "$work/boot.img" >/dev/null
printf '[all]\ntryboot_a_b=1\nboot_partition=2\n[tryboot]\nboot_partition=3\n' >"$work/autoboot.txt"
mcopy -i "$work/boot.img" "$work/autoboot.txt" ::autoboot.txt
[ -z "$boot_files" ] || mcopy -s -i "$work/boot.img" "$boot_files"/* ::
truncate -s ${rootfs_mb}M "$work/rootfs.img"
mkfs.ext4 -q -F -L rootfsA -d "$rootfs" "$work/rootfs.img"
truncate -s ${data_mb}M "$work/data.img"
mkfs.ext4 -q -F -L data -d "$work/data" "$work/data.img"

say "writing the partition table"
total=$((1 + BOOT_MB + rootfs_mb * 2 + data_mb + 1))
rm -f "$out"; truncate -s ${total}M "$out"
sfdisk -q "$out" <<TABLE
label: dos
start=1MiB, size=${BOOT_MB}MiB, type=c, bootable
size=${rootfs_mb}MiB, type=83
size=${rootfs_mb}MiB, type=83
size=${data_mb}MiB, type=83
TABLE
put() { dd if="$1" of="$out" bs=1M seek="$2" conv=notrunc status=none; }
put "$work/boot.img" 1
put "$work/rootfs.img" $((1 + BOOT_MB))
put "$work/rootfs.img" $((1 + BOOT_MB + rootfs_mb))
put "$work/data.img" $((1 + BOOT_MB + rootfs_mb * 2))
say "image ready: $out"
sfdisk -l "$out" >&2
