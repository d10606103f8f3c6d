#!/usr/bin/env bash
# A jump host for a local fleet (the demo, a developer's environment): Debian's OpenSSH sshd on 127.0.0.1, run from
# .skiff/ENV/jump-host with a host key of its own, asking registry-api which key may do what through the shipped
# key commands (scripts/jump-host-keys.sh). It trusts the API's SSH CA key file, made here first if the API has not
# made it yet, so the API and the jump host can start in either order. Production jump hosts are configured by hand
# from README.md's "Remote access"; this one logs in as the user running it (root, as the environments need).
#
#   bash scripts/jump-host.sh up ENV API_URL CA_KEY_FILE   # prints the registry-api settings to export
#   bash scripts/jump-host.sh down ENV
set -euo pipefail
source "$(dirname "$0")/lib.sh"

usage="usage: scripts/jump-host.sh up ENV API_URL CA_KEY_FILE | down ENV; ENV: demo|test|e2e|h1..h9"
cmd=${1:-}
env=${2:-}
case "$env" in
  demo) idx=1 ;; test) idx=2 ;; e2e) idx=3 ;;
  h[1-9]) idx=$((3 + ${env#h})) ;;
  *) die "$usage" ;;
esac
# The port after the environment's others (scripts/env.sh: base + 0..5).
port=$((47000 + idx * 100 + 6))
dir="$SKIFF_REPO/.skiff/$env/jump-host"
pidfile="$dir/sshd.pid"

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

case "$cmd" in
  up)
    [ $# -eq 4 ] || die "$usage"
    api=$3
    ca_key=$4
    [ -x /usr/sbin/sshd ] || die "/usr/sbin/sshd is missing: apt-get install -y openssh-server (scripts/deps.sh lists it)"
    mkdir -p "$dir" /run/sshd
    chmod 700 "$dir"
    [ -f "$dir/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C "skiff $env jump host" -f "$dir/host_ed25519"
    if [ ! -f "$ca_key" ]; then
      mkdir -p "$(dirname "$ca_key")"
      (umask 077 && ssh-keygen -q -t ed25519 -N '' -C 'skiff ssh ca' -f "$ca_key")
    fi
    ssh-keygen -y -f "$ca_key" >"$dir/ssh_ca.pub"
    token_file="$dir/token"
    [ -f "$token_file" ] || (umask 077 && head -c 32 /dev/urandom | base64 | tr -d '/+=\n' >"$token_file")
    token=$(cat "$token_file")
    (umask 077 && printf 'SKIFF_API_URL=%s\nSKIFF_JUMP_HOST_TOKEN=%s\n' "$api" "$token" >"$dir/jump-host.conf")
    user=$(id -un)
    # sshd runs a key command only if it and every folder above it are root's and no one else may write them (a
    # checkout under /tmp or a home folder is not): a copy under /run, in a folder named after its content.
    shipped="$SKIFF_REPO/scripts/jump-host-keys.sh"
    keys_dir="/run/skiff-commands-$(sha256sum "$shipped" | cut -c1-16)"
    install -d -m 0755 "$keys_dir"
    install -m 0755 "$shipped" "$keys_dir/jump-host-keys.sh"
    keys="$keys_dir/jump-host-keys.sh"
    # AuthorizedPrincipalsCommand before AuthorizedKeysCommand: OpenSSH 9.2 drops it when it comes after.
    cat >"$dir/sshd_config" <<CONF
ListenAddress 127.0.0.1
HostKey $dir/host_ed25519
PidFile $pidfile
AuthorizedKeysFile none
AllowUsers $user
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
X11Forwarding no
PermitTTY no
TrustedUserCAKeys $dir/ssh_ca.pub
AuthorizedPrincipalsCommand $keys $dir/jump-host.conf principals %u %i
AuthorizedPrincipalsCommandUser $user
AuthorizedKeysCommand $keys $dir/jump-host.conf keys %u %t %k
AuthorizedKeysCommandUser $user
AllowTcpForwarding yes
GatewayPorts no
ClientAliveInterval 30
ClientAliveCountMax 3
LogLevel VERBOSE
CONF
    if running; then
      say "jump host already running (127.0.0.1:$port): its config is read again"
      kill -HUP "$(cat "$pidfile")"
    else
      /usr/sbin/sshd -f "$dir/sshd_config" -p "$port" -E "$dir/sshd.log" ||
        die "sshd did not start (config $dir/sshd_config, log $dir/sshd.log)"
      say "jump host on 127.0.0.1:$port (log $dir/sshd.log)"
    fi
    echo "export SKIFF_JUMP_HOST=127.0.0.1:$port SKIFF_JUMP_USER=$user SKIFF_JUMP_HOST_TOKEN=$token" \
      "SKIFF_SSH_CA_KEY_FILE=$ca_key SKIFF_JUMP_HOST_KEY='$(cut -d' ' -f1,2 "$dir/host_ed25519.pub")'"
    ;;
  down)
    [ $# -eq 2 ] || die "$usage"
    if running; then
      kill "$(cat "$pidfile")"
      say "jump host stopped"
    fi
    ;;
  *) die "$usage" ;;
esac
