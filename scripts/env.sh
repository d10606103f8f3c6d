#!/usr/bin/env bash
# Starts and stops one Skiff environment: two private Docker Engines (a developer's build engine and a
# device's engine), the distribution registry, Redis and PostgreSQL, each on its own socket, port and directory under
# .skiff/ENV. Idempotent both ways. Nothing system-wide is used or touched.
#
#   bash scripts/env.sh up ENV       # ENV: demo | test | e2e | h1..h9 (one per parallel developer or helper)
#   bash scripts/env.sh up ENV --only engines,registry   # a subset: engines, registry, auth-registry, redis, postgres
#   bash scripts/env.sh down ENV
#   bash scripts/env.sh status ENV
set -euo pipefail
source "$(dirname "$0")/lib.sh"

cmd=${1:-}; env=${2:-}
usage="usage: scripts/env.sh up ENV [--only COMPONENT,...] | down ENV | status ENV; ENV: demo|test|e2e|h1..h9"
# What 'up' starts: everything by default (the tests use it all); --only names a subset (the demo needs no Redis,
# PostgreSQL or token-auth registry: its API runs on SQLite with in-process jobs).
all_components="engines registry auth-registry redis postgres"
components=$all_components
if [ $# -gt 2 ]; then
  [ "$cmd" = up ] && [ "${3:-}" = --only ] && [ $# -eq 4 ] || die "$usage"
  components=${4//,/ }
  for c in $components; do
    case " $all_components " in *" $c "*) ;; *) die "--only: unknown component '$c'; allowed: ${all_components// /, }" ;; esac
  done
fi
wants() { case " $components " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
case "$env" in
  demo) idx=1 ;; test) idx=2 ;; e2e) idx=3 ;;
  h[1-9]) idx=$((3 + ${env#h})) ;;
  *) die "$usage" ;;
esac

root="$SKIFF_REPO/.skiff/$env"
# Unix socket paths are limited to 108 bytes: engine run state lives under a short path of its own.
run_base="/run/skiff-$(printf '%s' "$SKIFF_REPO" | sha256sum | cut -c1-8)/$env"
port_base=$((47000 + idx * 100))
registry_port=$port_base
redis_port=$((port_base + 1))
api_port=$((port_base + 2))
device_api_port=$((port_base + 3))
# A second registry with token auth: registry-api on api_port is its token server (routes/registry-token.ts).
auth_registry_port=$((port_base + 4))
# PostgreSQL for the store's second backend (SKIFF_DATABASE_URL); the tests' servers make their own databases in it.
postgres_port=$((port_base + 5))
pg_bin=/usr/lib/postgresql/15/bin
pg_dir="$root/postgres"
auth_dir="$root/registry-auth"
auth_service=skiff-registry
auth_issuer=skiff-registry-api

engine_sock() { echo "$run_base/$1/docker.sock"; }

# An engine killed without `down` (a machine or session that ended under it) leaves the bridges of its networks
# behind, each holding a subnet of its address pool; so does one whose data root was deleted with its clone. The
# next engine of this environment finds its pool taken ("could not find an available, non-overlapping IPv4 address
# pool") and every test that creates networks fails. The engine is not running here: a bridge of its pool is
# stale (one whose network is still in the data root is made again when the engine starts).
stale_bridges_down() {
  local pool=$1 base first count dev addr third
  base=${pool%.*.*}          # 10.232 of 10.232.32.0/20
  first=${pool#"$base".}; first=${first%%.*}
  count=$((1 << (24 - ${pool#*/})))   # the pool's /24s (engine_up's size=24): 16 of a /20
  while read -r dev addr; do
    [[ $dev == br-* ]] || continue
    [[ $addr == "$base".* ]] || continue
    third=${addr#"$base".}; third=${third%%.*}
    if [ "$third" -ge "$first" ] && [ "$third" -lt $((first + count)) ]; then
      ip link delete "$dev" 2>/dev/null && say "removed stale bridge $dev ($addr) of a previous engine"
    fi
  done < <(ip -4 -o addr show | awk '{ print $2, $4 }')
  return 0
}

engine_up() {
  local name=$1 bridge=$2 bip=$3 pool=$4
  local dir="$root/engines/$name" run="$run_base/$name" sock
  sock=$(engine_sock "$name")
  if curl -sf --unix-socket "$sock" http://engine/_ping >/dev/null 2>&1; then
    say "engine $name already running ($sock)"; return 0
  fi
  mkdir -p "$dir/data" "$run"
  stale_bridges_down "$pool"
  if ! ip link show "$bridge" >/dev/null 2>&1; then
    ip link add "$bridge" type bridge
    ip addr add "$bip" dev "$bridge"
  fi
  ip link set "$bridge" up
  # Two engines starting at once race on creating their iptables chains: start them one at a time.
  (
    flock 9
    setsid dockerd --data-root "$dir/data" --exec-root "$run/exec" -H "unix://$sock" \
      --pidfile "$run/dockerd.pid" --bridge "$bridge" --default-address-pool "base=$pool,size=24" \
      --log-level warn >"$dir/dockerd.log" 2>&1 </dev/null 9>&- &
    wait_for "engine $name" 90 curl -sf --unix-socket "$sock" http://engine/_ping ||
      { tail -20 "$dir/dockerd.log" >&2; die "engine $name did not start (log: $dir/dockerd.log)"; }
  ) 9>/tmp/skiff-dockerd.lock
}

engine_down() {
  local name=$1 bridge=$2
  stop_pid "$run_base/$name/dockerd.pid" 60
  ip link show "$bridge" >/dev/null 2>&1 && ip link delete "$bridge" 2>/dev/null || true
}

registry_up() {
  local dir="$root/registry"
  if curl -sf "http://127.0.0.1:$registry_port/v2/" >/dev/null 2>&1; then
    say "registry already running (127.0.0.1:$registry_port)"; return 0
  fi
  mkdir -p "$dir/data"
  cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$registry_port
EOF
  setsid docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 </dev/null &
  echo $! >"$dir/registry.pid"
  wait_for "registry" 30 curl -sf "http://127.0.0.1:$registry_port/v2/" ||
    { tail -20 "$dir/registry.log" >&2; die "registry did not start (log: $dir/registry.log)"; }
}

# The token signing key (EC P-256, for ES256) and its self-signed certificate, the registry's rootcertbundle.
registry_auth_keys() {
  [ -s "$auth_dir/token-key.pem" ] && [ -s "$auth_dir/token-cert.pem" ] && return 0
  mkdir -p "$auth_dir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -subj "/CN=skiff registry token signer" -keyout "$auth_dir/token-key.pem" -out "$auth_dir/token-cert.pem" 2>/dev/null ||
    die "openssl could not make the registry token key in $auth_dir"
  chmod 600 "$auth_dir/token-key.pem"
}

# Without credentials the token-auth registry answers 401 with its Bearer challenge: that is "up".
auth_registry_answers() {
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$auth_registry_port/v2/" 2>/dev/null)" = 401 ]
}

auth_registry_up() {
  if auth_registry_answers; then
    say "token-auth registry already running (127.0.0.1:$auth_registry_port)"; return 0
  fi
  registry_auth_keys
  mkdir -p "$auth_dir/data"
  cat >"$auth_dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $auth_dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$auth_registry_port
auth:
  token:
    realm: http://127.0.0.1:$api_port/v1/registry/token
    service: $auth_service
    issuer: $auth_issuer
    rootcertbundle: $auth_dir/token-cert.pem
EOF
  setsid docker-registry serve "$auth_dir/config.yml" >"$auth_dir/registry.log" 2>&1 </dev/null &
  echo $! >"$auth_dir/registry.pid"
  wait_for "token-auth registry" 30 auth_registry_answers ||
    { tail -20 "$auth_dir/registry.log" >&2; die "token-auth registry did not start (log: $auth_dir/registry.log)"; }
}

redis_up() {
  local dir="$root/redis"
  if redis-cli -p "$redis_port" ping >/dev/null 2>&1; then
    say "redis already running (127.0.0.1:$redis_port)"; return 0
  fi
  mkdir -p "$dir"
  redis-server --daemonize yes --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >/dev/null
  wait_for "redis" 20 redis-cli -p "$redis_port" ping || die "redis did not start (log: $dir/redis.log)"
}

# A private cluster for tests only: trust auth on 127.0.0.1 and fsync off. A production deployment points
# SKIFF_DATABASE_URL at its own server, with a password and fsync on. initdb refuses root: the cluster belongs to
# the 'postgres' user. The C.UTF-8 locale makes ORDER BY on text sort by code point, as SQLite does.
postgres_answers() { "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$postgres_port"; }

postgres_up() {
  local data="$pg_dir/data" sock="$run_base/postgres"
  if postgres_answers; then
    say "postgres already running (127.0.0.1:$postgres_port)"; return 0
  fi
  mkdir -p "$pg_dir" "$sock"
  chown postgres:postgres "$pg_dir" "$sock"
  if [ ! -s "$data/PG_VERSION" ]; then
    runuser -u postgres -- "$pg_bin/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
      >"$pg_dir/initdb.log" 2>&1 || { tail -20 "$pg_dir/initdb.log" >&2; die "initdb failed (log: $pg_dir/initdb.log)"; }
  fi
  runuser -u postgres -- "$pg_bin/pg_ctl" -D "$data" -l "$pg_dir/postgres.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $postgres_port -c unix_socket_directories=$sock -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null || { tail -20 "$pg_dir/postgres.log" >&2; die "postgres did not start (log: $pg_dir/postgres.log)"; }
  wait_for "postgres" 30 postgres_answers || die "postgres did not answer (log: $pg_dir/postgres.log)"
  if [ "$(psql -h 127.0.0.1 -p "$postgres_port" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'skiff'")" != 1 ]; then
    psql -h 127.0.0.1 -p "$postgres_port" -U postgres -qc "CREATE DATABASE skiff" >/dev/null ||
      die "could not create the database 'skiff' on 127.0.0.1:$postgres_port"
  fi
}

postgres_down() {
  [ -s "$pg_dir/data/postmaster.pid" ] || return 0
  runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
}

write_env_json() {
  cat >"$root/env.json" <<EOF
{
  "root": "$root",
  "devDockerHost": "unix://$(engine_sock dev)",
  "deviceDockerHost": "unix://$(engine_sock device)",
  "registry": "127.0.0.1:$registry_port",
  "redisUrl": "redis://127.0.0.1:$redis_port",
  "postgresUrl": "postgres://postgres@127.0.0.1:$postgres_port/skiff",
  "apiPort": $api_port,
  "deviceApiPort": $device_api_port,
  "authRegistry": {
    "address": "127.0.0.1:$auth_registry_port",
    "service": "$auth_service",
    "issuer": "$auth_issuer",
    "tokenKeyFile": "$auth_dir/token-key.pem"
  }
}
EOF
}

case "$cmd" in
  up)
    [ "$(id -u)" -eq 0 ] || die "the private engines need root (dockerd, bridges, iptables); run as root"
    packages=(curl)
    wants engines && packages+=(docker.io iproute2 busybox-static openssh-client autossh)
    { wants registry || wants auth-registry; } && packages+=(docker-registry)
    wants auth-registry && packages+=(openssl)
    wants redis && packages+=(redis-server)
    wants postgres && packages+=(postgresql)
    need_packages "${packages[@]}"
    mkdir -p "$root"
    # One /16 per environment (10.231 to 10.241), clear of the 172.17/16 and 192.168/16 a LAN tends to use.
    net="10.$((230 + idx))"
    if wants engines; then
      engine_up dev "sk-$env-dev" "$net.0.1/24" "$net.16.0/20"
      engine_up device "sk-$env-dvc" "$net.1.1/24" "$net.32.0/20"
    fi
    if wants registry; then registry_up; fi
    if wants auth-registry; then auth_registry_up; fi
    if wants redis; then redis_up; fi
    if wants postgres; then postgres_up; fi
    # env.json names every component's address; with --only, those not started simply do not answer.
    write_env_json
    if wants engines; then
      # arm containers (the Pi's base images, `skiff push` for a Pi fleet, emulated arm devices) run through
      # binfmt_misc and qemu-user-static; the registration is the machine's and stays after `down` (binfmt.sh).
      bash "$SKIFF_REPO/scripts/binfmt.sh"
      DOCKER_HOST="unix://$(engine_sock dev)" bash "$SKIFF_REPO/scripts/base-images.sh"
    fi
    say "environment '$env' is up ($components): $root/env.json"
    ;;
  down)
    [ -f "$root/redis/redis.pid" ] && stop_pid "$root/redis/redis.pid" 10
    postgres_down
    stop_pid "$root/registry/registry.pid" 10
    [ -f "$auth_dir/registry.pid" ] && stop_pid "$auth_dir/registry.pid" 10
    engine_down device "sk-$env-dvc"
    engine_down dev "sk-$env-dev"
    rm -f "$root/env.json"
    say "environment '$env' is down"
    ;;
  status)
    for e in dev device; do
      if curl -sf --unix-socket "$(engine_sock $e)" http://engine/_ping >/dev/null 2>&1; then s=up; else s=down; fi
      printf 'engine %-7s %-5s %s\n' "$e" "$s" "$(engine_sock $e)"
    done
    if curl -sf "http://127.0.0.1:$registry_port/v2/" >/dev/null 2>&1; then s=up; else s=down; fi
    printf 'registry       %-5s 127.0.0.1:%s\n' "$s" "$registry_port"
    if auth_registry_answers; then s=up; else s=down; fi
    printf 'auth registry  %-5s 127.0.0.1:%s\n' "$s" "$auth_registry_port"
    if redis-cli -p "$redis_port" ping >/dev/null 2>&1; then s=up; else s=down; fi
    printf 'redis          %-5s 127.0.0.1:%s\n' "$s" "$redis_port"
    if postgres_answers; then s=up; else s=down; fi
    printf 'postgres       %-5s 127.0.0.1:%s\n' "$s" "$postgres_port"
    ;;
  *) die "$usage" ;;
esac
