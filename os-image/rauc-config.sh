# RAUC's system.conf and the D-Bus system bus config RAUC talks over, written the same way for every place a
# RAUC runs: the Pi image (build-image.sh), the qemu test device's /init and the host test env (rauc-env.sh).
# POSIX sh, because the qemu guest's busybox sh sources it too. Sourced, never run.

# rauc_system_conf COMPATIBLE BACKEND KEYRING STATUSFILE SLOT_A_DEVICE SLOT_B_DEVICE [MOUNTPREFIX [MAX_DOWNLOAD]]
#   prints a system.conf for two ext4 rootfs slots A and B and a custom bootloader backend; MAX_DOWNLOAD is
#   max-bundle-download-size in bytes (only streamed installs download).
rauc_system_conf() {
  printf '[system]\ncompatible=%s\nbootloader=custom\n' "$1"
  [ -z "${7:-}" ] || printf 'mountprefix=%s\n' "$7"
  printf 'statusfile=%s\n' "$4"
  [ -z "${8:-}" ] || printf 'max-bundle-download-size=%s\n' "$8"
  printf '\n[handlers]\nbootloader-custom-backend=%s\n\n[keyring]\npath=%s\n' "$2" "$3"
  printf '\n[slot.rootfs.0]\ndevice=%s\ntype=ext4\nbootname=A\n' "$5"
  printf '\n[slot.rootfs.1]\ndevice=%s\ntype=ext4\nbootname=B\n' "$6"
}

# dbus_system_conf LISTEN_ADDRESS : a system bus anyone on the machine may use; it exists only for RAUC.
dbus_system_conf() {
  cat <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>$1</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="signal"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
  </policy>
</busconfig>
CONF
}
