#!/bin/sh
# The fleet's log keeper: services send it lines over TCP, it keeps them in a size-rotated file on the logs
# volume, where they outlive container restarts and the engine's own log limits.
#   clients --TCP--> nc (one relay.awk per connection) --FIFO--> rotate.awk --> $LOG_DIR/$LOG_FILE[.1 .. .N]
# One process owns the file, so rotation never races a writer; each relay writes whole lines of less than
# PIPE_BUF bytes into the FIFO, which the kernel never interleaves.
set -u

LOG_DIR=${LOG_DIR:-/var/log/fleet}
LOG_FILE=${LOG_FILE:-messages}
LOG_PORT=${LOG_PORT:-514}
LOG_ROTATE_KB=${LOG_ROTATE_KB:-1024}
LOG_ROTATE_KEEP=${LOG_ROTATE_KEEP:-5}
LOG_ECHO=${LOG_ECHO:-no}
LIB=${LOGGER_LIB:-/usr/local/lib/logger}

say() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $1 logger: $2"; }
is_count() { case $1 in '' | *[!0-9]*) return 1 ;; *) [ "$1" -ge "$2" ] ;; esac; }

is_count "$LOG_PORT" 1 && [ "$LOG_PORT" -le 65535 ] || { say error "LOG_PORT=$LOG_PORT is not a port"; exit 2; }
is_count "$LOG_ROTATE_KB" 1 || { say error "LOG_ROTATE_KB=$LOG_ROTATE_KB must be a size in KiB >= 1"; exit 2; }
is_count "$LOG_ROTATE_KEEP" 0 || { say error "LOG_ROTATE_KEEP=$LOG_ROTATE_KEEP must be a count >= 0"; exit 2; }
# The rotation runs mv through awk's system(): keep the path to characters that need no quoting.
case "$LOG_DIR/$LOG_FILE" in
  *[!A-Za-z0-9._/-]*) say error "LOG_DIR/LOG_FILE may only use letters, digits and . _ / -"; exit 2 ;;
esac
mkdir -p "$LOG_DIR" || { say error "cannot create $LOG_DIR"; exit 1; }

fifo=/tmp/logger.fifo
rm -f "$fifo" && mkfifo -m 600 "$fifo" || { say error "cannot create $fifo"; exit 1; }
file=$LOG_DIR/$LOG_FILE
size=$(stat -c %s "$file" 2>/dev/null || echo 0)

# Opened read-write, the FIFO never reports end-of-file when the last client goes away.
awk -v file="$file" -v size="$size" -v max="$((LOG_ROTATE_KB * 1024))" -v keep="$LOG_ROTATE_KEEP" \
  -v echo="$LOG_ECHO" -f "$LIB/rotate.awk" <>"$fifo" &
writer=$!
LOGGER_FIFO=$fifo nc -ll -p "$LOG_PORT" -e "$LIB/relay" &
listener=$!

stop() {
  say info "stopping"
  kill "$listener" "$writer" 2>/dev/null
  exit 0
}
trap stop TERM INT

say info "listening on TCP $LOG_PORT, writing $file (rotate at ${LOG_ROTATE_KB} KiB, keep $LOG_ROTATE_KEEP)"
# Either half dying leaves a logger that silently keeps nothing: exit and let the restart policy act.
while kill -0 "$listener" 2>/dev/null && kill -0 "$writer" 2>/dev/null; do
  sleep 5 &
  wait $!
done
say error "$( kill -0 "$listener" 2>/dev/null && echo "the file writer" || echo "the TCP listener") died; exiting"
exit 1
