#!/bin/sh
# RAUC custom bootloader backend for the Raspberry Pi firmware's tryboot (autoboot.txt with tryboot_a_b=1).
# The firmware boots [all] boot_partition normally and [tryboot] boot_partition once after `reboot "0 tryboot"`;
# any reset after that boots the default again, so a trial that is not committed is rolled back by itself.
#   set-primary X   X is the default: nothing to arm. Else point [tryboot] at X and remember a pending trial,
#                   which `reboot` (a Skiff command, not RAUC's) turns into a one-shot tryboot.
#   set-state X good   in a trial boot of X: commit, i.e. rewrite autoboot.txt with X as the default.
#   set-state X bad    forget a pending trial of X and remember X as bad.
# Paths are configurable so tests can point them at plain files:
#   SKIFF_AUTOBOOT (/boot/firmware/autoboot.txt), SKIFF_DT_BOOTLOADER (/proc/device-tree/chosen/bootloader),
#   SKIFF_TRYBOOT_STATE (/var/lib/skiff/tryboot), SKIFF_PART_A (2), SKIFF_PART_B (3), SKIFF_REBOOT (reboot).
set -eu

AUTOBOOT=${SKIFF_AUTOBOOT:-/boot/firmware/autoboot.txt}
DT=${SKIFF_DT_BOOTLOADER:-/proc/device-tree/chosen/bootloader}
STATE=${SKIFF_TRYBOOT_STATE:-/var/lib/skiff/tryboot}
PART_A=${SKIFF_PART_A:-2}
PART_B=${SKIFF_PART_B:-3}
REBOOT=${SKIFF_REBOOT:-reboot}

fail() { echo "tryboot-backend: $*" >&2; exit 1; }

part_of() { case "$1" in A) echo "$PART_A" ;; B) echo "$PART_B" ;; *) fail "unknown slot '$1' (expected A or B)" ;; esac; }
slot_of() {
  if [ "$1" = "$PART_A" ]; then echo A; elif [ "$1" = "$PART_B" ]; then echo B
  else fail "partition $1 is neither slot A ($PART_A) nor B ($PART_B)"; fi
}

# dt_u32 NAME : a 32-bit big-endian cell of the bootloader's device tree node.
dt_u32() {
  [ -f "$DT/$1" ] || fail "no $DT/$1: not booted by a tryboot-capable firmware"
  hex=$(od -An -tx1 -N4 "$DT/$1" | tr -d ' \n')
  echo $((0x$hex))
}

default_part() {
  [ -f "$AUTOBOOT" ] || fail "no $AUTOBOOT"
  awk '/^\[/ { section = $0 } section == "[all]" && /^boot_partition=/ { split($0, kv, "="); print kv[2]; exit }' "$AUTOBOOT"
}

write_autoboot() {
  tmp="$AUTOBOOT.tmp"
  printf '[all]\ntryboot_a_b=1\nboot_partition=%s\n[tryboot]\nboot_partition=%s\n' "$1" "$2" >"$tmp"
  sync "$tmp" 2>/dev/null || true
  mv "$tmp" "$AUTOBOOT"
  sync 2>/dev/null || true
}

other_of() { if [ "$1" = A ]; then echo B; else echo A; fi; }
# The `|| exit` matters: inside an `if`, set -e would not stop on a failed substitution.
in_trial() { t=$(dt_u32 tryboot) || exit 1; [ "$t" -eq 1 ]; }
booted() { p=$(dt_u32 partition) || exit 1; slot_of "$p"; }

mkdir -p "$STATE"
cmd=${1:-}
case "$cmd" in
  get-primary)
    if [ -f "$STATE/pending" ]; then cat "$STATE/pending"; else slot_of "$(default_part)"; fi ;;
  set-primary)
    part=$(part_of "${2:-}")
    rm -f "$STATE/bad.$2"
    if [ "$part" = "$(default_part)" ]; then rm -f "$STATE/pending"
    else write_autoboot "$(default_part)" "$part"; echo "$2" >"$STATE/pending"; fi ;;
  get-state)
    part_of "${2:-}" >/dev/null
    if [ -f "$STATE/bad.$2" ]; then echo bad; else echo good; fi ;;
  set-state)
    part=$(part_of "${2:-}")
    case "${3:-}" in
      good)
        rm -f "$STATE/bad.$2"
        if in_trial && [ "$(booted)" = "$2" ] && [ "$part" != "$(default_part)" ]; then
          write_autoboot "$part" "$(part_of "$(other_of "$2")")"
        fi
        rm -f "$STATE/pending" ;;
      bad)
        touch "$STATE/bad.$2"
        [ "$(cat "$STATE/pending" 2>/dev/null)" = "$2" ] && rm -f "$STATE/pending"
        true ;;
      *) fail "set-state: state must be good or bad, got '${3:-}'" ;;
    esac ;;
  get-current)
    booted ;;
  reboot)
    # A pending trial is a one-shot: the flag is consumed by this reboot, a later reset boots the default.
    if [ -f "$STATE/pending" ]; then rm -f "$STATE/pending"; exec $REBOOT "0 tryboot"; else exec $REBOOT; fi ;;
  *)
    fail "usage: tryboot-backend.sh get-primary | set-primary SLOT | get-state SLOT | set-state SLOT good|bad | get-current | reboot" ;;
esac
