#!/usr/bin/env bash
# Fetches Debian's amd64 kernel for the qemu test device and unpacks it into a cache, without installing anything:
# `apt-get download` of the package linux-image-amd64 depends on, then `dpkg-deb -x`. Nothing goes into /boot.
# Once cached, it works offline: the newest .deb already in CACHE/debs is used when apt cannot be asked.
#
#   bash os-image/qemu/kernel.sh CACHE      # prints the unpacked tree: TREE/boot/vmlinuz-*, TREE/lib/modules/*
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"

cache=${1:?usage: os-image/qemu/kernel.sh CACHE}
mkdir -p "$cache/debs"
cache=$(cd "$cache" && pwd)

# The versioned package the meta package points at today, e.g. linux-image-6.1.0-50-amd64.
package=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }' || true)
deb=''
if [ -n "$package" ]; then
  deb=$(find "$cache/debs" -name "${package}_*.deb" | sort | tail -1)
  if [ -z "$deb" ]; then
    say "downloading $package (apt-get download)"
    # apt's sandbox user cannot write into root's cache: download where it can, then move.
    tmp=$(mktemp -d /tmp/skiff-kernel.XXXXXX); chmod 0777 "$tmp"
    (cd "$tmp" && apt-get download -qq "$package" >/dev/null 2>&1) ||
      { rm -rf "$tmp"; die "apt-get download $package failed (no network and nothing cached in $cache/debs)"; }
    mv "$tmp"/*.deb "$cache/debs/"; rm -rf "$tmp"
    deb=$(find "$cache/debs" -name "${package}_*.deb" | sort | tail -1)
  fi
fi
[ -n "$deb" ] || deb=$(find "$cache/debs" -name 'linux-image-*-amd64_*.deb' | sort | tail -1)
[ -n "$deb" ] || die "no Debian kernel package: apt knows no linux-image-amd64 and $cache/debs is empty"

tree="$cache/kernel/$(basename "$deb" .deb)"
if [ ! -f "$tree/.unpacked" ]; then
  rm -rf "$tree"; mkdir -p "$tree"
  dpkg-deb -x "$deb" "$tree" || die "dpkg-deb -x $deb failed"
  touch "$tree/.unpacked"
fi
ls "$tree"/boot/vmlinuz-* >/dev/null 2>&1 || die "$deb holds no boot/vmlinuz-*"
echo "$tree"
