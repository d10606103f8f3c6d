#!/bin/sh
# A reverse SSH tunnel from the device to a jump host: a port on the jump host leads back to the device (its
# SSH by default), a second way in when the fleet backend cannot reach it. Every connection starts from the
# device, so no firewall in front of it needs opening. autossh keeps it up when installed, else a restart loop
# with backoff does. Without TUNNEL_HOST the settings come from the device's supervisor, which writes the API's
# (jump host, host key, the port the API assigned this device) into TUNNEL_SETTINGS beside the key it made; until
# that file is there it idles, so one release serves devices with and without a tunnel, and nobody types a port.
set -u

TUNNEL_HOST=${TUNNEL_HOST:-}
TUNNEL_PORT=${TUNNEL_PORT:-22}
TUNNEL_USER=${TUNNEL_USER:-skiff}
TUNNEL_REMOTE_PORT=${TUNNEL_REMOTE_PORT:-}
TUNNEL_REMOTE_BIND=${TUNNEL_REMOTE_BIND:-127.0.0.1}
TUNNEL_TARGET=${TUNNEL_TARGET:-}
TUNNEL_KEY_FILE=${TUNNEL_KEY_FILE:-/run/secrets/tunnel/id_ed25519}
TUNNEL_KNOWN_HOSTS=${TUNNEL_KNOWN_HOSTS:-/run/secrets/tunnel/known_hosts}
TUNNEL_SETTINGS=${TUNNEL_SETTINGS:-/run/secrets/tunnel/tunnel.env}
TUNNEL_KEEPALIVE_SECONDS=${TUNNEL_KEEPALIVE_SECONDS:-30}
TUNNEL_RETRY_MAX_SECONDS=${TUNNEL_RETRY_MAX_SECONDS:-300}
TUNNEL_USE_AUTOSSH=${TUNNEL_USE_AUTOSSH:-auto}
LOG_TARGET=${LOG_TARGET:-}

# log LEVEL MESSAGE... : a line on stdout, and a copy to the fleet's logger when LOG_TARGET (host:port) is set.
# The copy is sent in the background with a time limit: a missing logger never holds the tunnel up.
log() {
  level=$1
  shift
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $level tunnel: $*"
  if [ -n "$LOG_TARGET" ]; then
    case $level in error) pri=11 ;; warn) pri=12 ;; *) pri=14 ;; esac
    printf '<%s>tunnel: %s\n' "$pri" "$*" | timeout 3 nc "${LOG_TARGET%:*}" "${LOG_TARGET##*:}" >/dev/null 2>&1 &
  fi
}

child=''
stop() {
  log info "stopping"
  [ -n "$child" ] && kill -TERM "$child" 2>/dev/null
  exit 0
}
trap stop TERM INT

# pause SECONDS : a sleep that SIGTERM interrupts at once (the trap runs as soon as `wait` returns).
pause() {
  sleep "$1" &
  child=$!
  wait "$child"
  child=''
}

is_count() { case $1 in '' | *[!0-9]*) return 1 ;; *) [ "$1" -ge 1 ] ;; esac; }
is_port() { is_count "$1" && [ "$1" -le 65535 ]; }

# read_settings : the four settings the supervisor writes, as NAME=value lines; nothing else in the file counts.
read_settings() {
  while IFS='=' read -r name value || [ -n "$name" ]; do
    case $name in
      TUNNEL_HOST) TUNNEL_HOST=$value ;;
      TUNNEL_PORT) TUNNEL_PORT=$value ;;
      TUNNEL_USER) TUNNEL_USER=$value ;;
      TUNNEL_REMOTE_PORT) TUNNEL_REMOTE_PORT=$value ;;
    esac
  done <"$TUNNEL_SETTINGS"
}

if [ -z "$TUNNEL_HOST" ]; then
  if [ ! -r "$TUNNEL_SETTINGS" ]; then
    log info "TUNNEL_HOST is not set and $TUNNEL_SETTINGS is not there: no tunnel on this device yet, idling until the supervisor writes it"
    until [ -r "$TUNNEL_SETTINGS" ]; do pause 30; done
  fi
  read_settings
  case $TUNNEL_HOST in
    '' | *[!A-Za-z0-9.:-]*) log error "$TUNNEL_SETTINGS names no usable TUNNEL_HOST"; exit 2 ;;
  esac
  log info "settings from $TUNNEL_SETTINGS"
fi

is_count "$TUNNEL_RETRY_MAX_SECONDS" ||
  { log error "TUNNEL_RETRY_MAX_SECONDS=$TUNNEL_RETRY_MAX_SECONDS must be a whole number of seconds"; exit 2; }
is_port "$TUNNEL_PORT" || { log error "TUNNEL_PORT=$TUNNEL_PORT is not a port number"; exit 2; }
is_port "$TUNNEL_REMOTE_PORT" ||
  { log error "TUNNEL_REMOTE_PORT='$TUNNEL_REMOTE_PORT' must be the port this device owns on $TUNNEL_HOST"; exit 2; }

if [ -z "$TUNNEL_TARGET" ]; then
  # The container's gateway is the device itself: its sshd is what the tunnel is for.
  gateway=$(ip route 2>/dev/null | awk '$1 == "default" { print $3; exit }')
  TUNNEL_TARGET=${gateway:-127.0.0.1}:22
fi

# A key provisioned after the container started is picked up without a restart.
until [ -r "$TUNNEL_KEY_FILE" ]; do
  log warn "waiting for the tunnel key at $TUNNEL_KEY_FILE"
  pause 30
done
# ssh refuses keys others can read, and a mounted secret's mode is not ours to choose: use a private copy.
key=${TMPDIR:-/tmp}/tunnel-key
(umask 077 && cp "$TUNNEL_KEY_FILE" "$key") || { log error "cannot copy $TUNNEL_KEY_FILE"; exit 1; }

if [ -r "$TUNNEL_KNOWN_HOSTS" ]; then
  known=$TUNNEL_KNOWN_HOSTS
  strict=yes
else
  log warn "no known_hosts at $TUNNEL_KNOWN_HOSTS: trusting $TUNNEL_HOST's host key on first use"
  known=${TMPDIR:-/tmp}/known_hosts
  strict=accept-new
fi

set -- -N -T \
  -o BatchMode=yes -o ExitOnForwardFailure=yes -o ConnectTimeout=20 \
  -o ServerAliveInterval="$TUNNEL_KEEPALIVE_SECONDS" -o ServerAliveCountMax=3 \
  -o StrictHostKeyChecking="$strict" -o UserKnownHostsFile="$known" \
  -o IdentitiesOnly=yes -i "$key" -p "$TUNNEL_PORT" \
  -R "$TUNNEL_REMOTE_BIND:$TUNNEL_REMOTE_PORT:$TUNNEL_TARGET" \
  "$TUNNEL_USER@$TUNNEL_HOST"
log info "tunnel $TUNNEL_HOST:$TUNNEL_REMOTE_PORT -> $TUNNEL_TARGET as $TUNNEL_USER (port $TUNNEL_PORT)"

if [ "$TUNNEL_USE_AUTOSSH" != no ] && command -v autossh >/dev/null 2>&1; then
  # -M 0: ssh's own keepalives detect a dead link; autossh restarts ssh, backing off up to AUTOSSH_POLL.
  AUTOSSH_GATETIME=0 AUTOSSH_POLL=$TUNNEL_RETRY_MAX_SECONDS AUTOSSH_LOGFILE=/dev/stderr autossh -M 0 "$@" &
  child=$!
  wait "$child"
  log error "autossh exited with status $?"
  exit 1
fi

backoff=1
while :; do
  started=$(date +%s)
  ssh "$@" &
  child=$!
  wait "$child"
  status=$?
  child=''
  ran=$(($(date +%s) - started))
  # A tunnel that held for a while failed for a new reason: start the backoff over.
  [ "$ran" -ge 60 ] && backoff=1
  log warn "ssh exited with status $status after ${ran}s; reconnecting in ${backoff}s"
  pause "$backoff"
  backoff=$((backoff * 2))
  [ "$backoff" -gt "$TUNNEL_RETRY_MAX_SECONDS" ] && backoff=$TUNNEL_RETRY_MAX_SECONDS
done
