#!/bin/sh
# A RAUC custom bootloader backend that behaves like U-Boot's boot-count scheme, for tests on a machine without a
# bootloader: a boot order and a per-slot count of attempts left, kept in one file ($SKIFF_TEST_BOOT_STATE).
# RAUC calls get-primary, set-primary, get-state, set-state (and get-current in newer releases). The test plays
# the firmware with `power-on`: the first slot in the order with attempts left is booted and loses one attempt,
# so a slot that never gets marked good is given up after three boots, exactly as U-Boot's BOOT_x_LEFT does.
set -eu

STATE=${SKIFF_TEST_BOOT_STATE:?SKIFF_TEST_BOOT_STATE must name the boot state file}
ATTEMPTS=3

fail() { echo "test-backend: $*" >&2; exit 1; }

load() {
  ORDER="A B"; A_LEFT=$ATTEMPTS; B_LEFT=$ATTEMPTS; CURRENT=""
  # shellcheck disable=SC1090
  [ -f "$STATE" ] && . "$STATE"
  return 0
}

save() {
  tmp="$STATE.tmp.$$"
  printf 'ORDER="%s"\nA_LEFT=%s\nB_LEFT=%s\nCURRENT="%s"\n' "$ORDER" "$A_LEFT" "$B_LEFT" "$CURRENT" >"$tmp"
  mv "$tmp" "$STATE"
}

check_slot() { case "$1" in A|B) ;; *) fail "unknown slot '$1' (expected A or B)" ;; esac; }
left_of() { eval "echo \$$1_LEFT"; }
set_left() { eval "$1_LEFT=$2"; }

first_bootable() {
  for s in $ORDER; do
    [ "$(left_of "$s")" -gt 0 ] && { echo "$s"; return 0; }
  done
  return 1
}

cmd=${1:-}
load
case "$cmd" in
  get-primary)
    first_bootable || fail "no slot has boot attempts left (order: $ORDER)" ;;
  set-primary)
    check_slot "${2:-}"
    rest=$(for s in $ORDER; do [ "$s" = "$2" ] || printf '%s ' "$s"; done)
    ORDER="$2 ${rest% }"; set_left "$2" "$ATTEMPTS"; save ;;
  get-state)
    check_slot "${2:-}"
    if [ "$(left_of "$2")" -gt 0 ]; then echo good; else echo bad; fi ;;
  set-state)
    check_slot "${2:-}"
    case "${3:-}" in
      good) set_left "$2" "$ATTEMPTS" ;;
      bad) set_left "$2" 0 ;;
      *) fail "set-state: state must be good or bad, got '${3:-}'" ;;
    esac
    save ;;
  get-current)
    [ -n "$CURRENT" ] || fail "no slot booted yet (power-on first)"
    echo "$CURRENT" ;;
  power-on)
    slot=$(first_bootable) || fail "power-on: no slot has boot attempts left (order: $ORDER): the device is bricked"
    set_left "$slot" $(( $(left_of "$slot") - 1 ))
    CURRENT=$slot; save
    echo "$slot" ;;
  *)
    fail "usage: test-backend.sh get-primary | set-primary SLOT | get-state SLOT | set-state SLOT good|bad | get-current | power-on" ;;
esac
