#!/usr/bin/env bash
# Builds Skiff's three local base images FROM scratch out of this machine's own files, so release images build
# with no registry and no internet:
#   skiff/busybox:base  Debian's static busybox and its applet links
#   skiff/node:base     busybox base + the host's node and every library it links, CA bundle if present
#   skiff/ssh:base      busybox base + the host's ssh client and autossh with their libraries, a passwd
# Each is tagged base-amd64 too, and the same three are built for the Raspberry Pi from Debian's packages of those
# architectures (apt-get download, dpkg-deb -x: no registry), as base-arm64 (linux/arm64) and base-armv7
# (linux/arm/v7): the names the meter fleet's Dockerfiles pick with the TARGETARCH and TARGETVARIANT build args
# `skiff push` passes for each platform. Set SKIFF_BASE_ARCHS=amd64 to build only this machine's.
# Usage: DOCKER_HOST=unix:///path/docker.sock bash scripts/base-images.sh
# Each image carries a label with the hash of its whole build context (and its parent's ID): an image whose
# inputs did not change is left alone, so the script is cheap to run before every build.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

INPUTS_LABEL=io.skiff.base.inputs

[ -n "${DOCKER_HOST:-}" ] ||
  die "DOCKER_HOST is not set: name the engine to build in, e.g. DOCKER_HOST=unix:///tmp/e1/docker.sock bash $0"
command -v docker >/dev/null || need_packages docker.io
need_packages busybox-static openssh-client autossh
NODE_BIN=$(command -v node) || die "node is not on PATH: the node base image copies the host's node binary"
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 || die "no Docker engine answers at $DOCKER_HOST"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/skiff-base.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# add_file SRC CTX [DEST] : copy SRC (symlinks followed) into CTX/rootfs at DEST (default: the same path).
add_file() {
  local src=$1 ctx=$2 dest=${3:-$1}
  mkdir -p "$ctx/rootfs$(dirname "$dest")"
  cp -L "$src" "$ctx/rootfs$dest"
}

# add_binary SRC CTX [DEST] : the binary plus every library ldd lists for it, the dynamic loader included,
# each at the path ldd names so the loader's default search finds it without an ld.so.cache.
add_binary() {
  local src=$1 ctx=$2 dest=${3:-$1} lib
  add_file "$src" "$ctx" "$dest"
  # `ldd` exits 1 for a static binary: nothing to add then.
  for lib in $(ldd "$src" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
    [ -e "$ctx/rootfs$lib" ] || add_file "$lib" "$ctx"
  done
}

# is_elf FILE : FILE is a binary, not a wrapper script (Debian's /usr/bin/autossh is a shell script).
is_elf() { [ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" = '177ELF' ]; }

# inputs_hash CTX [PARENT_ID] : one hash over every byte, name, mode and link of the build context.
inputs_hash() {
  {
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$1" -cf - .
    printf '%s' "${2:-}"
  } | sha256sum | cut -d' ' -f1
}

image_id() { docker image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }

# build_image TAG CTX [PARENT] : build CTX as TAG unless TAG already carries the same inputs hash.
build_image() {
  local tag=$1 ctx=$2 parent=${3:-} parent_id='' hash current log
  if [ -n "$parent" ]; then
    parent_id=$(image_id "$parent")
    [ -n "$parent_id" ] || die "building $tag: parent image $parent is missing"
  fi
  hash=$(inputs_hash "$ctx" "$parent_id")
  current=$(docker image inspect --format "{{ index .Config.Labels \"$INPUTS_LABEL\" }}" "$tag" 2>/dev/null || true)
  if [ "$current" = "$hash" ]; then
    say "$tag is up to date (inputs ${hash:0:12})"
    return 0
  fi
  say "building $tag (inputs ${hash:0:12}, $(du -sh "$ctx/rootfs" | cut -f1) of host files)"
  log="$WORK/build-${tag//[\/:]/_}.log"
  # The legacy builder is what a stock 20.10 engine offers without buildx; its deprecation notice is noise here.
  if ! DOCKER_BUILDKIT=0 docker build ${BUILD_PLATFORM:+--platform "$BUILD_PLATFORM"} --label "$INPUTS_LABEL=$hash" \
    -t "$tag" "$ctx" >"$log" 2>&1; then
    cat "$log" >&2
    die "docker build of $tag failed"
  fi
  say "built $tag ($(image_id "$tag" | cut -c8-19))"
  BUILT+=("$tag")
}

# check_runs TAG WANT CMD... : run CMD in a throwaway container of TAG; its output must contain WANT. An arm image
# runs through binfmt emulation (scripts/binfmt.sh) on this machine.
check_runs() {
  local tag=$1 want=$2 out; shift 2
  out=$(docker run --rm --network none "$tag" "$@" 2>&1 | grep -v "^WARNING: The requested image's platform") ||
    die "$tag: '$*' failed inside the image: $out"
  case "$out" in
    *"$want"*) say "$tag runs: $* -> $(printf '%s' "$out" | head -n 1)" ;;
    *) die "$tag: '$*' printed '$out', expected '$want'" ;;
  esac
}

BUILT=()

# --- skiff/busybox:base ---------------------------------------------------------------------------------------
ctx=$WORK/busybox
BUSYBOX_BIN=/bin/busybox
[ -x "$BUSYBOX_BIN" ] || die "$BUSYBOX_BIN is missing although busybox-static is installed"
add_file "$BUSYBOX_BIN" "$ctx" /bin/busybox
# The same links `busybox --install -s` makes, made here so the image is one layer and needs no RUN.
for applet in $("$BUSYBOX_BIN" --list-full); do
  [ "$applet" = bin/busybox ] && continue
  mkdir -p "$ctx/rootfs/$(dirname "$applet")"
  ln -sf /bin/busybox "$ctx/rootfs/$applet"
done
mkdir -p "$ctx/rootfs/tmp" "$ctx/rootfs/root" "$ctx/rootfs/var/log" "$ctx/rootfs/etc"
chmod 1777 "$ctx/rootfs/tmp"
chmod 0700 "$ctx/rootfs/root"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$ctx/rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$ctx/rootfs/etc/group"
cat >"$ctx/Dockerfile" <<'EOF'
FROM scratch
COPY rootfs/ /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CMD ["/bin/sh"]
EOF
build_image skiff/busybox:base "$ctx"

# --- skiff/node:base ------------------------------------------------------------------------------------------
ctx=$WORK/node
add_binary "$NODE_BIN" "$ctx" /usr/local/bin/node
ca_env=''
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  # The bundle only: the hashed links beside it point into /usr/share and would triple its size.
  add_file /etc/ssl/certs/ca-certificates.crt "$ctx"
  ca_env='ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt'
fi
cat >"$ctx/Dockerfile" <<EOF
FROM skiff/busybox:base
COPY rootfs/ /
$ca_env
CMD ["node"]
EOF
build_image skiff/node:base "$ctx" skiff/busybox:base

# --- skiff/ssh:base -------------------------------------------------------------------------------------------
ctx=$WORK/ssh
add_binary "$(command -v ssh)" "$ctx" /usr/bin/ssh
autossh_bin=''
for candidate in /usr/lib/autossh/autossh "$(command -v autossh || true)"; do
  if [ -n "$candidate" ] && [ -f "$candidate" ] && is_elf "$candidate"; then autossh_bin=$candidate; break; fi
done
if [ -n "$autossh_bin" ]; then
  # autossh execs the ssh it was built with (/usr/bin/ssh), which is where the client sits in the image.
  add_binary "$autossh_bin" "$ctx" /usr/bin/autossh
else
  say "no autossh binary on this host: the tunnel will use its own ssh restart loop"
fi
mkdir -p "$ctx/rootfs/etc" "$ctx/home/skiff"
# ssh refuses to run for a uid it cannot name, so both the default root and an unprivileged user are listed.
cat >"$ctx/rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
skiff:x:1000:1000:skiff:/home/skiff:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
printf 'root:x:0:\nskiff:x:1000:\nnogroup:x:65534:\n' >"$ctx/rootfs/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$ctx/rootfs/etc/nsswitch.conf"
cat >"$ctx/Dockerfile" <<'EOF'
FROM skiff/busybox:base
COPY rootfs/ /
COPY --chown=1000:1000 home/skiff/ /home/skiff/
CMD ["/bin/sh"]
EOF
build_image skiff/ssh:base "$ctx" skiff/busybox:base

# The amd64 names the meter fleet's Dockerfiles use when `skiff push` builds for linux/amd64.
for kind in busybox node ssh; do docker tag "skiff/$kind:base" "skiff/$kind:base-amd64"; done

# --- the same three for the Raspberry Pi, from Debian's packages of its architectures -------------------------
# deb_closure ARCH PKG... : the packages and the libraries they depend on, transitively (first alternative of
# each). One apt-cache call per level. Debian's container images turn APT's binary cache off (Dir::Cache::pkgcache
# ""), so every call would parse every package list again: keep one of our own for the run. Debian's nodejs loads
# some of its own builtins (acorn, cjs-module-lexer, undici) from architecture-independent node-* packages at run
# time: without them `node --version` works and every script aborts, so they belong to the closure, named without
# an architecture (apt knows them as ARCH-less "all" packages).
apt_cache_dir="$SKIFF_REPO/.skiff/apt-cache"
mkdir -p "$apt_cache_dir"
cached_apt_cache() {
  apt-cache -o Dir::Cache::pkgcache="$apt_cache_dir/pkgcache.bin" -o Dir::Cache::srcpkgcache="$apt_cache_dir/srcpkgcache.bin" "$@"
}
# with_arch ARCH PKG... : PKG:ARCH for architecture-dependent packages, node-* as they are.
with_arch() {
  local arch=$1 p
  shift
  for p in "$@"; do
    case "$p" in node-*) printf '%s\n' "$p" ;; *) printf '%s\n' "$p:$arch" ;; esac
  done
}
deb_closure() {
  local arch=$1 seen=' ' level next p
  shift
  level=("$@")
  while [ ${#level[@]} -gt 0 ]; do
    for p in "${level[@]}"; do seen+="$p "; done
    next=()
    for p in $(cached_apt_cache depends --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
      --no-enhances $(with_arch "$arch" "${level[@]}") 2>/dev/null |
      awk '$1 == "Depends:" || $1 == "PreDepends:" || $1 == "|Depends:" { print $2 }' | tr -d '<>' |
      sed -e "s/:$arch\$//" -e 's/:any$//' |
      grep -E '^(lib|zlib|node-)' | grep -vxE 'libc-bin|libc-l10n' | sort -u); do
      [[ $seen == *" $p "* ]] || next+=("$p")
    done
    level=("${next[@]}")
  done
  printf '%s\n' $seen
}

# debs_of ARCH NAME PKG... : the .deb files of PKG and their libraries, downloaded once into .skiff/base-debs
# (kept: later runs need no network); prints the folder.
debs_of() {
  local arch=$1 name=$2 dir packages
  shift 2
  dir="$SKIFF_REPO/.skiff/base-debs/$arch/$name"
  if [ ! -f "$dir/complete" ]; then
    mkdir -p "$dir"
    if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
      [ "$(id -u)" -eq 0 ] || die "Debian's $arch packages are needed: run as root, or sudo dpkg --add-architecture $arch"
      say "adding Debian architecture $arch (its package lists)" >&2
      dpkg --add-architecture "$arch"
      apt-get update -qq >/dev/null || die "apt-get update failed after adding architecture $arch"
    fi
    mapfile -t packages < <(deb_closure "$arch" "$@")
    say "downloading ${#packages[@]} Debian $arch packages for $name: ${packages[*]}" >&2
    # Root downloads as root: apt's _apt sandbox user may not write into the repository's folder.
    (cd "$dir" && apt-get download -qq -o APT::Sandbox::User=root $(with_arch "$arch" "${packages[@]}") >/dev/null) ||
      die "apt-get download of Debian $arch packages failed (${packages[*]})"
    touch "$dir/complete"
  fi
  printf '%s\n' "$dir"
}

# unpack DEBS_DIR ROOTFS : every package's files, without documentation.
unpack() {
  local deb
  for deb in "$1"/*.deb; do dpkg-deb -x "$deb" "$2"; done
  rm -rf "$2/usr/share/doc" "$2/usr/share/man" "$2/usr/share/info" "$2/usr/share/lintian" "$2/usr/share/locale"
}

# foreign_images ARCH SUFFIX PLATFORM : skiff/{busybox,node,ssh}:base-SUFFIX for PLATFORM.
foreign_images() {
  local arch=$1 suffix=$2 platform=$3 ctx debs applet
  # busybox: the static binary and the same applet links as this machine's busybox of the same Debian version.
  ctx=$WORK/busybox-$suffix
  debs=$(debs_of "$arch" busybox busybox-static)
  mkdir -p "$ctx/unpacked"
  unpack "$debs" "$ctx/unpacked"
  add_file "$ctx/unpacked/bin/busybox" "$ctx" /bin/busybox
  rm -rf "$ctx/unpacked"
  for applet in $("$BUSYBOX_BIN" --list-full); do
    [ "$applet" = bin/busybox ] && continue
    mkdir -p "$ctx/rootfs/$(dirname "$applet")"
    ln -sf /bin/busybox "$ctx/rootfs/$applet"
  done
  mkdir -p "$ctx/rootfs/tmp" "$ctx/rootfs/root" "$ctx/rootfs/var/log" "$ctx/rootfs/etc"
  chmod 1777 "$ctx/rootfs/tmp"
  chmod 0700 "$ctx/rootfs/root"
  cp "$WORK/busybox/rootfs/etc/passwd" "$WORK/busybox/rootfs/etc/group" "$ctx/rootfs/etc/"
  cp "$WORK/busybox/Dockerfile" "$ctx/Dockerfile"
  BUILD_PLATFORM=$platform build_image "skiff/busybox:base-$suffix" "$ctx"

  # node: Debian's nodejs and the libraries it links, on the busybox base of the same platform.
  ctx=$WORK/node-$suffix
  debs=$(debs_of "$arch" nodejs nodejs)
  mkdir -p "$ctx/rootfs"
  unpack "$debs" "$ctx/rootfs"
  printf 'FROM skiff/busybox:base-%s\nCOPY rootfs/ /\nCMD ["node"]\n' "$suffix" >"$ctx/Dockerfile"
  BUILD_PLATFORM=$platform build_image "skiff/node:base-$suffix" "$ctx" "skiff/busybox:base-$suffix"

  # ssh: Debian's OpenSSH client and autossh (its binary, not Debian's wrapper script) with their libraries.
  ctx=$WORK/ssh-$suffix
  debs=$(debs_of "$arch" ssh openssh-client autossh)
  mkdir -p "$ctx/rootfs" "$ctx/home/skiff"
  unpack "$debs" "$ctx/rootfs"
  if [ -f "$ctx/rootfs/usr/lib/autossh/autossh" ]; then
    mv "$ctx/rootfs/usr/lib/autossh/autossh" "$ctx/rootfs/usr/bin/autossh"
  fi
  cp -a "$WORK/ssh/rootfs/etc/." "$ctx/rootfs/etc/"
  sed "s|^FROM skiff/busybox:base\$|FROM skiff/busybox:base-$suffix|" "$WORK/ssh/Dockerfile" >"$ctx/Dockerfile"
  BUILD_PLATFORM=$platform build_image "skiff/ssh:base-$suffix" "$ctx" "skiff/busybox:base-$suffix"
}

# apt-get names the architectures arm64 and armhf; the images are named as Docker's TARGETARCH and TARGETVARIANT
# spell them (arm64, armv7).
for arch in ${SKIFF_BASE_ARCHS:-amd64 arm64 armhf}; do
  case "$arch" in
    amd64) ;;
    arm64) foreign_images arm64 arm64 linux/arm64 ;;
    armhf) foreign_images armhf armv7 linux/arm/v7 ;;
    *) die "SKIFF_BASE_ARCHS: '$arch' is not one of amd64 arm64 armhf" ;;
  esac
done

# --- smoke checks of what was (re)built ------------------------------------------------------------------------
for tag in "${BUILT[@]}"; do
  case "$tag" in
    skiff/busybox:base*) check_runs "$tag" ok sh -c 'echo ok' ;;
    skiff/node:base) check_runs "$tag" "$("$NODE_BIN" --version)" node --version ;;
    # A script, not only --version: that runs before Node loads any builtin and so passes with a broken install.
    skiff/node:base-*) check_runs "$tag" 'node ok' node -e 'require("node:http"); console.log("node", "ok")' ;;
    skiff/ssh:base*) check_runs "$tag" OpenSSH ssh -V ;;
  esac
  case "$tag" in
    *-arm64) check_runs "$tag" aarch64 uname -m ;;
    *-armv7) check_runs "$tag" armv7 uname -m ;;
  esac
done
say "base images ready: skiff/{busybox,node,ssh}:base (amd64) and :base-amd64, :base-arm64, :base-armv7"
