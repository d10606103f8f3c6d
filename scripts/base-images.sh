#!/usr/bin/env bash
# Builds Skiff's three local base images FROM scratch out of this machine's own files, so release images build
# with no registry and no internet:
#   skiff/busybox:base  Debian's static busybox and its applet links
#   skiff/node:base     busybox base + the host's node and every library it links, CA bundle if present
#   skiff/ssh:base      busybox base + the host's ssh client and autossh with their libraries, a passwd
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
  if ! DOCKER_BUILDKIT=0 docker build --label "$INPUTS_LABEL=$hash" -t "$tag" "$ctx" >"$log" 2>&1; then
    cat "$log" >&2
    die "docker build of $tag failed"
  fi
  say "built $tag ($(image_id "$tag" | cut -c8-19))"
  BUILT+=("$tag")
}

# check_runs TAG WANT CMD... : run CMD in a throwaway container of TAG; its output must contain WANT.
check_runs() {
  local tag=$1 want=$2 out; shift 2
  out=$(docker run --rm --network none "$tag" "$@" 2>&1) || die "$tag: '$*' failed inside the image: $out"
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

# --- smoke checks of what was (re)built ------------------------------------------------------------------------
for tag in "${BUILT[@]}"; do
  case "$tag" in
    skiff/busybox:base) check_runs "$tag" ok sh -c 'echo ok' ;;
    skiff/node:base) check_runs "$tag" "$("$NODE_BIN" --version)" node --version ;;
    skiff/ssh:base) check_runs "$tag" OpenSSH ssh -V ;;
  esac
done
say "base images ready: skiff/busybox:base skiff/node:base skiff/ssh:base"
