#!/usr/bin/env bash
# Builds a signed RAUC bundle that writes one root filesystem into the inactive rootfs slot.
#
#   bash os-image/build-bundle.sh --rootfs DIR --version V --compatible DEVICE_TYPE \
#        --cert signer.cert.pem --key signer.key.pem --out rootfs-V.raucb [--format plain|verity] [--size-mb N]
#
# --rootfs is the root filesystem tree: on a build machine a Raspberry Pi OS / debootstrap tree with the supervisor,
# the engine and the provisioning config installed (os-image/build-image.sh --rootfs-only makes one); here tests
# pass a tiny tree. --compatible is the fleet's device type: RAUC refuses a bundle whose compatible differs from
# the device's system.conf. The signing key and certificate are inputs and never stored in the repository.
# Prints the bundle's sha256 and size as `sha256=HEX size=BYTES`.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"

rootfs='' version='' compatible='' cert='' key='' out='' format=plain size_mb=''
while [ $# -gt 0 ]; do
  case "$1" in
    --rootfs) rootfs=$2; shift 2 ;;
    --version) version=$2; shift 2 ;;
    --compatible) compatible=$2; shift 2 ;;
    --cert) cert=$2; shift 2 ;;
    --key) key=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --format) format=$2; shift 2 ;;
    --size-mb) size_mb=$2; shift 2 ;;
    *) die "build-bundle: unknown argument '$1'" ;;
  esac
done
for v in rootfs version compatible cert key out; do
  [ -n "${!v}" ] || die "build-bundle: --$v is required"
done
[ -d "$rootfs" ] || die "build-bundle: rootfs '$rootfs' is not a directory"
case "$format" in plain|verity) ;; *) die "build-bundle: --format must be plain or verity, got '$format'" ;; esac
need_packages rauc squashfs-tools e2fsprogs

work=$(mktemp -d "${TMPDIR:-/tmp}/skiff-bundle.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/content"

# The ext4 image gets the tree's size plus room for metadata, unless a size is given.
if [ -z "$size_mb" ]; then
  used_kb=$(du -sk "$rootfs" | cut -f1)
  size_mb=$(( used_kb / 1024 * 5 / 4 + 8 ))
fi
truncate -s "${size_mb}M" "$work/content/rootfs.ext4"
mkfs.ext4 -q -F -L rootfs -d "$rootfs" "$work/content/rootfs.ext4"

cat >"$work/content/manifest.raucm" <<MANIFEST
[update]
compatible=$compatible
version=$version

[bundle]
format=$format

[image.rootfs]
filename=rootfs.ext4
MANIFEST

rm -f "$out"
rauc bundle --cert="$cert" --key="$key" "$work/content" "$out" >"$work/rauc.log" 2>&1 ||
  { cat "$work/rauc.log" >&2; die "build-bundle: rauc bundle failed for $out"; }
echo "sha256=$(sha256sum "$out" | cut -d' ' -f1) size=$(stat -c %s "$out")"
